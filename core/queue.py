"""Sending job ids to the Celery broker by task name (producers never import worker code)."""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache

from celery import Celery

from core import constants as c
from core.jobkinds import JobKind
from core.settings import Settings

log = logging.getLogger(__name__)

# A publish that cannot reach Redis fails fast: the job is already safe in
# Postgres, and the sweep sends it again.
_FAST_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


@lru_cache
def _producer(broker_url: str) -> Celery:
    app = Celery("runyard-producer", broker=broker_url, set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=False,
        broker_transport_options={"socket_timeout": 5, "socket_connect_timeout": 5},
        task_ignore_result=True,
    )
    return app


def send(settings: Settings, task: str, job_id: uuid.UUID, queue: str) -> bool:
    """Publish one job id; returns False (and logs) if the broker is unreachable."""
    try:
        _producer(settings.redis.url).send_task(
            task, args=[str(job_id)], queue=queue, retry=True, retry_policy=_FAST_RETRY
        )
    except Exception as exc:  # noqa: BLE001 - any broker failure leaves the job for the sweep
        log.warning("enqueue failed; the sweep will retry", extra={"job_id": str(job_id), "error": repr(exc)})
        return False
    return True


def send_run(settings: Settings, job_id: uuid.UUID) -> bool:
    return send(settings, c.TASK_EXECUTE_RUN, job_id, c.QUEUE_RUNS)


def send_callback(settings: Settings, job_id: uuid.UUID) -> bool:
    return send(settings, c.TASK_DELIVER_CALLBACK, job_id, c.QUEUE_CALLBACKS)


def send_sandbox_job(settings: Settings, job_id: uuid.UUID, host: str) -> bool:
    return send(settings, c.TASK_SANDBOX_JOB, job_id, c.host_queue(host))


def host_task(kind: JobKind | str) -> str:
    """The task that executes a job of this kind on its host."""
    return c.TASK_SNAPSHOT_JOB if JobKind(kind).on_snapshot else c.TASK_SANDBOX_JOB


def send_host_job(settings: Settings, job_id: uuid.UUID, kind: JobKind | str, queue: str) -> bool:
    """A job for one host's queue (a sandbox's, or a snapshot's), to the task its kind needs."""
    return send(settings, host_task(kind), job_id, queue)
