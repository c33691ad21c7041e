"""A sandbox's recent use of CPU, memory and disk, sampled by its host's worker (workers/sandbox_metrics.py):
a Redis sorted set per sandbox, scored by the sample's time, trimmed to the installation's keep window."""

from __future__ import annotations

import uuid

import redis
import redis.asyncio as aioredis

from core import constants as c
from core.job_results import UsageSample

KEY = c.KEY_PREFIX + "usage:"  # + sandbox id


def add(client: redis.Redis, sandbox_id: uuid.UUID, sample: UsageSample, keep_s: float) -> None:
    key = KEY + str(sandbox_id)
    pipe = client.pipeline(transaction=False)
    pipe.zadd(key, {sample.model_dump_json(): sample.at})
    pipe.zremrangebyscore(key, "-inf", sample.at - keep_s)
    pipe.expire(key, int(keep_s) + 3600)
    pipe.execute()


async def between(client: aioredis.Redis, sandbox_id: uuid.UUID, start: float, end: float) -> list[UsageSample]:
    raw = await client.zrangebyscore(KEY + str(sandbox_id), start, end)
    return [UsageSample.model_validate_json(item) for item in raw if isinstance(item, bytes | str)]
