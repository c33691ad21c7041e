"""A warm pool of run containers for one image (and network setting), owned by one worker process.

Containers are started ahead of need by a filler thread, up to a target that
follows demand: the most containers in use at once lately plus one spare (or
anyone waiting), never below the pool's minimum nor above its size; idle
containers beyond the target are given up. A run takes a clean
container, and gives it back afterwards; the give-back resets it (every process
of the sandbox user killed, every writable place wiped, IPC objects removed,
then checked) on a separate thread, off the run's critical path. A container
whose reset does not come back clean, or whose agent failed, is destroyed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from core.heartbeats import PoolFigures
from workers.pool_demand import DemandWindow
from workers.pool_filler import PoolFiller
from workers.runtime.base import RunContainer, RunContainerRuntime, RunContainerSpec, RuntimeFailure

log = logging.getLogger(__name__)


class RunContainerPool:
    def __init__(
        self,
        runtime: RunContainerRuntime,
        spec: RunContainerSpec,
        size: int,
        reset: Callable[[RunContainer], bool],
        max_uses: int = 1000,
        name: str = "",
        min_size: int | None = None,
        demand_window_s: float = 300.0,
    ) -> None:
        self.runtime = runtime
        self.spec = spec
        self.size = size
        self.min_size = size if min_size is None else min(min_size, size)
        self._demand = DemandWindow(demand_window_s)
        self._waiting = 0
        self.name = name or spec.image
        self._reset = reset
        self._max_uses = max_uses
        self._uses: dict[str, int] = {}
        self._idle: deque[RunContainer] = deque()
        self._cond = threading.Condition()
        self._stats = PoolFigures(target=size)
        self._closed = False
        self._resetters = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"reset-{self.name}")
        self._filler = PoolFiller(
            f"fill-{self.name}",
            self._cond,
            wanted=self._wanted,
            start=lambda: self.runtime.start(self.spec),
            keep=self._keep,
            drop=self._destroy,
            failure="cannot start a sandbox",
            log_extra={"pool": self.name},
            surplus=self._surplus,
            recheck_s=None if self.min_size == size else max(1.0, demand_window_s / 10),
        )

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._filler.start()

    def close(self) -> None:
        """Stop refilling and destroy every container this pool holds (idle ones now, busy ones on return)."""
        with self._cond:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            self._filler.stop()
        self._resetters.shutdown(wait=True)
        for container in idle:
            self._destroy(container)
        self._filler.join(timeout_s=30)

    # ------------------------------------------------------------ use

    def acquire(self, timeout_s: float) -> RunContainer:
        """A clean container, warm if one is waiting; starts one if the pool is below its size."""
        deadline = time.monotonic() + timeout_s
        while True:
            container = self._take(deadline, timeout_s)
            if container.alive():
                return container
            # Its container stopped while it waited (the engine restarted, say): replace it, take another.
            log.warning("a pooled sandbox had stopped", extra={"pool": self.name, "container": container.id[:12]})
            self.discard(container)

    def _take(self, deadline: float, timeout_s: float) -> RunContainer:
        with self._cond:
            if self._idle:
                self._stats.hits += 1
            else:
                self._stats.misses += 1
            self._waiting += 1
            try:
                if not self._idle:
                    # Once, on arrival: one more waiting may raise the filler's target. Notifying again on every
                    # wake-up made waiters wake each other in turn, a storm that burned the worker's CPU under load.
                    self._cond.notify_all()
                while not self._idle:
                    if self._closed:
                        raise RuntimeFailure(f"pool {self.name} is closed")
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise RuntimeFailure(f"no sandbox of {self.name} became free within {timeout_s:.0f}s")
                    self._cond.wait(remaining)
            finally:
                self._waiting -= 1
            container = self._idle.popleft()
            self._stats.idle -= 1
            self._stats.busy += 1
            self._demand.note(self._stats.busy, time.monotonic())
            return container

    def release(self, container: RunContainer) -> None:
        """Give a container back: it is reset in the background and returns to the idle set if clean."""
        with self._cond:
            self._stats.busy -= 1
            self._stats.resetting += 1
            closed = self._closed
        if closed:
            self._finish_reset(container, clean=False)
            return
        self._resetters.submit(self._reset_and_return, container)

    def discard(self, container: RunContainer) -> None:
        """Destroy a container whose state is unknown (its agent failed or timed out)."""
        with self._cond:
            self._stats.busy -= 1
            self._cond.notify_all()
        self._destroy(container)

    def stats(self) -> PoolFigures:
        with self._cond:
            return self._stats.model_copy(update={"starting": self._filler.starting, "target": self._target()})

    # ------------------------------------------------------------ internals

    def _reset_and_return(self, container: RunContainer) -> None:
        with self._cond:
            uses = self._uses[container.id] = self._uses.get(container.id, 0) + 1
        clean = False
        if uses < self._max_uses:  # a worn container is replaced, not reset
            try:
                clean = self._reset(container)
                if clean:
                    container.set_limits(self.spec.limits)
            except RuntimeFailure as exc:
                log.warning(
                    "sandbox reset failed",
                    extra={"pool": self.name, "container": container.id[:12], "error": str(exc)},
                )
        self._finish_reset(container, clean)

    def _finish_reset(self, container: RunContainer, clean: bool) -> None:
        with self._cond:
            self._stats.resetting -= 1
            self._cond.notify_all()
            if self._closed:
                keep = False
            elif clean:
                self._idle.append(container)
                self._stats.idle += 1
                keep = True
            else:
                self._stats.reset_failures += 1
                keep = False
        if not keep:
            self._destroy(container)

    def _destroy(self, container: RunContainer) -> None:
        container.remove()
        with self._cond:
            self._uses.pop(container.id, None)
            self._stats.destroyed += 1

    def _target(self) -> int:
        """How many containers this pool should hold now (the condition held)."""
        demand = max(self._demand.peak(time.monotonic()), self._stats.busy + self._waiting) + 1
        return max(self.min_size, min(self.size, demand))

    def _held(self) -> int:
        s = self._stats
        return s.idle + s.busy + s.resetting + self._filler.starting

    def _wanted(self) -> int:
        return self._target() - self._held()

    def _surplus(self) -> list[RunContainer]:
        """Idle containers beyond the target, taken out of the pool for the filler to destroy."""
        extra = min(self._held() - self._target(), len(self._idle))
        given_up = [self._idle.popleft() for _ in range(max(0, extra))]
        self._stats.idle -= len(given_up)
        return given_up

    def _keep(self, container: RunContainer) -> bool:
        """The filler's hand-over, with the condition held."""
        self._stats.created += 1
        if self._closed:
            return False
        self._idle.append(container)
        self._stats.idle += 1
        self._cond.notify_all()
        return True
