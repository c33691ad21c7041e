"""The Celery task for sandbox jobs: claim on this host, execute, store the outcome, announce it."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from core import constants as c
from core import metrics_store, queue, sandbox_store
from core.db import transaction
from core.models import JobState, SandboxState
from core.notify import publish_done
from workers import sandbox_watch
from workers.agent_link import AgentError
from workers.celery_app import app
from workers.context import WorkerContext, get_context
from workers.runtime.base import RuntimeFailure
from workers.sandbox_host import SandboxLost
from workers.tasks import db_retry, observe_wait

log = logging.getLogger(__name__)
LIFECYCLE = {"sandbox.create", "sandbox.start", "sandbox.stop", "sandbox.delete"}


@db_retry
def _claim(ctx: WorkerContext, job_id: uuid.UUID) -> sandbox_store.JobClaim | str | None:
    with transaction(ctx.settings) as session:
        return sandbox_store.claim_job(session, job_id, ctx.name, ctx.settings)


@db_retry
def _complete(
    ctx: WorkerContext, claim: sandbox_store.JobClaim, state: JobState, result: dict[str, Any], error: str | None
) -> bool:
    with transaction(ctx.settings) as session:
        done = sandbox_store.complete_job(session, claim, state, result, error)
        if done and state is JobState.FAILED and claim.kind in LIFECYCLE and claim.kind != "sandbox.delete":
            sandbox_store.set_sandbox(session, claim.sandbox.id, state=SandboxState.ERROR.value, error=error)
        return done


@db_retry
def _release(ctx: WorkerContext, claim: sandbox_store.JobClaim, error: str) -> bool:
    with transaction(ctx.settings) as session:
        return sandbox_store.release_job(session, claim, error)


@db_retry
def _mark_lost(ctx: WorkerContext, claim: sandbox_store.JobClaim, error: str) -> None:
    sandbox_watch.mark_lost(ctx.settings, ctx.sandbox_host, [claim.sandbox], error)


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
    jid = uuid.UUID(job_id)
    claim = _claim(ctx, jid)
    if isinstance(claim, str):
        publish_done(ctx.redis, jid, "failed")
        queue.send_callback(ctx.settings, jid)  # a no-op unless the job has a callback
        return
    if claim is None:
        return
    if claim.sandbox.host != ctx.settings.worker.host_name:
        # Never touch another host's sandbox: give it back to its own queue.
        log.error("sandbox job on the wrong host", extra={"job_id": job_id, "host": claim.sandbox.host})
        if _release(ctx, claim, "delivered to the wrong host"):
            queue.send_sandbox_job(ctx.settings, jid, claim.sandbox.host)
        return
    state, error = JobState.SUCCEEDED, None
    if claim.kind not in LIFECYCLE and claim.sandbox.state != SandboxState.STARTED:
        # Queued while the sandbox was started; it was stopped or deleted before its turn came.
        error = f"sandbox {claim.sandbox.name} is {claim.sandbox.state}"
        if _complete(ctx, claim, JobState.FAILED, {"error": {"kind": "conflict", "message": error}}, error):
            publish_done(ctx.redis, jid, JobState.FAILED.value)
            if claim.callback_url:
                queue.send_callback(ctx.settings, jid)
        return
    if claim.queued_since is not None:
        observe_wait(ctx, claim.kind, claim.queued_since)
    started = time.monotonic()
    try:
        result = ctx.ops.execute(claim)
        metrics_store.observe(ctx.redis, "execution", claim.kind, time.monotonic() - started)
    except AgentError as exc:
        state, error = JobState.FAILED, exc.message
        result = exc.as_result()
    except SandboxLost as exc:
        _mark_lost(ctx, claim, str(exc))
        state, error = JobState.FAILED, str(exc)
        result = {"error": {"kind": "sandbox_lost", "message": f"{exc}; start the sandbox again"}}
    except Exception as exc:
        if isinstance(exc, RuntimeFailure):
            log.warning("sandbox job attempt failed", extra={"job_id": job_id, "kind": claim.kind, "error": str(exc)})
        else:
            log.exception("sandbox job crashed", extra={"job_id": job_id, "kind": claim.kind})
        if claim.attempt < sandbox_store.max_attempts(claim.kind, ctx.settings) and _release(ctx, claim, str(exc)):
            raise self.retry(countdown=min(30, 2**claim.attempt), exc=exc) from exc
        state, error = JobState.FAILED, f"could not execute {claim.kind}: {exc}"
        result = {"error": {"kind": "internal", "message": error}}
    if _complete(ctx, claim, state, result, error):
        publish_done(ctx.redis, jid, state.value)
        if claim.callback_url:
            queue.send_callback(ctx.settings, jid)
        log.info("sandbox job done", extra={"job_id": job_id, "kind": claim.kind, "state": state.value})
