"""A worker killed in the middle of a sandbox command: nothing runs twice, nothing is silently lost,
and the sandbox (whose container outlives its worker) carries on with the restarted worker."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.stack import Stack, running_stack


@pytest.fixture(scope="module")
def crash_stack(database: None) -> Iterator[Stack]:
    env = {"RUNYARD_QUEUE__LEASE_MARGIN_S": "1", "RUNYARD_WORKER__EXEC_MARGIN_S": "1"}
    with running_stack(11, env, workers=("a",)) as s:
        yield s


def test_command_interrupted_by_a_dead_worker_fails_once_and_is_not_repeated(crash_stack: Stack) -> None:
    with httpx.Client(base_url=crash_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=60) as api:
        box = api.post("/v1/sandboxes", json={}).json()
        base = f"/v1/sandboxes/{box['id']}"
        # the command appends a line each time it starts: a repeat would show as a second line
        command = "echo started >> /workspace/starts; sleep 30"
        job = api.post(f"{base}/exec", params={"wait": "false"}, json={"command": command, "timeout_ms": 4000}).json()
        eventually(lambda: api.get(f"/v1/jobs/{job['id']}").json()["state"] == "running", timeout=30)
        crash_stack.kill("a", signal.SIGKILL)
        crash_stack.start_worker("a")

        final = eventually(
            lambda: (j := api.get(f"/v1/jobs/{job['id']}").json())["state"] in ("failed", "succeeded") and j,
            timeout=90,
        )
        assert final["state"] == "failed" and "not repeated" in final["error"], final
        after = api.post(f"{base}/exec", json={"command": "cat /workspace/starts"})
        assert after.status_code == 200 and after.json()["stdout"] == "started\n"
        assert api.get(base).json()["state"] == "started"
        api.delete(base)
