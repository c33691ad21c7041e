"""The warm pool's life: filled ahead of need, visible in /workers and /metrics, drained on shutdown,
and cleaned up after a worker that was killed outright."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.stack import Stack, running_stack

POOL = 3


@pytest.fixture
def pool_stack(database: None) -> Iterator[Stack]:
    env = {"RUNYARD_WORKER__CONCURRENCY": "2", "RUNYARD_WORKER__POOL_SIZE": str(POOL)}
    with running_stack(7, env, workers=("w",), beat=False) as s:
        yield s


def sandboxes(stack: Stack, name: str, state: str | None = None) -> list[object]:
    engine = docker.from_env()
    try:
        label = f"org.runyard.worker={stack.worker_name(name)}"
        found = engine.containers.list(all=True, filters={"label": label}, sparse=True)
        return [c for c in found if state is None or c.status == state]
    finally:
        engine.close()


def test_pool_is_warm_observable_and_drained(pool_stack: Stack) -> None:
    eventually(lambda: len(sandboxes(pool_stack, "w", "running")) == POOL, timeout=60)
    headers = {"X-Auth-Token": make_tenant().key}

    def pool_stats() -> dict[str, int]:
        [stats] = httpx.get(f"{pool_stack.url}/v1/workers", headers=headers).json()[0]["pools"].values()
        return dict(stats)

    # heartbeats carry the statistics, every few seconds
    stats = eventually(lambda: (s := pool_stats())["idle"] == POOL and s, timeout=15)
    assert stats["target"] == POOL and stats["busy"] == 0 and stats["created"] == POOL
    judge0 = httpx.get(f"{pool_stack.url}/workers", headers=headers).json()
    runs_queue = next(q for q in judge0 if q["queue"] == "runyard.runs")
    assert runs_queue["available"] == 2 and next(iter(runs_queue["pools"].values()))["idle"] == POOL
    metrics = httpx.get(f"{pool_stack.url}/metrics").text
    assert "runyard_workers_alive 1.0" in metrics
    assert f'runyard_pool_idle{{pool="runyard/runner:latest",worker="{pool_stack.worker_name("w")}"}} 3.0' in metrics

    pool_stack.kill("w", signal.SIGTERM)  # a graceful stop removes every sandbox
    assert sandboxes(pool_stack, "w") == []


def test_sandboxes_of_a_killed_worker_are_removed(pool_stack: Stack) -> None:
    eventually(lambda: len(sandboxes(pool_stack, "w", "running")) == POOL, timeout=60)
    old = {c.id for c in sandboxes(pool_stack, "w")}  # type: ignore[attr-defined]
    pool_stack.kill("w", signal.SIGKILL)
    # Their agents see the connection close and exit; the restarted worker (same name) removes the remains.
    pool_stack.start_worker("w")

    def state() -> str:
        return f"{[(c.short_id, c.status) for c in sandboxes(pool_stack, 'w')]}\n{pool_stack.log('w')[-3000:]}"  # type: ignore[attr-defined]

    try:
        eventually(lambda: not old & {c.id for c in sandboxes(pool_stack, "w")}, timeout=90)  # type: ignore[attr-defined]
        eventually(lambda: len(sandboxes(pool_stack, "w", "running")) == POOL, timeout=90)
    except TimeoutError:
        raise AssertionError(f"old: {sorted(i[:12] for i in old)}; now: {state()}") from None
