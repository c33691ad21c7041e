"""Per-tenant request budget: a fixed one-minute window counted in Redis."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core import constants as c

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: int


async def hit(client: aioredis.Redis, tenant_id: uuid.UUID, limit_per_minute: int, cost: int = 1) -> Decision:
    now = time.time()
    window = int(now // 60)
    key = f"{c.KEY_RATE}{tenant_id}:{window}"
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.incrby(key, cost)
            pipe.expire(key, 61)
            count, _ = await pipe.execute()
    except RedisError as exc:
        # Failing open: refusing every request because Redis blinked would be worse.
        log.warning("rate limiter unavailable; allowing", extra={"error": repr(exc)})
        return Decision(True, limit_per_minute, 0)
    retry_after = max(1, int(60 - (now % 60)) + 1)
    return Decision(int(count) <= limit_per_minute, max(0, limit_per_minute - int(count)), retry_after)
