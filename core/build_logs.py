"""A build's output while it runs: a Redis stream per snapshot (core/output_streams.py), written by the
building worker, read (and followed) by any API process. An entry is a piece of text, or the end mark
with the outcome. Once the build is over, the snapshot's row in Postgres keeps the output (its newest bytes)."""

from __future__ import annotations

import uuid

import redis
import redis.asyncio as aioredis

from core import constants as c
from core import output_streams

TEXT = b"t"


def key(snapshot_id: uuid.UUID) -> str:
    return f"{c.KEY_BUILD_LOG}{snapshot_id}"


def append(client: redis.Redis, snapshot_id: uuid.UUID, text: str, ttl_s: float) -> None:
    output_streams.append(client, key(snapshot_id), [{TEXT: text.encode()}], ttl_s)


def end(client: redis.Redis, snapshot_id: uuid.UUID, state: str, ttl_s: float) -> None:
    output_streams.end(client, key(snapshot_id), state, ttl_s)


async def read(
    client: aioredis.Redis, snapshot_id: uuid.UUID, after: str, block_ms: int | None
) -> tuple[list[bytes], str, bool]:
    """The pieces written after `after`, the id to read on from, and whether the end mark came."""
    entries, after, ended = await output_streams.read(client, key(snapshot_id), after, block_ms)
    return [fields.get(TEXT, b"") for fields in entries], after, ended
