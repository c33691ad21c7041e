"""What every job task does around its own work: the state machine's steps in a transaction (retried while the
database is away), the one retry rule, and announcing the finished job.

A task retries only on an infrastructure fault (the container engine, the database, Redis): the next attempt may
succeed. Anything else is a bug, and retrying a bug only repeats it: the job fails at once, saying so.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
from sqlalchemy.exc import InterfaceError, OperationalError
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_delay, wait_exponential

from core import constants as c
from core import job_machine, metrics_store, queue
from core.db import connection, transaction
from core.job_machine import Claim, Exhausted, HostClaim
from core.metrics_store import Observation
from core.notify import JobNotice, add_notice
from core.states import JobState
from workers.context import WorkerContext
from workers.runtime.base import RuntimeFailure

log = logging.getLogger(__name__)
T = TypeVar("T")
INFRASTRUCTURE = (RuntimeFailure, OperationalError, InterfaceError, redis.RedisError)

# Postgres restarting must not cost a finished job its result: keep trying for a while.
db_retry = retry(
    retry=retry_if_exception_type(OperationalError),
    wait=wait_exponential(multiplier=0.2, max=5),
    stop=stop_after_delay(60),
    before_sleep=before_sleep_log(log, logging.WARNING),
    reraise=True,
)


@db_retry
def in_transaction(ctx: WorkerContext, step: Callable[..., T], *args: Any) -> T:
    """One step that uses the ORM, `step(session, *args)`, in its own transaction."""
    with transaction(ctx.settings) as session:
        return step(session, *args)


@db_retry
def on_connection(ctx: WorkerContext, step: Callable[..., T], *args: Any) -> T:
    """One state-machine step of Core statements, `step(connection, *args)`, in its own transaction: every job
    takes a few (claim, complete), and a bare connection costs less to set up than a Session."""
    with connection(ctx.settings) as conn:
        return step(conn, *args)


def announce(
    ctx: WorkerContext,
    job_id: uuid.UUID,
    notice: JobNotice,
    has_callback: bool,
    observed: Sequence[Observation] = (),
) -> None:
    """Wake the job's waiters and record its metrics (one round trip), and send its callback if it has one."""
    try:
        pipe = ctx.redis.pipeline(transaction=False)
        add_notice(pipe, job_id, notice)
        for observation in observed:
            metrics_store.add(pipe, observation)
        pipe.execute()
    except redis.RedisError as exc:  # a lost notice costs a waiter its timeout; the database holds the outcome
        log.warning("completion notice not sent", extra={"job_id": str(job_id), "error": repr(exc)})
    if has_callback:
        queue.send_callback(ctx.settings, job_id)


def queue_wait(kind: str, since: datetime | None) -> list[Observation]:
    """How long the claimed job waited in the queue, recorded when it is announced."""
    return [] if since is None else [Observation("queue_wait", kind, (datetime.now(UTC) - since).total_seconds())]


def attempt(task: Any, ctx: WorkerContext, claim: Claim, work: Callable[[], T], failed: Callable[[str], T]) -> T | None:
    """The claimed job's outcome: `work()`, or `failed(reason)` for a bug or the last failed attempt.

    None when another attempt owns the job; raises Celery's Retry after giving the job back for a retry."""
    try:
        return work()
    except INFRASTRUCTURE as exc:
        log.warning(
            "job attempt failed",
            extra={"job_id": str(claim.job_id), "kind": claim.kind, "attempt": claim.attempt, "error": str(exc)},
        )
        if claim.attempt >= job_machine.max_attempts(claim.kind, ctx.settings):
            return failed(f"could not execute the {claim.kind.verb} after {claim.attempt} attempts: {exc}")
        if on_connection(ctx, job_machine.release, claim, str(exc)):
            raise task.retry(countdown=min(30, 2**claim.attempt), exc=exc) from exc
        return None
    except Exception as exc:
        log.exception("job crashed: a bug, not retried", extra={"job_id": str(claim.job_id), "kind": claim.kind})
        return failed(f"internal error while executing the {claim.kind.verb}: {type(exc).__name__}: {exc}")


H = TypeVar("H", bound=HostClaim)


def claim_here(
    ctx: WorkerContext, claim_step: Callable[..., H | Exhausted | None], job_id: str, host_of: Callable[[H], str]
) -> H | None:
    """Claim a host's job (a sandbox's, a snapshot's) for this worker; None if there is nothing to do here.

    Out of attempts: it is failed and announced. Delivered to the wrong host: it is given back to its own
    host's queue, never executed here."""
    claim = on_connection(ctx, claim_step, uuid.UUID(job_id), ctx.name, ctx.settings)
    if isinstance(claim, Exhausted):
        announce(ctx, claim.job_id, JobNotice(state=JobState.FAILED.value), claim.has_callback)
        return None
    if claim is None:
        return None
    host = host_of(claim)
    if host != ctx.settings.worker.host_name:
        log.error("job on the wrong host", extra={"job_id": job_id, "kind": claim.kind, "host": host})
        if on_connection(ctx, job_machine.release, claim, "delivered to the wrong host"):
            queue.send_host_job(ctx.settings, claim.job_id, claim.kind, c.host_queue(host))
        return None
    return claim
