"""The job state machine's statements, built once per process: a claim and a completion run for every job, and
building them (their CTEs' columns, their cache keys) cost more than running them. Only their parameters change:
the job, the attempt and the worker for a claim (held_job, held_attempt, new_* for a completion).

core/job_machine.py runs them; this module only builds them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, literal, or_, select, update

from core.jobkinds import IDEMPOTENT, JobKind
from core.models import Base
from core.settings import Settings
from core.states import CallbackState, JobState

JOBS, RUNS, SANDBOXES, SNAPSHOTS = (Base.metadata.tables[t] for t in ("jobs", "runs", "sandboxes", "snapshots"))


def run_lease_margin_s(settings: Settings) -> float:
    """Beyond a run's own wall time: compilation at the maxima, and the margins."""
    return settings.limits.max_wall_time_limit_s + 2 * settings.worker.exec_margin_s + settings.queue.lease_margin_s


@dataclass(frozen=True)
class Rules:
    """What of the settings the claim statement is built from (hashable: the statement is built once per rules)."""

    max_attempts: int
    run_margin_s: float
    sandbox_default_s: float
    sandbox_margin_s: float

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        sandbox_margin = settings.worker.exec_margin_s + settings.queue.lease_margin_s
        return cls(
            settings.queue.max_attempts,
            run_lease_margin_s(settings),
            settings.sandboxes.lifecycle_wait_s,
            sandbox_margin,
        )


def _lease_s(rules: Rules) -> ColumnElement[Any]:
    jobs, runs = JOBS.c, RUNS.c
    wall_s = select(runs.wall_time_limit_ms * runs.number_of_runs / 1000.0).where(runs.job_id == jobs.id)
    own_s = func.coalesce(jobs.timeout_ms / 1000.0, rules.sandbox_default_s)
    return case(
        (jobs.kind == JobKind.RUN.value, wall_s.scalar_subquery() + rules.run_margin_s),
        else_=own_s + rules.sandbox_margin_s,
    )


def _allowed_attempts(rules: Rules) -> ColumnElement[Any]:
    idempotent = sorted(k.value for k in IDEMPOTENT)
    return case((JOBS.c.kind.in_(idempotent), rules.max_attempts), else_=literal(1))


def _claimed_cte(rules: Rules) -> Any:
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
def claim_run(rules: Rules) -> Any:
    claimed = _claimed_cte(rules)
    return select(claimed, RUNS).join(RUNS, RUNS.c.job_id == claimed.c.id)


@functools.cache
def claim_sandbox_job(rules: Rules) -> Any:
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
def claim_snapshot_job(rules: Rules) -> Any:
    claimed = _claimed_cte(rules)
    columns = [c.label(f"p_{c.name}") for c in SNAPSHOTS.c]
    return select(claimed, *columns).join(SNAPSHOTS, SNAPSHOTS.c.id == claimed.c.snapshot_id)


def finish_values(state: Any, error: Any) -> dict[str, Any]:
    return {
        "state": state,
        "error": error,
        "finished_at": func.now(),
        "updated_at": func.now(),
        "lease_expires_at": None,
        "callback_state": case((JOBS.c.callback_url.is_not(None), CallbackState.PENDING.value), else_=None),
    }


def held() -> ColumnElement[bool]:
    """Still held by the attempt that claimed it: the job and the attempt as parameters (held_job, held_attempt)."""
    jobs = JOBS.c
    return and_(
        jobs.id == bindparam("held_job"), jobs.state == JobState.RUNNING, jobs.attempt_id == bindparam("held_attempt")
    )


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
def complete_run() -> Any:
    finished = (
        update(JOBS)
        .where(held())
        .values(**finish_values(bindparam("new_state"), bindparam("new_error")))
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
def complete_host_job() -> Any:
    jobs = JOBS.c
    return (
        update(JOBS)
        .where(held())
        .values(result=bindparam("new_result"), **finish_values(bindparam("new_state"), bindparam("new_error")))
        .returning(
            jobs.id, jobs.kind, jobs.state, jobs.sandbox_id, jobs.result, jobs.error, jobs.created_at, jobs.finished_at
        )
    )
