"""Run containers on Docker: a one-shot run's warm container, whose main process is the agent.

The worker attaches to the container's stdin and stdout before starting it and
keeps that connection: messages go through Docker's attach stream, with no exec
per run and no host directory shared with the container. When the worker goes
away, the connection closes, the agent sees end-of-file and the container stops.
"""

from __future__ import annotations

import contextlib
import io
import logging
import select
import socket
import struct
import tarfile
import time
from typing import Any

from docker.errors import ImageNotFound, NotFound

from core import constants as c
from workers.runtime._docker import ENGINE_ERRORS, DockerEngine, split_frames
from workers.runtime.base import ContainerInfo, ContainerLimits, RunContainerSpec, RuntimeFailure

log = logging.getLogger(__name__)

AGENT_CMD = ["python3", "-I", "-S", c.AGENT_PATH, "serve"]
LENGTH = struct.Struct(">I")


class DockerRunContainer:
    def __init__(self, engine: DockerEngine, container: Any, raw: socket.socket, limits: ContainerLimits) -> None:
        self._engine = engine
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
        self._stdout += split_frames(self._frames, self.id, "agent stderr")

    def set_limits(self, limits: ContainerLimits) -> None:
        if limits == self.limits:
            return
        self._engine.update_limits(self.id, limits)
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


class DockerRunRuntime:
    def __init__(self, engine: DockerEngine) -> None:
        self._engine = engine
        self._client = engine.client

    def start(self, spec: RunContainerSpec) -> DockerRunContainer:
        owner = f"uid={spec.sandbox_uid},gid={spec.sandbox_gid}"
        inodes = f"nr_inodes={spec.inodes}"
        tmpfs = {
            "/box": f"rw,exec,nosuid,nodev,size={spec.workdir_bytes},{inodes},{owner},mode=0700",
            "/tmp": f"rw,noexec,nosuid,nodev,size={spec.tmp_bytes},{inodes},mode=1777",  # noqa: S108 - the sandbox's own
        }
        api = self._client.api
        try:
            host_config = self._engine.host_config(
                limits=spec.limits, network=spec.network, tmpfs=tmpfs, shm_size=max(1 << 20, spec.tmp_bytes // 4)
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
            raw = self._engine.attach_socket(container.id)
            container.start()
        except ENGINE_ERRORS as exc:
            container.remove(force=True)
            raise RuntimeFailure(f"could not start a container: {exc}") from exc
        return DockerRunContainer(self._engine, container, raw, spec.limits)

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return self._engine.list_containers(labels)

    def remove_container(self, container_id: str) -> None:
        self._engine.remove_container(container_id)

    def remove_labelled(self, labels: dict[str, str]) -> int:
        """Force-remove every container carrying all these labels, whatever its state."""
        return self._engine.remove_labelled(labels)

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
