"""Retention: finished runs and sandbox jobs are purged after their TTL (Judge0 keeps them forever), and a deleted
sandbox leaves no container (its whole filesystem) behind, then no row."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import docker
import httpx
import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import Sandbox, Snapshot
from core.settings import get_settings
from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.sandbox_images import BARE, sandbox_engine
from tests.stack import Stack, running_stack


@pytest.fixture(scope="module")
def short_memory(database: None) -> Iterator[Stack]:
    env = {
        "RUNYARD_RETENTION__RUNS_TTL_S": "2",
        "RUNYARD_RETENTION__SANDBOX_JOBS_TTL_S": "2",
        "RUNYARD_RETENTION__DELETED_SANDBOXES_TTL_S": "2",
        "RUNYARD_SANDBOXES__POOL_SIZE": "0",
    }
    with running_stack(11, env, workers=("worker",)) as s:
        yield s


def test_finished_runs_are_purged_after_their_ttl(short_memory: Stack) -> None:
    with httpx.Client(base_url=short_memory.url, headers={"X-Auth-Token": make_tenant().key}, timeout=60) as api:
        run = api.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print(1)"}).json()
        assert run["status"] == "accepted"
        judge0 = api.post("/submissions", params={"wait": "true"}, json={"language_id": 71, "source_code": "print(2)"})
        token = judge0.json()["token"]
        eventually(lambda: api.get(f"/v1/runs/{run['id']}").status_code == 404, timeout=30)
        eventually(lambda: api.get(f"/submissions/{token}").status_code == 404, timeout=30)


def test_deleted_sandboxes_leave_no_container_then_no_row(short_memory: Stack) -> None:
    with httpx.Client(base_url=short_memory.url, headers={"X-Auth-Token": make_tenant().key}, timeout=120) as api:
        box = api.post("/v1/sandboxes", json={}).json()
        job = api.post(f"/v1/sandboxes/{box['id']}/exec", params={"wait": "false"}, json={"command": "true"}).json()
        with transaction(get_settings()) as session:
            container = session.execute(select(Sandbox.container_id).where(Sandbox.id == box["id"])).scalar_one()
        engine = sandbox_engine()
        try:
            engine.containers.get(container)  # it exists while the sandbox does
            assert api.delete(f"/v1/sandboxes/{box['id']}").json()["state"] == "deleted"
            with pytest.raises(docker.errors.NotFound):
                engine.containers.get(container)
        finally:
            engine.close()
        eventually(lambda: api.get(f"/v1/jobs/{job['id']}").status_code == 404, timeout=30)
        eventually(lambda: api.get(f"/v1/sandboxes/{box['id']}").status_code == 404, timeout=30)


def test_deleted_snapshots_leave_no_image_then_no_row(short_memory: Stack) -> None:
    with httpx.Client(base_url=short_memory.url, headers={"X-Auth-Token": make_tenant().key}, timeout=120) as api:
        created = api.post("/v1/snapshots", json={"name": "kept-briefly", "image": BARE}).json()
        eventually(lambda: api.get(f"/v1/snapshots/{created['id']}").json()["state"] == "active", timeout=120)
        assert api.delete("/v1/snapshots/kept-briefly").status_code == 202
        engine = sandbox_engine()
        try:
            eventually(lambda: not engine.images.list(filters={"reference": created["image_ref"]}), timeout=60)
        finally:
            engine.close()
        # Deleted, then forgotten: the row (and its build job with it) is purged after the TTL.
        eventually(lambda: api.get(f"/v1/snapshots/{created['id']}").status_code == 404, timeout=60)
        with transaction(get_settings()) as session:
            assert session.get(Snapshot, uuid.UUID(created["id"])) is None
