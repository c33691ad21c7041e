"""The API's end of a live sandbox stream (a terminal or a tunnel), carried over Redis.

The worker on the sandbox's host bridges the stream to two channels (see
workers/stream_bridge.py). This side subscribes to the output before the job
that opens the stream is even queued, so no byte is missed, and pings while it
is open, so the bridge knows its client is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from core.errors import Unavailable
from core.jobkinds import JobKind
from core.schemas import SandboxRecord
from core.services import operations as ops
from core.states import JobState
from core.stream_frames import Channels, Frame, StreamClosed, frame, resize, split

PING_S = 10.0


class LiveStream:
    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self.client = client
        self.channels = Channels.of(channel)
        self.inbound, self.outbound = self.channels.inbound, self.channels.outbound
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pinger: asyncio.Task[None] | None = None

    async def subscribe(self) -> None:
        await self.pubsub.subscribe(self.outbound)

    def start_pinging(self) -> None:
        self._pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(PING_S)
            await self.client.publish(self.inbound, frame(Frame.PING))

    async def send(self, data: bytes) -> None:
        await self.client.publish(self.inbound, frame(Frame.DATA, data))

    async def resize(self, cols: int, rows: int) -> None:
        await self.client.publish(self.inbound, resize(cols, rows))

    async def output(self) -> AsyncIterator[bytes | StreamClosed]:
        """The stream's bytes as they come, then one Closed."""
        async for message in self.pubsub.listen():
            if message.get("type") != "message":
                continue
            kind, body = split(message["data"])
            if kind is Frame.DATA:
                yield body
            elif kind is Frame.CLOSED:
                yield StreamClosed.model_validate_json(body)
                return

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        with contextlib.suppress(Exception):
            await self.client.publish(self.inbound, frame(Frame.CLOSE))
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]


async def open_stream(
    caller: ops.Caller, client: aioredis.Redis, sandbox: SandboxRecord, params: dict[str, Any]
) -> LiveStream:
    """Open a terminal (params kind=pty, cols, rows, cwd, env, command) or a tunnel (kind=tcp, port)."""
    channel = uuid.uuid4().hex
    stream = LiveStream(client, channel)
    await stream.subscribe()
    try:
        job_id = await ops.submit_op(caller, sandbox, JobKind.STREAM_OPEN, {**params, "channel": channel}, 30_000)
        job = await ops.wait_for_job(caller, job_id, 30 + caller.settings.api.wait_margin_s)
        if not JobState(job.state).terminal:  # a stream is useful now or never: no 202 here
            raise Unavailable("the sandbox did not open the stream in time; retry", retry_after=2)
        ops.outcome(job)
    except BaseException:
        await stream.close()
        raise
    stream.start_pinging()
    return stream
