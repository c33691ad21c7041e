"""Postgres is the truth: jobs whose queue message was lost are found and sent again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from core.db import transaction
from core.models import Job
from core.settings import get_settings
from tests.integration.helpers import eventually
from tests.stack import Stack


def _create_without_enqueue(stack: Stack, client: httpx.Client) -> str:
    """Create a run through an API that cannot reach Redis: it is persisted but never enqueued."""
    dead_redis = Stack(redis_db=10, env_extra={"RUNYARD_REDIS__URL": "redis://127.0.0.1:1/0"})
    try:
        dead_redis.start_api()
        with httpx.Client(base_url=dead_redis.url, headers=client.headers, timeout=30) as c:
            response = c.post("/v1/runs", json={"language": "python", "source": "print('recovered')"})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])
    finally:
        dead_redis.stop()


def test_run_persisted_while_redis_was_down_is_sent_by_the_sweep(stack: Stack, client: httpx.Client) -> None:
    run_id = _create_without_enqueue(stack, client)
    with transaction(get_settings()) as session:
        job = session.get(Job, run_id)
        assert job is not None and job.state == "queued" and job.enqueued_at is None
    done = eventually(lambda: (r := client.get(f"/v1/runs/{run_id}").json())["status"] == "accepted" and r, timeout=60)
    assert done["stdout"] == "recovered\n"


def test_queued_job_whose_message_vanished_is_sent_again(stack: Stack, client: httpx.Client) -> None:
    run_id = _create_without_enqueue(stack, client)
    with transaction(get_settings()) as session:  # as if the message had been published long ago, then lost
        session.execute(update(Job).where(Job.id == run_id).values(enqueued_at=datetime.now(UTC) - timedelta(hours=1)))
    done = eventually(lambda: (r := client.get(f"/v1/runs/{run_id}").json())["status"] == "accepted" and r, timeout=60)
    assert done["attempts"] == 1
