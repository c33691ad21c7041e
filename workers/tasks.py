"""Celery tasks: thin wrappers that claim a job and hand it to the code that executes it."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy.exc import OperationalError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from core import constants as c
from core import jobstore, metrics_store, queue, sandbox_store
from core.db import transaction
from core.models import CallbackState
from core.notify import publish_done
from core.settings import get_settings
from workers import callbacks, reaper
from workers.celery_app import app, run_task_time_limit
from workers.context import WorkerContext, get_context
from workers.run_executor import internal_error
from workers.runtime.base import RuntimeFailure

log = logging.getLogger(__name__)

# Postgres restarting must not cost a finished run its result: keep trying for a while.
db_retry = retry(
    retry=retry_if_exception_type(OperationalError),
    wait=wait_exponential(multiplier=0.2, max=5),
    stop=stop_after_delay(60),
    reraise=True,
)


@db_retry
def _claim(ctx: WorkerContext, job_id: uuid.UUID) -> jobstore.Claim | jobstore.Exhausted | None:
    with transaction(ctx.settings) as session:
        return jobstore.claim_run(session, job_id, ctx.name, ctx.settings)


@db_retry
def _complete(ctx: WorkerContext, claim: jobstore.Claim, outcome: Any) -> bool:
    with transaction(ctx.settings) as session:
        return jobstore.complete_run(session, claim, outcome)


@db_retry
def _release(ctx: WorkerContext, claim: jobstore.Claim, error: str) -> bool:
    with transaction(ctx.settings) as session:
        return jobstore.release(session, claim, error)


def observe_wait(ctx: WorkerContext, kind: str, since: datetime) -> None:
    metrics_store.observe(ctx.redis, "queue_wait", kind, (datetime.now(UTC) - since).total_seconds())


def _announce(ctx: WorkerContext, job_id: uuid.UUID, state: str, has_callback: bool) -> None:
    publish_done(ctx.redis, job_id, state)
    if has_callback:
        queue.send_callback(ctx.settings, job_id)


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
    jid = uuid.UUID(job_id)
    claim = _claim(ctx, jid)
    if isinstance(claim, jobstore.Exhausted):
        record = _load(ctx, jid)
        _announce(ctx, jid, "failed", bool(record and record.callback))
        return
    if claim is None:
        return
    language = ctx.language(claim.record.language_id)
    observe_wait(ctx, "run", claim.record.enqueued_at or claim.record.created_at)
    started = time.monotonic()
    try:
        if language is None:
            raise RuntimeFailure(f"language {claim.record.language_id} is not available on worker {ctx.name}")
        outcome = ctx.executor.execute(claim, language)
        metrics_store.observe(ctx.redis, "execution", "run", time.monotonic() - started)
    except Exception as exc:
        if isinstance(exc, RuntimeFailure):
            log.warning("run attempt failed", extra={"job_id": job_id, "attempt": claim.attempt, "error": str(exc)})
        else:
            log.exception("run attempt crashed", extra={"job_id": job_id, "attempt": claim.attempt})
        if claim.attempt >= ctx.settings.queue.max_attempts:
            outcome = internal_error(f"could not execute the run after {claim.attempt} attempts: {exc}")
        elif _release(ctx, claim, str(exc)):
            raise self.retry(countdown=min(30, 2**claim.attempt), exc=exc) from exc
        else:
            return
    if _complete(ctx, claim, outcome):
        _announce(ctx, jid, outcome.status.value, claim.record.callback is not None)
    else:
        log.info("result discarded: another attempt owns the run", extra={"job_id": job_id, "attempt": claim.attempt})


@db_retry
def _load(ctx: WorkerContext, job_id: uuid.UUID) -> Any:
    with transaction(ctx.settings) as session:
        return jobstore.load_run(session, job_id)


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
        job = sandbox_store.load_job(session, jid)
        if job is None or job.callback_url is None or job.callback_state != CallbackState.PENDING:
            return
        secret = jobstore.tenant_secret(session, job.tenant_id)
        url, attempt_no = job.callback_url, job.callback_attempts + 1
        if job.sandbox_id is not None:
            body = json.dumps(sandbox_store.job_view(job)).encode()
        else:
            record = jobstore.load_run(session, jid)
            if record is None:
                return
            language = ctx.language(record.language_id)
            body = callbacks.body_for(record, language.name if language else None)
    attempt = callbacks.deliver(url, body, secret, job_id, attempt_no, ctx.settings)
    retry_later = attempt.result is callbacks.Delivery.RETRY and attempt_no < ctx.settings.callbacks.max_tries
    if attempt.result is callbacks.Delivery.DELIVERED:
        state = CallbackState.DELIVERED
    elif retry_later:
        state = CallbackState.PENDING
    else:
        state = CallbackState.FAILED
    with transaction(ctx.settings) as session:
        jobstore.record_callback(session, jid, state, None if state is CallbackState.DELIVERED else attempt.detail)
    metrics_store.count(ctx.redis, "callbacks", "retry" if state is CallbackState.PENDING else state.value)
    log.info(
        "callback attempt",
        extra={"job_id": job_id, "attempt": attempt_no, "result": state.value, "detail": attempt.detail},
    )
    if retry_later:
        raise self.retry(countdown=callbacks.backoff_s(attempt_no, ctx.settings))


@app.task(name=c.TASK_SWEEP, acks_late=True, time_limit=120)
def sweep() -> None:
    ctx = get_context()
    # A dead worker's sandboxes normally stop by themselves (their agent sees its connection close);
    # remove those, and any still running whose worker has stopped sending heartbeats.
    try:
        alive = {
            key.decode().removeprefix(c.KEY_WORKER_HEARTBEAT)
            for key in ctx.redis.scan_iter(c.KEY_WORKER_HEARTBEAT + "*")
        }
        ours = ctx.runtime.list_containers(
            {c.LABEL_MANAGED: "1", c.LABEL_CLUSTER: ctx.settings.cluster, c.LABEL_KIND: "run"}
        )
        for info in reaper.orphans(ours, alive, ctx.name):
            ctx.runtime.remove_container(info.id)
            log.warning(
                "removed an orphaned sandbox",
                extra={"container": info.id[:12], "status": info.status, "worker": info.labels.get(c.LABEL_WORKER)},
            )
    except (RuntimeFailure, redis.RedisError) as exc:
        log.warning("could not look for orphaned sandboxes", extra={"error": str(exc)})
    seen = _hosts_seen(ctx)
    with transaction(ctx.settings) as session:
        result = jobstore.sweep(session, ctx.settings, {c.host_queue(host) for host in seen})
    for jid in result.requeue:
        queue.send_run(ctx.settings, jid)
    for jid in result.failed:
        record = _load(ctx, jid)
        _announce(ctx, jid, "failed", bool(record and record.callback))
    for jid in result.callbacks:
        queue.send_callback(ctx.settings, jid)
    for jid, job_queue in result.requeue_sandbox:
        queue.send(ctx.settings, c.TASK_SANDBOX_JOB, jid, job_queue)
    for jid in result.failed_sandbox:
        publish_done(ctx.redis, jid, "failed")
    _lost_hosts(ctx, seen)
    _housekeeping(ctx)
    with transaction(ctx.settings) as session:
        jobstore.purge_expired(session, ctx.settings)


def _hosts_seen(ctx: WorkerContext) -> dict[str, float]:
    """This installation's worker hosts (from its Redis), with the unix time of each one's last heartbeat."""
    try:
        raw = ctx.redis.hgetall(c.KEY_HOSTS_SEEN)
        return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}
    except (redis.RedisError, ValueError) as exc:
        log.warning("could not read when hosts were last seen", extra={"error": str(exc)})
        return {}


def _lost_hosts(ctx: WorkerContext, seen: dict[str, float]) -> None:
    """Hosts silent past host_lost_after_s: their sandboxes are errored, their waiting jobs failed and announced."""
    if not seen:
        return
    limit = sandbox_store.host_lost_after_s(ctx.settings)
    now = time.time()
    with transaction(ctx.settings) as session:
        candidates = sandbox_store.hosts_with_work(session)
        lost = [
            sandbox_store.mark_host_lost(session, host)
            for host in candidates
            if host in seen and now - seen[host] > limit
        ]
    for result in lost:
        if result.sandboxes or result.jobs:
            log.error(
                "host lost", extra={"host": result.host, "sandboxes": len(result.sandboxes), "jobs": len(result.jobs)}
            )
        for jid in result.jobs:
            publish_done(ctx.redis, jid, "failed")
            queue.send_callback(ctx.settings, jid)


def _housekeeping(ctx: WorkerContext) -> None:
    """Idle sandboxes stop after their interval; stopped ones are deleted after theirs."""
    try:
        hosts = {
            str(json.loads(raw).get("host"))
            for key in ctx.redis.scan_iter(c.KEY_WORKER_HEARTBEAT + "*")
            if (raw := ctx.redis.get(key))
        }
    except (redis.RedisError, ValueError) as exc:
        log.warning("could not list live hosts", extra={"error": str(exc)})
        return
    with transaction(ctx.settings) as session:
        due = sandbox_store.due_for_housekeeping(session, hosts)
        jobs = [(sandbox_store.add_system_job(session, d.tenant_id, d.sandbox_id, d.host, d.kind), d) for d in due]
    for job_id, d in jobs:
        log.info("housekeeping", extra={"sandbox_id": str(d.sandbox_id), "kind": d.kind})
        queue.send_sandbox_job(ctx.settings, job_id, d.host)
