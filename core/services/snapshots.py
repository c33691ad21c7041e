"""Snapshots: a tenant's images built from a Dockerfile. Each build is a job on one host's sandbox engine.

A snapshot is built on the host picked for it, and lives there: sandboxes from it are placed on that
host. With a registry configured (snapshots.registry), the building host pushes it there and any host
can start sandboxes from it, pulling it once.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import build_logs
from core import constants as c
from core.errors import Conflict, FieldError, InvalidInput, NotFound, NotSupported
from core.jobkinds import JobKind
from core.models import Base, Snapshot, Tenant
from core.schemas import SnapshotRecord
from core.services import operations, placement
from core.services.auth import Principal
from core.services.dockerfiles import check_dockerfile, entrypoint_command
from core.services.sandbox_validation import bounded
from core.settings import Settings
from core.states import SnapshotState

SNAPSHOTS = Base.metadata.tables["snapshots"]
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")
_LIVE = SnapshotState.DELETED.value
CONTEXT_REFUSED = (
    "build context files (a Dockerfile's COPY or ADD of local files: Daytona's Image.add_local_file and "
    "add_local_dir) need object storage, which Runyard does not have yet; fetch files with RUN (curl, git "
    "clone, pip), or write them into the sandbox with the file API"
)


@dataclass(frozen=True)
class SnapshotCreate:
    """A snapshot as a client asked for it: a Dockerfile, or an image to take as it is."""

    name: str | None = None
    dockerfile: str | None = None
    image: str | None = None
    entrypoint: list[str] | None = None
    cpus: float | None = None
    memory_bytes: int | None = None
    disk_bytes: int | None = None
    # Files a Dockerfile's COPY/ADD would take from the client (Daytona's object storage): not yet.
    context: list[str] | None = None


def dockerfile_of(req: SnapshotCreate, errors: list[FieldError]) -> str:
    if (req.dockerfile is None) == (req.image is None):
        errors.append(FieldError("dockerfile", "exclusive", "give a Dockerfile or an image, one of the two"))
        return ""
    text = req.dockerfile if req.dockerfile is not None else f"FROM {req.image}\n"
    if req.entrypoint:
        text = text.rstrip("\n") + f"\nENTRYPOINT {json.dumps(req.entrypoint)}\n"
    if (start := entrypoint_command(text)) is not None:
        # Run with every sandbox from it, in its entrypoint session, as Daytona runs a snapshot's entrypoint.
        text = text.rstrip("\n") + f"\nLABEL {c.LABEL_AUTOSTART}={json.dumps(start)}\n"
    return text


def image_ref_for(settings: Settings, snapshot_id: uuid.UUID) -> tuple[str, bool]:
    """Where the built image goes: the operator's registry (then any host can pull it), or this host only."""
    registry = settings.snapshots.registry
    if registry:
        return f"{registry.rstrip('/')}/runyard-snapshot:{snapshot_id.hex}", True
    return f"runyard/snapshot:{snapshot_id.hex}", False


async def lock_quota(session: AsyncSession, principal: Principal, settings: Settings) -> None:
    """Count the tenant's snapshots under its row lock, so concurrent creates count one after another."""
    await session.execute(select(Tenant.id).where(Tenant.id == principal.tenant_id).with_for_update())
    live = (
        await session.execute(
            select(func.count()).where(Snapshot.tenant_id == principal.tenant_id, Snapshot.state != _LIVE)
        )
    ).scalar_one()
    limit = settings.snapshots.max_per_tenant
    if live >= limit:
        raise Conflict(f"snapshot quota reached: {live} of {limit}; delete one first", state="quota")


async def _insert(
    session: AsyncSession,
    client: aioredis.Redis,
    principal: Principal,
    settings: Settings,
    req: SnapshotCreate,
    name: str,
    dockerfile: str,
    named: bool,
) -> tuple[SnapshotRecord, uuid.UUID]:
    """The snapshot (pending) and its build job, uncommitted; returns both (the job is sent after commit)."""
    snapshot_id = uuid.uuid4()
    image_ref, pushed = image_ref_for(settings, snapshot_id)
    host = await placement.pick_host(client, session, "")
    await session.execute(
        insert(SNAPSHOTS).values(
            id=snapshot_id,
            tenant_id=principal.tenant_id,
            name=name,
            state=SnapshotState.PENDING.value,
            dockerfile=dockerfile,
            dockerfile_sha256=hashlib.sha256(dockerfile.encode()).hexdigest(),
            named=named,
            image_ref=image_ref,
            host=host,
            pushed=pushed,
            entrypoint=req.entrypoint,
            cpus=req.cpus,
            memory_bytes=req.memory_bytes,
            disk_bytes=req.disk_bytes,
        )
    )
    job_id = await operations.insert_job(
        session,
        principal,
        None,
        host,
        JobKind.SNAPSHOT_BUILD,
        {},
        "v1",
        int(settings.snapshots.build_timeout_s * 1000),
        None,
        snapshot_id=snapshot_id,
    )
    found = await session.get(Snapshot, snapshot_id)
    assert found is not None  # inserted just now, in this transaction
    return SnapshotRecord.model_validate(found), job_id


def _check(req: SnapshotCreate, settings: Settings) -> str:
    errors: list[FieldError] = []
    if req.context:
        raise NotSupported(CONTEXT_REFUSED)
    if req.name is not None and not NAME.match(req.name):
        errors.append(FieldError("name", "pattern", f"must match {NAME.pattern}"))
    s = settings.sandboxes
    if req.entrypoint is not None and (len(req.entrypoint) > 100 or any("\x00" in a for a in req.entrypoint)):
        errors.append(FieldError("entrypoint", "invalid", "at most 100 arguments, without NUL"))
    bounded("cpus", req.cpus, s.cpus, 0.1, s.max_cpus, errors)
    bounded("memory_bytes", req.memory_bytes, s.memory_bytes, 64 << 20, s.max_memory_bytes, errors)
    bounded("disk_bytes", req.disk_bytes, s.disk_bytes, 16 << 20, s.max_disk_bytes, errors)
    dockerfile = dockerfile_of(req, errors)
    if dockerfile:
        check_dockerfile("dockerfile" if req.dockerfile is not None else "image", dockerfile, settings, errors)
    if errors:
        raise InvalidInput(errors)
    return dockerfile


async def create_snapshot(
    session: AsyncSession, client: aioredis.Redis, principal: Principal, req: SnapshotCreate, settings: Settings
) -> SnapshotRecord:
    """Check, persist (pending) with its build job, commit, then send the job to the building host."""
    dockerfile = _check(req, settings)
    if req.name is None:
        raise InvalidInput.one("name", "missing", "a snapshot needs a name")
    s = settings.sandboxes
    if req.name in s.templates or req.name in s.aliases:
        raise Conflict(f"{req.name!r} is the name of one of this installation's templates", state="exists")
    await lock_quota(session, principal, settings)
    taken = await by_name(session, principal, req.name)
    if taken is not None:
        raise Conflict(f"a snapshot named {req.name!r} already exists", state="exists")
    record, job_id = await _insert(session, client, principal, settings, req, req.name, dockerfile, True)
    await session.commit()
    await operations.enqueue(settings, job_id, record.host, JobKind.SNAPSHOT_BUILD)
    return record


async def for_dockerfile(
    session: AsyncSession, client: aioredis.Redis, principal: Principal, dockerfile: str, settings: Settings
) -> tuple[SnapshotRecord, uuid.UUID | None]:
    """The snapshot a sandbox asked for by its Dockerfile: the same Dockerfile's earlier build if it did
    not fail, else a new one; locked until the caller commits (so its build cannot finish unseen).

    Returns it, and the build job to send once the caller has committed (None when it was there before)."""
    _check(SnapshotCreate(dockerfile=dockerfile), settings)
    digest = hashlib.sha256(dockerfile.encode()).hexdigest()
    earlier = (
        await session.execute(
            select(Snapshot)
            .where(
                Snapshot.tenant_id == principal.tenant_id,
                Snapshot.dockerfile_sha256 == digest,
                Snapshot.named.is_(False),
                Snapshot.state.in_([SnapshotState.PENDING, SnapshotState.BUILDING, SnapshotState.ACTIVE]),
            )
            .order_by(Snapshot.seq.desc())
            .limit(1)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if earlier is not None:
        return SnapshotRecord.model_validate(earlier), None
    await lock_quota(session, principal, settings)
    # A failed build of the same Dockerfile gives its name up to the new one.
    await session.execute(
        update(Snapshot)
        .where(
            Snapshot.tenant_id == principal.tenant_id,
            Snapshot.dockerfile_sha256 == digest,
            Snapshot.named.is_(False),
            Snapshot.state == SnapshotState.BUILD_FAILED,
        )
        .values(state=SnapshotState.DELETED.value, updated_at=func.now())
    )
    name = f"build-{digest[:24]}"
    return await _insert(session, client, principal, settings, SnapshotCreate(), name, dockerfile, False)


async def by_name(session: AsyncSession, principal: Principal, name: str, lock: bool = False) -> Snapshot | None:
    stmt = select(Snapshot).where(
        Snapshot.tenant_id == principal.tenant_id, Snapshot.name == name, Snapshot.state != _LIVE
    )
    return (await session.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()


async def named(session: AsyncSession, principal: Principal, name: str) -> SnapshotRecord | None:
    """The tenant's snapshot of that name, locked until the caller commits; None if there is none."""
    found = await by_name(session, principal, name, lock=True)
    return None if found is None else SnapshotRecord.model_validate(found)


async def get_snapshot(session: AsyncSession, principal: Principal, ident: str) -> SnapshotRecord:
    """By id or by name; deleted ones only by id. Other tenants' are 404 like missing ones."""
    try:
        found = (
            await session.execute(
                select(Snapshot).where(Snapshot.tenant_id == principal.tenant_id, Snapshot.id == uuid.UUID(ident))
            )
        ).scalar_one_or_none()
    except ValueError:
        found = None
    found = found or await by_name(session, principal, ident)
    if found is None:
        raise NotFound("snapshot", ident)
    return SnapshotRecord.model_validate(found)


async def list_snapshots(
    session: AsyncSession, principal: Principal, offset: int, limit: int
) -> tuple[list[SnapshotRecord], int]:
    where = [Snapshot.tenant_id == principal.tenant_id, Snapshot.state != _LIVE]
    total = (await session.execute(select(func.count()).select_from(Snapshot).where(*where))).scalar_one()
    rows = (
        await session.execute(select(Snapshot).where(*where).order_by(Snapshot.seq.desc()).offset(offset).limit(limit))
    ).scalars()
    return [SnapshotRecord.model_validate(r) for r in rows], total


async def delete_snapshot(
    session: AsyncSession, principal: Principal, snapshot: SnapshotRecord, settings: Settings
) -> uuid.UUID | None:
    """Removing, with the job that drops the image on its host; None if it is going or gone already.

    Sandboxes made from it keep running (their containers hold the image); new ones cannot start from it."""
    state = SnapshotState(snapshot.state)
    if state in (SnapshotState.REMOVING, SnapshotState.DELETED):
        return None
    if not state.settled:
        raise Conflict(f"snapshot {snapshot.name} is {state.value}; delete it once its build is over", state.value)
    changed = await session.execute(
        update(Snapshot)
        .where(Snapshot.id == snapshot.id, Snapshot.state == state.value)
        .values(state=SnapshotState.REMOVING.value, updated_at=func.now())
        .returning(Snapshot.id)
    )
    if changed.first() is None:
        await session.rollback()
        raise Conflict(f"snapshot {snapshot.name} changed state meanwhile; retry", state.value)
    job_id = await operations.insert_job(
        session, principal, None, snapshot.host, JobKind.SNAPSHOT_DELETE, {}, "v1", None, None,
        snapshot_id=snapshot.id,
    )  # reason: the call's arguments, as insert_job takes them  # fmt: skip
    await session.commit()
    await operations.enqueue(settings, job_id, snapshot.host, JobKind.SNAPSHOT_DELETE)
    return job_id


async def build_log(
    client: aioredis.Redis,
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    snapshot_id: uuid.UUID,
    follow: bool,
) -> AsyncIterator[bytes]:
    """The build's output: live from Redis while it is there (followed to its end: the end mark, or the
    snapshot settled), else the copy its row kept. Following a pending build waits for it to begin."""

    async def stored() -> tuple[bool, str | None] | None:
        async with sessions() as session:
            row = (
                await session.execute(
                    select(Snapshot.state, Snapshot.build_log).where(
                        Snapshot.id == snapshot_id, Snapshot.tenant_id == principal.tenant_id
                    )
                )
            ).first()
        return None if row is None else (SnapshotState(row.state).settled, row.build_log)

    after = "0"
    while True:
        pieces, after, ended = await build_logs.read(client, snapshot_id, after, 1000 if follow else None)
        for piece in pieces:
            yield piece
        if ended:
            return
        if pieces:
            continue
        row = await stored()
        if row is None:
            return
        settled, kept = row
        if settled or not follow:
            if after == "0" and kept:  # nothing was live (it expired): the kept copy
                yield kept.encode()
            return
