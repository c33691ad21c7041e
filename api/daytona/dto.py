"""Runyard's sandboxes in Daytona's shapes (camelCase, whole-number resources, Daytona's state names)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from fastapi import Request

from core.schemas import SandboxRecord
from core.settings import Settings
from core.states import SandboxState

GIB = 1 << 30
STATES = {
    SandboxState.CREATING: "creating",
    SandboxState.STARTED: "started",
    SandboxState.STOPPING: "stopping",
    SandboxState.STOPPED: "stopped",
    SandboxState.STARTING: "starting",
    SandboxState.ERROR: "error",
    SandboxState.DELETING: "destroying",
    SandboxState.DELETED: "destroyed",
}
DESIRED = {
    SandboxState.CREATING: "started",
    SandboxState.STARTED: "started",
    SandboxState.STARTING: "started",
    SandboxState.STOPPING: "stopped",
    SandboxState.STOPPED: "stopped",
    SandboxState.DELETING: "destroyed",
    SandboxState.DELETED: "destroyed",
}


def base_url(request: Request, settings: Settings) -> str:
    return (settings.api.public_url or str(request.base_url)).rstrip("/")


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
