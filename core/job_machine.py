"""The one job state machine, for every kind of job: claim, complete, release.

queued ──claim──▶ running ──complete──▶ succeeded | failed
   ▲                 │
   └────release──────┘   (an infrastructure fault; the attempt gives the job back)

Every transition is a single compare-and-set statement on the job row, owned by
the attempt that claimed it: a redelivered or duplicated message that finds its
job claimed or finished does nothing, and only the holder of a claim can finish
or release it. What differs by kind (a run's limits and result row; a sandbox
job's sandbox, payload and result) rides along in the same statement.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, case, func, literal, null, select, update

from core import job_statements as statements
from core import snapshot_store
from core.db import Executor, core_connection
from core.job_rows import SandboxSnapshot, SnapshotRow
from core.job_statements import JOBS, RUNS
from core.jobkinds import IDEMPOTENT, JobKind
from core.records import run_record
from core.schemas import JobView, RunOutcome, RunRecord
from core.settings import Settings
from core.states import JobState
from core.statuses import RunStatus

log = logging.getLogger(__name__)
WORKER_LOST = "the worker executing this operation stopped; it may have partly run, and was not repeated"


@dataclass(frozen=True)
class Claim:
    """What an attempt holds: the job's id, the attempt's own id (its ownership), and the job as claimed."""

    job_id: uuid.UUID
    attempt_id: uuid.UUID
    attempt: int
    kind: JobKind
    callback_url: str | None
    queued_since: datetime | None


@dataclass(frozen=True)
class RunClaim(Claim):
    record: RunRecord


@dataclass(frozen=True)
class SandboxClaim(Claim):
    payload: dict[str, Any]
    timeout_ms: int | None
    sandbox: SandboxSnapshot


@dataclass(frozen=True)
class SnapshotClaim(Claim):
    timeout_ms: int | None
    snapshot: SnapshotRow


HostClaim = SandboxClaim | SnapshotClaim


@dataclass(frozen=True)
class Exhausted:
    """The job was out of attempts and is now failed; its waiters and callback must hear of it."""

    job_id: uuid.UUID
    has_callback: bool


def max_attempts(kind: JobKind | str, settings: Settings) -> int:
    """A job that may have had side effects is never run twice."""
    return settings.queue.max_attempts if JobKind(kind) in IDEMPOTENT else 1


def sandbox_lease_s(timeout_ms: int | None, settings: Settings) -> float:
    """How long a sandbox job's claim holds: its own timeout and the margins."""
    own = timeout_ms / 1000 if timeout_ms else settings.sandboxes.lifecycle_wait_s
    return own + settings.worker.exec_margin_s + settings.queue.lease_margin_s


def _base(row: Any, attempt_id: uuid.UUID) -> dict[str, Any]:
    return {
        "job_id": row.id,
        "attempt_id": attempt_id,
        "attempt": row.attempts,
        "kind": JobKind(row.kind),
        "callback_url": row.callback_url,
        "queued_since": row.enqueued_at or row.created_at,
    }


def claim_run(db: Executor, job_id: uuid.UUID, worker: str, settings: Settings) -> RunClaim | Exhausted | None:
    """Take a queued run (or one whose holder's lease ran out): one statement that returns the run it claimed."""
    attempt_id = uuid.uuid4()
    params = {"job_id": job_id, "attempt_id": attempt_id, "worker": worker}
    row = core_connection(db).execute(statements.claim_run(statements.Rules.of(settings)), params).first()
    if row is not None:
        return RunClaim(**_base(row, attempt_id), record=run_record(row, row))
    return _not_claimed(db, job_id, settings)


def claim_sandbox_job(
    db: Executor, job_id: uuid.UUID, worker: str, settings: Settings
) -> SandboxClaim | Exhausted | None:
    """Take a queued sandbox job, and mark its sandbox active, in one statement that returns both."""
    attempt_id = uuid.uuid4()
    params = {"job_id": job_id, "attempt_id": attempt_id, "worker": worker}
    found = core_connection(db).execute(statements.claim_sandbox_job(statements.Rules.of(settings)), params).first()
    if found is not None:
        sandbox = SandboxSnapshot.of(_prefixed(found, "s_"))
        return SandboxClaim(
            **_base(found, attempt_id),
            payload=dict(found.payload or {}),
            timeout_ms=found.timeout_ms,
            sandbox=sandbox,
        )
    return _not_claimed(db, job_id, settings)


def claim_snapshot_job(
    db: Executor, job_id: uuid.UUID, worker: str, settings: Settings
) -> SnapshotClaim | Exhausted | None:
    """Take a queued snapshot job (a build, a removal), with its snapshot, in one statement."""
    attempt_id = uuid.uuid4()
    params = {"job_id": job_id, "attempt_id": attempt_id, "worker": worker}
    found = core_connection(db).execute(statements.claim_snapshot_job(statements.Rules.of(settings)), params).first()
    if found is not None:
        snapshot = SnapshotRow.of(_prefixed(found, "p_"))
        return SnapshotClaim(**_base(found, attempt_id), timeout_ms=found.timeout_ms, snapshot=snapshot)
    return _not_claimed(db, job_id, settings)


def _prefixed(row: Row[Any], prefix: str) -> SimpleNamespace:
    """The columns labelled with the prefix, by their own names."""
    return SimpleNamespace(**{str(k)[len(prefix) :]: v for k, v in row._mapping.items() if str(k).startswith(prefix)})


def _not_claimed(db: Executor, job_id: uuid.UUID, settings: Settings) -> Exhausted | None:
    """Why a claim found nothing: gone, held by someone else, finished, or out of attempts (then failed here)."""
    jobs = JOBS.c
    row = core_connection(db).execute(select(JOBS).where(jobs.id == job_id).with_for_update()).first()
    if row is None:
        log.info("job no longer exists; dropping message", extra={"job_id": str(job_id)})
        return None
    now = core_connection(db).execute(select(func.now())).scalar_one()
    expired = row.state == JobState.RUNNING and row.lease_expires_at is not None and row.lease_expires_at < now
    if (row.state == JobState.QUEUED or expired) and row.attempts >= max_attempts(row.kind, settings):
        if row.kind == JobKind.RUN:
            reason = f"gave up after {row.attempts} attempts"
        else:
            reason = WORKER_LOST if row.attempts else "out of attempts"
        fail(db, [job_id], reason)
        log.warning("job failed: out of attempts", extra={"job_id": str(job_id), "attempts": row.attempts})
        return Exhausted(job_id, row.callback_url is not None)
    log.info("job already %s; dropping duplicate message", row.state, extra={"job_id": str(job_id)})
    return None


def _held(claim: Claim) -> dict[str, Any]:
    return {"held_job": claim.job_id, "held_attempt": claim.attempt_id}


def _held_params(claim: Claim, state: JobState, error: str | None) -> dict[str, Any]:
    return {**_held(claim), "new_state": state.value, "new_error": error}


def complete_run(db: Executor, claim: RunClaim, outcome: RunOutcome) -> RunRecord | None:
    """Store the outcome if this attempt still holds the claim: the run as now stored, or None if another attempt
    won. One statement: the job's compare-and-set and the run's result, together."""
    state = JobState.FAILED if outcome.status is RunStatus.INTERNAL_ERROR else JobState.SUCCEEDED
    params = _held_params(claim, state, outcome.message if state is JobState.FAILED else None)
    params["new_verdict"] = outcome.status.value
    params.update({f"new_{name}": getattr(outcome, name) for name in statements.RUN_RESULT_COLUMNS})
    row = core_connection(db).execute(statements.complete_run(), params).first()
    return None if row is None else run_record(row, row)


def complete_host_job(
    db: Executor, claim: HostClaim, state: JobState, result: dict[str, Any], error: str | None
) -> JobView | None:
    """Store the outcome if this attempt still holds the claim: the job as now stored, or None if another won."""
    params = {**_held_params(claim, state, error), "new_result": result}
    row = core_connection(db).execute(statements.complete_host_job(), params).first()
    return None if row is None else JobView.model_validate(row)


def release(db: Executor, claim: Claim, error: str) -> bool:
    """Give a claimed job back to the queue after an infrastructure fault (the next attempt may succeed)."""
    done = core_connection(db).execute(
        update(JOBS)
        .where(statements.held())
        .values(
            state=JobState.QUEUED.value,
            attempt_id=None,
            lease_expires_at=None,
            error=error,
            enqueued_at=func.now(),
            updated_at=func.now(),
        )
        .returning(JOBS.c.id),
        _held(claim),
    )
    return done.first() is not None


def fail(db: Executor, job_ids: list[uuid.UUID], reason: str) -> None:
    """Fail jobs nobody will finish (out of attempts, their worker lost), whatever their kind:
    a run gets the Internal Error verdict, a sandbox job an error result naming why."""
    if not job_ids:
        return
    lost = {"error": {"kind": "worker_lost", "message": reason}}
    failed = (
        update(JOBS)
        .where(JOBS.c.id.in_(job_ids))
        .values(
            result=case((JOBS.c.kind == JobKind.RUN.value, null()), else_=literal(lost, JOBS.c.result.type)),
            **statements.finish_values(JobState.FAILED.value, reason),
        )
        .returning(JOBS.c.id)
        .cte("failed")
    )
    core_connection(db).execute(
        update(RUNS)
        .where(RUNS.c.job_id.in_(select(failed.c.id)))
        .values(verdict=RunStatus.INTERNAL_ERROR.value, message=reason)
        .add_cte(failed)
    )
    builds = select(JOBS.c.snapshot_id).where(JOBS.c.id.in_(job_ids), JOBS.c.kind == JobKind.SNAPSHOT_BUILD.value)
    snapshot_store.build_failed(db, list(core_connection(db).execute(builds).scalars()), f"the build failed: {reason}")


def expire_leases_of(db: Executor, worker: str) -> int:
    """End the leases a worker's previous life held: the sweep then repeats or fails those jobs now,
    not when the leases would have run out. Worker names are unique per installation."""
    jobs = JOBS.c
    result = core_connection(db).execute(
        update(JOBS)
        .where(jobs.state == JobState.RUNNING, jobs.worker == worker, jobs.lease_expires_at > func.now())
        .values(lease_expires_at=func.now())
    )
    return int(result.rowcount)
