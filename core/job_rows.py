"""The rows a claimed job carries besides itself, as plain values: the sandbox it acts on, or the snapshot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SandboxSnapshot:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    state: str
    image: str
    template: str
    host: str
    container_id: str | None
    volume: str | None
    env: dict[str, str]
    cpus: float
    memory_bytes: int
    disk_bytes: int
    network: bool
    egress_allow: list[str] | None
    secrets: dict[str, str] = field(default_factory=dict)  # variable -> secret name

    @classmethod
    def of(cls, row: Any) -> SandboxSnapshot:
        """From an ORM row, or any object with the sandbox's column names."""
        return cls(
            row.id, row.tenant_id, row.name, row.state, row.image, row.template, row.host, row.container_id,
            row.volume, dict(row.env or {}), row.cpus, row.memory_bytes, row.disk_bytes, row.network,
            list(row.egress_allow) if row.egress_allow is not None else None, dict(getattr(row, "secrets", None) or {}),
        )  # reason: one positional field per column, in order  # fmt: skip


@dataclass(frozen=True)
class SnapshotRow:
    """What a host needs of a snapshot to build or remove it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    state: str
    dockerfile: str
    image_ref: str
    host: str
    pushed: bool
    memory_bytes: int | None

    @classmethod
    def of(cls, row: Any) -> SnapshotRow:
        return cls(
            row.id, row.tenant_id, row.name, row.state, row.dockerfile, row.image_ref, row.host, row.pushed,
            row.memory_bytes,
        )  # reason: one positional field per column, in order  # fmt: skip
