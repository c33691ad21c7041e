"""Completion notices over Redis pub/sub, so wait=true answers the moment a job ends.

Workers publish after their commit. Each API process holds one pattern
subscription and wakes the requests waiting on that job. A lost notice only
costs a waiter its timeout: the database stays the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import redis
import redis.asyncio as aioredis

from core import constants as c
from core.errors import Interrupted

log = logging.getLogger(__name__)
T = TypeVar("T")


def publish_done(client: redis.Redis, job_id: uuid.UUID, state: str) -> None:
    try:
        client.publish(c.CHANNEL_JOB_DONE + str(job_id), state)
    except redis.RedisError as exc:
        log.warning("completion notice not sent", extra={"job_id": str(job_id), "error": repr(exc)})


class CompletionHub:
    """One subscription per process; any number of waiters."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._waiters: dict[str, set[asyncio.Future[str]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        # Set when the server is told to stop: waiters are answered at once instead of holding shutdown up.
        self.draining = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="completion-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.asynccontextmanager
    async def waiter(self, job_id: uuid.UUID) -> AsyncIterator[asyncio.Future[str]]:
        """Register before checking the database, so a completion in between is not missed."""
        key = str(job_id)
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if self.draining:
            fut.set_result("draining")
        self._waiters[key].add(fut)
        try:
            yield fut
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    del self._waiters[key]

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            client = aioredis.from_url(self._url)
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(c.CHANNEL_JOB_DONE + "*")
                self.connected.set()
                delay = 0.1
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"].decode()
                    self._wake(channel.removeprefix(c.CHANNEL_JOB_DONE), message["data"].decode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect whatever Redis raised
                self.connected.clear()
                log.warning("completion subscription lost; reconnecting", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()

    def drain(self) -> None:
        """Wake every waiter now; the server is stopping."""
        self.draining = True
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.set_result("draining")

    def _wake(self, job_id: str, state: str) -> None:
        for fut in self._waiters.pop(job_id, set()):
            if not fut.done():
                fut.set_result(state)


async def wait_finished(
    hub: CompletionHub,
    ids: list[uuid.UUID],
    read: Callable[[], Awaitable[dict[uuid.UUID, T]]],
    finished: Callable[[T], bool],
    timeout_s: float,
    what: str,
) -> dict[uuid.UUID, T]:
    """The jobs as `read` gives them, once each is finished or the timeout passed; the one way anything waits.

    Subscribed before the first read, so a completion in between is not missed; never polls the database. A
    server that is stopping (the hub drains) raises Interrupted for work still going: it was accepted, and goes on.
    """
    async with contextlib.AsyncExitStack() as stack:
        futures = [await stack.enter_async_context(hub.waiter(job_id)) for job_id in ids]
        found = await read()
        pending = [
            fut for job_id, fut in zip(ids, futures, strict=True) if job_id in found and not finished(found[job_id])
        ]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
            found = await read()
    if hub.draining:
        unfinished = [job_id for job_id in ids if job_id in found and not finished(found[job_id])]
        if unfinished:
            raise Interrupted(what, str(unfinished[0]))
    return found
