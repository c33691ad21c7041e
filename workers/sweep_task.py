"""The periodic sweep task: orphaned containers, lost and stale work, lost hosts, idle sandboxes, retention."""

from __future__ import annotations

import logging
import time

import redis

from core import constants as c
from core import queue, sandbox_store
from core import sweep as sweeping
from core.db import transaction
from core.heartbeats import WorkerHeartbeat
from core.notify import JobNotice, publish_done
from core.states import JobState
from workers import reaper
from workers.celery_app import app
from workers.context import WorkerContext, get_context
from workers.job_task import announce
from workers.runtime.base import RuntimeFailure

log = logging.getLogger(__name__)


@app.task(name=c.TASK_SWEEP, acks_late=True, time_limit=120)
def sweep() -> None:
    ctx = get_context()
    # A dead worker's sandboxes normally stop by themselves (their agent sees its connection close);
    # remove those, and any (running, or created just before it died) whose worker is neither beating nor starting.
    try:
        alive = {
            key.decode().removeprefix(prefix)
            for prefix in (c.KEY_WORKER_HEARTBEAT, c.KEY_WORKER_STARTING)
            for key in ctx.redis.scan_iter(prefix + "*")
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
        result = sweeping.sweep(session, ctx.settings, {c.host_queue(host) for host in seen})
    for jid in result.requeue:
        queue.send_run(ctx.settings, jid)
    for jid in result.failed + result.failed_sandbox:
        announce(
            ctx, jid, JobNotice(state=JobState.FAILED.value), True
        )  # the callback task does nothing without a callback
    for jid in result.callbacks:
        queue.send_callback(ctx.settings, jid)
    for jid, kind, job_queue in result.requeue_sandbox:
        queue.send_host_job(ctx.settings, jid, kind, job_queue)
    _lost_hosts(ctx, seen)
    _housekeeping(ctx)
    with transaction(ctx.settings) as session:
        sweeping.purge_expired(session, ctx.settings)
    ctx.redis.incr(c.KEY_SWEEPS)


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
        beats = [WorkerHeartbeat.parse(raw) for key in ctx.redis.scan_iter(c.KEY_WORKER_HEARTBEAT + "*")
                 if (raw := ctx.redis.get(key))]  # reason: a comprehension with its filter  # fmt: skip
        hosts = {beat.host for beat in beats if beat is not None}
    except redis.RedisError as exc:
        log.warning("could not list live hosts", extra={"error": str(exc)})
        return
    with transaction(ctx.settings) as session:
        due = sandbox_store.due_for_housekeeping(session, hosts)
        jobs = [(sandbox_store.add_system_job(session, d.tenant_id, d.sandbox_id, d.host, d.kind), d) for d in due]
    for job_id, d in jobs:
        log.info("housekeeping", extra={"sandbox_id": str(d.sandbox_id), "kind": d.kind})
        queue.send_sandbox_job(ctx.settings, job_id, d.host)
