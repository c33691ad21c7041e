"""Latency histograms and event counters that every worker adds to and any API process reads (in Redis).

Workers observe; /metrics renders. Prometheus rates over these are what alerts use; losing them with Redis
costs history, never a job.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from redis.client import Pipeline

from core import constants as c

log = logging.getLogger(__name__)

# Seconds: from a few milliseconds (a warm run) to minutes (a long command).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
HISTOGRAMS = {
    "queue_wait": "Seconds a job waited between being queued and a worker starting it",
    "execution": "Seconds a worker spent executing a job",
}
COUNTERS = {"callbacks": "Callback deliveries by result (delivered, retry, failed)"}


def _hist_key(name: str, kind: str) -> str:
    return f"{c.KEY_METRICS}hist:{name}:{kind}"


@dataclass(frozen=True)
class Observation:
    name: str  # one of HISTOGRAMS
    kind: str
    seconds: float


def add(pipe: Pipeline, observation: Observation) -> None:
    """Queue one observation on a pipeline the caller sends with its other writes."""
    name, kind, seconds = observation.name, observation.kind, observation.seconds
    key = _hist_key(name, kind)
    pipe.hincrby(key, f"b{bisect.bisect_left(BUCKETS, seconds)}", 1)
    pipe.hincrbyfloat(key, "sum", max(0.0, seconds))
    pipe.sadd(f"{c.KEY_METRICS}kinds:{name}", kind)


def count(client: redis.Redis, name: str, label: str, amount: int = 1) -> None:
    try:
        client.hincrby(f"{c.KEY_METRICS}count:{name}", label, amount)
    except redis.RedisError as exc:
        log.debug("metric not recorded", extra={"error": repr(exc)})


@dataclass(frozen=True)
class Histogram:
    name: str
    kind: str
    cumulative: list[tuple[str, float]]  # (le, count) including +Inf
    total: float


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def histograms(client: aioredis.Redis) -> list[Histogram]:
    out = []
    for name in HISTOGRAMS:
        for raw_kind in sorted(await client.smembers(f"{c.KEY_METRICS}kinds:{name}")):
            kind = _text(raw_kind)
            fields = {_text(k): _text(v) for k, v in (await client.hgetall(_hist_key(name, kind))).items()}
            running, cumulative = 0.0, []
            for i, le in enumerate((*BUCKETS, float("inf"))):
                running += float(fields.get(f"b{i}", 0))
                cumulative.append(("+Inf" if le == float("inf") else repr(le), running))
            out.append(Histogram(name, kind, cumulative, float(fields.get("sum", 0))))
    return out


async def counters(client: aioredis.Redis, name: str) -> dict[str, float]:
    raw = await client.hgetall(f"{c.KEY_METRICS}count:{name}")
    return {_text(k): float(_text(v)) for k, v in raw.items()}
