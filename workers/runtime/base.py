"""What a worker needs from a container engine, and nothing more.

Two kinds of container, each behind its own small protocol:

- a **run container** (RunContainerRuntime, RunContainer): a one-shot run's warm container, whose
  agent ends with the worker that attached to it;
- a **workspace** (WorkspaceRuntime): a persistent sandbox's container, whose `/workspace` volume
  outlives it and which any later worker of its host attaches to again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class RuntimeFailure(Exception):
    """The engine or the in-container agent failed: an infrastructure error, worth a retry.

    A program that exits non-zero is a result, never this.
    """


@dataclass(frozen=True)
class ContainerLimits:
    memory_bytes: int
    pids: int
    cpus: float


@dataclass(frozen=True)
class RawUsage:
    """A container's counters at one moment; CPU use is the difference of two."""

    at: float
    cpu_ns: int
    mem_used: int
    mem_cache: int
    disk_used: int  # -1: not read this time


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    status: str  # created, running, exited, dead, ...
    labels: dict[str, str]
    age_s: float


# ------------------------------------------------------------ run containers


@dataclass(frozen=True)
class RunContainerSpec:
    image: str
    limits: ContainerLimits
    labels: dict[str, str] = field(default_factory=dict)
    workdir_bytes: int = 64 << 20
    tmp_bytes: int = 64 << 20
    inodes: int = 16384
    sandbox_uid: int = 64000
    sandbox_gid: int = 64000
    network: str | None = None  # a Docker network name; None means no network at all


class RunContainer(Protocol):
    """A running run container whose agent answers messages."""

    id: str
    limits: ContainerLimits

    def call(self, message: bytes, timeout_s: float) -> bytes:
        """Send one message to the agent and return its reply. Raises RuntimeFailure."""

    def alive(self) -> bool:
        """False once the connection to the agent has ended (its container stopped): a cheap look, no call."""

    def set_limits(self, limits: ContainerLimits) -> None: ...

    def remove(self) -> None: ...


class RunContainerRuntime(Protocol):
    """Run containers, and what a worker asks its engine about before it runs anything."""

    def start(self, spec: RunContainerSpec) -> RunContainer: ...

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]: ...

    def remove_container(self, container_id: str) -> None: ...

    def remove_labelled(self, labels: dict[str, str]) -> int:
        """Force-remove the containers carrying all these labels; returns how many."""

    def read_image_file(self, image: str, path: str) -> bytes: ...

    def network_exists(self, name: str) -> bool: ...


# ------------------------------------------------------------ workspaces (persistent sandboxes)


class ImageUnavailable(Exception):
    """The image is neither on the engine nor pullable: the caller's problem, not the infrastructure's."""


@dataclass(frozen=True)
class ImageConfig:
    """What a sandbox takes from its image: who runs, where, and with which environment."""

    image_id: str
    user: str
    workdir: str
    env: dict[str, str]
    # What the image asks to be started with every sandbox (its org.runyard.autostart label): a shell command.
    autostart: str | None = None


class BuildFailed(Exception):
    """The Dockerfile did not build (a step failed, a base image is missing, the time ran out): the
    caller's to fix, not worth a retry."""


@dataclass(frozen=True)
class BuildSpec:
    dockerfile: str
    tag: str  # the reference the image gets (in the operator's registry, if it is pushed to one)
    memory_bytes: int  # each step's container
    timeout_s: float
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuiltImage:
    image_id: str
    size_bytes: int


@dataclass(frozen=True)
class WorkspaceSpec:
    """A persistent sandbox's container: its whole filesystem is its own and outlives stops and restarts."""

    image: str
    limits: ContainerLimits
    disk_bytes: int | None  # None: no quota (the engine's storage has none)
    labels: dict[str, str] = field(default_factory=dict)
    network: bool = True


class Stream(Protocol):
    """A connection to a container's attached stdin and stdout."""

    def send(self, data: bytes) -> None: ...

    def receive(self, timeout_s: float | None) -> bytes:
        """The next bytes of the container's stdout (b"" never: a closed stream raises RuntimeFailure)."""

    def close(self) -> None: ...


class WorkspaceRuntime(Protocol):
    """Persistent sandboxes' containers, on the engine that runs them (its own user namespace and disk quotas)."""

    def image_config(self, image: str) -> ImageConfig:
        """The image's user, workdir, environment and size; pulled first if the engine lacks it."""

    def create(self, spec: WorkspaceSpec, config: ImageConfig) -> str:
        """Create and start the container; returns its id."""

    def start(self, container_id: str) -> None:
        """Start a stopped container again, its filesystem as it was."""

    def stop(self, container_id: str) -> None:
        """Stop every process in it; its filesystem stays."""

    def attach(self, container_id: str) -> Stream: ...

    def status(self, container_id: str) -> str | None:
        """created, running, exited, ...; None if there is no such container."""

    def set_limits(self, container_id: str, limits: ContainerLimits) -> None: ...

    def connect_network(self, container_id: str) -> None:
        """Put a container on the sandboxes' fenced network (live)."""

    def commit(self, container_id: str, image_ref: str, labels: dict[str, str]) -> tuple[str, int]:
        """The container's filesystem as an image tagged image_ref; its id and size."""

    def usage(self, container_id: str, disk: bool = True) -> RawUsage: ...

    def pause(self, container_id: str) -> None:
        """Freeze every process of the container (the cgroup freezer)."""

    def unpause(self, container_id: str) -> None: ...

    def disconnect_network(self, container_id: str) -> None:
        """Take the container off its network: loopback only from now on."""

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]: ...

    def remove_container(self, container_id: str) -> None: ...

    def build(self, spec: BuildSpec, output: Callable[[str], None]) -> BuiltImage:
        """Build the Dockerfile (no context) into spec.tag, handing each piece of the build's output to
        `output` as it comes; raises BuildFailed for the Dockerfile's own faults."""

    def push(self, tag: str, output: Callable[[str], None]) -> None:
        """Push the image to the registry its tag names."""

    def remove_image(self, tag: str) -> None:
        """Drop the tag (the image goes once no container uses it); nothing if it is gone."""
