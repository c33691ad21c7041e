"""Values a job needs but nobody may keep, such as git credentials.

They never reach Postgres or a log: the API puts them in Redis under the job's id before the job is
committed, for no longer than the job may wait and run, and the worker takes them (read and delete
at once) when it runs the job. A job that cannot run again (its kind is not idempotent) needs them once.
"""

from __future__ import annotations

import json
import uuid

import redis
import redis.asyncio as aioredis

from core import constants as c

KEY = c.KEY_PREFIX + "job-secrets:"  # + job id; JSON object of names to values, with a TTL


async def put(client: aioredis.Redis, job_id: uuid.UUID, values: dict[str, str], ttl_s: float) -> None:
    await client.set(KEY + str(job_id), json.dumps(values), ex=max(1, int(ttl_s)))


def take(client: redis.Redis, job_id: uuid.UUID) -> dict[str, str] | None:
    """The job's secrets, gone from Redis from now on; None if they expired (or were taken) before it ran."""
    raw = client.getdel(KEY + str(job_id))
    if raw is None:
        return None
    return {str(k): str(v) for k, v in json.loads(raw).items()}
