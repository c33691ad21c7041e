"""Completion notices over Redis pub/sub, so wait=true answers the moment a job ends.

Workers publish after their commit. Each API process holds one pattern
subscription and wakes the requests waiting on that job. A notice carries the
finished job as the commit left it (when it is small enough), so the woken
request answers without reading it back. A lost notice only costs a waiter its
timeout: the database stays the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import redis
import redis.asyncio as aioredis
from pydantic import BaseModel, ValidationError
from redis.client import Pipeline

from core import constants as c
from core.errors import Interrupted
from core.schemas import JobView, RunRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
# Every API process hears every notice: past this, a notice carries the state alone and waiters read the job back.
NOTICE_MAX_BYTES = 64 * 1024
DRAINING = "draining"
RECENT_S = 30.0  # longer than any request takes between queueing a job and waiting for it


class JobNotice(BaseModel):
    """A job reached a terminal state; the finished run or sandbox job rides along when it is small enough."""

    state: str
    run: RunRecord | None = None
    job: JobView | None = None

    def encoded(self) -> bytes:
        whole = self.model_dump_json().encode()
        if len(whole) <= NOTICE_MAX_BYTES:
            return whole
        return JobNotice(state=self.state).model_dump_json().encode()

    @classmethod
    def decoded(cls, data: bytes) -> JobNotice:
        """A notice as published; one that cannot be read still wakes its waiters, who then read the job back."""
        try:
            return cls.model_validate_json(data)
        except ValidationError:
            return cls(state="unknown")


def add_notice(pipe: Pipeline, job_id: uuid.UUID, notice: JobNotice) -> None:
    """Queue the notice on a pipeline the caller sends with its other writes (one round trip)."""
    pipe.publish(c.CHANNEL_JOB_DONE + str(job_id), notice.encoded())


def publish_done(client: redis.Redis, job_id: uuid.UUID, state: str) -> None:
    """The state alone: for jobs failed without a finished row at hand (the sweep, out of attempts)."""
    try:
        client.publish(c.CHANNEL_JOB_DONE + str(job_id), JobNotice(state=state).encoded())
    except redis.RedisError as exc:
        log.warning("completion notice not sent", extra={"job_id": str(job_id), "error": repr(exc)})


class CompletionHub:
    """One subscription per process; any number of waiters."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._waiters: dict[str, set[asyncio.Future[JobNotice]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        # Set when the server is told to stop: waiters are answered at once instead of holding shutdown up.
        self.draining = False
        # Since when (monotonic) the subscription has stood unbroken; None while it is down.
        self._subscribed_since: float | None = None
        # Jobs that finished lately with nobody waiting yet: a wait that registers just after still hears of it.
        self._recent: dict[str, float] = {}

    def heard_all_since(self, moment: float) -> bool:
        """Whether every notice published after `moment` reaches this hub (the subscription stood since before)."""
        return self._subscribed_since is not None and self._subscribed_since <= moment

    def finished_lately(self, job_id: uuid.UUID) -> bool:
        return str(job_id) in self._recent

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
    async def waiter(self, job_id: uuid.UUID) -> AsyncIterator[asyncio.Future[JobNotice]]:
        """Register before checking the database, so a completion in between is not missed."""
        key = str(job_id)
        fut: asyncio.Future[JobNotice] = asyncio.get_running_loop().create_future()
        if self.draining:
            fut.set_result(JobNotice(state=DRAINING))
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
                    if message.get("type") == "psubscribe":  # confirmed: from now on nothing is missed
                        self._subscribed_since = time.monotonic()
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"].decode()
                    self._wake(channel.removeprefix(c.CHANNEL_JOB_DONE), message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect whatever Redis raised
                self.connected.clear()
                self._subscribed_since = None  # before the pause below, not only in `finally` after it
                log.warning("completion subscription lost; reconnecting", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                self._subscribed_since = None  # however it ended: until confirmed again, notices may be missed
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()

    def drain(self) -> None:
        """Wake every waiter now; the server is stopping."""
        self.draining = True
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.set_result(JobNotice(state=DRAINING))

    def _wake(self, job_id: str, data: bytes) -> None:
        waiting = self._waiters.pop(job_id, None)
        if not waiting:
            self._remember(job_id)
            return  # read only what someone waits for
        notice = JobNotice.decoded(data)
        for fut in waiting:
            if not fut.done():
                fut.set_result(notice)

    def _remember(self, job_id: str) -> None:
        now = time.monotonic()
        self._recent[job_id] = now
        while self._recent:  # insertion order is age order: prune from the front
            oldest = next(iter(self._recent))
            if now - self._recent[oldest] <= RECENT_S:
                break
            del self._recent[oldest]


async def wait_finished(
    hub: CompletionHub,
    ids: list[uuid.UUID],
    read: Callable[[], Awaitable[dict[uuid.UUID, T]]],
    finished: Callable[[T], bool],
    timeout_s: float,
    what: str,
    carried: Callable[[JobNotice], T | None] = lambda _: None,
    queued_after: float | None = None,
) -> dict[uuid.UUID, T]:
    """The jobs as `read` gives them, once each is finished or the timeout passed; the one way anything waits.

    Subscribed before the first read, so a completion in between is not missed; never polls the database. A job
    whose notice carried it (`carried` gives it, finished) is not read again. Jobs this request queued after the
    monotonic moment `queued_after` are not read first either, while the hub has heard every notice since then:
    one that finished before its wait began is among those it heard lately. A server that is stopping (the hub
    drains) raises Interrupted for work still going: it was accepted, and goes on.
    """
    async with contextlib.AsyncExitStack() as stack:
        futures = dict(zip(ids, [await stack.enter_async_context(hub.waiter(job_id)) for job_id in ids], strict=True))
        if queued_after is not None and hub.heard_all_since(queued_after):
            found: dict[uuid.UUID, T] = {}
            pending = {job_id: fut for job_id, fut in futures.items() if not hub.finished_lately(job_id)}
            if len(pending) < len(futures):
                found = await read()
        else:
            found = await read()
            pending = {k: fut for k, fut in futures.items() if k in found and not finished(found[k])}
        if pending:
            await asyncio.wait(pending.values(), timeout=timeout_s)
            for job_id, fut in list(pending.items()):
                job = carried(fut.result()) if fut.done() else None
                if job is not None and finished(job):
                    found[job_id] = job
                    del pending[job_id]
            if pending:
                found = {**found, **{k: v for k, v in (await read()).items() if k in pending}}
    if hub.draining:
        unfinished = [job_id for job_id in ids if job_id in found and not finished(found[job_id])]
        if unfinished:
            raise Interrupted(what, str(unfinished[0]))
    return found
