"""A worker's heartbeat: a Redis key with a TTL that /health and /workers read."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import redis

from core import constants as c
from core.heartbeats import WorkerHeartbeat

log = logging.getLogger(__name__)


def mark_starting(client: redis.Redis, name: str, ttl_s: float) -> None:
    """Say this worker is starting: until its first heartbeat, the sweep must not take its containers for a
    dead worker's. The mark expires by itself if the worker dies before it is ready."""
    try:
        client.set(c.KEY_WORKER_STARTING + name, str(time.time()), ex=max(1, int(ttl_s)))
    except redis.RedisError as exc:
        log.warning("start of this worker not marked", extra={"error": repr(exc)})


class Heartbeat:
    def __init__(
        self, client: redis.Redis, name: str, info: Callable[[], WorkerHeartbeat], interval_s: float, ttl_s: float
    ) -> None:
        self._client = client
        self._name = name
        self._key = c.KEY_WORKER_HEARTBEAT + name
        self._info = info
        self._interval_s = interval_s
        self._ttl_s = ttl_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runyard-heartbeat", daemon=True)

    def start(self) -> None:
        self._beat()
        with contextlib.suppress(redis.RedisError):
            self._client.delete(c.KEY_WORKER_STARTING + self._name)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s + 1)
        with contextlib.suppress(redis.RedisError):
            self._client.delete(self._key)

    def _beat(self) -> None:
        try:
            beat = self._info().model_copy(update={"at": time.time()})
            pipe = self._client.pipeline(transaction=False)
            pipe.set(self._key, beat.model_dump_json(), ex=max(1, int(self._ttl_s)))
            # When the host was last heard of; kept after the heartbeat expires, so the sweep can tell
            # a host that is restarting from one that is gone.
            pipe.hset(c.KEY_HOSTS_SEEN, beat.host, str(beat.at))
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("heartbeat not written", extra={"error": repr(exc)})

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._beat()
