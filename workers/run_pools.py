"""Every warm pool of run containers in one worker process: one per image, and one per image for networked runs."""

from __future__ import annotations

import logging
import threading

from core import constants as c
from core.heartbeats import PoolFigures
from core.settings import Settings
from workers.agent_protocol import decode_reset, reset_request
from workers.runtime.base import ContainerLimits, RunContainer, RunContainerRuntime, RunContainerSpec, RuntimeFailure
from workers.warm_pool import RunContainerPool

log = logging.getLogger(__name__)
RESET_TIMEOUT_S = 60.0


def default_limits(settings: Settings) -> ContainerLimits:
    """What a pooled container is set to between runs: the default run's limits, plus the agent's share."""
    lim, w = settings.limits, settings.worker
    return ContainerLimits(
        memory_bytes=lim.memory_limit_kb * 1024 + w.agent_memory_overhead_bytes,
        pids=lim.max_processes_and_or_threads + w.agent_pids_overhead,
        cpus=lim.cpus,
    )


class RunPools:
    def __init__(self, runtime: RunContainerRuntime, settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._pools: dict[tuple[str, bool], RunContainerPool] = {}
        self._lock = threading.Lock()

    def _reset(self, container: RunContainer) -> bool:
        w = self.settings.worker
        clean, problems = decode_reset(container.call(reset_request(w.sandbox_uid, w.sandbox_gid), RESET_TIMEOUT_S))
        if not clean:
            log.warning(
                "sandbox not clean after reset; destroying it",
                extra={"container": container.id[:12], "problems": problems},
            )
        return clean

    def _spec(self, image: str, networked: bool) -> RunContainerSpec:
        w, lim = self.settings.worker, self.settings.limits
        return RunContainerSpec(
            image=image,
            limits=default_limits(self.settings),
            labels={
                c.LABEL_MANAGED: "1",
                c.LABEL_CLUSTER: self.settings.cluster,
                c.LABEL_KIND: "run",
                c.LABEL_WORKER: w.name,
                c.LABEL_IMAGE: image,
            },
            workdir_bytes=lim.workdir_bytes,
            tmp_bytes=lim.tmp_bytes,
            inodes=w.inodes,
            sandbox_uid=w.sandbox_uid,
            sandbox_gid=w.sandbox_gid,
            network=w.egress_network if networked else None,
        )

    def pool(self, image: str, networked: bool = False) -> RunContainerPool:
        key = (image, networked)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if networked and not self.settings.worker.egress_network:
                    raise RuntimeFailure("this worker has no egress network configured")
                w = self.settings.worker
                size = w.egress_pool_size if networked else w.effective_pool_size
                # The first family is kept full, ready for the runs most asked for; the others follow demand.
                full = networked or image == next(iter(w.images), None)
                pool = RunContainerPool(
                    self.runtime,
                    self._spec(image, networked),
                    size,
                    self._reset,
                    w.pool_max_uses,
                    name=f"{image}{'+net' if networked else ''}",
                    min_size=None if full else w.pool_min_size,
                    demand_window_s=w.pool_demand_window_s,
                )
                pool.start()
                self._pools[key] = pool
            return pool

    def start(self) -> None:
        """Warm the first image's pool (the default family's) now; another image's pool is made by its first
        run, which starts the first container of it (its later runs find them warm)."""
        if self.settings.worker.images:
            self.pool(self.settings.worker.images[0])

    def stats(self) -> dict[str, PoolFigures]:
        with self._lock:
            pools = dict(self._pools)
        return {pool.name: pool.stats() for pool in pools.values()}

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
