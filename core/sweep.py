"""The sweep: work Redis lost or a dead worker held goes back to the queue (or fails), and retention."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import String, and_, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core import job_machine
from core.jobkinds import JobKind
from core.models import Blob, Job, Sandbox, Snapshot
from core.settings import Settings
from core.states import CallbackState, JobState, SandboxState, SnapshotState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    requeue: list[uuid.UUID]
    failed: list[uuid.UUID]
    callbacks: list[uuid.UUID]
    # Host jobs (a sandbox's, a snapshot's) go back to their host's queue: (job id, kind, queue).
    requeue_sandbox: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)
    failed_sandbox: list[uuid.UUID] = field(default_factory=list)


def sweep(session: Session, settings: Settings, host_queues: set[str]) -> SweepResult:
    """Find work that Redis lost or a dead worker held, and mark it to be sent again.

    Sandbox jobs only for `host_queues`, the hosts this installation's Redis knows: a sandbox job is
    sent to its host's queue in this Redis, where no worker of another installation sharing the
    database would ever read it."""
    q = settings.queue
    now = session.execute(select(func.now())).scalar_one()
    ours = or_(Job.kind == JobKind.RUN.value, Job.queue.in_(sorted(host_queues)))
    # Runs, and host jobs of the hosts this installation's Redis knows, whose holder's lease ran out.
    stale = session.execute(
        select(Job.id, Job.kind, Job.attempts, Job.queue)
        .where(Job.state == JobState.RUNNING, Job.lease_expires_at < now, ours)
        .with_for_update(skip_locked=True)
    ).all()
    again = [row for row in stale if row.attempts < job_machine.max_attempts(row.kind, settings)]
    spent = [row for row in stale if row not in again]
    failed = [row.id for row in spent if row.kind == JobKind.RUN]
    failed_sandbox = [row.id for row in spent if row.kind != JobKind.RUN]
    job_machine.fail(session, failed, "the worker running it stopped, and it is out of attempts")
    job_machine.fail(session, failed_sandbox, job_machine.WORKER_LOST)
    if again:
        session.execute(
            update(Job)
            .where(Job.id.in_([row.id for row in again]))
            .values(
                state=JobState.QUEUED.value,
                attempt_id=None,
                lease_expires_at=None,
                error="its worker stopped answering; queued again",
                enqueued_at=now,
            )
        )
    requeue = [row.id for row in again if row.kind == JobKind.RUN]
    requeue_sandbox = [(row.id, row.kind, row.queue) for row in again if row.kind != JobKind.RUN]

    lost = session.execute(
        update(Job)
        .where(
            Job.state == JobState.QUEUED,
            ours,
            or_(
                and_(Job.enqueued_at.is_(None), Job.created_at < now - timedelta(seconds=q.enqueue_retry_after_s)),
                Job.enqueued_at < now - timedelta(seconds=q.requeue_after_s),
            ),
        )
        .values(enqueued_at=now)
        .returning(Job.id, Job.kind, Job.queue)
    ).all()
    requeue.extend(row.id for row in lost if row.kind == JobKind.RUN)
    requeue_sandbox.extend((row.id, row.kind, row.queue) for row in lost if row.kind != JobKind.RUN)

    callbacks = list(
        session.execute(
            update(Job)
            .where(
                Job.callback_state == CallbackState.PENDING,
                Job.updated_at < now - timedelta(seconds=q.requeue_after_s + settings.callbacks.backoff_max_s),
            )
            .values(updated_at=now)
            .returning(Job.id)
        ).scalars()
    )
    if requeue or failed or callbacks or requeue_sandbox or failed_sandbox:
        log.info(
            "sweep",
            extra={
                "requeued": len(requeue) + len(requeue_sandbox),
                "failed": len(failed) + len(failed_sandbox),
                "callbacks": len(callbacks),
            },
        )
    return SweepResult(requeue, failed, callbacks, requeue_sandbox, failed_sandbox)


@dataclass(frozen=True)
class Purged:
    runs: int
    sandbox_jobs: int
    sandboxes: int
    blobs: int


def purge_expired(session: Session, settings: Settings) -> Purged:
    """Delete finished work older than its retention (a batch per kind per sweep; never a pending callback)."""
    r = settings.retention
    now = session.execute(select(func.now())).scalar_one()
    finished = [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]

    def jobs(ttl_s: float, sandbox: bool) -> int:
        if ttl_s <= 0:
            return 0
        kind = Job.kind != JobKind.RUN.value if sandbox else Job.kind == JobKind.RUN.value
        doomed = (
            select(Job.id)
            .where(
                kind,
                Job.state.in_(finished),
                Job.finished_at < now - timedelta(seconds=ttl_s),
                or_(Job.callback_state.is_(None), Job.callback_state != CallbackState.PENDING),
            )
            .limit(r.batch)
        )
        return len(session.execute(delete(Job).where(Job.id.in_(doomed)).returning(Job.id)).all())

    runs, sandbox_jobs = jobs(r.runs_ttl_s, False), jobs(r.sandbox_jobs_ttl_s, True)
    sandboxes = blobs = 0
    if r.deleted_sandboxes_ttl_s > 0:
        before = now - timedelta(seconds=r.deleted_sandboxes_ttl_s)

        def deleted_rows(model: type[Sandbox] | type[Snapshot], deleted: str) -> int:
            old = select(model.id).where(model.state == deleted, model.updated_at < before).limit(r.batch)
            return len(session.execute(delete(model).where(model.id.in_(old)).returning(model.id)).all())

        sandboxes = deleted_rows(Sandbox, SandboxState.DELETED.value)
        deleted_rows(Snapshot, SnapshotState.DELETED.value)
    if r.blobs_ttl_s > 0:
        # An upload's body belongs to its job until the job is finished: never purged from under a queued one.
        waiting = select(Job.id).where(
            Job.kind == JobKind.FILES_UPLOAD.value,
            Job.state.in_([JobState.QUEUED, JobState.RUNNING]),
            Job.payload["blob_id"].astext == cast(Blob.id, String),
        )
        stale = (
            select(Blob.id)
            .where(Blob.created_at < now - timedelta(seconds=r.blobs_ttl_s), ~waiting.exists())
            .limit(r.batch)
        )
        blobs = len(session.execute(delete(Blob).where(Blob.id.in_(stale)).returning(Blob.id)).all())
    if runs or sandbox_jobs or sandboxes or blobs:
        log.info("purged", extra={"runs": runs, "sandbox_jobs": sandbox_jobs, "sandboxes": sandboxes, "blobs": blobs})
    return Purged(runs, sandbox_jobs, sandboxes, blobs)
