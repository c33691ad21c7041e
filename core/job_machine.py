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

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, bindparam, case, func, literal, null, or_, select, update

from core import snapshot_store
from core.db import Executor, core_connection
from core.job_rows import SandboxSnapshot, SnapshotRow
from core.jobkinds import IDEMPOTENT, JobKind
from core.models import Base
from core.records import run_record
from core.schemas import JobView, RunOutcome, RunRecord
from core.settings import Settings
from core.states import CallbackState, JobState
from core.statuses import RunStatus

log = logging.getLogger(__name__)
JOBS, RUNS, SANDBOXES, SNAPSHOTS = (Base.metadata.tables[t] for t in ("jobs", "runs", "sandboxes", "snapshots"))
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


def run_lease_margin_s(settings: Settings) -> float:
    """Beyond a run's own wall time: compilation at the maxima, and the margins."""
    return settings.limits.max_wall_time_limit_s + 2 * settings.worker.exec_margin_s + settings.queue.lease_margin_s


def sandbox_lease_s(timeout_ms: int | None, settings: Settings) -> float:
    """How long a sandbox job's claim holds: its own timeout and the margins."""
    own = timeout_ms / 1000 if timeout_ms else settings.sandboxes.lifecycle_wait_s
    return own + settings.worker.exec_margin_s + settings.queue.lease_margin_s


@dataclass(frozen=True)
class _Rules:
    """What of the settings the claim statement is built from (hashable: the statement is built once per rules)."""

    max_attempts: int
    run_margin_s: float
    sandbox_default_s: float
    sandbox_margin_s: float

    @classmethod
    def of(cls, settings: Settings) -> _Rules:
        sandbox_margin = settings.worker.exec_margin_s + settings.queue.lease_margin_s
        return cls(
            settings.queue.max_attempts,
            run_lease_margin_s(settings),
            settings.sandboxes.lifecycle_wait_s,
            sandbox_margin,
        )


def _lease_s(rules: _Rules) -> ColumnElement[Any]:
    jobs, runs = JOBS.c, RUNS.c
    wall_s = select(runs.wall_time_limit_ms * runs.number_of_runs / 1000.0).where(runs.job_id == jobs.id)
    own_s = func.coalesce(jobs.timeout_ms / 1000.0, rules.sandbox_default_s)
    return case(
        (jobs.kind == JobKind.RUN.value, wall_s.scalar_subquery() + rules.run_margin_s),
        else_=own_s + rules.sandbox_margin_s,
    )


def _allowed_attempts(rules: _Rules) -> ColumnElement[Any]:
    idempotent = sorted(k.value for k in IDEMPOTENT)
    return case((JOBS.c.kind.in_(idempotent), rules.max_attempts), else_=literal(1))


def _claimed_cte(rules: _Rules) -> Any:
    """The claim's compare-and-set, with the job, the attempt and the worker as parameters."""
    jobs = JOBS.c
    claimable = and_(
        jobs.id == bindparam("job_id"),
        jobs.attempts < _allowed_attempts(rules),
        or_(jobs.state == JobState.QUEUED, and_(jobs.state == JobState.RUNNING, jobs.lease_expires_at < func.now())),
    )
    return (
        update(JOBS)
        .where(claimable)
        .values(
            state=JobState.RUNNING.value,
            attempts=jobs.attempts + 1,
            attempt_id=bindparam("attempt_id"),
            worker=bindparam("worker"),
            started_at=func.now(),
            updated_at=func.now(),
            lease_expires_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, _lease_s(rules)),
        )
        .returning(*JOBS.c)
        .cte("claimed")
    )


# Built once per process (per settings): a claim runs for every job, and building its statement costs more than
# running it. The statements are immutable; only their parameters change.
@functools.cache
def _claim_run_statement(rules: _Rules) -> Any:
    claimed = _claimed_cte(rules)
    return select(claimed, RUNS).join(RUNS, RUNS.c.job_id == claimed.c.id)


@functools.cache
def _claim_sandbox_job_statement(rules: _Rules) -> Any:
    claimed = _claimed_cte(rules)
    touched = (
        update(SANDBOXES)
        .where(SANDBOXES.c.id == claimed.c.sandbox_id)
        .values(last_activity_at=func.now())
        .returning(*SANDBOXES.c)
        .cte("touched")
    )
    columns = [c.label(f"s_{c.name}") for c in touched.c]
    return select(claimed, *columns).join(touched, touched.c.id == claimed.c.sandbox_id)


@functools.cache
def _claim_snapshot_job_statement(rules: _Rules) -> Any:
    claimed = _claimed_cte(rules)
    columns = [c.label(f"p_{c.name}") for c in SNAPSHOTS.c]
    return select(claimed, *columns).join(SNAPSHOTS, SNAPSHOTS.c.id == claimed.c.snapshot_id)


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
    row = core_connection(db).execute(_claim_run_statement(_Rules.of(settings)), params).first()
    if row is not None:
        return RunClaim(**_base(row, attempt_id), record=run_record(row, row))
    return _not_claimed(db, job_id, settings)


def claim_sandbox_job(
    db: Executor, job_id: uuid.UUID, worker: str, settings: Settings
) -> SandboxClaim | Exhausted | None:
    """Take a queued sandbox job, and mark its sandbox active, in one statement that returns both."""
    attempt_id = uuid.uuid4()
    params = {"job_id": job_id, "attempt_id": attempt_id, "worker": worker}
    found = core_connection(db).execute(_claim_sandbox_job_statement(_Rules.of(settings)), params).first()
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
    found = core_connection(db).execute(_claim_snapshot_job_statement(_Rules.of(settings)), params).first()
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


def _finish_values(state: Any, error: Any) -> dict[str, Any]:
    return {
        "state": state,
        "error": error,
        "finished_at": func.now(),
        "updated_at": func.now(),
        "lease_expires_at": None,
        "callback_state": case((JOBS.c.callback_url.is_not(None), CallbackState.PENDING.value), else_=None),
    }


def _held_by(claim: Claim) -> ColumnElement[bool]:
    jobs = JOBS.c
    return and_(jobs.id == claim.job_id, jobs.state == JobState.RUNNING, jobs.attempt_id == claim.attempt_id)


def _held() -> ColumnElement[bool]:
    """_held_by, with the claim as parameters (held_job, held_attempt)."""
    jobs = JOBS.c
    return and_(
        jobs.id == bindparam("held_job"), jobs.state == JobState.RUNNING, jobs.attempt_id == bindparam("held_attempt")
    )


def _held_params(claim: Claim, state: JobState, error: str | None) -> dict[str, Any]:
    return {"held_job": claim.job_id, "held_attempt": claim.attempt_id, "new_state": state.value, "new_error": error}


RUN_RESULT_COLUMNS = (
    "stdout",
    "stderr",
    "compile_output",
    "stdout_truncated",
    "stderr_truncated",
    "exit_code",
    "exit_signal",
    "message",
    "time_ms",
    "wall_time_ms",
    "memory_kb",
)


# Built once per process, as the claims are: these run for every job, and building them cost more than running them.
@functools.cache
def _complete_run_statement() -> Any:
    finished = (
        update(JOBS)
        .where(_held())
        .values(**_finish_values(bindparam("new_state"), bindparam("new_error")))
        .returning(*JOBS.c)
        .cte("finished")
    )
    results: dict[str, Any] = {name: bindparam(f"new_{name}") for name in RUN_RESULT_COLUMNS}
    return (
        update(RUNS)
        .where(RUNS.c.job_id == finished.c.id)
        .values(verdict=bindparam("new_verdict"), **results)
        .returning(*RUNS.c, *finished.c)
        .add_cte(finished)
    )


@functools.cache
def _complete_host_job_statement() -> Any:
    jobs = JOBS.c
    return (
        update(JOBS)
        .where(_held())
        .values(result=bindparam("new_result"), **_finish_values(bindparam("new_state"), bindparam("new_error")))
        .returning(
            jobs.id, jobs.kind, jobs.state, jobs.sandbox_id, jobs.result, jobs.error, jobs.created_at, jobs.finished_at
        )
    )


def complete_run(db: Executor, claim: RunClaim, outcome: RunOutcome) -> RunRecord | None:
    """Store the outcome if this attempt still holds the claim: the run as now stored, or None if another attempt
    won. One statement: the job's compare-and-set and the run's result, together."""
    state = JobState.FAILED if outcome.status is RunStatus.INTERNAL_ERROR else JobState.SUCCEEDED
    params = _held_params(claim, state, outcome.message if state is JobState.FAILED else None)
    params["new_verdict"] = outcome.status.value
    params.update({f"new_{name}": getattr(outcome, name) for name in RUN_RESULT_COLUMNS})
    row = core_connection(db).execute(_complete_run_statement(), params).first()
    return None if row is None else run_record(row, row)


def complete_host_job(
    db: Executor, claim: HostClaim, state: JobState, result: dict[str, Any], error: str | None
) -> JobView | None:
    """Store the outcome if this attempt still holds the claim: the job as now stored, or None if another won."""
    params = {**_held_params(claim, state, error), "new_result": result}
    row = core_connection(db).execute(_complete_host_job_statement(), params).first()
    return None if row is None else JobView.model_validate(row)


def release(db: Executor, claim: Claim, error: str) -> bool:
    """Give a claimed job back to the queue after an infrastructure fault (the next attempt may succeed)."""
    done = core_connection(db).execute(
        update(JOBS)
        .where(_held_by(claim))
        .values(
            state=JobState.QUEUED.value,
            attempt_id=None,
            lease_expires_at=None,
            error=error,
            enqueued_at=func.now(),
            updated_at=func.now(),
        )
        .returning(JOBS.c.id)
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
            **_finish_values(JobState.FAILED.value, reason),
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
