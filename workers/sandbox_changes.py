"""Changes to a started sandbox as it runs: its CPU and memory, pausing it, its network and its environment.
Each job changes the container (or the agent) first and the sandbox's row after, so a row never claims
what the sandbox does not have; a repeat after a crash sets the same values again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from core import constants as c
from core import snapshot_store
from core.db import transaction
from core.job_machine import SandboxClaim
from core.job_payloads import CommitPayload, EnvPayload, GrowDiskPayload, NetworkPayload, ResizePayload
from core.jobkinds import JobKind
from core.sandbox_store import set_sandbox
from core.settings import Settings
from core.states import SandboxState
from workers import sandbox_metrics
from workers.agent_link import AgentError
from workers.sandbox_host import SandboxHost

Result = dict[str, Any]


class Changes:
    def __init__(self, host: SandboxHost, settings: Settings) -> None:
        self.host, self.settings = host, settings
        self.table: dict[JobKind, Callable[[SandboxClaim], Result]] = {
            JobKind.RESIZE: self.resize,
            JobKind.PAUSE: self.pause,
            JobKind.NETWORK: self.network,
            JobKind.ENV: self.env,
            JobKind.COMMIT: self.commit,
            JobKind.GROW_DISK: self.grow_disk,
            JobKind.METRICS: lambda claim: sandbox_metrics.latest(self.host, claim.sandbox).model_dump(),
        }

    def _container(self, claim: SandboxClaim) -> str:
        if not claim.sandbox.container_id:
            raise AgentError("conflict", f"sandbox {claim.sandbox.id} has no container")
        return claim.sandbox.container_id

    def _save(self, claim: SandboxClaim, **values: Any) -> None:
        with transaction(self.settings) as session:
            set_sandbox(session, claim.sandbox.id, **values)

    def resize(self, claim: SandboxClaim) -> Result:
        """New CPU and memory limits on the running container (cgroups): no restart, nothing lost. Memory
        below what the sandbox uses now is refused by the kernel, and the limits stay as they were."""
        wanted = ResizePayload.model_validate(claim.payload)
        resized = replace(claim.sandbox, cpus=wanted.cpus, memory_bytes=wanted.memory_bytes)
        self.host.runtime.set_limits(self._container(claim), self.host.limits(resized))
        self._save(claim, cpus=wanted.cpus, memory_bytes=wanted.memory_bytes)
        return {"cpus": wanted.cpus, "memory_bytes": wanted.memory_bytes}

    def pause(self, claim: SandboxClaim) -> Result:
        self.host.runtime.pause(self._container(claim))
        self._save(claim, state=SandboxState.PAUSED.value)
        return {"state": SandboxState.PAUSED.value}

    def network(self, claim: SandboxClaim) -> Result:
        """On or off the fenced network, and the agent's allow-list inside it, live."""
        wanted = NetworkPayload.model_validate(claim.payload)
        container = self._container(claim)
        if wanted.network:
            self.host.runtime.connect_network(container)
            self.host.link(claim.sandbox).call("network.egress", allow=wanted.egress_allow)
        else:
            self.host.runtime.disconnect_network(container)
        self._save(claim, network=wanted.network, egress_allow=wanted.egress_allow if wanted.network else None)
        return {"network": wanted.network, "egress_allow": wanted.egress_allow}

    def env(self, claim: SandboxClaim) -> Result:
        """Variables for the processes the sandbox starts from now on; kept for its next starts too."""
        wanted = EnvPayload.model_validate(claim.payload)
        self.host.link(claim.sandbox).call("env.update", set=wanted.set, unset=wanted.unset)
        env = wanted.applied_to(claim.sandbox.env)
        self._save(claim, env=env)
        return {"env": env}

    def commit(self, claim: SandboxClaim) -> Result:
        """Its filesystem as the snapshot's image (pushed to the registry if the snapshot says so); the snapshot
        turns active, or build_failed with the engine's reason."""
        wanted = CommitPayload.model_validate(claim.payload)
        snapshot_id = uuid.UUID(wanted.snapshot_id)
        labels = {c.LABEL_MANAGED: "1", c.LABEL_CLUSTER: self.settings.cluster, c.LABEL_SNAPSHOT: str(snapshot_id)}
        try:
            image_id, size = self.host.runtime.commit(self._container(claim), wanted.image_ref, labels)
            if wanted.push:
                self.host.runtime.push(wanted.image_ref, lambda _: None)
        except Exception as exc:
            with transaction(self.settings) as session:
                snapshot_store.build_failed(session, [snapshot_id], f"the commit failed: {exc}")
            raise
        with transaction(self.settings) as session:
            snapshot_store.built(session, snapshot_id, image_id, size, "")
        return {"snapshot_id": str(snapshot_id), "image_id": image_id, "size_bytes": size}

    def grow_disk(self, claim: SandboxClaim) -> Result:
        """A stopped sandbox's filesystem, committed, into a new container with the larger quota (the quota is
        fixed when a container is made). The row names the new container before the old one goes: a crash
        leaves one of the two unowned, and the next start of this worker removes it."""
        sandbox = claim.sandbox
        if sandbox.state != SandboxState.RESIZING:
            return {"state": sandbox.state}  # redelivered after it was done
        wanted = GrowDiskPayload.model_validate(claim.payload)
        old = self._container(claim)
        tag = f"runyard/resized:{sandbox.id.hex}"
        labels = {c.LABEL_MANAGED: "1", c.LABEL_CLUSTER: self.settings.cluster}
        self.host.runtime.commit(old, tag, labels)
        grown = replace(sandbox, disk_bytes=wanted.disk_bytes)
        spec = replace(self.host.spec(sandbox.image, grown, sandbox.network), image=tag)  # labelled as before
        new = self.host.runtime.create(spec, self.host.image_config(tag))
        self.host.runtime.stop(new)
        self._save(claim, container_id=new, disk_bytes=wanted.disk_bytes, state=SandboxState.STOPPED.value, error=None)
        self.host.remove(old)
        return {"disk_bytes": wanted.disk_bytes, "state": SandboxState.STOPPED.value}
