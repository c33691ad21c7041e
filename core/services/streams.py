"""The API's end of a live sandbox stream (a terminal or a tunnel), carried over Redis.

The worker on the sandbox's host bridges the stream to two channels (see
workers/stream_bridge.py). This side subscribes to the output before the job
that opens the stream is even queued, so no byte is missed, and pings while it
is open, so the bridge knows its client is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import constants as c
from core.errors import Unavailable
from core.jobkinds import JobKind
from core.models import JobState, Sandbox
from core.notify import CompletionHub
from core.services import operations as ops
from core.services.auth import Principal
from core.settings import Settings

PING_S = 10.0


@dataclass(frozen=True)
class Closed:
    exit_code: int | None
    error: str | None


class LiveStream:
    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self.client = client
        self.inbound = f"{c.KEY_STREAM}{channel}:in"
        self.outbound = f"{c.KEY_STREAM}{channel}:out"
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pinger: asyncio.Task[None] | None = None

    async def subscribe(self) -> None:
        await self.pubsub.subscribe(self.outbound)

    def start_pinging(self) -> None:
        self._pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(PING_S)
            await self.client.publish(self.inbound, b"p")

    async def send(self, data: bytes) -> None:
        await self.client.publish(self.inbound, b"d" + data)

    async def resize(self, cols: int, rows: int) -> None:
        await self.client.publish(self.inbound, b"r" + json.dumps([cols, rows]).encode())

    async def output(self) -> AsyncIterator[bytes | Closed]:
        """The stream's bytes as they come, then one Closed."""
        async for message in self.pubsub.listen():
            if message.get("type") != "message":
                continue
            data: bytes = message["data"]
            if data[:1] == b"d":
                yield data[1:]
            elif data[:1] == b"c":
                info: dict[str, Any] = json.loads(data[1:])
                yield Closed(info.get("exit_code"), info.get("error"))
                return

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        with contextlib.suppress(Exception):
            await self.client.publish(self.inbound, b"x")
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]


async def open_stream(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    hub: CompletionHub,
    client: aioredis.Redis,
    principal: Principal,
    sandbox: Sandbox,
    params: dict[str, Any],
    settings: Settings,
) -> LiveStream:
    """Open a terminal (params kind=pty, cols, rows, cwd, env, command) or a tunnel (kind=tcp, port)."""
    channel = uuid.uuid4().hex
    stream = LiveStream(client, channel)
    await stream.subscribe()
    try:
        job_id = await ops.submit_op(
            session, principal, sandbox, JobKind.STREAM_OPEN, {**params, "channel": channel}, settings, 30_000
        )
        job = await ops.wait_for_job(sessions, hub, principal, job_id, 30 + settings.api.wait_margin_s)
        if not JobState(job.state).terminal:  # a stream is useful now or never: no 202 here
            raise Unavailable("the sandbox did not open the stream in time; retry", retry_after=2)
        ops.outcome(job)
    except BaseException:
        await stream.close()
        raise
    stream.start_pinging()
    return stream
