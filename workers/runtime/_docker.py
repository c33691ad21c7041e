"""What both Docker runtimes share: the client and its exceptions, the host config, attach, labels.

This module and its two users (docker_run.py, docker_workspace.py) are the only ones that import
the docker SDK. Docker's exceptions are translated into RuntimeFailure here, so nothing above
this seam depends on the SDK's types.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

from workers.runtime.base import ContainerInfo, ContainerLimits, RuntimeFailure

log = logging.getLogger(__name__)

# The agent starts programs through a launcher that switches to the sandbox
# user and empties its capability bounding set; these are all it needs.
AGENT_CAPS = ["SETUID", "SETGID", "SETPCAP", "KILL"]
STDOUT = 1
# docker-py raises requests' own exceptions, not DockerException, when the engine cannot be reached
# (its socket is gone while dockerd restarts).
ENGINE_ERRORS = (DockerException, requests.exceptions.RequestException)
ATTACH_PARAMS = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}


def nano_cpus(cpus: float) -> int:
    return int(cpus * 1_000_000_000)


def label_filter(labels: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in labels.items()]


def split_frames(frames: bytearray, container_id: str, stderr_message: str) -> bytes:
    """Take the complete frames off the front of Docker's multiplexed stream; returns their stdout.

    Stderr (the agent's own complaints) is logged under stderr_message, never returned.
    """
    out = bytearray()
    while len(frames) >= 8:
        stream, size = struct.unpack_from(">BxxxL", frames)
        if len(frames) < 8 + size:
            break
        payload = bytes(frames[8 : 8 + size])
        del frames[: 8 + size]
        if stream == STDOUT:
            out += payload
        else:
            log.warning(
                stderr_message,
                extra={"container": container_id[:12], "text": payload.decode(errors="replace")[-2000:]},
            )
    return bytes(out)


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
            out = split_frames(self._frames, self.container_id, "sandbox agent stderr")
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

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._raw.close()


def _age_s(container: Any) -> float:
    """Seconds since creation, from the list API's unix time."""
    created = container.attrs.get("Created")
    return time.time() - float(created) if isinstance(created, int | float) else float("inf")


class DockerEngine:
    """One connection pool to a Docker engine, shared by the run-container and workspace runtimes."""

    def __init__(self, base_url: str | None = None, max_connections: int = 64) -> None:
        try:
            if base_url:
                self.client = docker.DockerClient(base_url=base_url, max_pool_size=max_connections)
            else:
                self.client = docker.from_env(max_pool_size=max_connections)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"cannot reach the Docker engine: {exc}") from exc

    def host_config(
        self,
        *,
        limits: ContainerLimits,
        network: str | None,
        tmpfs: dict[str, str],
        shm_size: int,
        binds: dict[str, dict[str, str]] | None = None,
    ) -> Any:
        """The locked-down host config every container of ours gets: read-only root, no capabilities but the
        agent's, no new privileges, no logs, its limits, and no network unless one is named."""
        return self.client.api.create_host_config(
            init=True,
            network_mode=network or "none",
            read_only=True,
            binds=binds,
            tmpfs=tmpfs,
            shm_size=shm_size,
            mem_limit=limits.memory_bytes,
            memswap_limit=limits.memory_bytes,
            pids_limit=limits.pids,
            nano_cpus=nano_cpus(limits.cpus),
            cap_drop=["ALL"],
            cap_add=AGENT_CAPS,
            security_opt=["no-new-privileges"],
            log_config={"Type": "none", "Config": {}},
        )

    def attach_socket(self, container_id: str) -> socket.socket:
        """The raw socket of the container's attached stdin, stdout and stderr. Raises the SDK's errors."""
        sock = self.client.api.attach_socket(container_id, params=ATTACH_PARAMS)
        raw: socket.socket = getattr(sock, "_sock", sock)
        return raw

    def update_limits(self, container_id: str, limits: ContainerLimits) -> None:
        # docker-py's update_container() knows neither PidsLimit nor NanoCpus; the Engine API does.
        api = self.client.api
        body = {
            "Memory": limits.memory_bytes,
            "MemorySwap": limits.memory_bytes,
            "PidsLimit": limits.pids,
            "NanoCpus": nano_cpus(limits.cpus),
        }
        try:
            response = api._post_json(api._url("/containers/{0}/update", container_id), data=body)
            api._raise_for_status(response)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not change the container's limits: {exc}") from exc

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        try:
            # sparse: the state the listing saw, not a later inspection's
            found = self.client.containers.list(all=True, filters={"label": label_filter(labels)}, sparse=True)
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not list containers: {exc}") from exc
        return [ContainerInfo(c.id, c.status, dict(c.attrs.get("Labels") or {}), _age_s(c)) for c in found]

    def remove_container(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:  # 409: someone else is removing it right now
                raise RuntimeFailure(f"could not remove container {container_id[:12]}: {exc}") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeFailure(f"could not remove container {container_id[:12]}: {exc}") from exc

    def remove_labelled(self, labels: dict[str, str]) -> int:
        """Force-remove every container carrying all these labels, whatever its state; returns how many."""
        found = self.list_containers(labels)
        for info in found:
            self.remove_container(info.id)
        return len(found)

    def close(self) -> None:
        self.client.close()
