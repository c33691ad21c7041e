"""Redis restarts (and forgets everything: it is transport only) while runs are queued and running: every accepted
run completes, because it was in Postgres first and the sweep sends again what Redis lost.

The Redis restarted is one of this test's own: the suite's other stacks, and a `make up` installation on the
same machine, never notice."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.services import PrivateRedis
from tests.stack import Stack, running_stack


@pytest.fixture(scope="module")
def own_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_stack(database: None, own_redis: PrivateRedis) -> Iterator[Stack]:
    env = {
        "RUNYARD_REDIS__URL": own_redis.url(0),
        "RUNYARD_QUEUE__REQUEUE_AFTER_S": "3",
        "RUNYARD_QUEUE__ENQUEUE_RETRY_AFTER_S": "1",
    }
    with running_stack(0, env, workers=("worker",)) as s:
        yield s


def test_runs_survive_a_redis_restart(redis_stack: Stack, own_redis: PrivateRedis, stack: Stack) -> None:
    with httpx.Client(base_url=redis_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=30) as api:
        body = {"language": "python", "source": "import time; time.sleep(2); print('kept')"}
        accepted = [api.post("/v1/runs", json=body).json()["id"] for _ in range(6)]
        eventually(lambda: any(api.get(f"/v1/runs/{i}").json()["status"] == "running" for i in accepted), timeout=30)
        own_redis.restart()

        # The API's pooled connections died with the old server: reads go on answering, never a 5xx.
        for _ in range(10):
            reply = api.get(f"/v1/runs/{accepted[0]}")
            assert reply.status_code == 200, reply.text

        def all_done() -> list[str] | None:
            runs = [api.get(f"/v1/runs/{i}").json() for i in accepted]
            finished = all(r.get("status") not in (None, "queued", "running") for r in runs)
            return [str(r["status"]) for r in runs] if finished else None

        statuses = eventually(all_done, timeout=180, interval=1)
        assert statuses == ["accepted"] * 6, statuses
        # A new run waits on the completion channel of the restarted Redis, and hears it.
        again = api.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print(2)"})
        assert again.status_code == 201 and again.json()["stdout"] == "2\n", again.text
    # The suite's shared stack, on the suite's own Redis, never noticed.
    assert httpx.get(f"{stack.url}/health", timeout=5).status_code == 200
