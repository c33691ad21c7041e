"""What a worker needs from a container engine, and nothing more."""

from __future__ import annotations

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
class ContainerSpec:
    image: str
    limits: ContainerLimits
    labels: dict[str, str] = field(default_factory=dict)
    workdir_bytes: int = 64 << 20
    tmp_bytes: int = 64 << 20
    sandbox_uid: int = 64000
    sandbox_gid: int = 64000


class Container(Protocol):
    id: str

    def exec_agent(self, request: bytes, timeout_s: float) -> bytes:
        """Run the agent once with `request` on stdin; return its stdout. Raises RuntimeFailure."""

    def set_limits(self, limits: ContainerLimits) -> None: ...

    def remove(self) -> None: ...


class Runtime(Protocol):
    def start(self, spec: ContainerSpec) -> Container: ...

    def remove_labelled(self, labels: dict[str, str]) -> int:
        """Force-remove every container carrying all these labels; returns how many."""

    def read_image_file(self, image: str, path: str) -> bytes: ...

    def close(self) -> None: ...
