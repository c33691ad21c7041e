"""The Docker implementation of the runtime: the only module that imports the docker SDK.

Docker's exceptions are translated into RuntimeFailure here, so nothing above
this seam depends on the SDK's types.
"""

from __future__ import annotations

import io
import logging
import socket
import struct
import tarfile
import time
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound, NotFound

from core import constants as c
from workers.runtime.base import ContainerLimits, ContainerSpec, RuntimeFailure

log = logging.getLogger(__name__)

AGENT_CMD = ["python3", "-I", "-S", c.AGENT_PATH, "exec"]
# The agent starts programs through a launcher that switches to the sandbox
# user and empties its capability bounding set; these are all it needs.
AGENT_CAPS = ["SETUID", "SETGID", "SETPCAP", "KILL"]
STDOUT, STDERR = 1, 2


def _nano_cpus(cpus: float) -> int:
    return int(cpus * 1_000_000_000)


class DockerContainer:
    def __init__(self, client: docker.DockerClient, container: Any) -> None:
        self._client = client
        self._container = container
        self.id: str = container.id

    def exec_agent(self, request: bytes, timeout_s: float) -> bytes:
        api = self._client.api
        try:
            exec_id = api.exec_create(self.id, AGENT_CMD, stdin=True, stdout=True, stderr=True, user="0")["Id"]
            sock = api.exec_start(exec_id, socket=True)
        except DockerException as exc:
            raise RuntimeFailure(f"could not start the agent: {exc}") from exc
        raw: socket.socket = getattr(sock, "_sock", sock)
        try:
            raw.sendall(request)
            raw.shutdown(socket.SHUT_WR)
            out, err = _read_demuxed(raw, time.monotonic() + timeout_s)
        except TimeoutError as exc:
            raise RuntimeFailure(f"the agent did not answer within {timeout_s:.0f}s") from exc
        except OSError as exc:
            raise RuntimeFailure(f"lost the agent's connection: {exc}") from exc
        finally:
            raw.close()
        try:
            code = api.exec_inspect(exec_id).get("ExitCode")
        except DockerException as exc:
            raise RuntimeFailure(f"could not inspect the agent: {exc}") from exc
        if code != 0:
            raise RuntimeFailure(f"the agent exited with {code}: {err.decode(errors='replace')[-2000:]}")
        return out

    def set_limits(self, limits: ContainerLimits) -> None:
        # docker-py's update_container() knows neither PidsLimit nor NanoCpus; the Engine API does.
        api = self._client.api
        body = {
            "Memory": limits.memory_bytes,
            "MemorySwap": limits.memory_bytes,
            "PidsLimit": limits.pids,
            "NanoCpus": _nano_cpus(limits.cpus),
        }
        try:
            response = api._post_json(api._url("/containers/{0}/update", self.id), data=body)
            api._raise_for_status(response)
        except DockerException as exc:
            raise RuntimeFailure(f"could not change the container's limits: {exc}") from exc

    def remove(self) -> None:
        try:
            self._container.remove(force=True, v=True)
        except NotFound:
            pass
        except DockerException as exc:
            log.warning("container not removed", extra={"container": self.id[:12], "error": repr(exc)})


def _read_demuxed(raw: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    """Read Docker's multiplexed exec stream (8-byte frame headers) until EOF or the deadline."""
    buf = bytearray()
    out, err = bytearray(), bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        raw.settimeout(remaining)
        try:
            chunk = raw.recv(1 << 16)
        except TimeoutError:
            raise
        except socket.timeout as exc:  # noqa: UP041 - older Pythons raise the alias
            raise TimeoutError from exc
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            stream, size = struct.unpack(">BxxxL", buf[:8])
            if len(buf) < 8 + size:
                break
            (out if stream == STDOUT else err).extend(buf[8 : 8 + size])
            del buf[: 8 + size]
    return bytes(out), bytes(err)


class DockerRuntime:
    def __init__(self, base_url: str | None = None) -> None:
        try:
            self._client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        except DockerException as exc:
            raise RuntimeFailure(f"cannot reach the Docker engine: {exc}") from exc

    def start(self, spec: ContainerSpec) -> DockerContainer:
        limits = spec.limits
        owner = f"uid={spec.sandbox_uid},gid={spec.sandbox_gid}"
        tmpfs = {
            "/box": f"rw,exec,nosuid,nodev,size={spec.workdir_bytes},{owner},mode=0700",
            "/tmp": f"rw,noexec,nosuid,nodev,size={spec.tmp_bytes},mode=1777",  # noqa: S108 - the sandbox's own /tmp
        }
        try:
            container = self._client.containers.create(
                spec.image,
                command=["sleep", "infinity"],
                init=True,
                hostname="sandbox",
                network_mode="none",
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
                labels=spec.labels,
                log_config={"type": "none"},
                stop_signal="SIGKILL",
            )
        except ImageNotFound as exc:
            raise RuntimeFailure(f"image {spec.image} is not on this worker's engine") from exc
        except DockerException as exc:
            raise RuntimeFailure(f"could not create a container: {exc}") from exc
        wrapped = DockerContainer(self._client, container)
        try:
            container.start()
        except DockerException as exc:
            wrapped.remove()
            raise RuntimeFailure(f"could not start a container: {exc}") from exc
        return wrapped

    def remove_labelled(self, labels: dict[str, str]) -> int:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        try:
            found = self._client.containers.list(all=True, filters=filters)
        except DockerException as exc:
            raise RuntimeFailure(f"could not list containers: {exc}") from exc
        for container in found:
            DockerContainer(self._client, container).remove()
        return len(found)

    def read_image_file(self, image: str, path: str) -> bytes:
        """Read one file out of an image without starting anything."""
        try:
            container = self._client.containers.create(image, command=["true"], network_mode="none")
        except DockerException as exc:
            raise RuntimeFailure(f"cannot open image {image}: {exc}") from exc
        try:
            stream, _ = container.get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                extracted = tar.extractfile(member) if member else None
                if extracted is None:
                    raise RuntimeFailure(f"{path} in {image} is not a regular file")
                return extracted.read()
        except DockerException as exc:
            raise RuntimeFailure(f"cannot read {path} from {image}: {exc}") from exc
        finally:
            container.remove(force=True)

    def close(self) -> None:
        self._client.close()
