"""The warm pool's life: filled ahead of need, visible in /workers and /metrics, drained on shutdown,
cleaned up after a worker that was killed outright, and, for a language family's pool, sized by demand."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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


def sandboxes(stack: Stack, name: str, state: str | None = None, image: str | None = None) -> list[object]:
    engine = docker.from_env()
    try:
        label = [f"org.runyard.worker={stack.worker_name(name)}"] + ([f"org.runyard.image={image}"] if image else [])
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


SCRIPTING = "runyard/scripting:latest"


def test_a_family_pool_grows_with_demand_and_shrinks_when_it_fades(database: None) -> None:
    """The runner family's pool is kept full; another family's starts with its first run, grows to the most
    runs it served at once (plus a spare), and gives its idle containers back once that demand has left
    the window, down to its minimum of one."""
    env = {
        "RUNYARD_WORKER__CONCURRENCY": "4",
        "RUNYARD_WORKER__POOL_SIZE": "5",
        "RUNYARD_WORKER__POOL_DEMAND_WINDOW_S": "15",
    }
    with running_stack(7, env, workers=("w",), beat=False) as stack:
        eventually(lambda: len(sandboxes(stack, "w", "running")) == 5, timeout=60)
        assert sandboxes(stack, "w", image=SCRIPTING) == []  # not one before its languages are asked for
        headers = {"X-Auth-Token": make_tenant().key}

        def run_ruby(_: int) -> str:
            body = {"language": "ruby", "source": "sleep 2\nputs :done", "limits": {"wall_time_ms": 10000}}
            reply = httpx.post(f"{stack.url}/v1/runs", params={"wait": "true"}, json=body, headers=headers, timeout=120)
            return str(reply.json()["stdout"])

        with ThreadPoolExecutor(4) as burst:
            assert list(burst.map(run_ruby, range(4))) == ["done\n"] * 4

        def scripting_pool() -> dict[str, int]:
            pools = httpx.get(f"{stack.url}/v1/workers", headers=headers).json()[0]["pools"]
            return dict(pools.get(SCRIPTING, {}))

        grown = eventually(lambda: (p := scripting_pool()) and p["created"] >= 4 and p, timeout=15)
        assert grown["target"] == 5, grown  # four at once, plus a spare
        # Quiet for longer than the window: back to one warm container; the runner's pool untouched.
        eventually(lambda: len(sandboxes(stack, "w", image=SCRIPTING)) == 1, timeout=60)
        shrunk = eventually(lambda: (p := scripting_pool())["target"] == 1 and p["idle"] == 1 and p, timeout=15)
        assert shrunk["destroyed"] >= 3, shrunk
        assert len(sandboxes(stack, "w", "running", image="runyard/runner:latest")) == 5
        assert run_ruby(0) == "done\n"  # and it still serves, from the one it kept warm
