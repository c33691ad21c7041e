"""Builds and removes snapshots on this host's sandbox engine, its output streamed as it comes.

Each piece of a build's output goes to the snapshot's Redis stream (core/build_logs.py) for whoever
follows it, and into a buffer of the newest bytes that the snapshot's row keeps once the build is over.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import redis

from core import build_logs
from core import constants as c
from core.job_machine import SnapshotClaim
from core.settings import Settings
from workers.runtime.base import BuildFailed, BuildSpec, BuiltImage, WorkspaceRuntime

log = logging.getLogger(__name__)


class LogTail:
    """The newest `limit` bytes of what was written (older pieces are dropped whole, then the oldest cut)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pieces: deque[str] = deque()
        self._size = 0

    def add(self, text: str) -> None:
        self._pieces.append(text)
        self._size += len(text)
        while self._size > self._limit and len(self._pieces) > 1:
            self._size -= len(self._pieces.popleft())

    def text(self) -> str:
        return "".join(self._pieces)[-self._limit :]


@dataclass(frozen=True)
class BuildOutcome:
    image: BuiltImage | None  # None: it failed, for `error`
    error: str | None
    log: str


class SnapshotBuilder:
    def __init__(self, runtime: WorkspaceRuntime, settings: Settings, client: redis.Redis) -> None:
        self.runtime = runtime
        self.settings = settings
        self.redis = client

    def _output(self, claim: SnapshotClaim, tail: LogTail) -> Callable[[str], None]:
        ttl = self.settings.snapshots.live_log_ttl_s

        def output(text: str) -> None:
            tail.add(text)
            try:
                build_logs.append(self.redis, claim.snapshot.id, text, ttl)
            except redis.RedisError as exc:  # the build goes on; its output is still kept in the tail
                log.warning("could not stream build output", extra={"snapshot": str(claim.snapshot.id), "error": exc})

        return output

    def build(self, claim: SnapshotClaim) -> BuildOutcome:
        """Build (and push, if the snapshot goes to a registry). BuildFailed is the Dockerfile's fault and
        an outcome; RuntimeFailure (the engine, the registry) propagates, for a retry."""
        s = self.settings.snapshots
        snapshot = claim.snapshot
        tail = LogTail(s.log_bytes)
        output = self._output(claim, tail)
        output(f"Building snapshot {snapshot.name} on {self.settings.worker.host_name} (attempt {claim.attempt})\n")
        spec = BuildSpec(
            dockerfile=snapshot.dockerfile,
            tag=snapshot.image_ref,
            memory_bytes=max(s.build_memory_bytes, snapshot.memory_bytes or 0),
            timeout_s=s.build_timeout_s,
            labels={
                c.LABEL_MANAGED: "1",
                c.LABEL_CLUSTER: self.settings.cluster,
                c.LABEL_SNAPSHOT: str(snapshot.id),
            },
        )
        try:
            image = self.runtime.build(spec, output)
        except BuildFailed as exc:
            output(f"Build failed: {exc}\n")
            return BuildOutcome(None, str(exc), tail.text())
        if snapshot.pushed:
            output(f"Pushing {snapshot.image_ref}\n")
            self.runtime.push(snapshot.image_ref, output)
        output(f"Built {snapshot.image_ref} ({image.size_bytes / 1e6:.1f} MB)\n")
        return BuildOutcome(image, None, tail.text())

    def end_log(self, claim: SnapshotClaim, state: str) -> None:
        try:
            build_logs.end(self.redis, claim.snapshot.id, state, self.settings.snapshots.live_log_ttl_s)
        except redis.RedisError as exc:
            log.warning("could not end build output", extra={"snapshot": str(claim.snapshot.id), "error": str(exc)})

    def remove(self, claim: SnapshotClaim) -> None:
        self.runtime.remove_image(claim.snapshot.image_ref)
