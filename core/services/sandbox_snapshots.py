"""A sandbox's whole filesystem as a snapshot (Daytona's `create_snapshot`), and a fork: a new sandbox from
such a snapshot, with the same size, environment, labels and network. The commit is a job on the sandbox's
host (its processes pause for the moment the engine copies its writable layer); the snapshot lives on that
host's engine, or in the operator's registry, as a built one does."""

from __future__ import annotations

import hashlib
import uuid

import redis.asyncio as aioredis
from sqlalchemy import insert

from core.errors import Conflict, InvalidInput
from core.jobkinds import JobKind
from core.models import Snapshot
from core.schemas import SandboxRecord, SnapshotRecord
from core.services import operations as ops
from core.services import sandboxes, snapshots
from core.services.sandbox_validation import SandboxCreate
from core.states import SandboxState, SnapshotState


async def commit(caller: ops.Caller, sandbox: SandboxRecord, name: str | None) -> SnapshotRecord:
    """Named, it is the tenant's snapshot to create sandboxes from; unnamed, it is made for a fork."""
    session, principal, settings = caller.session, caller.principal, caller.settings
    if sandbox.state != SandboxState.STARTED:
        raise Conflict(f"sandbox {sandbox.name} is {sandbox.state}; start it to snapshot it", sandbox.state)
    snapshot_id = uuid.uuid4()
    if name is not None:
        if not snapshots.NAME.match(name):
            raise InvalidInput.one("name", "pattern", f"must match {snapshots.NAME.pattern}")
        if name in settings.sandboxes.templates or name in settings.sandboxes.aliases:
            raise Conflict(f"{name!r} is the name of one of this installation's templates", state="exists")
    await snapshots.lock_quota(session, principal, settings)
    if name is not None and await snapshots.by_name(session, principal, name) is not None:
        raise Conflict(f"a snapshot named {name!r} already exists", state="exists")
    image_ref, pushed = snapshots.image_ref_for(settings, snapshot_id)
    note = f"# the filesystem of sandbox {sandbox.name} ({sandbox.id}), committed\n"
    await session.execute(
        insert(snapshots.SNAPSHOTS).values(
            id=snapshot_id,
            tenant_id=principal.tenant_id,
            name=name or f"fork-{snapshot_id.hex[:16]}",
            state=SnapshotState.BUILDING.value,
            dockerfile=note,
            # Never the digest of a Dockerfile: no sandbox asking for one starts from a commit.
            dockerfile_sha256=hashlib.sha256(f"{note}{snapshot_id}".encode()).hexdigest(),
            named=name is not None,
            image_ref=image_ref,
            host=sandbox.host,
            pushed=pushed,
            cpus=sandbox.cpus,
            memory_bytes=sandbox.memory_bytes,
            disk_bytes=sandbox.disk_bytes,
        )
    )
    payload = {"snapshot_id": str(snapshot_id), "image_ref": image_ref, "push": pushed}
    timeout_ms = int(settings.snapshots.build_timeout_s * 1000)
    await ops.run_op(caller, sandbox, JobKind.COMMIT, payload, timeout_ms)  # commits the row with the job
    found = await session.get(Snapshot, snapshot_id, populate_existing=True)
    return SnapshotRecord.model_validate(found)


async def fork(
    caller: ops.Caller, client: aioredis.Redis, sandbox: SandboxRecord, name: str | None
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """A new sandbox with a copy of this one's filesystem; returns its id and its create job."""
    snapshot = await commit(caller, sandbox, None)
    req = SandboxCreate(
        image=snapshot.name,
        name=name,
        env=dict(sandbox.env),
        labels=dict(sandbox.labels or {}),
        cpus=sandbox.cpus,
        memory_bytes=sandbox.memory_bytes,
        disk_bytes=sandbox.disk_bytes,
        network=sandbox.network,
        egress_allow=sandbox.egress_allow,
        public=sandbox.public,
        auto_stop_s=sandbox.auto_stop_s,
        auto_delete_s=sandbox.auto_delete_s,
    )
    principal, settings = caller.principal, caller.settings
    return await sandboxes.create_sandbox(caller.session, client, principal, req, settings, caller.protocol)
