"""Readiness, a bounded queue (503 + Retry-After), per-tenant rate limits (429), and bounded waits.

These use a stack with an API but no worker: runs stay queued, which is what
a full queue and an unanswered wait look like.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import Tenant, make_tenant
from tests.stack import Stack


@pytest.fixture(scope="module")
def idle_stack(database: None) -> Iterator[Stack]:
    s = Stack(
        redis_db=11,
        env_extra={
            "RUNYARD_QUEUE__MAX_QUEUED": "3",
            "RUNYARD_API__WAIT_MARGIN_S": "1",
            "RUNYARD_LIMITS__WALL_TIME_LIMIT_S": "1",
        },
    )
    try:
        s.start_api()
        yield s
    finally:
        s.stop()


def test_health_reports_each_dependency(stack: Stack) -> None:
    body = httpx.get(f"{stack.url}/health").json()
    assert body["ready"] is True
    assert body["checks"]["postgres"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["workers"]["count"] >= 1


def test_health_is_503_without_workers(idle_stack: Stack) -> None:
    response = httpx.get(f"{idle_stack.url}/health")
    assert response.status_code == 503
    body = response.json()
    assert body["live"] is True and body["ready"] is False
    assert body["checks"]["workers"]["ok"] is False
    assert "no worker" in body["checks"]["workers"]["detail"]
    assert httpx.get(f"{idle_stack.url}/health/live").status_code == 200


def test_full_queue_answers_503_with_retry_after(idle_stack: Stack, database: None) -> None:
    from sqlalchemy import text

    from core.db import transaction
    from core.settings import get_settings

    with transaction(get_settings()) as session:  # start from an empty queue
        session.execute(text("DELETE FROM jobs WHERE state = 'queued'"))
    tenant = make_tenant()
    with httpx.Client(base_url=idle_stack.url, headers={"X-Auth-Token": tenant.key}) as c:
        for _ in range(3):
            assert c.post("/submissions", json={"source_code": "print(1)", "language_id": 71}).status_code == 201
        full = c.post("/submissions", json={"source_code": "print(1)", "language_id": 71})
        assert full.status_code == 503
        assert int(full.headers["Retry-After"]) > 0
        assert "queue is full" in full.json()["error"]
        native = c.post("/v1/runs", json={"language": "python", "source": "print(1)"})
        assert native.status_code == 503
        assert native.json()["error"]["type"] == "unavailable"
    with transaction(get_settings()) as session:
        session.execute(text("DELETE FROM jobs WHERE state = 'queued'"))


def test_wait_is_bounded_by_the_time_limit(idle_stack: Stack, database: None) -> None:
    """No worker will ever pick it up: wait=true must still answer, after wall time + margin."""
    tenant = make_tenant()
    with httpx.Client(base_url=idle_stack.url, headers={"X-Auth-Token": tenant.key}, timeout=30) as c:
        started = time.monotonic()
        response = c.post(
            "/submissions",
            params={"wait": "true"},
            json={"source_code": "print(1)", "language_id": 71, "wall_time_limit": 1},
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 201
    assert response.json()["status"]["id"] == 1  # still In Queue; the client can poll the token
    assert 1.5 < elapsed < 10
    from sqlalchemy import text

    from core.db import transaction
    from core.settings import get_settings

    with transaction(get_settings()) as session:
        session.execute(text("DELETE FROM jobs WHERE state = 'queued'"))


def test_rate_limit_per_tenant(stack: Stack) -> None:
    limited: Tenant = make_tenant(requests_per_minute=3)
    other = make_tenant()
    with httpx.Client(base_url=stack.url, headers={"X-Auth-Token": limited.key}) as c:
        codes = [c.get("/v1/me").status_code for _ in range(4)]
        if codes[-1] == 200:  # the minute turned over mid-test; the budget is per fixed minute
            codes = [c.get("/v1/me").status_code for _ in range(4)]
        assert codes[-1] == 429
        last = c.get("/submissions/batch", params={"tokens": "x"})
        assert last.status_code == 429
        assert 1 <= int(last.headers["Retry-After"]) <= 61
    # another tenant is not affected
    assert httpx.get(f"{stack.url}/v1/me", headers={"X-Auth-Token": other.key}).status_code == 200
