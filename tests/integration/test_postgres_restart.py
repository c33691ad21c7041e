"""PostgreSQL restarts under load: the API answers 503 while it is down (promptly, never a hang), and every run
accepted before it went down completes once it is back (workers retry their writes).

The PostgreSQL restarted is one of this test's own, migrated for it: the suite's database and a `make up`
installation on the same machine never notice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.services import PrivatePostgres, missing
from tests.stack import ROOT, Stack, running_stack


@pytest.fixture(scope="module")
def own_postgres(database: None) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start("restart")
    except (OSError, subprocess.SubprocessError) as exc:
        missing(f"a PostgreSQL of the test's own: {exc}")
    url = server.url("restart")
    env = {**os.environ, "RUNYARD_DATABASE__URL": url}
    runyardctl = Path(sys.executable).parent / "runyardctl"
    subprocess.run([str(runyardctl), "migrate"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    yield server
    server.remove()


@pytest.fixture(scope="module")
def pg_stack(own_postgres: PrivatePostgres) -> Iterator[Stack]:
    env = {"RUNYARD_DATABASE__URL": own_postgres.url("restart"), "RUNYARD_DATABASE__CONNECT_TIMEOUT_S": "2"}
    with running_stack(10, env, workers=("worker",)) as s:
        yield s


def test_postgres_restart_costs_no_accepted_run(pg_stack: Stack, own_postgres: PrivatePostgres, stack: Stack) -> None:
    server = own_postgres
    key = make_tenant(database_url=server.url("restart")).key
    with httpx.Client(base_url=pg_stack.url, headers={"X-Auth-Token": key}, timeout=30) as api:
        body = {"language": "python", "source": "import time; time.sleep(2); print('survived')"}
        accepted = [api.post("/v1/runs", json=body).json()["id"] for _ in range(4)]
        eventually(lambda: any(api.get(f"/v1/runs/{i}").json()["status"] == "running" for i in accepted), timeout=30)
        server.pg_ctl("stop")
        try:
            started = time.monotonic()
            down = api.get(f"/v1/runs/{accepted[0]}")
            assert down.status_code == 503 and "unavailable" in down.json()["error"]["message"]
            assert time.monotonic() - started < 15  # refused promptly, not hung
            assert httpx.get(f"{pg_stack.url}/health", timeout=15).status_code == 503
            # Runs finish while their results cannot be written: wait until the worker has retried a write.
            eventually(lambda: "OperationalError" in pg_stack.log("worker"), timeout=30)
        finally:
            server.pg_ctl("start")

        def all_done() -> bool:
            try:
                runs = [api.get(f"/v1/runs/{i}").json() for i in accepted]
            except (httpx.HTTPError, ValueError):
                return False
            return all(r.get("status") == "accepted" and r.get("stdout") == "survived\n" for r in runs)

        eventually(all_done, timeout=120, interval=1)
        reply = api.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print(1)"})
        assert reply.json()["status"] == "accepted", reply.text
    # The suite's own database, and its shared stack, never noticed.
    assert httpx.get(f"{stack.url}/health", timeout=5).status_code == 200
