"""A worker SIGKILLed in the middle of a run: the run still completes, exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.integration.conftest import Tenant
from tests.integration.helpers import CallbackReceiver, after_sweeps, eventually
from tests.stack import Stack, running_stack


@pytest.fixture
def crash_stack(database: None) -> Iterator[Stack]:
    # Short leases so the sweep notices the dead worker within seconds, not minutes.
    env = {
        "RUNYARD_LIMITS__MAX_WALL_TIME_LIMIT_S": "5",
        "RUNYARD_LIMITS__WALL_TIME_LIMIT_S": "5",
        "RUNYARD_QUEUE__LEASE_MARGIN_S": "1",
        "RUNYARD_WORKER__EXEC_MARGIN_S": "2",
    }
    with running_stack(12, env, workers=("a",)) as s:
        yield s


@pytest.mark.slow
def test_sigkilled_worker_run_completes_exactly_once(crash_stack: Stack, tenant: Tenant) -> None:
    receiver = CallbackReceiver()
    engine = docker.from_env()
    try:
        with httpx.Client(base_url=crash_stack.url, headers={"X-Auth-Token": tenant.key}, timeout=30) as client:
            body = {
                "language": "python",
                "source": "import time\ntime.sleep(2)\nprint('survived')",
                "limits": {"wall_time_ms": 4000},
                "callback_url": receiver.url,
            }
            run = client.post("/v1/runs", json=body).json()
            run_id = run["id"]
            eventually(
                lambda: client.get(f"/v1/runs/{run_id}").json()["status"] == "running", timeout=30, interval=0.05
            )
            time.sleep(0.3)  # the program is running in a sandbox now
            crash_stack.kill("a")  # the whole worker process, mid-run
            assert client.get(f"/v1/runs/{run_id}").json()["status"] == "running"

            crash_stack.start_worker("b")
            done = eventually(
                lambda: (r := client.get(f"/v1/runs/{run_id}").json())["status"] not in ("queued", "running") and r,
                timeout=90,
            )
            assert done["status"] == "accepted", done
            assert done["stdout"] == "survived\n"
            assert done["attempts"] == 2

            eventually(lambda: receiver.received, timeout=30)
            after_sweeps(crash_stack.redis_url)  # room for a duplicate to show up, if there were one
            assert len(receiver.received) == 1
            assert receiver.received[0].json()["id"] == run_id

            def dead_workers_sandboxes() -> list[object]:
                label = f"org.runyard.worker={crash_stack.worker_name('a')}"
                return engine.containers.list(all=True, filters={"label": label}, sparse=True)

            # Its sandboxes stop when their connection to it closes; the next sweep removes them.
            try:
                eventually(lambda: not dead_workers_sandboxes(), timeout=90)
            except TimeoutError:
                left = [(c.short_id, c.status, c.attrs["State"]) for c in dead_workers_sandboxes()]  # type: ignore[attr-defined]
                raise AssertionError(f"sandboxes of the dead worker left behind: {left}") from None
    finally:
        receiver.close()
        engine.close()
