"""Runyard's sandboxes in Daytona's shapes (camelCase, whole-number resources, Daytona's state names)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request

from core.schemas import SandboxRecord, SnapshotRecord
from core.settings import Settings
from core.states import SandboxState, SnapshotState

GIB = 1 << 30
STATES = {
    SandboxState.PENDING_BUILD: "pending_build",
    SandboxState.BUILDING_SNAPSHOT: "building_snapshot",
    SandboxState.CREATING: "creating",
    SandboxState.STARTED: "started",
    SandboxState.PAUSED: "paused",
    SandboxState.RESIZING: "resizing",
    SandboxState.STOPPING: "stopping",
    SandboxState.STOPPED: "stopped",
    SandboxState.STARTING: "starting",
    SandboxState.ERROR: "error",
    SandboxState.DELETING: "destroying",
    SandboxState.DELETED: "destroyed",
}
DESIRED = {
    SandboxState.PENDING_BUILD: "started",
    SandboxState.BUILDING_SNAPSHOT: "started",
    SandboxState.CREATING: "started",
    SandboxState.STARTED: "started",
    SandboxState.STARTING: "started",
    SandboxState.PAUSED: "paused",
    SandboxState.RESIZING: "stopped",
    SandboxState.STOPPING: "stopped",
    SandboxState.STOPPED: "stopped",
    SandboxState.DELETING: "destroyed",
    SandboxState.DELETED: "destroyed",
}


def base_url(request: Request, settings: Settings) -> str:
    return (settings.api.public_url or str(request.base_url)).rstrip("/")


def ssh_endpoint(request: Request, settings: Settings) -> tuple[str, int]:
    """Where clients reach the SSH gateway: the operator's public host and port, else this API's host name."""
    host = settings.ssh.public_host or urlsplit(base_url(request, settings)).hostname or "localhost"
    return host, settings.ssh.public_port or settings.ssh.port


def toolbox_url(request: Request, settings: Settings) -> str:
    return f"{base_url(request, settings)}/daytona/toolbox"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def minutes(seconds: int) -> int:
    return seconds // 60


def auto_delete_minutes(seconds: int) -> int:
    """Ours: 0 is never. Daytona's: negative is never, 0 is at once."""
    return -1 if seconds == 0 else max(0, seconds // 60)


def auto_delete_seconds(value: int) -> int:
    return 0 if value < 0 else max(1, value * 60)


def state_of(sandbox: SandboxRecord) -> str:
    state = SandboxState(sandbox.state)
    if state is SandboxState.STOPPED and sandbox.archived:
        return "archived"
    return STATES[state]


def sandbox_dto(sandbox: SandboxRecord, toolbox: str) -> dict[str, Any]:
    state = SandboxState(sandbox.state)
    dto: dict[str, Any] = {
        "id": str(sandbox.id),
        "organizationId": str(sandbox.tenant_id),
        "name": sandbox.name,
        "user": "sandbox",
        "snapshot": sandbox.template,
        "env": dict(sandbox.env or {}),
        "labels": {str(k): str(v) for k, v in (sandbox.labels or {}).items()},
        "public": sandbox.public,
        "networkBlockAll": not sandbox.network,
        "networkAllowList": ",".join(sandbox.egress_allow) if sandbox.egress_allow is not None else None,
        "kvm": False,
        "target": "local",
        "cpu": max(1, math.ceil(sandbox.cpus)),
        "gpu": 0,
        "memory": max(1, round(sandbox.memory_bytes / GIB)),
        "disk": max(1, round(sandbox.disk_bytes / GIB)),
        "state": state_of(sandbox),
        "autoStopInterval": minutes(sandbox.auto_stop_s),
        "autoArchiveInterval": minutes(sandbox.auto_archive_s),
        "autoDeleteInterval": auto_delete_minutes(sandbox.auto_delete_s),
        "autoPauseInterval": minutes(sandbox.auto_pause_s),
        "createdAt": _iso(sandbox.created_at),
        "updatedAt": _iso(sandbox.updated_at),
        "lastActivityAt": _iso(sandbox.last_activity_at),
        "toolboxProxyUrl": toolbox,
        "volumes": [],
        "runnerId": sandbox.host,
    }
    if state in DESIRED:
        dto["desiredState"] = "archived" if sandbox.archived and state is SandboxState.STOPPED else DESIRED[state]
    if sandbox.error:
        dto["errorReason"] = sandbox.error
    if sandbox.ttl_s:
        dto["autoDestroyAt"] = _iso(sandbox.created_at + timedelta(seconds=sandbox.ttl_s))
    return dto


def snapshot_dto(name: str, image: str, settings: Settings, created: datetime) -> dict[str, Any]:
    s = settings.sandboxes
    return {
        "id": name,
        "general": True,
        "name": name,
        "imageName": image,
        "state": "active",
        "size": None,
        "entrypoint": None,
        "cpu": max(1, math.ceil(s.cpus)),
        "gpu": 0,
        "mem": max(1, round(s.memory_bytes / GIB)),
        "disk": max(1, round(s.disk_bytes / GIB)),
        "errorReason": None,
        "createdAt": _iso(created),
        "updatedAt": _iso(created),
        "lastUsedAt": None,
        "sourceSandboxId": None,
    }


def record_snapshot_dto(snapshot: SnapshotRecord) -> dict[str, Any]:
    """A tenant's own snapshot (not general): its build, state and resources as Daytona shows them."""
    state = SnapshotState(snapshot.state)
    return {
        "id": str(snapshot.id),
        "organizationId": str(snapshot.tenant_id),
        "general": False,
        "name": snapshot.name,
        "imageName": snapshot.image_ref,
        "state": "removing" if state is SnapshotState.DELETED else state.value,
        "size": round(snapshot.size_bytes / GIB, 3) if snapshot.size_bytes is not None else None,
        "entrypoint": snapshot.entrypoint,
        "cpu": max(1, math.ceil(snapshot.cpus)) if snapshot.cpus else 1,
        "gpu": 0,
        "mem": max(1, round(snapshot.memory_bytes / GIB)) if snapshot.memory_bytes else 1,
        "disk": max(1, round(snapshot.disk_bytes / GIB)) if snapshot.disk_bytes else 1,
        "errorReason": snapshot.error,
        "createdAt": _iso(snapshot.created_at),
        "updatedAt": _iso(snapshot.updated_at),
        "lastUsedAt": _iso(snapshot.last_used_at),
        "buildInfo": {
            "dockerfileContent": snapshot.dockerfile,
            "contextHashes": [],
            "createdAt": _iso(snapshot.created_at),
            "updatedAt": _iso(snapshot.updated_at),
            "snapshotRef": snapshot.image_ref,
        },
        "ref": snapshot.image_ref,
        "initialRunnerId": snapshot.host,
        "sourceSandboxId": None,
    }
