"""The persistent sandboxes of one worker host: their containers, links to their agents, and a warm pool.

A sandbox's container outlives the worker process (its stdin stays open
between attachments); a restarted worker attaches again. The pool holds ready
containers of the default template, each with its own fresh volume, so a
create only has to claim one, size it and hand it its environment.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass

from core import constants as c
from core.heartbeats import SandboxHostFigures
from core.job_machine import SandboxSnapshot
from core.settings import Settings
from workers.agent_link import AgentError, AgentLink
from workers.pool_filler import PoolFiller
from workers.runtime.base import ContainerLimits, RuntimeFailure, WorkspaceRuntime, WorkspaceSpec

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
Ready = tuple[str, str, AgentLink]  # a started container, its volume, and the link to its agent


@dataclass(frozen=True)
class Placed:
    container_id: str
    volume: str
    from_pool: bool


class SandboxHost:
    def __init__(self, runtime: WorkspaceRuntime, settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.host = settings.worker.host_name
        self._links: dict[str, AgentLink] = {}
        self._lock = threading.Lock()
        self._pool: deque[Ready] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._stats = SandboxHostFigures(pool_target=settings.sandboxes.pool_size)
        self._filler = PoolFiller(
            "sandbox-pool",
            self._cond,
            wanted=lambda: self.settings.sandboxes.pool_size - len(self._pool),
            start=lambda: self._launch(self.default_image, None, network=False),
            keep=self._keep,
            drop=self._drop,
            failure="cannot start a pooled sandbox",
        )

    # ------------------------------------------------------------ labels and specs

    def labels(self, kind: str) -> dict[str, str]:
        return {
            c.LABEL_MANAGED: "1",
            c.LABEL_CLUSTER: self.settings.cluster,
            c.LABEL_KIND: kind,
            c.LABEL_HOST: self.host,
        }

    def limits(self, sandbox: SandboxSnapshot | None) -> ContainerLimits:
        s = self.settings.sandboxes
        if sandbox is None:
            return ContainerLimits(memory_bytes=s.memory_bytes, pids=s.pids, cpus=s.cpus)
        return ContainerLimits(memory_bytes=sandbox.memory_bytes, pids=s.pids, cpus=sandbox.cpus)

    def _spec(self, image: str, volume: str, sandbox: SandboxSnapshot | None, network: bool) -> WorkspaceSpec:
        return WorkspaceSpec(
            image=image,
            limits=self.limits(sandbox),
            volume=volume,
            labels={**self.labels("sandbox"), c.LABEL_IMAGE: image},
            tmp_bytes=self.settings.sandboxes.tmp_bytes,
            network=self.settings.worker.egress_network if network else None,
        )

    @property
    def default_image(self) -> str:
        s = self.settings.sandboxes
        return s.templates[s.default_template]

    # ------------------------------------------------------------ lifecycle of the host

    def start(self) -> None:
        if self.settings.sandboxes.pool_size > 0:
            self._filler.start()

    def close(self) -> None:
        """Stop refilling and remove the unclaimed pool; claimed sandboxes keep running for the next worker."""
        with self._cond:
            self._closed = True
            pooled = list(self._pool)
            self._pool.clear()
            self._filler.stop()
        for ready in pooled:
            self._drop(ready)
        with self._lock:
            links = list(self._links.values())
            self._links.clear()
        for link in links:
            link.close()

    def stats(self) -> SandboxHostFigures:
        with self._cond:
            self._stats.pool_idle = len(self._pool)
        with self._lock:
            self._stats.attached = len(self._links)
        return self._stats.model_copy()

    # ------------------------------------------------------------ the pool

    def _keep(self, ready: Ready) -> bool:
        """The filler's hand-over, with the condition held."""
        if self._closed:
            return False
        self._pool.append(ready)
        self._cond.notify_all()
        return True

    def _drop(self, ready: Ready) -> None:
        container_id, volume, link = ready
        link.close()
        self._remove(container_id, volume)

    def _launch(self, image: str, sandbox: SandboxSnapshot | None, network: bool) -> Ready:
        volume = sandbox.volume if sandbox and sandbox.volume else f"runyard-ws-{uuid.uuid4().hex}"
        container_id = self.runtime.start(self._spec(image, volume, sandbox, network))
        try:
            link = AgentLink(self.runtime.attach(container_id), container_id)
            link.call("ping", timeout_s=START_TIMEOUT_S)
        except RuntimeFailure:
            self._remove(container_id, None if sandbox and sandbox.volume else volume)
            raise
        return container_id, volume, link

    # ------------------------------------------------------------ sandboxes

    def configure(self, link: AgentLink, sandbox: SandboxSnapshot) -> None:
        s, w = self.settings.sandboxes, self.settings.worker
        link.call(
            "configure",
            uid=w.sandbox_uid,
            gid=w.sandbox_gid,
            env=sandbox.env,
            disk_bytes=sandbox.disk_bytes,
            output_bytes=s.output_bytes,
            log_bytes=s.log_bytes,
        )

    def create(self, sandbox: SandboxSnapshot) -> Placed:
        """Claim a pooled container (same image, no network) or start a new one; configure it."""
        ready: Ready | None = None
        dead: list[Ready] = []
        if sandbox.image == self.default_image and not sandbox.network:
            with self._cond:
                while self._pool and ready is None:
                    candidate = self._pool.popleft()
                    self._cond.notify_all()
                    if candidate[2].alive:
                        ready = candidate
                        self._stats.pool_hits += 1
                    else:  # its container stopped while it waited (the engine restarted, say)
                        dead.append(candidate)
        for candidate in dead:
            self._drop(candidate)
        from_pool = ready is not None
        if ready is None:
            self._stats.pool_misses += 1
            ready = self._launch(sandbox.image, sandbox, sandbox.network)
        container_id, volume, link = ready
        try:
            if from_pool:
                self.runtime.set_limits(container_id, self.limits(sandbox))
            self.configure(link, sandbox)
        except Exception:
            link.close()
            self._remove(container_id, volume)
            raise
        with self._lock:
            self._links[container_id] = link
        return Placed(container_id, volume, from_pool)

    def start_sandbox(self, sandbox: SandboxSnapshot) -> Placed:
        """A new container on the sandbox's existing volume."""
        if sandbox.container_id:
            self.stop_sandbox(sandbox)
        container_id, volume, link = self._launch(sandbox.image, sandbox, sandbox.network)
        try:
            self.configure(link, sandbox)
        except Exception:
            link.close()
            self._remove(container_id, None)
            raise
        with self._lock:
            self._links[container_id] = link
        return Placed(container_id, volume, False)

    def stop_sandbox(self, sandbox: SandboxSnapshot) -> None:
        """Remove the container; the workspace volume stays."""
        if sandbox.container_id:
            with self._lock:
                link = self._links.pop(sandbox.container_id, None)
            if link is not None:
                link.close()
            self.runtime.remove_container(sandbox.container_id)

    def delete_sandbox(self, sandbox: SandboxSnapshot) -> None:
        self.stop_sandbox(sandbox)
        if sandbox.volume:
            self.runtime.remove_volume(sandbox.volume)

    def link(self, sandbox: SandboxSnapshot) -> AgentLink:
        """The link to a started sandbox's agent, attaching (again) if this process has none that works."""
        if not sandbox.container_id:
            raise RuntimeFailure(f"sandbox {sandbox.id} has no container")
        with self._lock:
            link = self._links.get(sandbox.container_id)
            if link is not None and link.alive:
                return link
            if link is not None:
                link.close()
            status = self.runtime.status(sandbox.container_id)
            if status != "running":
                raise SandboxLost(f"the sandbox's container is {status or 'gone'}")
            link = AgentLink(self.runtime.attach(sandbox.container_id), sandbox.container_id)
            self._abort_earlier_transfers(link, sandbox)
            self._links[sandbox.container_id] = link
            return link

    @staticmethod
    def _abort_earlier_transfers(link: AgentLink, sandbox: SandboxSnapshot) -> None:
        """Transfers opened through an earlier attachment have no one to finish them: drop their temporary files."""
        extra: dict[str, object] = {"sandbox_id": str(sandbox.id)}
        try:
            aborted = link.call("file.abort_transfers", timeout_s=30)
        except AgentError as exc:
            log.warning("could not abort earlier transfers", extra={**extra, "error": str(exc)})
            return
        if aborted["uploads"] or aborted["downloads"]:
            log.info("aborted transfers of an earlier attachment", extra={**extra, **aborted})

    def _remove(self, container_id: str, volume: str | None) -> None:
        with contextlib.suppress(RuntimeFailure):
            self.runtime.remove_container(container_id)
        if volume:
            with contextlib.suppress(RuntimeFailure):
                self.runtime.remove_volume(volume)

    # ------------------------------------------------------------ after a restart

    def reconcile(self, known: list[SandboxSnapshot], volumes_in_use: set[str]) -> list[SandboxSnapshot]:
        """Remove this host's containers and volumes no sandbox owns.

        Returns the started sandboxes whose container is gone.
        """
        owned = {s.container_id for s in known if s.container_id}
        for info in self.runtime.list_containers(self.labels("sandbox")):
            if info.id not in owned:
                log.warning("removing a sandbox container nobody owns", extra={"container": info.id[:12]})
                with contextlib.suppress(RuntimeFailure):
                    self.runtime.remove_container(info.id)
        for volume in self.runtime.list_volumes(self.labels("sandbox")):
            if volume not in volumes_in_use:
                with contextlib.suppress(RuntimeFailure):
                    self.runtime.remove_volume(volume)
        return self.stopped(known)

    def stopped(self, known: list[SandboxSnapshot]) -> list[SandboxSnapshot]:
        """The started sandboxes whose container is not running (it stopped, or the engine lost it).

        Stopped containers no sandbox names any more (one whose removal failed) are removed on the way."""
        owned = {s.container_id for s in known if s.container_id}
        running = set()
        for info in self.runtime.list_containers(self.labels("sandbox")):
            if info.status == "running":
                running.add(info.id)
            elif info.status in ("exited", "dead") and info.id not in owned:
                with contextlib.suppress(RuntimeFailure):
                    self.runtime.remove_container(info.id)
        return [s for s in known if s.state == "started" and s.container_id and s.container_id not in running]

    def forget(self, container_id: str) -> None:
        """Drop a stopped sandbox's link and container; its volume stays for the next start."""
        with self._lock:
            link = self._links.pop(container_id, None)
        if link is not None:
            link.close()
        self._remove(container_id, None)


class SandboxLost(RuntimeFailure):
    """The sandbox's container is not running: the sandbox is in error until started again."""
