"""Redis clients as every process of ours makes them: a connection left dead by a Redis restart is found and
replaced before a request fails on it."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from core.settings import Settings


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "socket_timeout": settings.redis.socket_timeout_s,
        # A pooled connection idle this long is pinged before use: a restarted server's stale sockets never
        # reach a command. Busy connections that break are retried: our commands are reads, PUBLISH, counters
        # and idempotent writes, so a repeat costs nothing.
        "health_check_interval": 2,
        "retry_on_error": [RedisConnectionError],
    }


def async_client(settings: Settings) -> aioredis.Redis:
    from redis.asyncio.retry import Retry

    return aioredis.from_url(
        settings.redis.url, retry=Retry(ExponentialBackoff(cap=1, base=0.05), 6), **_options(settings)
    )


def sync_client(settings: Settings) -> redis.Redis:

    return redis.Redis.from_url(
        settings.redis.url, retry=Retry(ExponentialBackoff(cap=1, base=0.05), 6), **_options(settings)
    )
