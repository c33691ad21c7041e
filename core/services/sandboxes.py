"""Sandboxes and the jobs that act on them: place, persist, enqueue, wait (sandbox_validation checks requests).

Every operation is a job: written to Postgres, then sent to the queue of the
host that holds the sandbox. Only the worker on that host executes it.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import constants as c
from core.errors import Conflict, FieldError, InvalidInput, NotFound
from core.jobkinds import JobKind
from core.models import Base, Job, Sandbox, Snapshot, Tenant
from core.sandbox_store import host_lost_after_s
from core.schemas import SandboxRecord, SnapshotRecord
from core.services import idempotency, operations, placement, snapshots
from core.services import secrets as secret_store
from core.services.auth import Principal
from core.services.sandbox_validation import LABEL_KEY, SandboxCreate, check_create, check_map
from core.settings import Settings
from core.states import AWAITING_BUILD, SandboxState, SnapshotState

JOBS, SANDBOXES = Base.metadata.tables["jobs"], Base.metadata.tables["sandboxes"]
# Operations allowed only while the sandbox is started; lifecycle kinds have their own rules.


async def _take_quota(session: AsyncSession, principal: Principal, settings: Settings) -> bool:
    """Check the live-sandbox quota under the tenant's row lock, held until this create commits: concurrent
    creates of one tenant count one after another, so none sees a count another is about to raise.

    Returns whether this tenant's sandboxes may have network (its own setting, else the installation's)."""
    own, network = (
        await session.execute(
            select(Tenant.max_sandboxes, Tenant.sandbox_network)
            .where(Tenant.id == principal.tenant_id)
            .with_for_update()
        )
    ).one()
    limit = own if own is not None else settings.sandboxes.max_per_tenant
    live = (
        await session.execute(
            select(func.count())
            .select_from(Sandbox)
            .where(Sandbox.tenant_id == principal.tenant_id, Sandbox.state != SandboxState.DELETED)
        )
    ).scalar_one()
    if live >= limit:
        raise Conflict(f"sandbox quota reached: {live} of {limit} live sandboxes; delete one first", state="quota")
    return bool(settings.sandboxes.network if network is None else network)


async def _snapshot_for(
    session: AsyncSession,
    client: aioredis.Redis,
    principal: Principal,
    req: SandboxCreate,
    settings: Settings,
    dockerfile: str | None,
) -> tuple[SnapshotRecord | None, uuid.UUID | None]:
    """The tenant's snapshot the request starts from, locked (a build of its Dockerfile, or one it names;
    templates come first), and a new build job to send after the commit."""
    if dockerfile is not None:
        return await snapshots.for_dockerfile(session, client, principal, dockerfile, settings)
    wanted = req.template or req.image
    s = settings.sandboxes
    if not wanted or wanted in s.templates or wanted in s.aliases or not snapshots.NAME.match(wanted):
        return None, None  # not a name a snapshot can have: checked as a template or image
    found = await snapshots.named(session, principal, wanted)
    if found is not None and found.state != SnapshotState.ACTIVE:
        field = "image" if req.image else "template"
        raise InvalidInput.one(field, "not_active", f"snapshot {wanted} is {found.state}; it must be active")
    return found, None


async def create_sandbox(
    session: AsyncSession,
    client: aioredis.Redis,
    principal: Principal,
    req: SandboxCreate,
    settings: Settings,
    protocol: str = "v1",
    idempotency_key: str | None = None,
    dockerfile: str | None = None,
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """Persist the sandbox (creating) and its create job, then enqueue; returns (sandbox id, job id).

    From a Dockerfile, the sandbox waits (pending_build, no job yet) while its snapshot builds, unless an
    earlier build of it is there. With an idempotency key the tenant used before, the sandbox that request
    created, not a second one."""
    if idempotency_key is not None:
        earlier = await idempotency.existing_job(session, principal, idempotency_key, JobKind.CREATE)
        if earlier is not None:
            return await _sandbox_created_by(session, earlier), earlier
    await secret_store.check_attach(session, settings, principal, dict(req.secrets or {}))
    snapshot, build_job = await _snapshot_for(session, client, principal, req, settings, dockerfile)
    checked = check_create(replace(req, snapshot=snapshot), settings)
    network, egress_allow = checked.network, checked.egress_allow
    sandbox_id = uuid.uuid4()
    name = req.name or f"sandbox-{sandbox_id.hex[:12]}"
    if not await _take_quota(session, principal, settings):  # first: the name check below is then serialised too
        if req.network:
            raise InvalidInput.one("network", "not_allowed", "this tenant's sandboxes have no network")
        network, egress_allow = False, None
    taken = (
        await session.execute(
            select(Sandbox.id).where(
                Sandbox.tenant_id == principal.tenant_id, Sandbox.name == name, Sandbox.state != SandboxState.DELETED
            )
        )
    ).first()
    if taken is not None:
        raise Conflict(f"a sandbox named {name!r} already exists", state="exists")
    if snapshot is not None and not snapshot.pushed:
        host = snapshot.host  # the only engine that has it
    else:
        host = await placement.pick_host(client, session, checked.image)
    state = _WAITING.get(SnapshotState(snapshot.state), SandboxState.CREATING) if snapshot else SandboxState.CREATING
    job_id = None
    try:
        await session.execute(
            insert(SANDBOXES).values(
                id=sandbox_id,
                tenant_id=principal.tenant_id,
                name=name,
                protocol=protocol,
                template=checked.template,
                image=checked.image,
                snapshot_id=snapshot.id if snapshot else None,
                state=state.value,
                host=host,
                env=dict(req.env or {}),
                secrets=dict(req.secrets or {}),
                labels=dict(req.labels or {}),
                cpus=checked.cpus,
                memory_bytes=checked.memory_bytes,
                disk_bytes=checked.disk_bytes,
                network=network,
                egress_allow=egress_allow,
                public=req.public,
                auto_stop_s=checked.auto_stop_s,
                auto_delete_s=checked.auto_delete_s,
                auto_archive_s=max(0, int(req.auto_archive_s or 0)),
                auto_pause_s=max(0, int(req.auto_pause_s or 0)),
                ttl_s=max(0, int(req.ttl_s or 0)),
                preview_token=secrets.token_urlsafe(24),
            )
        )
        if snapshot is not None:
            await session.execute(update(Snapshot).where(Snapshot.id == snapshot.id).values(last_used_at=func.now()))
        if state is SandboxState.CREATING:
            job_id = await operations.insert_job(
                session, principal, sandbox_id, host, JobKind.CREATE, {}, protocol, None, None, idempotency_key
            )
        await session.commit()
    except IntegrityError:  # the same key, sent twice at once: the other request created the sandbox
        earlier = await idempotency.after_conflict(session, principal, idempotency_key, JobKind.CREATE)
        if earlier is None:
            raise
        return await _sandbox_created_by(session, earlier), earlier
    if build_job is not None and snapshot is not None:
        await operations.enqueue(settings, build_job, snapshot.host, JobKind.SNAPSHOT_BUILD)
    if job_id is not None:
        await operations.enqueue(settings, job_id, host)
    return sandbox_id, job_id


# A sandbox whose snapshot is not built yet waits for it; the build's end gives it its create job.
_WAITING = {
    SnapshotState.PENDING: SandboxState.PENDING_BUILD,
    SnapshotState.BUILDING: SandboxState.BUILDING_SNAPSHOT,
}


async def _sandbox_created_by(session: AsyncSession, job_id: uuid.UUID) -> uuid.UUID:
    sandbox_id = (await session.execute(select(Job.sandbox_id).where(Job.id == job_id))).scalar_one()
    assert sandbox_id is not None  # a create job always names its sandbox (deleting one deletes the other)
    return sandbox_id


# ------------------------------------------------------------------ reading


async def get_sandbox(session: AsyncSession, principal: Principal, ident: str) -> SandboxRecord:
    """By id, or by name; deleted sandboxes only by id. Other tenants' are 404 like missing ones."""
    table = Sandbox.__table__
    # A plain row, not an ORM object: every operation on a sandbox starts here, and the ORM's loading cost more.
    stmt = select(table).where(table.c.tenant_id == principal.tenant_id)
    try:
        sandbox_id = uuid.UUID(ident)
        stmt = stmt.where(table.c.id == sandbox_id)
    except ValueError:
        stmt = stmt.where(table.c.name == ident, table.c.state != SandboxState.DELETED)
    found = (await session.execute(stmt)).one_or_none()
    if found is None:
        raise NotFound("sandbox", ident)
    return SandboxRecord.model_validate(found)


async def sandbox_by_id(session: AsyncSession, sandbox_id: uuid.UUID) -> SandboxRecord | None:
    """Whoever owns it: for a preview link, whose token stands in for the owner's key (the caller checks it)."""
    found = await session.get(Sandbox, sandbox_id, populate_existing=True)
    return None if found is None else SandboxRecord.model_validate(found)


async def list_sandboxes(
    session: AsyncSession,
    principal: Principal,
    labels: dict[str, str],
    include_deleted: bool,
    offset: int,
    limit: int,
) -> tuple[list[SandboxRecord], int]:
    where = [Sandbox.tenant_id == principal.tenant_id]
    if labels:
        where.append(Sandbox.labels.contains(labels))
    if not include_deleted:
        where.append(Sandbox.state != SandboxState.DELETED)
    total = (await session.execute(select(func.count()).select_from(Sandbox).where(*where))).scalar_one()
    rows = (
        await session.execute(select(Sandbox).where(*where).order_by(Sandbox.seq.desc()).offset(offset).limit(limit))
    ).scalars()
    return [SandboxRecord.model_validate(r) for r in rows], total


# ------------------------------------------------------------------ changing state


_FROM = {
    JobKind.START: ({SandboxState.STOPPED, SandboxState.ERROR, SandboxState.PAUSED}, SandboxState.STARTING),
    JobKind.STOP: ({SandboxState.STARTED, SandboxState.ERROR, SandboxState.PAUSED}, SandboxState.STOPPING),
    JobKind.DELETE: (
        {
            SandboxState.STARTED,
            SandboxState.PAUSED,
            SandboxState.STOPPED,
            SandboxState.ERROR,
            SandboxState.CREATING,
            SandboxState.STARTING,
            SandboxState.STOPPING,
        },
        SandboxState.DELETING,
    ),
}
# Already there (or on the way): answer with the sandbox as it is, no new job.
_ALREADY = {
    JobKind.START: {SandboxState.STARTED, SandboxState.STARTING},
    JobKind.STOP: {SandboxState.STOPPED, SandboxState.STOPPING},
    JobKind.DELETE: {SandboxState.DELETED, SandboxState.DELETING},
}


async def host_lost(client: aioredis.Redis, host: str, settings: Settings) -> bool:
    """Silent past host_lost_after_s (the sweep's rule): never heard of, or last heard of too long ago."""
    seen = await client.hget(c.KEY_HOSTS_SEEN, host)
    return seen is None or time.time() - float(seen) > host_lost_after_s(settings)


async def change_state(
    session: AsyncSession,
    principal: Principal,
    sandbox: SandboxRecord,
    kind: JobKind,
    settings: Settings,
    archive: bool = False,
    client: aioredis.Redis | None = None,
    protocol: str = "v1",
) -> uuid.UUID | None:
    """Start, stop or delete: mark the transition (a compare-and-set) and queue its job; None if nothing to do.

    archive (with a stop) marks the stopped sandbox archived; a start clears the mark.
    """
    allowed, transient = _FROM[kind]
    current = SandboxState(sandbox.state)
    if kind == JobKind.DELETE and current.awaiting_build:
        # No container yet: nothing for a host to do. The build's end finds it deleted and gives it no job.
        gone_now = await session.execute(
            update(Sandbox)
            .where(Sandbox.id == sandbox.id, Sandbox.state.in_(AWAITING_BUILD))  # its build may have begun since
            .values(state=SandboxState.DELETED.value, updated_at=func.now())
            .returning(Sandbox.id)
        )
        if gone_now.first() is None:
            await session.rollback()
            raise Conflict(f"sandbox {sandbox.name} changed state meanwhile; retry", current.value)
        await session.commit()
        return None
    gone = kind == JobKind.DELETE and current is SandboxState.ERROR and client is not None
    if gone and client is not None and await host_lost(client, sandbox.host, settings):
        # Its host is gone: nothing there can run a job; if it returns, it removes what nobody owns.
        await session.execute(
            update(Sandbox)
            .where(Sandbox.id == sandbox.id, Sandbox.state == current.value)
            .values(state=SandboxState.DELETED.value, container_id=None, updated_at=func.now())
        )
        await session.commit()
        return None
    if kind in (JobKind.STOP, JobKind.START):
        marked = archive if kind == JobKind.STOP else False
        if sandbox.archived != marked and current not in (SandboxState.DELETED, SandboxState.DELETING):
            await session.execute(update(Sandbox).where(Sandbox.id == sandbox.id).values(archived=marked))
            if current in _ALREADY[kind]:
                await session.commit()
    if current in _ALREADY[kind]:
        return None
    if current not in allowed:
        raise Conflict(f"sandbox {sandbox.name} is {current.value}; cannot {kind.verb} it now", current.value)
    changed = await session.execute(
        update(Sandbox)
        .where(Sandbox.id == sandbox.id, Sandbox.state == current.value)
        .values(state=transient.value, updated_at=func.now())
        .returning(Sandbox.id)
    )
    if changed.first() is None:
        await session.rollback()
        raise Conflict(f"sandbox {sandbox.name} changed state meanwhile; retry", current.value)
    job_id = await operations.insert_job(session, principal, sandbox.id, sandbox.host, kind, {}, protocol, None, None)
    await session.commit()
    await operations.enqueue(settings, job_id, sandbox.host)
    return job_id


async def update_settings(session: AsyncSession, sandbox: SandboxRecord, **values: Any) -> SandboxRecord:
    """Labels, intervals, public: the sandbox's own record, no job needed (nothing runs)."""
    errors: list[FieldError] = []
    if "labels" in values:
        check_map("labels", values["labels"], LABEL_KEY, errors)
    for key in ("auto_stop_s", "auto_delete_s", "auto_archive_s", "auto_pause_s", "ttl_s"):
        if key in values and not 0 <= int(values[key]) <= 365 * 86400:
            errors.append(FieldError(key, "range", "must be between 0 and 31536000 seconds"))
    if errors:
        raise InvalidInput(errors)
    await session.execute(update(Sandbox).where(Sandbox.id == sandbox.id).values(updated_at=func.now(), **values))
    await session.commit()
    return SandboxRecord.model_validate(await session.get(Sandbox, sandbox.id, populate_existing=True))
