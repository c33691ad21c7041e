"""Workspaces on Docker: persistent sandboxes' containers, on the engine that runs them.

That engine (scripts/sandbox-engine.sh) remaps root to an unprivileged range of host uids and
keeps containers on btrfs with quotas. A sandbox's container is its whole computer: any image,
its own writable root filesystem with a size quota, kept while it is stopped. Nothing of ours is
in the image: the runtime volume (sandbox_images/runtime) is mounted read-only at /opt/runyard,
and the agent runs on the Python it carries. The container is started detached with its stdin
open, so the agent, its sessions and its kernel outlive any one worker: a restarted worker
attaches again.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
import urllib3
from docker.errors import APIError, ImageNotFound, NotFound

from core import constants as c
from workers.runtime._docker import ENGINE_ERRORS, AttachedStream, DockerEngine, nano_cpus
from workers.runtime.base import (
    BuildFailed,
    BuildSpec,
    BuiltImage,
    ContainerInfo,
    ContainerLimits,
    ImageConfig,
    ImageUnavailable,
    RawUsage,
    RuntimeFailure,
    WorkspaceSpec,
)

RUNTIME_MOUNT = "/opt/runyard"
AGENT_ENTRYPOINT = [f"{RUNTIME_MOUNT}/rt/bin/python3", "-I", "-S", c.SANDBOX_AGENT_PATH, "serve"]
# What package managers need (apt drops to its own user, chowns and sets file capabilities; some
# maintainer scripts chroot), with the agent's own SETUID/SETGID/SETPCAP/KILL among them. No
# NET_ADMIN, NET_RAW, SYS_ADMIN, SYS_PTRACE or MKNOD: root inside cannot change its network, its
# limits or its devices. Programs of an image that does not run as root get none of them (spawn
# empties their bounding set).
SANDBOX_CAPS = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "SETUID",
    "SETGID",
    "SETPCAP",
    "SETFCAP",
    "KILL",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "AUDIT_WRITE",
]
# The agent's alone: it sets an egress allow-list in the sandbox's own network namespace. Every program it
# starts loses it (spawn drops it from the bounding set, root or not), and cannot trace the agent to use it
# (the kernel refuses to let a process trace one holding capabilities it lacks).
AGENT_ONLY_CAPS = ["NET_ADMIN"]
# Overrides of the image's own environment for the agent's process only (the sandbox's programs get
# the image's environment from the agent): they would load foreign code into the bundled Python.
AGENT_ENV = ["LD_PRELOAD=", "LD_LIBRARY_PATH=", "PYTHONHOME=", "PYTHONPATH="]
STOP_TIMEOUT_S = 3


def _env_dict(pairs: list[str] | None) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in (pairs or []) if "=" in pair)


def _progress_text(item: dict[str, Any]) -> str | None:
    """A line of a build's or a push's JSON progress as a person reads it; None for byte counters."""
    if "stream" in item:
        return str(item["stream"])
    if "status" in item and not item.get("progressDetail"):
        ident = f"{item['id']}: " if item.get("id") else ""
        return f"{ident}{item['status']}\n"
    return None


def _follow(items: Iterable[dict[str, Any]], output: Callable[[str], None], deadline: float | None) -> str | None:
    """Hand on each line; returns the image id a build reports. Raises BuildFailed on the engine's error
    message, or once the deadline has passed (leaving the stream closes it, and the engine stops the build)."""
    image_id = None
    for item in items:
        if "error" in item:
            raise BuildFailed(str(item.get("error") or item.get("errorDetail") or "failed").strip())
        if isinstance(item.get("aux"), dict) and "ID" in item["aux"]:
            image_id = str(item["aux"]["ID"])
        text = _progress_text(item)
        if text:
            output(text)
        if deadline is not None and time.monotonic() > deadline:
            raise BuildFailed("the build ran out of time")
    return image_id


class DockerWorkspaceRuntime:
    def __init__(self, engine: DockerEngine, runtime_image: str) -> None:
        self._engine = engine
        self._api = engine.client.api
        self._runtime_image = runtime_image
        self._runtime_lock = threading.Lock()

    # ------------------------------------------------------------ images

    def image_config(self, image: str) -> ImageConfig:
        try:
            try:
                attrs = self._api.inspect_image(image)
            except ImageNotFound:
                self._pull(image)
                attrs = self._api.inspect_image(image)
        except ImageNotFound as exc:
            raise ImageUnavailable(f"image {image} is not on this host") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not inspect image {image}: {exc}") from exc
        config = attrs.get("Config") or {}
        return ImageConfig(
            image_id=str(attrs["Id"]),
            user=str(config.get("User") or "0"),
            workdir=str(config.get("WorkingDir") or ""),
            env=_env_dict(config.get("Env")),
            autostart=(config.get("Labels") or {}).get(c.LABEL_AUTOSTART) or None,
        )

    def _pull(self, image: str) -> None:
        try:
            self._api.pull(image)  # the SDK splits off the tag (latest when there is none) or digest
        except APIError as exc:
            raise ImageUnavailable(
                f"image {image} is not on this host and could not be pulled: {exc.explanation or exc}"
            ) from exc

    def _runtime_volume_source(self) -> str:
        """The created, never started, container that holds the runtime volume of the current runtime image.

        Named by the image's id, so a new runtime image gets a new one and sandboxes made with the old
        keep theirs; two workers racing to make it both end up using the same."""
        with self._runtime_lock:
            try:
                image_id = str(self._api.inspect_image(self._runtime_image)["Id"])
            except ImageNotFound as exc:
                raise RuntimeFailure(
                    f"the sandbox runtime image {self._runtime_image} is not on the sandbox engine (make images)"
                ) from exc
            name = f"runyard-runtime-{image_id.split(':')[-1][:16]}"
            try:
                self._api.inspect_container(name)
            except NotFound:
                try:
                    self._api.create_container(
                        self._runtime_image, name=name, labels={c.LABEL_MANAGED: "1", c.LABEL_KIND: "runtime"}
                    )
                except APIError as exc:
                    if exc.status_code != 409:  # 409: another worker made it first
                        raise
            return name

    # ------------------------------------------------------------ containers

    def create(self, spec: WorkspaceSpec, config: ImageConfig) -> str:
        try:
            host_config = self._api.create_host_config(
                init=True,
                network_mode="bridge" if spec.network else "none",
                volumes_from=[f"{self._runtime_volume_source()}:ro"],
                tmpfs={c.SANDBOX_RUN_DIR: "rw,nosuid,nodev,noexec,size=16m,mode=0755"},
                shm_size=256 << 20,
                mem_limit=spec.limits.memory_bytes,
                memswap_limit=spec.limits.memory_bytes,
                pids_limit=spec.limits.pids,
                nano_cpus=nano_cpus(spec.limits.cpus),
                cap_drop=["ALL"],
                cap_add=[*SANDBOX_CAPS, *AGENT_ONLY_CAPS],
                security_opt=["no-new-privileges"],
                # The disk quota: btrfs simple quotas count what this container writes (its image's
                # extents belong to the image), anywhere in its filesystem.
                storage_opt={"size": str(spec.disk_bytes)} if spec.disk_bytes else None,
                log_config={"Type": "none", "Config": {}},
            )
            created = self._api.create_container(
                config.image_id,  # the very image inspected, whatever its tag names by now
                entrypoint=AGENT_ENTRYPOINT,
                command=[],
                environment=AGENT_ENV,
                stdin_open=True,
                detach=True,
                tty=False,
                user="0",
                hostname="sandbox",
                working_dir="/",
                labels=spec.labels,
                host_config=host_config,
                stop_signal="SIGKILL",
            )
            self._api.start(created["Id"])
        except ImageNotFound as exc:
            raise ImageUnavailable(f"image {spec.image} is not on this host") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not start a sandbox container: {exc}") from exc
        return str(created["Id"])

    def start(self, container_id: str) -> None:
        try:
            self._api.start(container_id)
        except NotFound as exc:
            raise RuntimeFailure(f"container {container_id[:12]} is gone") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not start container {container_id[:12]}: {exc}") from exc

    def stop(self, container_id: str) -> None:
        try:
            self._api.stop(container_id, timeout=STOP_TIMEOUT_S)
        except NotFound:
            pass
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not stop container {container_id[:12]}: {exc}") from exc

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

    def disconnect_network(self, container_id: str) -> None:
        try:
            self._api.disconnect_container_from_network(container_id, "bridge", force=True)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not take container {container_id[:12]} off its network: {exc}") from exc

    def connect_network(self, container_id: str) -> None:
        """Back on the fenced bridge (off "none" first, for a container created without a network)."""
        try:
            networks = self._api.inspect_container(container_id)["NetworkSettings"]["Networks"] or {}
            if "none" in networks:
                self._api.disconnect_container_from_network(container_id, "none", force=True)
            if "bridge" not in networks:
                self._api.connect_container_to_network(container_id, "bridge")
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not put container {container_id[:12]} on its network: {exc}") from exc

    def commit(self, container_id: str, image_ref: str, labels: dict[str, str]) -> tuple[str, int]:
        """The container's filesystem as an image (its processes paused meanwhile), with the configuration of
        the image it was made from, not ours (our agent's entrypoint, root, /): a sandbox from it runs as
        one from that image would. Returns the image's id and size."""
        repository, _, tag = image_ref.rpartition(":")
        try:
            source = self._api.inspect_image(self._api.inspect_container(container_id)["Image"])["Config"] or {}
            conf = {
                key: source.get(key)
                for key in ("User", "Env", "WorkingDir", "Entrypoint", "Cmd", "ExposedPorts", "StopSignal")
            }
            conf["Labels"] = {**(source.get("Labels") or {}), **labels}
            made = self._api.commit(container_id, repository=repository, tag=tag, conf=conf, pause=True)
            image = self._api.inspect_image(made["Id"])
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not commit container {container_id[:12]}: {exc}") from exc
        return str(image["Id"]), int(image.get("Size") or 0)

    def usage(self, container_id: str, disk: bool = True) -> RawUsage:
        """CPU time so far, memory now, and (with disk) what its filesystem holds beyond its image, the quota's
        count: that one walks the filesystem (a second or more), so callers ask for it sparingly."""
        try:
            stats = self._api.stats(container_id, stream=False, one_shot=True)
            at = time.time()  # when the CPU counter was read, not after the slower disk walk
            size = -1
            if disk:  # docker-py's inspect_container() cannot ask for sizes; the Engine API can.
                url = self._api._url("/containers/{0}/json", container_id)
                size = int(self._api._result(self._api._get(url, params={"size": 1}), json=True).get("SizeRw") or 0)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not read container {container_id[:12]}'s usage: {exc}") from exc
        memory = stats.get("memory_stats") or {}
        detail = memory.get("stats") or {}
        cache = int(detail.get("total_inactive_file", detail.get("inactive_file", detail.get("cache", 0))) or 0)
        cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
        return RawUsage(
            at=at,
            cpu_ns=int(cpu.get("total_usage") or 0),
            mem_used=max(0, int(memory.get("usage") or 0) - cache),
            mem_cache=cache,
            disk_used=size,
        )

    def pause(self, container_id: str) -> None:
        try:
            self._api.pause(container_id)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not pause container {container_id[:12]}: {exc}") from exc

    def unpause(self, container_id: str) -> None:
        try:
            self._api.unpause(container_id)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not resume container {container_id[:12]}: {exc}") from exc

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return self._engine.list_containers(labels)

    def remove_container(self, container_id: str) -> None:
        self._engine.remove_container(container_id)

    # ------------------------------------------------------------ builds

    def build(self, spec: BuildSpec, output: Callable[[str], None]) -> BuiltImage:
        """Docker's own builder on this engine: each step runs as remapped root on the fenced bridge, in a
        container with the build's memory bound. The read timeout ends a step silent for the whole budget."""
        deadline = time.monotonic() + spec.timeout_s
        try:
            items = self._api.build(
                fileobj=io.BytesIO(spec.dockerfile.encode()),
                tag=spec.tag,
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                labels=spec.labels,
                container_limits={"memory": spec.memory_bytes, "memswap": spec.memory_bytes},
                timeout=spec.timeout_s,
                use_config_proxy=False,
            )
            _follow(items, output, deadline)
            attrs = self._api.inspect_image(spec.tag)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            # A step silent for the whole budget: the read times out (urllib3's error, mid-stream), the
            # connection closes, and the engine stops the build.
            if time.monotonic() >= deadline - 1:
                raise BuildFailed(f"the build ran out of time ({spec.timeout_s:g} s)") from exc
            raise RuntimeFailure(f"lost the engine during the build: {exc}") from exc
        except APIError as exc:
            if exc.status_code is not None and 400 <= exc.status_code < 500:
                raise BuildFailed(str(exc.explanation or exc)) from exc
            raise RuntimeFailure(f"the engine failed the build: {exc}") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not build: {exc}") from exc
        return BuiltImage(image_id=str(attrs["Id"]), size_bytes=int(attrs.get("Size") or 0))

    def push(self, tag: str, output: Callable[[str], None]) -> None:
        repository, _, version = tag.rpartition(":")
        try:
            _follow(self._api.push(repository, version, stream=True, decode=True), output, None)
        except BuildFailed as exc:
            raise RuntimeFailure(f"could not push {tag}: {exc}") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not push {tag}: {exc}") from exc

    def remove_image(self, tag: str) -> None:
        try:
            self._api.remove_image(tag, force=True)
        except (NotFound, ImageNotFound):
            pass
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not remove image {tag}: {exc}") from exc
