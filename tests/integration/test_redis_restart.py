"""Redis restarts (and forgets everything: it is transport only) while runs are queued and running: every accepted
run completes, because it was in Postgres first and the sweep sends again what Redis lost."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.services import missing
from tests.stack import Stack, running_stack

REDIS = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--logfile",
    "/var/log/runyard-redis.log",
]


@pytest.fixture(scope="module")
def redis_stack(database: None) -> Iterator[Stack]:
    if os.geteuid() != 0:
        missing("root, to restart this machine's Redis")
    env = {"RUNYARD_QUEUE__REQUEUE_AFTER_S": "3", "RUNYARD_QUEUE__ENQUEUE_RETRY_AFTER_S": "1"}
    with running_stack(13, env, workers=("worker",)) as s:
        yield s


def restart_redis() -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], capture_output=True, timeout=30)
    time.sleep(1)
    subprocess.run(REDIS, check=True, timeout=30)

    def up() -> bool:
        try:
            return bool(redis.Redis().ping())
        except redis.RedisError:
            return False

    eventually(up, timeout=30)


def test_runs_survive_a_redis_restart(redis_stack: Stack, stack: Stack) -> None:
    with httpx.Client(base_url=redis_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=30) as api:
        body = {"language": "python", "source": "import time; time.sleep(2); print('kept')"}
        accepted = [api.post("/v1/runs", json=body).json()["id"] for _ in range(6)]
        eventually(lambda: any(api.get(f"/v1/runs/{i}").json()["status"] == "running" for i in accepted), timeout=30)
        restart_redis()

        def all_done() -> list[str] | None:
            try:
                runs = [api.get(f"/v1/runs/{i}").json() for i in accepted]
            except (httpx.HTTPError, ValueError):
                return None
            finished = all(r.get("status") not in (None, "queued", "running") for r in runs)
            return [str(r["status"]) for r in runs] if finished else None

        statuses = eventually(all_done, timeout=180, interval=1)
        assert statuses == ["accepted"] * 6, statuses
    # The rest of the suite's stack lost its heartbeats with Redis: it is ready again once they are back.
    eventually(lambda: httpx.get(f"{stack.url}/health", timeout=5).status_code == 200, timeout=60)
