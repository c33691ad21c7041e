"""The Celery application: configuration, schedule, and process lifecycle hooks.

Start a worker with
    celery -A workers.celery_app worker -Q runyard.runs,runyard.callbacks,runyard.maintenance
(it adds its own host's queue, runyard.host.<host>, by itself)
and the periodic sweep with
    celery -A workers.celery_app beat
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery, signals

from core import constants as c
from core import job_machine, logs, sandbox_store
from core.db import transaction
from core.heartbeats import SandboxHostFigures, WorkerHeartbeat
from core.settings import Settings, get_settings
from workers import catalog, reaper, sandbox_watch
from workers.context import WorkerContext, get_context
from workers.heartbeat import Heartbeat, mark_starting

log = logging.getLogger(__name__)


def run_task_time_limit(settings: Settings) -> int:
    """Longest a run task may take: compile at the maxima, then every repetition at the maximum wall time."""
    lim = settings.limits
    budget = lim.max_wall_time_limit_s * (1 + lim.max_number_of_runs)
    return int(budget + 4 * settings.worker.exec_margin_s)


def create_app(settings: Settings) -> Celery:
    tasks = ["workers.tasks", "workers.sandbox_tasks", "workers.snapshot_tasks", "workers.sweep_task"]
    app = Celery("runyard", broker=settings.redis.url, include=tasks)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=c.QUEUE_RUNS,
        task_queues=None,
        # Threads: every task of a worker shares one process, hence one set of warm sandboxes.
        worker_pool="threads",
        worker_concurrency=settings.worker.concurrency,
        worker_hijack_root_logger=False,
        worker_send_task_events=settings.worker.task_events,
        # Flower's task views need what workers send (received, started, done); a "sent" event from the API as
        # well cost every submission a Redis client and a message, for a state Flower shows as queued anyway.
        task_send_sent_event=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # Longer than any task may run, so Redis never hands a running task to a second worker.
            "visibility_timeout": max(3600, 2 * run_task_time_limit(settings), 2 * settings.snapshots.build_timeout_s),
            "socket_timeout": 10,
            "socket_connect_timeout": 10,
        },
        beat_schedule={
            "sweep": {
                "task": c.TASK_SWEEP,
                "schedule": settings.queue.sweep_interval_s,
                "options": {"queue": c.QUEUE_MAINTENANCE, "expires": settings.queue.sweep_interval_s},
            }
        },
    )
    return app


app = create_app(get_settings())
_heartbeat: Heartbeat | None = None


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_json)
    # Celery's own per-task lines repeat ours ("run executed", with the job id and verdict).
    for chatty in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@signals.worker_init.connect
def _on_worker_init(**_: Any) -> None:
    """Before consuming: clean up after a crashed predecessor, publish languages, warm the pools."""
    ctx = get_context()
    mark_starting(ctx.redis, ctx.name, reaper.GRACE_S)  # before the pools make any container
    runtime = ctx.runtime
    # Ours from a previous life (any state), and anyone's that already stopped (their worker is gone).
    mine = {c.LABEL_MANAGED: "1", c.LABEL_CLUSTER: ctx.settings.cluster, c.LABEL_WORKER: ctx.name}
    removed = runtime.remove_labelled(mine)
    if removed:
        log.warning("removed containers left behind by a dead worker", extra={"count": removed})
    with transaction(ctx.settings) as session:
        held = job_machine.expire_leases_of(session, ctx.name)
    if held:
        log.warning("jobs held by this worker's previous life are released to the sweep", extra={"count": held})
    languages = catalog.read_catalogs(runtime, ctx.settings.worker.images)
    with transaction(ctx.settings) as session:
        catalog.publish(session, languages)
    egress = ctx.settings.worker.egress_network
    if ctx.settings.allow_enable_network and egress and not runtime.network_exists(egress):
        log.error(
            "network access is allowed but the egress network is missing; run scripts/egress.sh as root",
            extra={"network": egress},
        )
    ctx.pools.start()
    _adopt_sandboxes(ctx)
    ctx.sandbox_host.start()
    ctx.sandbox_watch.start()
    ctx.usage_sampler.start()


def _adopt_sandboxes(ctx: WorkerContext) -> None:
    """After a restart: keep this host's sandboxes, remove what nobody owns, mark lost containers."""
    with transaction(ctx.settings) as session:
        known = sandbox_store.host_sandboxes(session, ctx.settings.worker.host_name)
    sandbox_watch.mark_lost(ctx.settings, ctx.sandbox_host, ctx.sandbox_host.reconcile(known))
    # Sandboxes used to run on the runs' engine; what an older version left there is nobody's now.
    legacy = ctx.runtime.remove_labelled(ctx.sandbox_host.labels("sandbox"))
    if legacy:
        log.warning("removed sandbox containers an older version left on the runs' engine", extra={"count": legacy})


@signals.celeryd_after_setup.connect
def _consume_host_queue(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """Every worker also consumes its own host's queue: jobs for the sandboxes that live here."""
    if instance is not None:
        instance.app.amqp.queues.select_add(c.host_queue(get_settings().worker.host_name))


@signals.worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    global _heartbeat
    ctx = get_context()
    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values()) if sender else [c.QUEUE_RUNS]
    static = WorkerHeartbeat(
        name=ctx.name,
        pid=os.getpid(),
        started_at=time.time(),
        at=time.time(),
        queues=queues,
        concurrency=ctx.settings.worker.concurrency,
        images=ctx.settings.worker.images,
        host=ctx.settings.worker.host_name,
        sandbox_images=sorted(set(ctx.settings.sandboxes.templates.values())),
        pools={},
        sandboxes=SandboxHostFigures(),
    )
    _heartbeat = Heartbeat(
        ctx.redis,
        ctx.name,
        lambda: static.model_copy(update={"pools": ctx.pools.stats(), "sandboxes": ctx.sandbox_host.stats()}),
        ctx.settings.worker.heartbeat_interval_s,
        ctx.settings.worker.heartbeat_ttl_s,
    )
    _heartbeat.start()
    log.info("worker ready", extra={"worker": ctx.name, "queues": queues})


@signals.worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
    get_context().sandbox_watch.close()
    get_context().usage_sampler.close()
    get_context().pools.close()
    get_context().sandbox_host.close()
