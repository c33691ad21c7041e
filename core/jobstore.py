"""The job state machine as workers drive it: claim, complete, release, and sweep.

Every transition is a compare-and-set on the job row, so a redelivered or
duplicated message that finds its job already claimed or finished does nothing,
and only the attempt that holds the claim can store a result.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core import sandbox_store
from core.models import Base, Blob, CallbackState, Job, JobState, Run, Sandbox, SandboxState, Tenant
from core.records import run_record
from core.schemas import RunOutcome, RunRecord
from core.settings import Settings
from core.statuses import RunStatus

log = logging.getLogger(__name__)
JOBS, RUNS = Base.metadata.tables["jobs"], Base.metadata.tables["runs"]


@dataclass(frozen=True)
class Claim:
    job_id: uuid.UUID
    attempt_id: uuid.UUID
    attempt: int
    record: RunRecord


def lease_margin_s(settings: Settings) -> float:
    """Beyond the run's own wall time: compilation at the maxima, and the margins."""
    return settings.limits.max_wall_time_limit_s + 2 * settings.worker.exec_margin_s + settings.queue.lease_margin_s


@dataclass(frozen=True)
class Exhausted:
    """The run was out of attempts and is now failed; its waiters and callback must hear of it."""

    job_id: uuid.UUID


def claim_run(session: Session, job_id: uuid.UUID, worker: str, settings: Settings) -> Claim | Exhausted | None:
    """Take a queued run (or one whose holder's lease ran out). None if someone else has it or it is done.

    The common case is one statement: a conditional UPDATE that returns the run it claimed.
    """
    attempt_id = uuid.uuid4()
    jobs, runs = JOBS.c, RUNS.c
    wall_s = select(runs.wall_time_limit_ms * runs.number_of_runs / 1000.0).where(runs.job_id == job_id)
    # Core statements on the tables, not the ORM classes: this runs once per job, on the hot path.
    claimed = (
        update(JOBS)
        .where(
            jobs.id == job_id,
            jobs.attempts < settings.queue.max_attempts,
            or_(
                jobs.state == JobState.QUEUED, and_(jobs.state == JobState.RUNNING, jobs.lease_expires_at < func.now())
            ),
        )
        .values(
            state=JobState.RUNNING.value,
            attempts=jobs.attempts + 1,
            attempt_id=attempt_id,
            worker=worker,
            started_at=func.now(),
            updated_at=func.now(),
            lease_expires_at=func.now()
            + func.make_interval(0, 0, 0, 0, 0, 0, wall_s.scalar_subquery() + lease_margin_s(settings)),
        )
        .returning(*JOBS.c)
        .cte("claimed")
    )
    row = session.connection().execute(select(claimed, RUNS).join(RUNS, runs.job_id == claimed.c.id)).first()
    if row is not None:
        return Claim(row.id, attempt_id, row.attempts, run_record(row, row))
    return _not_claimed(session, job_id, settings)


def _not_claimed(session: Session, job_id: uuid.UUID, settings: Settings) -> Exhausted | None:
    """Why a claim found nothing: gone, held by someone else, finished, or out of attempts."""
    row = session.execute(
        select(Job, Run).join(Run, Run.job_id == Job.id).where(Job.id == job_id).with_for_update(of=Job)
    ).first()
    if row is None:
        log.info("job no longer exists; dropping message", extra={"job_id": str(job_id)})
        return None
    job, run = row
    now = session.execute(select(func.now())).scalar_one()
    expired = job.state == JobState.RUNNING and job.lease_expires_at is not None and job.lease_expires_at < now
    if (job.state == JobState.QUEUED or expired) and job.attempts >= settings.queue.max_attempts:
        _finish_failed(job, run, f"gave up after {job.attempts} attempts")
        log.warning("job failed: out of attempts", extra={"job_id": str(job_id), "attempts": job.attempts})
        return Exhausted(job.id)
    log.info("job already %s; dropping duplicate message", job.state, extra={"job_id": str(job_id)})
    return None


def _finish_failed(job: Job, run: Run, error: str) -> None:
    job.state = JobState.FAILED.value
    job.error = error
    job.finished_at = func.now()
    job.lease_expires_at = None
    job.callback_state = CallbackState.PENDING.value if job.callback_url else None
    run.verdict = RunStatus.INTERNAL_ERROR.value
    run.message = error


def complete_run(session: Session, claim: Claim, outcome: RunOutcome) -> bool:
    """Store the outcome if this attempt still holds the claim; False means another attempt won.

    One statement: the job's compare-and-set and the run's result, together.
    """
    state = JobState.FAILED if outcome.status is RunStatus.INTERNAL_ERROR else JobState.SUCCEEDED
    jobs = JOBS.c
    finished = (
        update(JOBS)
        .where(jobs.id == claim.job_id, jobs.state == JobState.RUNNING, jobs.attempt_id == claim.attempt_id)
        .values(
            state=state.value,
            finished_at=func.now(),
            updated_at=func.now(),
            lease_expires_at=None,
            error=outcome.message if state is JobState.FAILED else None,
            callback_state=case((jobs.callback_url.is_not(None), CallbackState.PENDING.value), else_=None),
        )
        .returning(jobs.id)
        .cte("finished")
    )
    result = session.connection().execute(
        update(RUNS)
        .where(RUNS.c.job_id.in_(select(finished.c.id)))
        .values(
            verdict=outcome.status.value,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            compile_output=outcome.compile_output,
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            exit_code=outcome.exit_code,
            exit_signal=outcome.exit_signal,
            message=outcome.message,
            time_ms=outcome.time_ms,
            wall_time_ms=outcome.wall_time_ms,
            memory_kb=outcome.memory_kb,
        )
        .add_cte(finished)
    )
    return bool(result.rowcount == 1)


def release(session: Session, claim: Claim, error: str) -> bool:
    """Give a claimed run back to the queue after an infrastructure failure."""
    result = session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.state == JobState.RUNNING, Job.attempt_id == claim.attempt_id)
        .values(
            state=JobState.QUEUED.value, attempt_id=None, lease_expires_at=None, error=error, enqueued_at=func.now()
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def expire_leases_of(session: Session, worker: str) -> int:
    """End the leases a worker's previous life held: the sweep then repeats or fails those jobs now,
    not when the leases would have run out. Worker names are unique per installation."""
    result = session.execute(
        update(Job)
        .where(Job.state == JobState.RUNNING, Job.worker == worker, Job.lease_expires_at > func.now())
        .values(lease_expires_at=func.now())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SweepResult:
    requeue: list[uuid.UUID]
    failed: list[uuid.UUID]
    callbacks: list[uuid.UUID]
    # Sandbox jobs go back to their host's queue: (job id, queue).
    requeue_sandbox: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    failed_sandbox: list[uuid.UUID] = field(default_factory=list)


def sweep(session: Session, settings: Settings, host_queues: set[str]) -> SweepResult:
    """Find work that Redis lost or a dead worker held, and mark it to be sent again.

    Sandbox jobs only for `host_queues`, the hosts this installation's Redis knows: a sandbox job is
    sent to its host's queue in this Redis, where no worker of another installation sharing the
    database would ever read it."""
    q = settings.queue
    now = session.execute(select(func.now())).scalar_one()
    failed: list[uuid.UUID] = []
    requeue: list[uuid.UUID] = []

    stale_running = session.execute(
        select(Job, Run)
        .join(Run, Run.job_id == Job.id)
        .where(Job.state == JobState.RUNNING, Job.lease_expires_at < now)
        .with_for_update(of=Job, skip_locked=True)
    ).all()
    for job, run in stale_running:
        if job.attempts >= q.max_attempts:
            _finish_failed(job, run, f"worker lost the run {job.attempts} times")
            failed.append(job.id)
        else:
            job.state = JobState.QUEUED.value
            job.attempt_id = None
            job.lease_expires_at = None
            job.error = f"worker {job.worker} stopped answering; requeued"
            job.enqueued_at = now
            requeue.append(job.id)

    requeue_sandbox: list[tuple[uuid.UUID, str]] = []
    failed_sandbox: list[uuid.UUID] = []
    stale_sandbox_jobs = session.execute(
        select(Job)
        .where(
            Job.state == JobState.RUNNING,
            Job.sandbox_id.is_not(None),
            Job.queue.in_(sorted(host_queues)),
            Job.lease_expires_at < now,
        )
        .with_for_update(skip_locked=True)
    ).scalars()
    for job in stale_sandbox_jobs:
        if job.attempts >= sandbox_store.max_attempts(job.kind, settings):
            reason = "the worker executing this operation stopped; it may have partly run, and was not repeated"
            sandbox_store.finish(
                session, job, JobState.FAILED, {"error": {"kind": "worker_lost", "message": reason}}, reason
            )
            failed_sandbox.append(job.id)
        else:
            job.state, job.attempt_id, job.lease_expires_at, job.enqueued_at = JobState.QUEUED.value, None, None, now
            requeue_sandbox.append((job.id, job.queue))

    lost = session.execute(
        update(Job)
        .where(
            Job.state == JobState.QUEUED,
            or_(Job.sandbox_id.is_(None), Job.queue.in_(sorted(host_queues))),
            or_(
                and_(Job.enqueued_at.is_(None), Job.created_at < now - timedelta(seconds=q.enqueue_retry_after_s)),
                Job.enqueued_at < now - timedelta(seconds=q.requeue_after_s),
            ),
        )
        .values(enqueued_at=now)
        .returning(Job.id, Job.sandbox_id, Job.queue)
    ).all()
    requeue.extend(row.id for row in lost if row.sandbox_id is None)
    requeue_sandbox.extend((row.id, row.queue) for row in lost if row.sandbox_id is not None)

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


def tenant_secret(session: Session, tenant_id: uuid.UUID) -> str:
    return session.execute(select(Tenant.callback_secret).where(Tenant.id == tenant_id)).scalar_one()


def load_run(session: Session, job_id: uuid.UUID) -> RunRecord | None:
    row = session.execute(select(Job, Run).join(Run, Run.job_id == Job.id).where(Job.id == job_id)).first()
    return None if row is None else run_record(row[0], row[1])


def record_callback(session: Session, job_id: uuid.UUID, state: CallbackState, error: str | None) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(callback_state=state.value, callback_attempts=Job.callback_attempts + 1, callback_last_error=error)
    )


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
        kind = Job.sandbox_id.is_not(None) if sandbox else Job.sandbox_id.is_(None)
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
        old = (
            select(Sandbox.id)
            .where(
                Sandbox.state == SandboxState.DELETED,
                Sandbox.updated_at < now - timedelta(seconds=r.deleted_sandboxes_ttl_s),
            )
            .limit(r.batch)
        )
        sandboxes = len(session.execute(delete(Sandbox).where(Sandbox.id.in_(old)).returning(Sandbox.id)).all())
    if r.blobs_ttl_s > 0:
        stale = select(Blob.id).where(Blob.created_at < now - timedelta(seconds=r.blobs_ttl_s)).limit(r.batch)
        blobs = len(session.execute(delete(Blob).where(Blob.id.in_(stale)).returning(Blob.id)).all())
    if runs or sandbox_jobs or sandboxes or blobs:
        log.info("purged", extra={"runs": runs, "sandbox_jobs": sandbox_jobs, "sandboxes": sandboxes, "blobs": blobs})
    return Purged(runs, sandbox_jobs, sandboxes, blobs)
