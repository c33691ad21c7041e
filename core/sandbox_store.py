"""The sandbox rows as workers and the sweep change them: state, loss, housekeeping, hosts, and file bodies.

The jobs that act on sandboxes go through the one state machine in core.job_machine."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core import constants as c
from core import snapshot_store
from core.db import Executor
from core.job_rows import SandboxSnapshot
from core.jobkinds import JobKind
from core.models import Blob, BlobChunk, Job, Sandbox, Snapshot, WarmPool
from core.settings import Settings
from core.states import AWAITING_BUILD, CallbackState, JobState, SandboxState, SnapshotState


def host_lost_after_s(settings: Settings) -> float:
    """Silence that makes a host lost: never less than a few heartbeats (a live host is heard every interval)."""
    return max(settings.queue.host_lost_after_s, 3 * settings.worker.heartbeat_interval_s)


def set_sandbox(session: Executor, sandbox_id: uuid.UUID, only_if: SandboxState | None = None, **values: Any) -> bool:
    """Change the sandbox (only while it is in state `only_if`, if given); whether it was changed."""
    stmt = update(Sandbox).where(Sandbox.id == sandbox_id)
    if only_if is not None:
        stmt = stmt.where(Sandbox.state == only_if.value)
    changed = session.execute(stmt.values(updated_at=func.now(), **values).returning(Sandbox.id))
    return changed.first() is not None


def sandbox_state(session: Session, sandbox_id: uuid.UUID) -> str | None:
    return session.execute(select(Sandbox.state).where(Sandbox.id == sandbox_id)).scalar_one_or_none()


def mark_lost(session: Session, sandbox_id: uuid.UUID, container_id: str, reason: str) -> bool:
    """A started sandbox whose container stopped becomes error; the container, and its filesystem, are kept
    for the next start. Only if it still names that container: a stop or start that got there first wins."""
    result = session.execute(
        update(Sandbox)
        .where(Sandbox.id == sandbox_id, Sandbox.state == SandboxState.STARTED, Sandbox.container_id == container_id)
        .values(state=SandboxState.ERROR.value, error=reason, updated_at=func.now())
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def warm_targets(session: Session, host: str) -> dict[str, int]:
    """Ready sandboxes tenants' warm pools ask this host to keep, per image (the largest ask of each)."""
    rows = session.execute(
        select(WarmPool.image, func.max(WarmPool.pool))
        .where(WarmPool.pool > 0, (WarmPool.host.is_(None)) | (WarmPool.host == host))
        .group_by(WarmPool.image)
    ).all()
    return {image: int(n) for image, n in rows}


def host_sandboxes(session: Session, host: str) -> list[SandboxSnapshot]:
    rows = session.execute(select(Sandbox).where(Sandbox.host == host, Sandbox.state != SandboxState.DELETED)).scalars()
    return [SandboxSnapshot.of(r) for r in rows]


# ------------------------------------------------------------------ housekeeping


@dataclass(frozen=True)
class Due:
    sandbox_id: uuid.UUID
    tenant_id: uuid.UUID
    host: str
    kind: JobKind


def due_for_housekeeping(session: Session, hosts: set[str]) -> list[Due]:
    """Started sandboxes idle past their auto-stop (or auto-pause) interval; stopped ones past their auto-delete
    interval; any past its time to live.

    Only on `hosts` (those with a live worker): a job for a dead host would only wait. Marks them
    stopping/deleting in the same statement, so two sweeps never both act.
    """
    now = func.now()

    def idle_past(interval: Any) -> list[Any]:
        """Started, nothing queued or running on it, and no activity for that column's seconds (0: never)."""
        return [
            Sandbox.host.in_(hosts),
            Sandbox.state == SandboxState.STARTED,
            interval > 0,
            Sandbox.last_activity_at + func.make_interval(0, 0, 0, 0, 0, 0, interval) < now,
            ~select(Job.id)
            .where(Job.sandbox_id == Sandbox.id, Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
            .exists(),
        ]

    idle = (
        update(Sandbox)
        .where(*idle_past(Sandbox.auto_stop_s))
        .values(state=SandboxState.STOPPING.value, updated_at=now)
        .returning(Sandbox.id, Sandbox.tenant_id, Sandbox.host)
    )
    due = [Due(r.id, r.tenant_id, r.host, JobKind.STOP) for r in session.execute(idle)]
    # Paused, not stopped: no state to mark first, so a sandbox with a job queued or running is left for later
    # (a pause job of an earlier sweep among them).
    pausing = select(Sandbox.id, Sandbox.tenant_id, Sandbox.host).where(*idle_past(Sandbox.auto_pause_s))
    paused = session.execute(pausing.with_for_update(skip_locked=True))
    due += [Due(r.id, r.tenant_id, r.host, JobKind.PAUSE) for r in paused]
    lived = (
        update(Sandbox)
        .where(
            Sandbox.host.in_(hosts),
            Sandbox.state.not_in([SandboxState.DELETING, SandboxState.DELETED, *AWAITING_BUILD]),
            Sandbox.ttl_s > 0,
            Sandbox.created_at + func.make_interval(0, 0, 0, 0, 0, 0, Sandbox.ttl_s) < now,
        )
        .values(state=SandboxState.DELETING.value, updated_at=now)
        .returning(Sandbox.id, Sandbox.tenant_id, Sandbox.host)
    )
    due += [Due(r.id, r.tenant_id, r.host, JobKind.DELETE) for r in session.execute(lived)]
    expired = (
        update(Sandbox)
        .where(
            Sandbox.host.in_(hosts),
            or_(
                and_(Sandbox.state == SandboxState.STOPPED, Sandbox.stopped_at.is_not(None)),
                Sandbox.state == SandboxState.ERROR,
            ),
            Sandbox.auto_delete_s > 0,
            func.coalesce(Sandbox.stopped_at, Sandbox.updated_at)
            + func.make_interval(0, 0, 0, 0, 0, 0, Sandbox.auto_delete_s)
            < now,
        )
        .values(state=SandboxState.DELETING.value, updated_at=now)
        .returning(Sandbox.id, Sandbox.tenant_id, Sandbox.host)
    )
    due += [Due(r.id, r.tenant_id, r.host, JobKind.DELETE) for r in session.execute(expired)]
    return due


def add_system_job(
    session: Session, tenant_id: uuid.UUID, sandbox_id: uuid.UUID, host: str, kind: JobKind
) -> uuid.UUID:
    """A job Runyard itself decided on (housekeeping), in the sandbox's tenant's name."""
    job = Job(
        tenant_id=tenant_id,
        kind=kind.value,
        queue=c.host_queue(host),
        protocol="system",
        state=JobState.QUEUED.value,
        attempts=0,
        callback_attempts=0,
        enqueued_at=func.now(),
        sandbox_id=sandbox_id,
        payload={},
    )
    session.add(job)
    session.flush()
    return job.id


@dataclass(frozen=True)
class LostHost:
    host: str
    sandboxes: list[uuid.UUID]
    jobs: list[uuid.UUID]


def mark_host_lost(session: Session, host: str) -> LostHost:
    """A host that stopped for good: its sandboxes are errored (deleting ones deleted), their jobs failed.

    The container ids are kept: if the host comes back, a start starts the same container again.
    """
    now = func.now()
    reason = f"its host {host} stopped answering; start it again once the host is back"
    errored = session.execute(
        update(Sandbox)
        .where(
            Sandbox.host == host,
            Sandbox.state.in_(
                [
                    SandboxState.CREATING,
                    SandboxState.STARTED,
                    SandboxState.PAUSED,
                    SandboxState.RESIZING,
                    SandboxState.STARTING,
                    SandboxState.STOPPING,
                ]
            ),
        )
        .values(state=SandboxState.ERROR.value, error=reason, updated_at=now)
        .returning(Sandbox.id)
    ).scalars()
    lost = list(errored)
    snapshot_store.host_lost(session, host, f"its host {host} stopped answering")
    session.execute(
        update(Sandbox)
        .where(Sandbox.host == host, Sandbox.state == SandboxState.DELETING)
        .values(state=SandboxState.DELETED.value, container_id=None, updated_at=now)
    )
    failed = session.execute(
        update(Job)
        .where(Job.queue == c.host_queue(host), Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
        .values(
            state=JobState.FAILED.value,
            error=reason,
            result={"error": {"kind": "sandbox_lost", "message": reason}},
            finished_at=now,
            lease_expires_at=None,
            callback_state=case((Job.callback_url.is_not(None), CallbackState.PENDING.value), else_=None),
        )
        .returning(Job.id)
    ).scalars()
    return LostHost(host, lost, list(failed))


def hosts_with_work(session: Session) -> set[str]:
    """Hosts that hold live sandboxes, or build or remove snapshots."""
    holding = session.execute(
        select(Sandbox.host)
        .where(Sandbox.state.not_in([SandboxState.DELETED, SandboxState.ERROR, SandboxState.STOPPED]))
        .distinct()
    ).scalars()
    building = session.execute(
        select(Snapshot.host)
        .where(Snapshot.state.in_([*snapshot_store.UNSETTLED, SnapshotState.REMOVING.value]))
        .distinct()
    ).scalars()
    return set(holding) | set(building)


# ------------------------------------------------------------------ blobs


def blob_chunks(session: Session, blob_id: uuid.UUID) -> list[int]:
    return list(
        session.execute(select(BlobChunk.seq).where(BlobChunk.blob_id == blob_id).order_by(BlobChunk.seq)).scalars()
    )


def blob_chunk(session: Session, blob_id: uuid.UUID, seq: int) -> bytes:
    return bytes(
        session.execute(select(BlobChunk.data).where(BlobChunk.blob_id == blob_id, BlobChunk.seq == seq)).scalar_one()
    )


def new_blob(session: Session, tenant_id: uuid.UUID) -> uuid.UUID:
    blob = Blob(tenant_id=tenant_id, size=0, complete=False)
    session.add(blob)
    session.flush()
    return blob.id


def add_blob_chunk(session: Session, blob_id: uuid.UUID, seq: int, data: bytes) -> None:
    session.add(BlobChunk(blob_id=blob_id, seq=seq, data=data))
    session.execute(update(Blob).where(Blob.id == blob_id).values(size=Blob.size + len(data)))


def seal_blob(session: Session, blob_id: uuid.UUID) -> None:
    session.execute(update(Blob).where(Blob.id == blob_id).values(complete=True))


def drop_blob(session: Executor, blob_id: uuid.UUID) -> None:
    """A body whose job is finished: nobody reads it again."""
    session.execute(delete(Blob).where(Blob.id == blob_id))
