"""Runyard's own client and CLI against a live server, beyond the documented examples; and installed as a
new user would, from a fresh venv."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from runyard import (
    AsyncRunyard,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    Runyard,
    ServerUnavailableError,
    TimeoutExpired,
)

from tests.integration.conftest import Tenant, make_tenant
from tests.stack import ROOT, Stack, running_stack


@pytest.fixture
def client(stack: Stack, tenant: Tenant) -> Iterator[Runyard]:
    with Runyard(stack.url, tenant.key) as c:
        yield c


def test_handles_wait_poll_and_cancel(client: Runyard) -> None:
    handle = client.submit("import time; time.sleep(3)")
    with pytest.raises(TimeoutExpired):
        handle.wait(timeout=0.5)
    assert handle.wait(timeout=60).status == "accepted"
    assert handle.cancel().status == "accepted"  # a finished run: cancelling deletes it
    with pytest.raises(NotFoundError):
        handle.poll()
    with pytest.raises(InvalidRequestError) as err:
        client.run("x", "klingon")
    assert err.value.fields[0].field == "language"


def test_errors_are_typed(client: Runyard, stack: Stack) -> None:
    with pytest.raises(NotFoundError):
        client.get_run("00000000-0000-0000-0000-000000000000")
    with pytest.raises(PermissionDeniedError):
        client.request("GET", "/v1/admin/keys")


def test_queue_full_is_retried_then_reported(database: None) -> None:
    with (
        running_stack(13, {"RUNYARD_QUEUE__MAX_QUEUED": "0"}, workers=()) as s,
        Runyard(s.url, make_tenant().key, max_retries=2, max_retry_wait=0.2) as c,
    ):
        with pytest.raises(ServerUnavailableError) as err:
            c.submit("print(1)")
        assert "queue is full" in err.value.message and err.value.retry_after == 5


def test_rate_limit_is_reported_with_retry_after(stack: Stack) -> None:
    tenant = make_tenant(requests_per_minute=2)
    with Runyard(stack.url, tenant.key, max_retries=0) as c:
        c.languages()
        c.languages()
        with pytest.raises(RateLimitedError) as err:
            c.languages()
        assert err.value.retry_after is not None and err.value.retry_after > 0


def test_async_client_with_a_sandbox(stack: Stack, tenant: Tenant) -> None:
    async def main() -> list[str]:
        async with AsyncRunyard(stack.url, tenant.key) as c, c.sandbox() as box:
            await box.files.write("x.txt", "async")
            results = await asyncio.gather(box.exec("cat x.txt"), box.run_python("print(1 + 1)"))
            return [results[0].stdout, results[1].output]

    assert asyncio.run(main()) == ["async", "2\n"]


def test_a_new_user_installs_the_client_in_a_fresh_venv(stack: Stack, tenant: Tenant, tmp_path: Path) -> None:
    """pip install ./client, nothing else, then a Python snippet and a C file."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(ROOT / "client")], capture_output=True, text=True, timeout=600
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    snippet = (
        "from runyard import Runyard\n"
        f"client = Runyard({stack.url!r}, key={tenant.key!r})\n"
        "print(client.run('print(6 * 7)', language='python').stdout, end='')\n"
        "c = open('hello.c').read()\n"
        "print(client.run(c, language='c').stdout, end='')\n"
    )
    (tmp_path / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hello from C"); return 0; }\n')
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\nhello from C\n"
    installed = subprocess.run([str(venv / "bin" / "pip"), "freeze"], capture_output=True, text=True).stdout
    names = {line.split("==")[0].lower() for line in installed.splitlines()}
    assert "typer" not in names and "rich" not in names  # the library alone needs httpx and pydantic
