"""Liveness, readiness and the state of the worker fleet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import redis.asyncio as aioredis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import constants as c
from core.heartbeats import WorkerHeartbeat
from core.models import Job, Sandbox
from core.states import JobState, SandboxState


@dataclass
class Check:
    ok: bool
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


async def live_workers(client: aioredis.Redis) -> list[WorkerHeartbeat]:
    """Workers whose heartbeat key has not expired."""
    workers = []
    async for key in client.scan_iter(match=c.KEY_WORKER_HEARTBEAT + "*", count=200):
        raw = await client.get(key)
        if raw and (beat := WorkerHeartbeat.parse(raw)) is not None:
            workers.append(beat)
    return sorted(workers, key=lambda w: w.name)


async def check_redis(client: aioredis.Redis, timeout_s: float = 2.0) -> Check:
    try:
        with anyio.fail_after(timeout_s):
            await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return Check(False, f"unreachable: {exc!r}")
    return Check(True, "ok")


async def check_postgres(session: AsyncSession, timeout_s: float = 2.0) -> Check:
    try:
        with anyio.fail_after(timeout_s):
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return Check(False, f"unreachable: {exc!r}")
    return Check(True, "ok")


async def check_workers(client: aioredis.Redis) -> Check:
    try:
        with anyio.fail_after(2.0):
            workers = await live_workers(client)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return Check(False, f"cannot list workers: {exc!r}")
    names = [w.name for w in workers]
    if not workers:
        return Check(False, "no worker has sent a heartbeat recently", {"count": 0})
    return Check(True, f"{len(workers)} alive", {"count": len(workers), "names": names})


async def queue_overview(session: AsyncSession, client: aioredis.Redis) -> list[dict[str, Any]]:
    """Per queue: waiting jobs, worker slots, and how many are busy (Judge0's /workers shape)."""
    waiting = dict(
        (await session.execute(select(Job.queue, func.count()).where(Job.state == JobState.QUEUED).group_by(Job.queue)))
        .tuples()
        .all()
    )
    working = dict(
        (
            await session.execute(
                select(Job.queue, func.count()).where(Job.state == JobState.RUNNING).group_by(Job.queue)
            )
        )
        .tuples()
        .all()
    )
    slots: dict[str, int] = {}
    pools: dict[str, dict[str, int]] = {}
    for worker in await live_workers(client):
        for queue in worker.queues:
            slots[queue] = slots.get(queue, 0) + worker.concurrency
        for name, stats in worker.pools.items():
            total = pools.setdefault(name, {})
            for key, value in stats.model_dump().items():
                total[key] = total.get(key, 0) + int(value)
    overview = []
    for queue in sorted(set(waiting) | set(working) | set(slots) | {c.QUEUE_RUNS}):
        available = slots.get(queue, 0)
        busy = working.get(queue, 0)
        overview.append(
            {
                "queue": queue,
                "size": waiting.get(queue, 0),
                "available": available,
                "idle": max(0, available - busy),
                "working": busy,
                "paused": 0,
                # Beyond Judge0: the warm sandboxes of every worker, summed per pool.
                "pools": pools if queue == c.QUEUE_RUNS else {},
            }
        )
    return overview


@dataclass(frozen=True)
class InFlight:
    jobs: list[tuple[str, str, int]]  # (queue, state, count) of queued and running jobs
    sandboxes: list[tuple[str, str, int]]  # (host, state, count) of sandboxes not deleted


async def work_in_flight(session: AsyncSession) -> InFlight:
    jobs = await session.execute(
        select(Job.queue, Job.state, func.count())
        .where(Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
        .group_by(Job.queue, Job.state)
    )
    sandboxes = await session.execute(
        select(Sandbox.host, Sandbox.state, func.count())
        .where(Sandbox.state != SandboxState.DELETED)
        .group_by(Sandbox.host, Sandbox.state)
    )
    return InFlight([(q, st, n) for q, st, n in jobs.tuples()], [(h, st, n) for h, st, n in sandboxes.tuples()])
