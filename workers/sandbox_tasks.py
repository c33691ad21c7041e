"""The Celery task for sandbox jobs: claim on this host, execute, store the outcome, announce it."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from sqlalchemy import Connection

from core import constants as c
from core import job_machine, sandbox_store
from core.job_machine import SandboxClaim
from core.jobkinds import JobKind
from core.metrics_store import Observation
from core.notify import JobNotice
from core.schemas import JobView
from core.states import JobState, SandboxState
from workers import sandbox_watch
from workers.agent_link import AgentError
from workers.celery_app import app
from workers.context import get_context
from workers.job_task import announce, attempt, claim_here, db_retry, on_connection, queue_wait
from workers.sandbox_host import SandboxLost

log = logging.getLogger(__name__)
Outcome = tuple[JobState, dict[str, Any], str | None]


def _finish(conn: Connection, claim: SandboxClaim, outcome: Outcome) -> JobView | None:
    """Complete the job and, in the same transaction, what its kind changes besides: a failed lifecycle
    change leaves the sandbox in error; a finished upload's body is dropped (the job owned it until now).
    The job as stored, or None if another attempt owns it."""
    state, result, error = outcome
    job = job_machine.complete_host_job(conn, claim, state, result, error)
    if job is None:
        return None
    if state is JobState.FAILED and claim.kind in (JobKind.CREATE, JobKind.START, JobKind.STOP):
        sandbox_store.set_sandbox(conn, claim.sandbox.id, state=SandboxState.ERROR.value, error=error)
    if state is JobState.FAILED and claim.kind is JobKind.GROW_DISK:  # nothing moved: stopped as it was
        only = SandboxState.RESIZING
        sandbox_store.set_sandbox(conn, claim.sandbox.id, only_if=only, state=SandboxState.STOPPED.value, error=error)
    if claim.kind is JobKind.FILES_UPLOAD:
        sandbox_store.drop_blob(conn, uuid.UUID(str(claim.payload["blob_id"])))
    return job


def _failed(reason: str, kind: str = "internal") -> Outcome:
    return JobState.FAILED, {"error": {"kind": kind, "message": reason}}, reason


@app.task(
    name=c.TASK_SANDBOX_JOB,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    time_limit=4 * 3600,
)
def execute_sandbox_job(self: Any, job_id: str) -> None:
    ctx = get_context()
    # Never touch another host's sandbox: claim_here gives such a job back to its own queue.
    claim = claim_here(ctx, job_machine.claim_sandbox_job, job_id, lambda held: held.sandbox.host)
    if claim is None:
        return
    observed: list[Observation] = []
    if not claim.kind.lifecycle and claim.sandbox.state != SandboxState.STARTED:
        # Queued while the sandbox was started; it was stopped or deleted before its turn came.
        outcome: Outcome | None = _failed(f"sandbox {claim.sandbox.name} is {claim.sandbox.state}", "conflict")
    else:
        observed = queue_wait(claim.kind, claim.queued_since)
        outcome = attempt(self, ctx, claim, lambda: _execute(claim, observed), _failed)
    job = None if outcome is None else on_connection(ctx, _finish, claim, outcome)
    if job is not None:
        notice = JobNotice(state=job.state, job=job)
        announce(ctx, claim.job_id, notice, claim.callback_url is not None, observed)
        log.info("sandbox job done", extra={"job_id": job_id, "kind": claim.kind, "state": job.state})


def _execute(claim: SandboxClaim, observed: list[Observation]) -> Outcome:
    """The operation's outcome; an AgentError (a missing file, a bad path) is the caller's, stored as a result."""
    ctx = get_context()
    started = time.monotonic()
    try:
        result = ctx.ops.execute(claim)
    except AgentError as exc:
        return JobState.FAILED, exc.as_result(), exc.message
    except SandboxLost as exc:
        db_retry(sandbox_watch.mark_lost)(ctx.settings, ctx.sandbox_host, [claim.sandbox], str(exc))
        return _failed(f"{exc}; start the sandbox again", "sandbox_lost")
    observed.append(Observation("execution", claim.kind, time.monotonic() - started))
    return JobState.SUCCEEDED, result, None
