"""A build's output while it runs: a Redis stream per snapshot, written by the building worker, read
(and followed) by any API process. An entry is a piece of text, or the end mark with the outcome.
Once the build is over, the snapshot's row in Postgres keeps the output (its newest bytes)."""

from __future__ import annotations

import uuid
from typing import Any

import redis
import redis.asyncio as aioredis

from core import constants as c

MAX_ENTRIES = 20_000
TEXT, END = b"t", b"end"


def key(snapshot_id: uuid.UUID) -> str:
    return f"{c.KEY_BUILD_LOG}{snapshot_id}"


def append(client: redis.Redis, snapshot_id: uuid.UUID, text: str, ttl_s: float) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.xadd(key(snapshot_id), {TEXT: text.encode()}, maxlen=MAX_ENTRIES, approximate=True)
    pipe.expire(key(snapshot_id), int(ttl_s))
    pipe.execute()


def end(client: redis.Redis, snapshot_id: uuid.UUID, state: str, ttl_s: float) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.xadd(key(snapshot_id), {END: state.encode()}, maxlen=MAX_ENTRIES, approximate=True)
    pipe.expire(key(snapshot_id), int(ttl_s))
    pipe.execute()


async def read(
    client: aioredis.Redis, snapshot_id: uuid.UUID, after: str, block_ms: int | None
) -> tuple[list[bytes], str, bool]:
    """The pieces written after `after`, the id to read on from, and whether the end mark came."""
    found: Any = await client.xread({key(snapshot_id): after}, count=500, block=block_ms)
    pieces: list[bytes] = []
    for _stream, entries in found or []:
        for entry_id, fields in entries:
            after = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if END in fields:
                return pieces, after, True
            pieces.append(fields.get(TEXT, b""))
    return pieces, after, False
