"""Output that one process writes while work runs and others follow: a Redis stream per key, of entries
(field maps) and an end mark, kept for a while after the end so a late reader still gets all of it.
Build logs (core/build_logs.py) and code interpreter cells (core/job_output.py) are written this way."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

MAX_ENTRIES = 20_000
END = b"end"


def append(client: redis.Redis, key: str, entries: list[dict[bytes, bytes]], ttl_s: float) -> None:
    """The entries, in order, in one round trip."""
    pipe = client.pipeline(transaction=False)
    for fields in entries:
        pipe.xadd(key, fields, maxlen=MAX_ENTRIES, approximate=True)  # type: ignore[arg-type]
    pipe.expire(key, int(ttl_s))
    pipe.execute()


def end(client: redis.Redis, key: str, outcome: str, ttl_s: float) -> None:
    append(client, key, [{END: outcome.encode()}], ttl_s)


async def read(
    client: aioredis.Redis, key: str, after: str, block_ms: int | None
) -> tuple[list[dict[bytes, bytes]], str, bool]:
    """The entries written after `after`, the id to read on from, and whether the end mark came."""
    found: Any = await client.xread({key: after}, count=500, block=block_ms)
    entries: list[dict[bytes, bytes]] = []
    for _stream, items in found or []:
        for entry_id, fields in items:
            after = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if END in fields:
                return entries, after, True
            entries.append(fields)
    return entries, after, False
