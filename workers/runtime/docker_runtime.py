"""The Docker implementation of the runtime: the only module that imports the docker SDK.

A sandbox is a container whose main process is the agent. The worker attaches
to the container's stdin and stdout before starting it and keeps that
connection: messages go through Docker's attach stream, with no exec per run
and no host directory shared with the sandbox. When the worker goes away, the
connection closes, the agent sees end-of-file and the container stops.

Docker's exceptions are translated into RuntimeFailure here, so nothing above
this seam depends on the SDK's types.
"""

from __future__ import annotations

import contextlib
import io
import logging
import select
import socket
import struct
import tarfile
import threading
import time
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from core import constants as c
from workers.runtime.base import ContainerInfo, ContainerLimits, RuntimeFailure, SandboxSpec, WorkspaceSpec

log = logging.getLogger(__name__)

AGENT_CMD = ["python3", "-I", "-S", c.AGENT_PATH, "serve"]
SANDBOX_AGENT_CMD = ["python3", "-I", "-S", c.SANDBOX_AGENT_PATH, "serve"]
# The agent starts programs through a launcher that switches to the sandbox
# user and empties its capability bounding set; these are all it needs.
AGENT_CAPS = ["SETUID", "SETGID", "SETPCAP", "KILL"]
STDOUT, STDERR = 1, 2
LENGTH = struct.Struct(">I")
# docker-py raises requests' own exceptions, not DockerException, when the engine cannot be reached
# (its socket is gone while dockerd restarts).
ENGINE_ERRORS = (DockerException, requests.exceptions.RequestException)


def _nano_cpus(cpus: float) -> int:
    return int(cpus * 1_000_000_000)


def _age_s(container: Any) -> float:
    """Seconds since creation, from the list API's unix time."""
    created = container.attrs.get("Created")
    return time.time() - float(created) if isinstance(created, int | float) else float("inf")


def _update_limits(client: docker.DockerClient, container_id: str, limits: ContainerLimits) -> None:
    # docker-py's update_container() knows neither PidsLimit nor NanoCpus; the Engine API does.
    api = client.api
    body = {
        "Memory": limits.memory_bytes,
        "MemorySwap": limits.memory_bytes,
        "PidsLimit": limits.pids,
        "NanoCpus": _nano_cpus(limits.cpus),
    }
    try:
        response = api._post_json(api._url("/containers/{0}/update", container_id), data=body)
        api._raise_for_status(response)
    except ENGINE_ERRORS as exc:
        raise RuntimeFailure(f"could not change the container's limits: {exc}") from exc


class AttachedStream:
    """A container's stdin and stdout over Docker's attach API, split out of its multiplexed frames."""

    def __init__(self, container_id: str, raw: socket.socket) -> None:
        self.container_id = container_id
        self._raw = raw
        self._frames = bytearray()
        self._send_lock = threading.Lock()

    def send(self, data: bytes) -> None:
        try:
            with self._send_lock:
                self._raw.sendall(data)
        except OSError as exc:
            raise RuntimeFailure(f"lost the connection to the sandbox agent: {exc}") from exc

    def receive(self, timeout_s: float | None) -> bytes:
        while True:
            out = self._split()
            if out:
                return out
            self._raw.settimeout(timeout_s)
            try:
                chunk = self._raw.recv(1 << 18)
            except socket.timeout as exc:  # noqa: UP041 - the alias older Pythons raise
                raise TimeoutError from exc
            except OSError as exc:
                raise RuntimeFailure(f"lost the connection to the sandbox agent: {exc}") from exc
            if not chunk:
                raise RuntimeFailure("the sandbox agent's stream ended (its container stopped)")
            self._frames += chunk

    def _split(self) -> bytes:
        out = bytearray()
        while len(self._frames) >= 8:
            stream, size = struct.unpack_from(">BxxxL", self._frames)
            if len(self._frames) < 8 + size:
                break
            payload = bytes(self._frames[8 : 8 + size])
            del self._frames[: 8 + size]
            if stream == STDOUT:
                out += payload
            else:
                log.warning(
                    "sandbox agent stderr",
                    extra={"container": self.container_id[:12], "text": payload.decode(errors="replace")[-2000:]},
                )
        return bytes(out)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._raw.close()


class DockerSandbox:
    def __init__(
        self, client: docker.DockerClient, container: Any, raw: socket.socket, limits: ContainerLimits
    ) -> None:
        self._client = client
        self._container = container
        self._raw = raw
        self._frames = bytearray()  # Docker's multiplexed stream, not yet split into frames
        self._stdout = bytearray()  # the agent's stdout: length-prefixed messages
        self.id: str = container.id
        self.limits = limits

    def call(self, message: bytes, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        try:
            self._raw.sendall(LENGTH.pack(len(message)) + message)
            while True:
                reply = self._take_message()
                if reply is not None:
                    return reply
                self._receive(deadline)
        except TimeoutError as exc:
            raise RuntimeFailure(f"the agent did not answer within {timeout_s:.0f}s") from exc
        except OSError as exc:
            raise RuntimeFailure(f"lost the connection to the agent: {exc}") from exc

    def alive(self) -> bool:
        # Between calls the agent sends nothing, so a readable socket means end-of-file (or a broken one).
        try:
            readable, _, _ = select.select([self._raw], [], [], 0)
            return not readable or self._raw.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):
            return False

    def _take_message(self) -> bytes | None:
        if len(self._stdout) < LENGTH.size:
            return None
        (size,) = LENGTH.unpack_from(self._stdout)
        if len(self._stdout) < LENGTH.size + size:
            return None
        message = bytes(self._stdout[LENGTH.size : LENGTH.size + size])
        del self._stdout[: LENGTH.size + size]
        return message

    def _receive(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self._raw.settimeout(remaining)
        try:
            chunk = self._raw.recv(1 << 18)
        except socket.timeout as exc:  # noqa: UP041 - the alias older Pythons raise
            raise TimeoutError from exc
        if not chunk:
            raise RuntimeFailure("the agent's stream ended (the agent or its container is gone)")
        self._frames += chunk
        while len(self._frames) >= 8:
            stream, size = struct.unpack_from(">BxxxL", self._frames)
            if len(self._frames) < 8 + size:
                break
            payload = bytes(self._frames[8 : 8 + size])
            del self._frames[: 8 + size]
            if stream == STDOUT:
                self._stdout += payload
            else:
                log.warning(
                    "agent stderr", extra={"container": self.id[:12], "text": payload.decode(errors="replace")[-2000:]}
                )

    def set_limits(self, limits: ContainerLimits) -> None:
        if limits == self.limits:
            return
        _update_limits(self._client, self.id, limits)
        self.limits = limits

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.close()
        try:
            self._container.remove(force=True, v=True)
        except NotFound:
            pass
        except ENGINE_ERRORS as exc:
            log.warning("container not removed", extra={"container": self.id[:12], "error": repr(exc)})


class DockerRuntime:
    def __init__(self, base_url: str | None = None, max_connections: int = 64) -> None:
        try:
            if base_url:
                self._client = docker.DockerClient(base_url=base_url, max_pool_size=max_connections)
            else:
                self._client = docker.from_env(max_pool_size=max_connections)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"cannot reach the Docker engine: {exc}") from exc

    def start(self, spec: SandboxSpec) -> DockerSandbox:
        limits = spec.limits
        owner = f"uid={spec.sandbox_uid},gid={spec.sandbox_gid}"
        inodes = f"nr_inodes={spec.inodes}"
        tmpfs = {
            "/box": f"rw,exec,nosuid,nodev,size={spec.workdir_bytes},{inodes},{owner},mode=0700",
            "/tmp": f"rw,noexec,nosuid,nodev,size={spec.tmp_bytes},{inodes},mode=1777",  # noqa: S108 - the sandbox's own
        }
        api = self._client.api
        try:
            host_config = api.create_host_config(
                init=True,
                network_mode=spec.network or "none",
                read_only=True,
                tmpfs=tmpfs,
                shm_size=max(1 << 20, spec.tmp_bytes // 4),
                mem_limit=limits.memory_bytes,
                memswap_limit=limits.memory_bytes,
                pids_limit=limits.pids,
                nano_cpus=_nano_cpus(limits.cpus),
                cap_drop=["ALL"],
                cap_add=AGENT_CAPS,
                security_opt=["no-new-privileges"],
                log_config={"Type": "none", "Config": {}},
            )
            # stdin_open without detach sets StdinOnce: stdin closes when the worker's connection does,
            # so the agent ends with its worker.
            created = api.create_container(
                spec.image,
                command=AGENT_CMD,
                stdin_open=True,
                detach=False,
                tty=False,
                user="0",
                hostname="sandbox",
                labels=spec.labels,
                host_config=host_config,
                stop_signal="SIGKILL",
            )
            container = self._client.containers.get(created["Id"])
        except ImageNotFound as exc:
            raise RuntimeFailure(f"image {spec.image} is not on this worker's engine") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not create a container: {exc}") from exc
        try:
            sock = self._client.api.attach_socket(
                container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            raw: socket.socket = getattr(sock, "_sock", sock)
            container.start()
        except ENGINE_ERRORS as exc:
            container.remove(force=True)
            raise RuntimeFailure(f"could not start a container: {exc}") from exc
        return DockerSandbox(self._client, container, raw, limits)

    def remove_labelled(self, labels: dict[str, str]) -> int:
        """Force-remove every container carrying all these labels, whatever its state."""
        found = self.list_containers(labels)
        for info in found:
            self.remove_container(info.id)
        return len(found)

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        try:
            # sparse: the state the listing saw, not a later inspection's
            found = self._client.containers.list(all=True, filters=filters, sparse=True)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not list containers: {exc}") from exc
        return [ContainerInfo(c.id, c.status, dict(c.attrs.get("Labels") or {}), _age_s(c)) for c in found]

    def remove_container(self, container_id: str) -> None:
        try:
            self._client.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:  # 409: someone else is removing it right now
                raise RuntimeFailure(f"could not remove container {container_id[:12]}: {exc}") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not remove container {container_id[:12]}: {exc}") from exc

    def read_image_file(self, image: str, path: str) -> bytes:
        """Read one file out of an image without starting anything."""
        try:
            container = self._client.containers.create(image, command=["true"], network_mode="none")
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"cannot open image {image}: {exc}") from exc
        try:
            stream, _ = container.get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                extracted = tar.extractfile(member) if member else None
                if extracted is None:
                    raise RuntimeFailure(f"{path} in {image} is not a regular file")
                return extracted.read()
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"cannot read {path} from {image}: {exc}") from exc
        finally:
            container.remove(force=True)

    def network_exists(self, name: str) -> bool:
        try:
            self._client.networks.get(name)
        except NotFound:
            return False
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"cannot inspect network {name}: {exc}") from exc
        return True

    # ------------------------------------------------------------ persistent sandboxes

    def start_workspace(self, spec: WorkspaceSpec) -> str:
        limits = spec.limits
        api = self._client.api
        try:
            api.create_volume(spec.volume, labels=spec.labels)
            host_config = api.create_host_config(
                init=True,
                network_mode=spec.network or "none",
                read_only=True,
                binds={spec.volume: {"bind": "/workspace", "mode": "rw"}},
                tmpfs={
                    "/tmp": f"rw,nosuid,nodev,size={spec.tmp_bytes},mode=1777",  # noqa: S108 - the sandbox's own
                    "/run/runyard": "rw,nosuid,nodev,noexec,size=16m,mode=0755",
                },
                shm_size=64 << 20,
                mem_limit=limits.memory_bytes,
                memswap_limit=limits.memory_bytes,
                pids_limit=limits.pids,
                nano_cpus=_nano_cpus(limits.cpus),
                cap_drop=["ALL"],
                cap_add=AGENT_CAPS,
                security_opt=["no-new-privileges"],
                log_config={"Type": "none", "Config": {}},
            )
            # detach with stdin open: stdin stays open between attachments (StdinOnce is false),
            # so the agent, its sessions and its kernel outlive any one worker.
            created = api.create_container(
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
            api.start(created["Id"])
        except ImageNotFound as exc:
            raise RuntimeFailure(f"image {spec.image} is not on this worker's engine") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not start a sandbox container: {exc}") from exc
        return str(created["Id"])

    def attach(self, container_id: str) -> AttachedStream:
        try:
            sock = self._client.api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
        except NotFound as exc:
            raise RuntimeFailure(f"container {container_id[:12]} is gone") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not attach to container {container_id[:12]}: {exc}") from exc
        return AttachedStream(container_id, getattr(sock, "_sock", sock))

    def container_status(self, container_id: str) -> str | None:
        try:
            return str(self._client.api.inspect_container(container_id)["State"]["Status"])
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not inspect container {container_id[:12]}: {exc}") from exc

    def set_container_limits(self, container_id: str, limits: ContainerLimits) -> None:
        _update_limits(self._client, container_id, limits)

    def remove_volume(self, name: str) -> None:
        """Remove a volume, and first any container of ours still naming it (one left stopped behind
        when the engine restarted would otherwise hold it for ever)."""
        try:
            holders = self._client.api.containers(
                all=True, filters={"volume": name, "label": f"{c.LABEL_MANAGED}=1"}, quiet=True
            )
            for holder in holders:
                self.remove_container(holder["Id"])
            self._client.api.remove_volume(name, force=True)
        except NotFound:
            pass
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not remove volume {name}: {exc}") from exc

    def list_volumes(self, labels: dict[str, str]) -> list[str]:
        try:
            found = self._client.api.volumes(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not list volumes: {exc}") from exc
        return [str(v["Name"]) for v in (found.get("Volumes") or [])]

    def close(self) -> None:
        self._client.close()
