"""Workspaces on Docker: a persistent sandbox's container and the volume that outlives it.

The container is started detached with its stdin open, so the agent, its
sessions and its kernel outlive any one worker: a restarted worker attaches again.
"""

from __future__ import annotations

from docker.errors import ImageNotFound, NotFound

from core import constants as c
from workers.runtime._docker import ENGINE_ERRORS, AttachedStream, DockerEngine, label_filter
from workers.runtime.base import ContainerInfo, ContainerLimits, RuntimeFailure, WorkspaceSpec

SANDBOX_AGENT_CMD = ["python3", "-I", "-S", c.SANDBOX_AGENT_PATH, "serve"]


class DockerWorkspaceRuntime:
    def __init__(self, engine: DockerEngine) -> None:
        self._engine = engine
        self._api = engine.client.api

    def start(self, spec: WorkspaceSpec) -> str:
        """Create the volume if it is new, then create and start the container; returns its id."""
        try:
            self._api.create_volume(spec.volume, labels=spec.labels)
            host_config = self._engine.host_config(
                limits=spec.limits,
                network=spec.network,
                binds={spec.volume: {"bind": "/workspace", "mode": "rw"}},
                tmpfs={
                    "/tmp": f"rw,nosuid,nodev,size={spec.tmp_bytes},mode=1777",  # noqa: S108 - the sandbox's own
                    "/run/runyard": "rw,nosuid,nodev,noexec,size=16m,mode=0755",
                },
                shm_size=64 << 20,
            )
            # detach with stdin open: stdin stays open between attachments (StdinOnce is false),
            # so the agent, its sessions and its kernel outlive any one worker.
            created = self._api.create_container(
                spec.image,
                command=SANDBOX_AGENT_CMD,
                stdin_open=True,
                detach=True,
                tty=False,
                user="0",
                hostname="sandbox",
                working_dir="/workspace",
                labels=spec.labels,
                host_config=host_config,
                stop_signal="SIGKILL",
            )
            self._api.start(created["Id"])
        except ImageNotFound as exc:
            raise RuntimeFailure(f"image {spec.image} is not on this worker's engine") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not start a sandbox container: {exc}") from exc
        return str(created["Id"])

    def attach(self, container_id: str) -> AttachedStream:
        try:
            raw = self._engine.attach_socket(container_id)
        except NotFound as exc:
            raise RuntimeFailure(f"container {container_id[:12]} is gone") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not attach to container {container_id[:12]}: {exc}") from exc
        return AttachedStream(container_id, raw)

    def status(self, container_id: str) -> str | None:
        try:
            return str(self._api.inspect_container(container_id)["State"]["Status"])
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not inspect container {container_id[:12]}: {exc}") from exc

    def set_limits(self, container_id: str, limits: ContainerLimits) -> None:
        self._engine.update_limits(container_id, limits)

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return self._engine.list_containers(labels)

    def remove_container(self, container_id: str) -> None:
        self._engine.remove_container(container_id)

    def list_volumes(self, labels: dict[str, str]) -> list[str]:
        try:
            found = self._api.volumes(filters={"label": label_filter(labels)})
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not list volumes: {exc}") from exc
        return [str(v["Name"]) for v in (found.get("Volumes") or [])]

    def remove_volume(self, name: str) -> None:
        """Remove a volume, and first any container of ours still naming it (one left stopped behind
        when the engine restarted would otherwise hold it for ever)."""
        try:
            holders = self._api.containers(
                all=True, filters={"volume": name, "label": f"{c.LABEL_MANAGED}=1"}, quiet=True
            )
            for holder in holders:
                self._engine.remove_container(holder["Id"])
            self._api.remove_volume(name, force=True)
        except NotFound:
            pass
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not remove volume {name}: {exc}") from exc
