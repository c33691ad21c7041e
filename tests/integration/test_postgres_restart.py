"""PostgreSQL restarts under load: the API answers 503 while it is down (promptly, never a hang), and every run
accepted before it went down completes once it is back (workers retry their writes)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.services import missing
from tests.stack import Stack, running_stack


def cluster() -> list[str]:
    versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))
    return ["pg_ctlcluster", versions[-1].name, "main"]


@pytest.fixture(scope="module")
def pg_stack(database: None) -> Iterator[Stack]:
    if os.geteuid() != 0:
        missing("root, to stop and start this machine's PostgreSQL")
    with running_stack(10, {"RUNYARD_DATABASE__CONNECT_TIMEOUT_S": "2"}, workers=("worker",)) as s:
        yield s


def test_postgres_restart_costs_no_accepted_run(pg_stack: Stack) -> None:
    key = make_tenant().key
    with httpx.Client(base_url=pg_stack.url, headers={"X-Auth-Token": key}, timeout=30) as api:
        body = {"language": "python", "source": "import time; time.sleep(2); print('survived')"}
        accepted = [api.post("/v1/runs", json=body).json()["id"] for _ in range(4)]
        subprocess.run([*cluster(), "stop", "-m", "fast"], check=True, timeout=60)
        try:
            started = time.monotonic()
            down = api.get(f"/v1/runs/{accepted[0]}")
            assert down.status_code == 503 and "unavailable" in down.json()["error"]["message"]
            assert time.monotonic() - started < 15  # refused promptly, not hung
            assert httpx.get(f"{pg_stack.url}/health", timeout=15).status_code == 503
            time.sleep(3)  # runs finish while their results cannot be written
        finally:
            subprocess.run([*cluster(), "start"], check=True, timeout=60)

        def all_done() -> bool:
            try:
                runs = [api.get(f"/v1/runs/{i}").json() for i in accepted]
            except (httpx.HTTPError, ValueError):
                return False
            return all(r.get("status") == "accepted" and r.get("stdout") == "survived\n" for r in runs)

        eventually(all_done, timeout=120, interval=1)
        assert (
            api.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print(1)"}).json()[
                "status"
            ]
            == "accepted"
        )
