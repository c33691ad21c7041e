"""The resources of a worker process: settings, Redis, the runtimes, the warm pools, the catalog.

Celery runs tasks on threads of one process (the threads pool), so these are
shared by every task of the process and built once.
"""

from __future__ import annotations

import threading
import time
from functools import cached_property, lru_cache

import redis
from sqlalchemy import select

from core import redis_client
from core.db import transaction
from core.models import Language
from core.schemas import LanguageInfo
from core.services.languages import to_info
from core.settings import Settings, get_settings
from workers.run_executor import RunExecutor
from workers.run_pools import RunPools
from workers.runtime import (
    DockerEngine,
    DockerRunRuntime,
    DockerWorkspaceRuntime,
    RunContainerRuntime,
    WorkspaceRuntime,
)
from workers.sandbox_host import SandboxHost
from workers.sandbox_metrics import UsageSampler
from workers.sandbox_ops import Ops
from workers.sandbox_watch import SandboxWatch
from workers.snapshot_builder import SnapshotBuilder

CATALOG_TTL_S = 30.0


class WorkerContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.worker.name
        self._languages: dict[int, LanguageInfo] = {}
        self._languages_at = float("-inf")
        self._lock = threading.Lock()

    @cached_property
    def docker(self) -> DockerEngine:
        """One connection pool to the engine, shared by both runtimes."""
        return DockerEngine(self.settings.worker.docker_url)

    @cached_property
    def runtime(self) -> RunContainerRuntime:
        """Run containers, and the engine questions asked at start-up (catalog, egress network, leftovers)."""
        return DockerRunRuntime(self.docker)

    @cached_property
    def sandbox_docker(self) -> DockerEngine:
        """The engine persistent sandboxes run on: not the runs' one (its own user namespace and disk quotas)."""
        return DockerEngine(self.settings.sandboxes.docker_url)

    @cached_property
    def workspaces(self) -> WorkspaceRuntime:
        """Persistent sandboxes' containers."""
        return DockerWorkspaceRuntime(self.sandbox_docker, self.settings.sandboxes.runtime_image)

    @cached_property
    def redis(self) -> redis.Redis:
        return redis_client.sync_client(self.settings)

    @cached_property
    def pools(self) -> RunPools:
        return RunPools(self.runtime, self.settings)

    @cached_property
    def sandbox_host(self) -> SandboxHost:
        return SandboxHost(self.workspaces, self.settings)

    @cached_property
    def sandbox_watch(self) -> SandboxWatch:
        return SandboxWatch(self.settings, self.sandbox_host)

    @cached_property
    def usage_sampler(self) -> UsageSampler:
        return UsageSampler(self.settings, self.sandbox_host, self.redis)

    @cached_property
    def ops(self) -> Ops:
        return Ops(self.sandbox_host, self.settings, self.redis)

    @cached_property
    def snapshot_builder(self) -> SnapshotBuilder:
        return SnapshotBuilder(self.workspaces, self.settings, self.redis)

    @cached_property
    def executor(self) -> RunExecutor:
        return RunExecutor(self.pools, self.settings)

    def language(self, language_id: int) -> LanguageInfo | None:
        with self._lock:
            stale = time.monotonic() - self._languages_at > CATALOG_TTL_S
            if stale or language_id not in self._languages:
                with transaction(self.settings) as session:
                    rows = session.execute(select(Language)).scalars().all()
                    self._languages = {row.id: to_info(row) for row in rows}
                self._languages_at = time.monotonic()
            return self._languages.get(language_id)


@lru_cache
def get_context() -> WorkerContext:
    return WorkerContext(get_settings())
