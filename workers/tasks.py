"""Celery tasks for runs and callbacks: thin wrappers around the job state machine and the run executor."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from core import callback_store, job_machine, metrics_store
from core import constants as c
from core.db import transaction
from core.metrics_store import Observation
from core.notify import JobNotice
from core.schemas import RunOutcome
from core.settings import get_settings
from core.states import CallbackState, JobState
from workers import callbacks
from workers.celery_app import app, run_task_time_limit
from workers.context import get_context
from workers.job_task import announce, attempt, in_transaction, on_connection, queue_wait
from workers.run_executor import internal_error
from workers.runtime.base import RuntimeFailure

log = logging.getLogger(__name__)


@app.task(
    name=c.TASK_EXECUTE_RUN,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    time_limit=run_task_time_limit(get_settings()),
)
def execute_run(self: Any, job_id: str) -> None:
    ctx = get_context()
    claim = on_connection(ctx, job_machine.claim_run, uuid.UUID(job_id), ctx.name, ctx.settings)
    if isinstance(claim, job_machine.Exhausted):
        announce(ctx, claim.job_id, JobNotice(state=JobState.FAILED.value), claim.has_callback)
        return
    if claim is None:
        return
    observed = queue_wait("run", claim.queued_since)
    started = time.monotonic()

    def work() -> RunOutcome:
        language = ctx.language(claim.record.language_id)
        if language is None:
            raise RuntimeFailure(f"language {claim.record.language_id} is not available on worker {ctx.name}")
        outcome = ctx.executor.execute(claim, language)
        observed.append(Observation("execution", "run", time.monotonic() - started))
        return outcome

    outcome = attempt(self, ctx, claim, work, internal_error)
    if outcome is None:
        return
    record = on_connection(ctx, job_machine.complete_run, claim, outcome)
    if record is not None:
        notice = JobNotice(state=outcome.status.value, run=record)
        announce(ctx, claim.job_id, notice, claim.callback_url is not None, observed)
    else:
        log.info("result discarded: another attempt owns the run", extra={"job_id": job_id, "attempt": claim.attempt})


@app.task(
    name=c.TASK_DELIVER_CALLBACK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    time_limit=120,
)
def deliver_callback(self: Any, job_id: str) -> None:
    ctx = get_context()
    jid = uuid.UUID(job_id)
    with transaction(ctx.settings) as session:
        job = callback_store.load_job(session, jid)
        if job is None or job.callback_url is None or job.callback_state != CallbackState.PENDING:
            return
        secret = callback_store.tenant_secret(session, job.tenant_id)
        url, attempt_no = job.callback_url, job.callback_attempts + 1
        if job.sandbox_id is not None:
            body = callback_store.sandbox_job_body(job)
        else:
            record = callback_store.load_run(session, jid)
            if record is None:
                return
            language = ctx.language(record.language_id)
            body = callbacks.body_for(record, language.name if language else None)
    delivery = callbacks.deliver(url, body, secret, job_id, attempt_no, ctx.settings)
    retry_later = delivery.result is callbacks.Delivery.RETRY and attempt_no < ctx.settings.callbacks.max_tries
    if delivery.result is callbacks.Delivery.DELIVERED:
        state = CallbackState.DELIVERED
    elif retry_later:
        state = CallbackState.PENDING
    else:
        state = CallbackState.FAILED
    error = None if state is CallbackState.DELIVERED else delivery.detail
    in_transaction(ctx, callback_store.record_callback, jid, state, error)
    metrics_store.count(ctx.redis, "callbacks", "retry" if state is CallbackState.PENDING else state.value)
    log.info(
        "callback attempt",
        extra={"job_id": job_id, "attempt": attempt_no, "result": state.value, "detail": delivery.detail},
    )
    if retry_later:
        raise self.retry(countdown=callbacks.backoff_s(attempt_no, ctx.settings))
