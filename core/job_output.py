"""A sandbox job's output while it runs, for callers that follow it (Daytona's code interpreter over a
WebSocket): a Redis stream per job (core/output_streams.py) of (stream name, text) pieces, written by the
worker as the agent hands them over and closed when the job ends. The job's result holds all of it too."""

from __future__ import annotations

import uuid

import redis
import redis.asyncio as aioredis

from core import constants as c
from core import output_streams

STREAM, TEXT = b"s", b"t"
TTL_S = 600.0


def key(job_id: uuid.UUID) -> str:
    return f"{c.KEY_JOB_OUTPUT}{job_id}"


def append(client: redis.Redis, job_id: uuid.UUID, pieces: list[tuple[str, str]]) -> None:
    entries = [{STREAM: stream.encode(), TEXT: text.encode()} for stream, text in pieces]
    output_streams.append(client, key(job_id), entries, TTL_S)


def end(client: redis.Redis, job_id: uuid.UUID) -> None:
    output_streams.end(client, key(job_id), "done", TTL_S)


async def read(
    client: aioredis.Redis, job_id: uuid.UUID, after: str, block_ms: int | None
) -> tuple[list[tuple[str, str]], str, bool]:
    entries, after, ended = await output_streams.read(client, key(job_id), after, block_ms)
    pieces = [(f.get(STREAM, b"stdout").decode(), f.get(TEXT, b"").decode(errors="replace")) for f in entries]
    return pieces, after, ended
