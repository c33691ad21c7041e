"""A warm pool of sandboxes for one image (and network setting), owned by one worker process.

Containers are started ahead of need by a filler thread. A run takes a clean
sandbox, and gives it back afterwards; the give-back resets it (every process
of the sandbox user killed, every writable place wiped, IPC objects removed,
then checked) on a separate thread, off the run's critical path. A sandbox
whose reset does not come back clean, or whose agent failed, is destroyed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from workers.runtime.base import Runtime, RuntimeFailure, Sandbox, SandboxSpec

log = logging.getLogger(__name__)


@dataclass
class PoolStats:
    target: int = 0
    idle: int = 0
    busy: int = 0
    resetting: int = 0
    starting: int = 0
    created: int = 0
    destroyed: int = 0
    reset_failures: int = 0
    hits: int = 0  # runs that found a warm sandbox waiting
    misses: int = 0  # runs that had to wait for one


class SandboxPool:
    def __init__(
        self,
        runtime: Runtime,
        spec: SandboxSpec,
        size: int,
        reset: Callable[[Sandbox], bool],
        max_uses: int = 1000,
        name: str = "",
    ) -> None:
        self.runtime = runtime
        self.spec = spec
        self.size = size
        self.name = name or spec.image
        self._reset = reset
        self._max_uses = max_uses
        self._uses: dict[str, int] = {}
        self._idle: deque[Sandbox] = deque()
        self._cond = threading.Condition()
        self._stats = PoolStats(target=size)
        self._closed = False
        self._resetters = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"reset-{self.name}")
        self._filler = threading.Thread(target=self._fill, name=f"fill-{self.name}", daemon=True)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._filler.start()

    def close(self) -> None:
        """Stop refilling and destroy every sandbox this pool holds (idle ones now, busy ones on return)."""
        with self._cond:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            self._cond.notify_all()
        self._resetters.shutdown(wait=True)
        for sandbox in idle:
            self._destroy(sandbox)
        self._filler.join(timeout=30)

    # ------------------------------------------------------------ use

    def acquire(self, timeout_s: float) -> Sandbox:
        """A clean sandbox, warm if one is waiting; starts one if the pool is below its size."""
        deadline = time.monotonic() + timeout_s
        while True:
            sandbox = self._take(deadline, timeout_s)
            if sandbox.alive():
                return sandbox
            # Its container stopped while it waited (the engine restarted, say): replace it, take another.
            log.warning("a pooled sandbox had stopped", extra={"pool": self.name, "container": sandbox.id[:12]})
            self.discard(sandbox)

    def _take(self, deadline: float, timeout_s: float) -> Sandbox:
        with self._cond:
            if self._idle:
                self._stats.hits += 1
            else:
                self._stats.misses += 1
            while not self._idle:
                if self._closed:
                    raise RuntimeFailure(f"pool {self.name} is closed")
                self._cond.notify_all()  # wake the filler
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeFailure(f"no sandbox of {self.name} became free within {timeout_s:.0f}s")
                self._cond.wait(remaining)
            sandbox = self._idle.popleft()
            self._stats.idle -= 1
            self._stats.busy += 1
            return sandbox

    def release(self, sandbox: Sandbox) -> None:
        """Give a sandbox back: it is reset in the background and returns to the idle set if clean."""
        with self._cond:
            self._stats.busy -= 1
            self._stats.resetting += 1
            closed = self._closed
        if closed:
            self._finish_reset(sandbox, clean=False)
            return
        self._resetters.submit(self._reset_and_return, sandbox)

    def discard(self, sandbox: Sandbox) -> None:
        """Destroy a sandbox whose state is unknown (its agent failed or timed out)."""
        with self._cond:
            self._stats.busy -= 1
            self._cond.notify_all()
        self._destroy(sandbox)

    def stats(self) -> PoolStats:
        with self._cond:
            return PoolStats(**vars(self._stats))

    # ------------------------------------------------------------ internals

    def _reset_and_return(self, sandbox: Sandbox) -> None:
        with self._cond:
            uses = self._uses[sandbox.id] = self._uses.get(sandbox.id, 0) + 1
        clean = False
        if uses < self._max_uses:  # a worn sandbox is replaced, not reset
            try:
                clean = self._reset(sandbox)
                if clean:
                    sandbox.set_limits(self.spec.limits)
            except RuntimeFailure as exc:
                log.warning(
                    "sandbox reset failed", extra={"pool": self.name, "container": sandbox.id[:12], "error": str(exc)}
                )
        self._finish_reset(sandbox, clean)

    def _finish_reset(self, sandbox: Sandbox, clean: bool) -> None:
        with self._cond:
            self._stats.resetting -= 1
            self._cond.notify_all()
            if self._closed:
                keep = False
            elif clean:
                self._idle.append(sandbox)
                self._stats.idle += 1
                keep = True
            else:
                self._stats.reset_failures += 1
                keep = False
        if not keep:
            self._destroy(sandbox)

    def _destroy(self, sandbox: Sandbox) -> None:
        sandbox.remove()
        with self._cond:
            self._uses.pop(sandbox.id, None)
            self._stats.destroyed += 1

    def _wanted(self) -> int:
        s = self._stats
        return self.size - (s.idle + s.busy + s.resetting + s.starting)

    def _fill(self) -> None:
        backoff = 0.5
        while True:
            with self._cond:
                while not self._closed and self._wanted() <= 0:
                    self._cond.wait()
                if self._closed:
                    return
                self._stats.starting += 1
            try:
                sandbox = self.runtime.start(self.spec)
            except Exception as exc:  # noqa: BLE001 - the filler must outlive any failure, or the pool stays empty
                with self._cond:
                    self._stats.starting -= 1
                log.error("cannot start a sandbox", extra={"pool": self.name, "error": str(exc)})
                time.sleep(backoff)
                backoff = min(backoff * 2, 30)
                continue
            backoff = 0.5
            with self._cond:
                self._stats.starting -= 1
                self._stats.created += 1
                closed = self._closed
                if not closed:
                    self._idle.append(sandbox)
                    self._stats.idle += 1
                    self._cond.notify_all()
            if closed:
                sandbox.remove()
