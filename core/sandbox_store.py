"""The worker's side of sandbox jobs: claim, complete, and the sandbox rows they change.

Claims and completions are compare-and-sets on the job row, as for runs. An
operation that may have side effects (a command, a write) is never run twice:
if the worker that held it died, the job fails with a message that says so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core import constants as c
from core.models import Blob, BlobChunk, CallbackState, Job, JobState, Sandbox, SandboxState
from core.settings import Settings

# Safe to run again after a worker died holding them: they converge on the same state.
IDEMPOTENT = {
    "sandbox.create",
    "sandbox.start",
    "sandbox.stop",
    "sandbox.delete",
    "sandbox.files.download",
    # Written aside and renamed into place: a repeat replaces the file with the same whole bytes.
    "sandbox.files.upload",
    "sandbox.files.list",
    "sandbox.files.stat",
    "sandbox.files.find",
    "sandbox.files.grep",
    "sandbox.session.command",
    "sandbox.session.list",
}


@dataclass(frozen=True)
class SandboxSnapshot:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    state: str
    image: str
    template: str
    host: str
    container_id: str | None
    volume: str | None
    env: dict[str, str]
    cpus: float
    memory_bytes: int
    disk_bytes: int
    network: bool


@dataclass(frozen=True)
class JobClaim:
    job_id: uuid.UUID
    attempt_id: uuid.UUID
    attempt: int
    kind: str
    payload: dict[str, Any]
    timeout_ms: int | None
    sandbox: SandboxSnapshot
    callback_url: str | None = None
    queued_since: datetime | None = None


def snapshot(row: Sandbox) -> SandboxSnapshot:
    return SandboxSnapshot(
        row.id,
        row.tenant_id,
        row.name,
        row.state,
        row.image,
        row.template,
        row.host,
        row.container_id,
        row.volume,
        dict(row.env or {}),
        row.cpus,
        row.memory_bytes,
        row.disk_bytes,
        row.network,
    )


def lease_s(timeout_ms: int | None, settings: Settings) -> float:
    """How long a claim holds before the sweep may take the job back: its own timeout and the margins."""
    own = timeout_ms / 1000 if timeout_ms else settings.sandboxes.lifecycle_wait_s
    return own + settings.worker.exec_margin_s + settings.queue.lease_margin_s


def host_lost_after_s(settings: Settings) -> float:
    """Silence that makes a host lost: never less than a few heartbeats (a live host is heard every interval)."""
    return max(settings.queue.host_lost_after_s, 3 * settings.worker.heartbeat_interval_s)


def max_attempts(kind: str, settings: Settings) -> int:
    return settings.queue.max_attempts if kind in IDEMPOTENT else 1


def claim_job(session: Session, job_id: uuid.UUID, worker: str, settings: Settings) -> JobClaim | str | None:
    """Take a queued job (or one whose holder's lease ran out).

    Returns the claim; or a reason string when the job is now failed (out of attempts); or None.
    """
    job = session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
    if job is None or job.sandbox_id is None:
        return None
    now = session.execute(select(func.now())).scalar_one()
    expired = job.state == JobState.RUNNING and job.lease_expires_at is not None and job.lease_expires_at < now
    if not (job.state == JobState.QUEUED or expired):
        return None
    if job.attempts >= max_attempts(job.kind, settings):
        reason = (
            "the worker executing this operation stopped; it may have partly run, and was not repeated"
            if job.attempts
            else "out of attempts"
        )
        finish(session, job, JobState.FAILED, {"error": {"kind": "worker_lost", "message": reason}}, reason)
        return reason
    sandbox = session.execute(select(Sandbox).where(Sandbox.id == job.sandbox_id)).scalar_one()
    job.state = JobState.RUNNING.value
    job.attempts += 1
    job.attempt_id = uuid.uuid4()
    job.worker = worker
    job.started_at = now
    job.lease_expires_at = now + timedelta(seconds=lease_s(job.timeout_ms, settings))
    sandbox.last_activity_at = now
    return JobClaim(
        job.id,
        job.attempt_id,
        job.attempts,
        job.kind,
        dict(job.payload or {}),
        job.timeout_ms,
        snapshot(sandbox),
        job.callback_url,
        job.enqueued_at or job.created_at,
    )


def finish(session: Session, job: Job, state: JobState, result: dict[str, Any], error: str | None) -> None:
    job.state = state.value
    job.result = result
    job.error = error
    job.finished_at = func.now()
    job.lease_expires_at = None
    job.callback_state = CallbackState.PENDING.value if job.callback_url else None


def complete_job(session: Session, claim: JobClaim, state: JobState, result: dict[str, Any], error: str | None) -> bool:
    """Store the outcome if this attempt still holds the claim."""
    done = session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.state == JobState.RUNNING, Job.attempt_id == claim.attempt_id)
        .values(
            state=state.value,
            result=result,
            error=error,
            finished_at=func.now(),
            lease_expires_at=None,
            callback_state=case((Job.callback_url.is_not(None), CallbackState.PENDING.value), else_=None),
        )
        .returning(Job.id)
    ).first()
    return done is not None


def release_job(session: Session, claim: JobClaim, error: str) -> bool:
    """Give an idempotent job back to the queue after an infrastructure failure."""
    done = session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.state == JobState.RUNNING, Job.attempt_id == claim.attempt_id)
        .values(
            state=JobState.QUEUED.value, attempt_id=None, lease_expires_at=None, error=error, enqueued_at=func.now()
        )
        .returning(Job.id)
    ).first()
    return done is not None


def load_job(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.execute(select(Job).where(Job.id == job_id)).scalar_one_or_none()


def job_view(job: Job) -> dict[str, Any]:
    """A sandbox job as its callback (and /v1/jobs) shows it."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "state": job.state,
        "sandbox_id": str(job.sandbox_id) if job.sandbox_id else None,
        "result": job.result,
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def set_sandbox(session: Session, sandbox_id: uuid.UUID, only_if: SandboxState | None = None, **values: Any) -> None:
    stmt = update(Sandbox).where(Sandbox.id == sandbox_id)
    if only_if is not None:
        stmt = stmt.where(Sandbox.state == only_if.value)
    session.execute(stmt.values(updated_at=func.now(), **values))


def mark_lost(session: Session, sandbox_id: uuid.UUID, container_id: str, reason: str) -> bool:
    """A started sandbox whose container stopped becomes error, its container forgotten (its workspace is kept).
    Only if it still names that container: a stop or start that got there first wins."""
    result = session.execute(
        update(Sandbox)
        .where(Sandbox.id == sandbox_id, Sandbox.state == SandboxState.STARTED, Sandbox.container_id == container_id)
        .values(state=SandboxState.ERROR.value, container_id=None, error=reason, updated_at=func.now())
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def host_sandboxes(session: Session, host: str) -> list[SandboxSnapshot]:
    rows = session.execute(select(Sandbox).where(Sandbox.host == host, Sandbox.state != SandboxState.DELETED)).scalars()
    return [snapshot(r) for r in rows]


def referenced_volumes(session: Session, host: str) -> set[str]:
    rows = session.execute(
        select(Sandbox.volume).where(
            Sandbox.host == host, Sandbox.state != SandboxState.DELETED, Sandbox.volume.is_not(None)
        )
    ).scalars()
    return {v for v in rows if v}


# ------------------------------------------------------------------ housekeeping


@dataclass(frozen=True)
class Due:
    sandbox_id: uuid.UUID
    tenant_id: uuid.UUID
    host: str
    kind: str


def due_for_housekeeping(session: Session, hosts: set[str]) -> list[Due]:
    """Started sandboxes idle past their auto-stop interval; stopped ones past their auto-delete interval.

    Only on `hosts` (those with a live worker): a job for a dead host would only wait. Marks them
    stopping/deleting in the same statement, so two sweeps never both act.
    """
    now = func.now()
    idle = (
        update(Sandbox)
        .where(
            Sandbox.host.in_(hosts),
            Sandbox.state == SandboxState.STARTED,
            Sandbox.auto_stop_s > 0,
            Sandbox.last_activity_at + func.make_interval(0, 0, 0, 0, 0, 0, Sandbox.auto_stop_s) < now,
            ~select(Job.id)
            .where(Job.sandbox_id == Sandbox.id, Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
            .exists(),
        )
        .values(state=SandboxState.STOPPING.value, updated_at=now)
        .returning(Sandbox.id, Sandbox.tenant_id, Sandbox.host)
    )
    due = [Due(r.id, r.tenant_id, r.host, "sandbox.stop") for r in session.execute(idle)]
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
    due += [Due(r.id, r.tenant_id, r.host, "sandbox.delete") for r in session.execute(expired)]
    return due


def add_system_job(session: Session, tenant_id: uuid.UUID, sandbox_id: uuid.UUID, host: str, kind: str) -> uuid.UUID:
    """A job Runyard itself decided on (housekeeping), in the sandbox's tenant's name."""
    job = Job(
        tenant_id=tenant_id,
        kind=kind,
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

    The container ids are kept: if the host comes back, a start replaces the old container on the
    same workspace volume.
    """
    now = func.now()
    reason = f"its host {host} stopped answering; start it again once the host is back"
    errored = session.execute(
        update(Sandbox)
        .where(
            Sandbox.host == host,
            Sandbox.state.in_(
                [SandboxState.CREATING, SandboxState.STARTED, SandboxState.STARTING, SandboxState.STOPPING]
            ),
        )
        .values(state=SandboxState.ERROR.value, error=reason, updated_at=now)
        .returning(Sandbox.id)
    ).scalars()
    lost = list(errored)
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
    """Hosts that hold live sandboxes or have jobs waiting."""
    holding = session.execute(
        select(Sandbox.host)
        .where(Sandbox.state.not_in([SandboxState.DELETED, SandboxState.ERROR, SandboxState.STOPPED]))
        .distinct()
    ).scalars()
    return set(holding)


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


def drop_blob(session: Session, blob_id: uuid.UUID) -> None:
    session.execute(delete(Blob).where(Blob.id == blob_id))
