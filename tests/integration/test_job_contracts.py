"""Contracts of the one job core, end to end on real processes: quotas taken atomically, an upload's body owned
by its job (never lost with its request), and a wait that runs out answered alike in every protocol."""

from __future__ import annotations

import hashlib
import signal
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update

from core.db import transaction
from core.models import Blob, Job, Sandbox, Tenant
from core.settings import get_settings
from core.states import JobState, SandboxState
from tests.integration.conftest import Tenant as KeyedTenant
from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.stack import Stack, running_stack


@pytest.fixture(scope="module")
def one_slot(database: None) -> Iterator[Stack]:
    """One worker process: a long command holds the host's only slot, so what comes after it waits in the queue."""
    env = {"RUNYARD_WORKER__CONCURRENCY": "1", "RUNYARD_API__WAIT_MARGIN_S": "1"}
    with running_stack(6, env, workers=("worker",)) as s:
        yield s


def api_for(stack: Stack, tenant: KeyedTenant) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"X-Auth-Token": tenant.key}, timeout=120)


def set_quota(tenant: KeyedTenant, limit: int) -> None:
    with transaction(get_settings()) as session:
        session.execute(update(Tenant).where(Tenant.name == tenant.name).values(max_sandboxes=limit))


def live_sandboxes(tenant: KeyedTenant) -> int:
    with transaction(get_settings()) as session:
        stmt = (
            select(func.count())
            .select_from(Sandbox)
            .join(Tenant, Tenant.id == Sandbox.tenant_id)
            .where(Tenant.name == tenant.name, Sandbox.state != SandboxState.DELETED)
        )
        return int(session.execute(stmt).scalar_one())


def test_fifty_parallel_creates_against_a_quota_of_twenty(stack: Stack) -> None:
    tenant = make_tenant()
    set_quota(tenant, 20)
    with api_for(stack, tenant) as api, ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(lambda _: api.post("/v1/sandboxes", params={"wait": "false"}, json={}), range(50)))
        created = [r for r in replies if r.status_code in (201, 202)]
        refused = [r for r in replies if r.status_code == 409]
        try:
            assert len(created) == 20 and len(refused) == 30, [r.status_code for r in replies]
            assert live_sandboxes(tenant) == 20
            for reply in refused:  # each refusal says the truth: the quota is full, never "21 of 20"
                assert "20 of 20" in reply.json()["error"]["message"], reply.text
        finally:
            for reply in created:
                delete_when_it_may(api, str(reply.json()["id"]))
    eventually(lambda: live_sandboxes(tenant) == 0 or None, timeout=120, interval=1)


def delete_when_it_may(api: httpx.Client, sandbox_id: str) -> None:
    """Delete a sandbox whose create may still be under way: a delete that meets its state changing is refused
    (409, "changed state meanwhile; retry") and sent again."""
    eventually(
        lambda: api.delete(f"/v1/sandboxes/{sandbox_id}", params={"wait": "false"}).status_code != 409, timeout=120
    )


def occupy_the_slot(api: httpx.Client, base: str, seconds: int) -> str:
    """A command that holds the only worker slot; the call answers at once with its job."""
    reply = api.post(f"{base}/exec", params={"wait": "false"}, json={"command": f"sleep {seconds}"})
    assert reply.status_code == 202, reply.text
    job_id = str(reply.json()["id"])
    eventually(lambda: api.get(f"/v1/jobs/{job_id}").json()["state"] == "running", timeout=30)
    return job_id


def read(api: httpx.Client, base: str, path: str) -> bytes:
    reply = api.get(f"{base}/files/content", params={"path": path})
    assert reply.status_code == 200, reply.text
    return reply.content


def upload_in_background(api: httpx.Client, base: str, path: str, body: bytes) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []

    def send() -> None:
        try:
            answers.append(api.put(f"{base}/files/content", params={"path": path}, content=body))
        except httpx.HTTPError as exc:
            answers.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    return thread, answers


def queued_upload(tenant: KeyedTenant) -> Job | None:
    with transaction(get_settings()) as session:
        stmt = (
            select(Job)
            .join(Tenant, Tenant.id == Job.tenant_id)
            .where(Tenant.name == tenant.name, Job.kind == "sandbox.files.upload", Job.state == JobState.QUEUED)
        )
        job = session.execute(stmt).scalars().first()
        if job is not None:
            session.expunge(job)
        return job


@pytest.fixture(scope="module")
def box(one_slot: Stack) -> Iterator[tuple[KeyedTenant, str]]:
    tenant = make_tenant()
    with api_for(one_slot, tenant) as api:
        created = api.post("/v1/sandboxes", json={})
        assert created.status_code == 201, created.text
        base = f"/v1/sandboxes/{created.json()['id']}"
        yield tenant, base
        api.delete(base)


def test_an_upload_that_outlives_its_request_writes_the_new_bytes(
    one_slot: Stack, box: tuple[KeyedTenant, str]
) -> None:
    tenant, base = box
    old, new = b"old contents\n" * 1000, bytes(range(256)) * 32768  # 8 MiB, as in the report
    with api_for(one_slot, tenant) as api:
        assert api.put(f"{base}/files/content", params={"path": "target.bin"}, content=old).status_code == 200
        busy = occupy_the_slot(api, base, 6)
        thread, answers = upload_in_background(api, base, "target.bin", new)
        eventually(lambda: queued_upload(tenant), timeout=60)
        one_slot.kill("api", signal.SIGTERM)  # the API restarts while the upload waits in the queue
        thread.join(timeout=60)
        assert answers and isinstance(answers[0], httpx.Response) and answers[0].status_code == 503, answers
        one_slot.start_api(fresh=False)
        eventually(lambda: api.get(f"/v1/jobs/{busy}").json()["state"] == "succeeded", timeout=60)
        eventually(lambda: queued_upload(tenant) is None, timeout=60)
        written = read(api, base, "target.bin")
        assert hashlib.sha256(written).hexdigest() == hashlib.sha256(new).hexdigest(), len(written)
    with transaction(get_settings()) as session:  # the job was done with its body, and dropped it
        uploads = (
            select(Job.payload["blob_id"].astext)
            .join(Tenant, Tenant.id == Job.tenant_id)
            .where(Tenant.name == tenant.name, Job.kind == "sandbox.files.upload")
        )
        blob_ids = [uuid.UUID(b) for b in session.execute(uploads).scalars()]
        assert session.execute(select(func.count()).select_from(Blob).where(Blob.id.in_(blob_ids))).scalar_one() == 0


def test_an_upload_whose_body_went_missing_is_refused_and_the_file_kept(
    one_slot: Stack, box: tuple[KeyedTenant, str]
) -> None:
    tenant, base = box
    with api_for(one_slot, tenant) as api:
        assert api.put(f"{base}/files/content", params={"path": "kept.txt"}, content=b"kept\n").status_code == 200
        occupy_the_slot(api, base, 3)
        thread, answers = upload_in_background(api, base, "kept.txt", b"replacement\n")
        job = eventually(lambda: queued_upload(tenant), timeout=60)
        with transaction(get_settings()) as session:  # the body is lost while the job waits
            session.execute(delete(Blob).where(Blob.id == uuid.UUID(job.payload["blob_id"])))
        thread.join(timeout=60)
        refused = answers[0]
        assert refused.status_code == 422 and "send the file again" in refused.text, refused.text
        assert read(api, base, "kept.txt") == b"kept\n"


def pending_shape(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert reply.headers["Location"] == f"/v1/jobs/{body['id']}"
    return {"keys": sorted(body), "state": body["state"], "kind": body["kind"], "result": body["result"]}


def test_a_wait_that_runs_out_is_answered_alike_natively_and_through_daytona(
    one_slot: Stack, box: tuple[KeyedTenant, str]
) -> None:
    tenant, base = box
    sandbox_id = base.rsplit("/", 1)[1]
    with api_for(one_slot, tenant) as api:
        occupy_the_slot(api, base, 8)  # both commands below wait behind it longer than their wait lasts
        native = api.post(f"{base}/exec", json={"command": "echo native", "timeout_ms": 1000})
        daytona = api.post(
            f"/daytona/toolbox/{sandbox_id}/process/execute",
            headers={"Authorization": f"Bearer {tenant.key}"},
            json={"command": "echo daytona", "timeout": 1},
        )
        assert (
            pending_shape(native)
            == pending_shape(daytona)
            == {
                "keys": ["created_at", "error", "finished_at", "id", "kind", "result", "sandbox_id", "state"],
                "state": "queued",
                "kind": "sandbox.exec",
                "result": None,
            }
        )
        # Both went on running, and each finished as its caller can read at the place it was given.
        for reply in (native, daytona):
            location = reply.headers["Location"]
            done = eventually(lambda loc=location: (j := api.get(loc).json())["state"] == "succeeded" and j, timeout=60)
            assert done["result"]["exit_code"] == 0


def queued_jobs() -> int:
    with transaction(get_settings()) as session:
        return int(session.execute(select(func.count()).select_from(Job).where(Job.state == JobState.QUEUED)).scalar())


def test_parallel_submissions_never_take_the_queue_past_its_cap(database: None) -> None:
    """No worker drains this stack's queue: of 30 runs sent at once against a cap of 12, exactly the room is taken."""
    cap = 12
    with running_stack(5, {"RUNYARD_QUEUE__MAX_QUEUED": str(cap)}, workers=("w",), beat=False) as idle:
        idle.kill("w")  # it has published its languages; now nothing takes runs off the queue
        tenant = make_tenant()
        before = queued_jobs()
        body = {"language": "python", "source": "print(1)"}
        with api_for(idle, tenant) as api, ThreadPoolExecutor(max_workers=30) as pool:
            replies = list(pool.map(lambda _: api.post("/v1/runs", json=body), range(30)))
        accepted = [r for r in replies if r.status_code == 201]
        refused = [r for r in replies if r.status_code == 503]
        assert len(accepted) + len(refused) == 30, [r.status_code for r in replies]
        assert len(accepted) == cap - before and queued_jobs() == cap, (before, len(accepted))
        assert all("queue is full" in r.json()["error"]["message"] for r in refused)
        with transaction(get_settings()) as session:  # nothing will run them: leave the queue as it was
            session.execute(delete(Tenant).where(Tenant.name == tenant.name))
