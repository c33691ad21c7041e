"""A worker killed in the middle of a sandbox command or a file upload: nothing runs twice, nothing is
silently lost, no half-written file is ever in place, and the sandbox (whose container outlives its
worker) carries on with the restarted worker."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import docker
import httpx
import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import Job, Sandbox
from core.settings import get_settings
from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.sandbox_images import sandbox_engine
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


def _workspace(container: docker.models.containers.Container, script: str) -> str:
    """A look inside the sandbox that needs no worker: straight from the engine, as root. Every script
    here prints something; an exec under load sometimes comes back without its output, so look again."""
    for _ in range(10):
        code, out = container.exec_run(["sh", "-c", script], user="0")
        assert code == 0, out
        if out:
            return str(out.decode())
        time.sleep(0.2)
    raise AssertionError(f"no output from {script!r}")


def test_upload_interrupted_by_a_dead_worker_never_leaves_a_half_written_file(crash_stack: Stack) -> None:
    with httpx.Client(base_url=crash_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=300) as api:
        box = api.post("/v1/sandboxes", json={}).json()
        base = f"/v1/sandboxes/{box['id']}"
        target = {"path": "/workspace/data.bin"}
        assert api.put(f"{base}/files/content", params=target, content=b"old\n").status_code == 200
        with transaction(get_settings()) as session:
            container_id = session.execute(select(Sandbox.container_id).where(Sandbox.id == uuid.UUID(box["id"])))
            container = sandbox_engine().containers.get(container_id.scalar_one())

        body = os.urandom(96 << 20)
        replies: list[httpx.Response] = []
        upload = threading.Thread(
            target=lambda: replies.append(api.put(f"{base}/files/content", params=target, content=body))
        )
        upload.start()

        # Kill the worker once part of the new bytes is on the sandbox's disk, still aside.
        eventually(
            lambda: int(_workspace(container, "find /workspace -name '.runyard-upload-*' -size +1M | wc -l")),
            timeout=120,
            interval=0.05,
        )
        crash_stack.kill("a", signal.SIGKILL)
        assert _workspace(container, "cat /workspace/data.bin") == "old\n"  # the old file, whole, until the end

        crash_stack.start_worker("a")
        upload.join(timeout=240)
        assert replies and replies[0].status_code == 200, replies and replies[0].text
        assert replies[0].json()["size"] == len(body)
        with transaction(get_settings()) as session:
            job = session.execute(
                select(Job)
                .where(Job.sandbox_id == uuid.UUID(box["id"]), Job.kind == "sandbox.files.upload")
                .order_by(Job.created_at.desc())
                .limit(1)
            ).scalar_one()
            assert job.attempts == 2, "the interrupted upload was written again by the restarted worker"
        stored = api.get(f"{base}/files/content", params=target).content
        assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(body).hexdigest()
        # The first attempt's temporary file went with it: nothing half-written is left to find.
        left = _workspace(container, "ls -A /workspace").split()
        assert "data.bin" in left and not [name for name in left if name.startswith(".runyard-upload-")], left
        api.delete(base)
