"""Sandboxes' use of CPU, memory and disk, read from the engine: now (a job, for Daytona's
`get_metrics_latest`), and every metrics_interval_s for each started sandbox of this host, kept in Redis
as its history (core/usage_history.py, for `get_metrics`)."""

from __future__ import annotations

import logging
import threading
import time

import redis

from core import sandbox_store, usage_history
from core.db import transaction
from core.job_results import UsageSample
from core.job_rows import SandboxSnapshot
from core.settings import Settings
from workers.runtime.base import RawUsage, RuntimeFailure
from workers.sandbox_host import SandboxHost

log = logging.getLogger(__name__)
SPAN_S = 0.5  # between the two readings of a sample taken on demand
DISK_EVERY_S = 60.0  # how often the sampler reads a sandbox's disk use (a walk of its filesystem)


def sample(sandbox: SandboxSnapshot, before: RawUsage, after: RawUsage, disk_used: int) -> UsageSample:
    elapsed_ns = max(1.0, (after.at - before.at) * 1e9)
    return UsageSample(
        at=after.at,
        cpu_pct=round(max(0, after.cpu_ns - before.cpu_ns) / elapsed_ns / max(sandbox.cpus, 0.01) * 100, 2),
        cpus=sandbox.cpus,
        mem_used=after.mem_used,
        mem_limit=sandbox.memory_bytes,
        mem_cache=after.mem_cache,
        disk_used=disk_used,
        disk_limit=sandbox.disk_bytes,
    )


def latest(host: SandboxHost, sandbox: SandboxSnapshot) -> UsageSample:
    if not sandbox.container_id:
        raise RuntimeFailure(f"sandbox {sandbox.id} has no container")
    before = host.runtime.usage(sandbox.container_id, disk=False)
    time.sleep(SPAN_S)
    after = host.runtime.usage(sandbox.container_id)
    return sample(sandbox, before, after, after.disk_used)


class UsageSampler:
    def __init__(self, settings: Settings, host: SandboxHost, client: redis.Redis) -> None:
        self.settings, self.host, self.redis = settings, host, client
        self._last: dict[str, RawUsage] = {}
        self._disk: dict[str, tuple[float, int]] = {}  # container -> (when read, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="usage-sampler", daemon=True)

    def start(self) -> None:
        if self.settings.sandboxes.metrics_interval_s > 0:
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def sample_all(self) -> int:
        """One sample of each started sandbox (from its second reading on); how many were kept."""
        with transaction(self.settings) as session:
            known = sandbox_store.host_sandboxes(session, self.host.host)
        started = [s for s in known if s.state == "started" and s.container_id]
        last, kept = self._last, 0
        self._last = {}
        for sandbox in started:
            assert sandbox.container_id is not None
            read_at, disk = self._disk.get(sandbox.container_id, (0.0, 0))
            stale = time.monotonic() - read_at > DISK_EVERY_S
            try:
                now = self.host.runtime.usage(sandbox.container_id, disk=stale)
            except RuntimeFailure:
                continue  # stopped meanwhile; the watch deals with it
            if stale:
                disk = now.disk_used
                self._disk[sandbox.container_id] = (time.monotonic(), disk)
            self._last[sandbox.container_id] = now
            before = last.get(sandbox.container_id)
            if before is not None:
                keep_s = self.settings.sandboxes.metrics_keep_s
                usage_history.add(self.redis, sandbox.id, sample(sandbox, before, now, disk), keep_s)
                kept += 1
        self._disk = {cid: read for cid, read in self._disk.items() if cid in self._last}
        return kept

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.sandboxes.metrics_interval_s):
            try:
                self.sample_all()
            except (RuntimeFailure, redis.RedisError) as exc:
                log.info("could not sample the sandboxes' use", extra={"error": str(exc)})
            except Exception:
                log.exception("usage sampling failed")
