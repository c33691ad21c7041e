"""The persistent sandboxes of one worker host: their containers, links to their agents, and a warm pool.

A sandbox's container is its computer: started from any image, with its own writable filesystem,
which is kept while the sandbox is stopped and removed only when it is deleted. The container
outlives the worker process (its stdin stays open between attachments); a restarted worker
attaches again. The pool holds ready, networked containers at the default disk size of the images
PoolTargets wants, so a create only has to claim one, size it (and take it off the network if asked)
and hand it its environment.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from core import constants as c
from core.db import transaction
from core.heartbeats import SandboxHostFigures
from core.job_rows import SandboxSnapshot
from core.services import secrets as secret_store
from core.settings import Settings
from workers.agent_link import AgentError, AgentLink
from workers.pool_filler import PoolFiller
from workers.pool_targets import PoolTargets
from workers.runtime.base import (
    ContainerLimits,
    ImageConfig,
    ImageUnavailable,
    RuntimeFailure,
    WorkspaceRuntime,
    WorkspaceSpec,
)

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
IMAGE_CONFIG_TTL_S = 30.0
Ready = tuple[str, AgentLink, str]  # a started container, the link to its agent, and its image


@dataclass(frozen=True)
class Placed:
    container_id: str
    from_pool: bool


class SandboxHost:
    def __init__(self, runtime: WorkspaceRuntime, settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.host = settings.worker.host_name
        self._links: dict[str, AgentLink] = {}
        self._lock = threading.Lock()
        self._pools: dict[str, deque[Ready]] = {}
        self._targets = PoolTargets(settings.sandboxes, self.default_image)  # with the condition held
        self._cond = threading.Condition()
        self._closed = False
        self._images: dict[str, tuple[float, ImageConfig]] = {}
        self._stats = SandboxHostFigures(pool_target=settings.sandboxes.pool_size)
        self._filler = PoolFiller(
            "sandbox-pool",
            self._cond,
            wanted=lambda: sum(self._deficits().values()),
            start=self._start_pooled,
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

    def spec(self, image: str, sandbox: SandboxSnapshot | None, network: bool) -> WorkspaceSpec:
        return WorkspaceSpec(
            image=image,
            limits=self.limits(sandbox),
            disk_bytes=(sandbox.disk_bytes if sandbox else self.settings.sandboxes.disk_bytes)
            if self.settings.sandboxes.disk_quota
            else None,
            labels={**self.labels("sandbox"), c.LABEL_IMAGE: image},
            network=network and self.settings.sandboxes.network,
        )

    @property
    def default_image(self) -> str:
        s = self.settings.sandboxes
        return s.templates[s.default_template]

    def image_config(self, image: str) -> ImageConfig:
        """The image's user, workdir and environment (pulled if this host lacks it), looked up at most every 30 s."""
        now = time.monotonic()
        cached = self._images.get(image)
        if cached is not None and now - cached[0] < IMAGE_CONFIG_TTL_S:
            return cached[1]
        try:
            config = self.runtime.image_config(image)
        except ImageUnavailable as exc:
            raise AgentError("image_unavailable", str(exc), None, "image") from exc
        self._images[image] = (now, config)
        return config

    # ------------------------------------------------------------ lifecycle of the host

    def start(self) -> None:
        if self.settings.sandboxes.pool_size > 0:
            self._filler.start()

    def close(self) -> None:
        """Stop refilling and remove the unclaimed pool; claimed sandboxes keep running for the next worker."""
        with self._cond:
            self._closed = True
            pooled = [ready for pool in self._pools.values() for ready in pool]
            self._pools.clear()
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
            self._stats.pool_idle = sum(len(pool) for pool in self._pools.values())
            self._stats.pool_target = sum(self._targets.wanted().values())
            self._stats.pool_images = {image: len(pool) for image, pool in self._pools.items() if pool}
        with self._lock:
            self._stats.attached = len(self._links)
        return self._stats.model_copy()

    # ------------------------------------------------------------ the pool

    def set_warm(self, targets: dict[str, int]) -> None:
        """Tenants' warm pools for this host, per image (the sandbox watch reads them); extra ready ones go."""
        excess: list[Ready] = []
        with self._cond:
            if not self._targets.set_warm(targets):
                return
            wanted = self._targets.wanted()
            for image, pool in self._pools.items():
                while len(pool) > wanted.get(image, 0):
                    excess.append(pool.pop())
            self._cond.notify_all()
        for ready in excess:
            self._drop(ready)

    def _deficits(self) -> dict[str, int]:
        targets = self._targets.wanted()
        return {
            image: n - len(self._pools.get(image, ()))
            for image, n in targets.items()
            if n > len(self._pools.get(image, ()))
        }

    def _start_pooled(self) -> Ready:
        """The filler's start: one ready sandbox of the image the pool lacks most."""
        with self._cond:
            deficits = self._deficits()
        image = max(deficits, key=lambda i: deficits[i]) if deficits else self.default_image
        return self._launch(image, None, network=True)

    def _keep(self, ready: Ready) -> bool:
        """The filler's hand-over, with the condition held."""
        if self._closed or ready[2] not in self._deficits():
            return False
        self._pools.setdefault(ready[2], deque()).append(ready)
        self._cond.notify_all()
        return True

    def _drop(self, ready: Ready) -> None:
        container_id, link, _ = ready
        link.close()
        self.remove(container_id)

    def _unwanted(self) -> list[Ready]:
        """Take out the pooled sandboxes of images no longer in demand. With the condition held."""
        targets = self._targets.wanted()
        stale = [image for image in self._pools if image not in targets]
        return [ready for image in stale for ready in self._pools.pop(image)]

    def _launch(self, image: str, sandbox: SandboxSnapshot | None, network: bool) -> Ready:
        container_id = self.runtime.create(self.spec(image, sandbox, network), self.image_config(image))
        try:
            return container_id, self._attach(container_id), image
        except RuntimeFailure:
            self.remove(container_id)
            raise

    def _attach(self, container_id: str) -> AgentLink:
        link = AgentLink(self.runtime.attach(container_id), container_id)
        try:
            link.call("ping", timeout_s=START_TIMEOUT_S)
        except (RuntimeFailure, AgentError):
            link.close()
            raise
        return link

    def _poolable(self, sandbox: SandboxSnapshot) -> bool:
        return sandbox.disk_bytes == self.settings.sandboxes.disk_bytes

    # ------------------------------------------------------------ sandboxes

    def configure(self, link: AgentLink, sandbox: SandboxSnapshot) -> None:
        s = self.settings.sandboxes
        image = self.image_config(sandbox.image)
        with transaction(self.settings) as session:
            secret_env = secret_store.resolve(session, self.settings, sandbox.tenant_id, sandbox.secrets)
        link.call(
            "configure",
            user=image.user,
            workdir=image.workdir,
            image_env=image.env,
            env={**sandbox.env, **secret_env},
            # Inside the fence, only these networks (the agent's own firewall in the sandbox's network namespace).
            egress_allow=sandbox.egress_allow if sandbox.network else None,
            disk_bytes=sandbox.disk_bytes,
            output_bytes=s.output_bytes,
            log_bytes=s.log_bytes,
        )
        if image.autostart:
            # What the image starts with every sandbox (a desktop's display, say), in a session of its own.
            with contextlib.suppress(AgentError):  # the session is there already
                link.call("session.create", session=c.AUTOSTART_SESSION)
            link.call("session.exec", session=c.AUTOSTART_SESSION, command=image.autostart, **{"async": True})

    def create(self, sandbox: SandboxSnapshot) -> Placed:
        """Claim a pooled container (default image and disk) or start a new one; configure it."""
        ready: Ready | None = None
        dead: list[Ready] = []
        with self._cond:
            if self._poolable(sandbox):
                pool = self._pools.get(sandbox.image) or deque()
                while pool and ready is None:
                    candidate = pool.popleft()
                    if candidate[1].alive:
                        ready = candidate
                        self._stats.pool_hits += 1
                    else:  # its container stopped while it waited (the engine restarted, say)
                        dead.append(candidate)
            dead.extend(self._unwanted())
            self._cond.notify_all()
        for candidate in dead:
            self._drop(candidate)
        from_pool = ready is not None
        if ready is None:
            self._stats.pool_misses += 1
            ready = self._launch(sandbox.image, sandbox, sandbox.network)
        container_id, link, _ = ready
        try:
            if from_pool:
                self.runtime.set_limits(container_id, self.limits(sandbox))
                if self.settings.sandboxes.network and not sandbox.network:  # pooled ones are networked then
                    self.runtime.disconnect_network(container_id)
            self.configure(link, sandbox)
        except Exception:
            link.close()
            self.remove(container_id)
            raise
        with self._lock:
            self._links[container_id] = link
        if self._poolable(sandbox):
            # Only an image that served a sandbox is in demand: one that cannot be had never stalls the filler.
            with self._cond:
                self._targets.used(sandbox.image)
                self._cond.notify_all()
        return Placed(container_id, from_pool)

    def start_sandbox(self, sandbox: SandboxSnapshot) -> Placed:
        """Start the sandbox's own container again, its filesystem as it was left; a paused one resumes, its
        processes where they were."""
        if sandbox.container_id and self.runtime.status(sandbox.container_id) == "paused":
            self.runtime.unpause(sandbox.container_id)
            self.link(sandbox)  # the agent answers again (attached anew if this process had no link)
            return Placed(sandbox.container_id, False)
        with self._lock:
            old = self._links.pop(sandbox.container_id or "", None)
        if old is not None:
            old.close()
        status = self.runtime.status(sandbox.container_id) if sandbox.container_id else None
        if status is None:
            # Only a sandbox from before containers were kept (or whose engine lost them) gets here.
            log.warning(
                "sandbox has no container; starting a new one from its image", extra={"sandbox_id": str(sandbox.id)}
            )
            container_id, link, _ = self._launch(sandbox.image, sandbox, sandbox.network)
        else:
            assert sandbox.container_id is not None
            container_id = sandbox.container_id
            if status != "running":
                self.runtime.start(container_id)
            self.runtime.set_limits(container_id, self.limits(sandbox))  # as resized while it was stopped
            link = self._attach(container_id)
        try:
            self.configure(link, sandbox)
        except Exception:
            link.close()
            raise
        with self._lock:
            self._links[container_id] = link
        return Placed(container_id, False)

    def stop_sandbox(self, sandbox: SandboxSnapshot) -> None:
        """Stop every process of the sandbox; its container, and so its whole filesystem, stays."""
        if sandbox.container_id:
            self.forget(sandbox.container_id)
            self.runtime.stop(sandbox.container_id)

    def delete_sandbox(self, sandbox: SandboxSnapshot) -> None:
        if sandbox.container_id:
            self.forget(sandbox.container_id)
            self.runtime.remove_container(sandbox.container_id)

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

    def remove(self, container_id: str) -> None:
        with contextlib.suppress(RuntimeFailure):
            self.runtime.remove_container(container_id)

    # ------------------------------------------------------------ after a restart

    def reconcile(self, known: list[SandboxSnapshot]) -> list[SandboxSnapshot]:
        """Remove this host's sandbox containers no sandbox owns (a crashed create's, an old pool's).

        Returns the started sandboxes whose container is not running.
        """
        owned = {s.container_id for s in known if s.container_id}
        for info in self.runtime.list_containers(self.labels("sandbox")):
            if info.id not in owned:
                log.warning("removing a sandbox container nobody owns", extra={"container": info.id[:12]})
                self.remove(info.id)
        return self.stopped(known)

    def stopped(self, known: list[SandboxSnapshot]) -> list[SandboxSnapshot]:
        """The started sandboxes whose container is not running (it stopped, or the engine lost it).

        Stopped containers no sandbox names (one whose removal failed) are removed on the way."""
        owned = {s.container_id for s in known if s.container_id}
        running = set()
        for info in self.runtime.list_containers(self.labels("sandbox")):
            if info.status in ("running", "paused"):  # paused: frozen for a commit, or by pause; not stopped
                running.add(info.id)
            elif info.status in ("exited", "dead") and info.id not in owned:
                self.remove(info.id)
        return [s for s in known if s.state == "started" and s.container_id and s.container_id not in running]

    def forget(self, container_id: str) -> None:
        """Drop this process's link to a container (it stopped, or is being stopped); the container stays."""
        with self._lock:
            link = self._links.pop(container_id, None)
        if link is not None:
            link.close()


class SandboxLost(RuntimeFailure):
    """The sandbox's container is not running: the sandbox is in error until started again."""
