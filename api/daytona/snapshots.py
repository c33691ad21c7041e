"""Daytona's snapshots under /daytona/api: the installation's templates, and the tenant's own builds.

`snapshot.create` (and a sandbox from a declarative `Image`) builds as a job on a worker host; the SDK
polls the snapshot's state and follows its build output at build-logs?follow=true.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.daytona.dto import base_url, record_snapshot_dto, snapshot_dto
from api.daytona.errors import DaytonaRenderer
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from api.state import AppState
from core.errors import Conflict, NotSupported
from core.services import snapshots as svc
from core.services.auth import Principal
from core.services.snapshots import CONTEXT_REFUSED, SnapshotCreate

router = APIRouter(prefix="/daytona/api", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
GIB = 1 << 30


class CreateBuildInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    dockerfile_content: str = Field(alias="dockerfileContent", max_length=1 << 20)
    context_hashes: list[str] | None = Field(None, alias="contextHashes", max_length=1000)


class CreateSnapshot(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str = Field(max_length=200)
    image_name: str | None = Field(None, alias="imageName", max_length=300)
    entrypoint: list[str] | None = Field(None, max_length=100)
    cpu: int | None = Field(None, ge=0, le=1024)
    memory: int | None = Field(None, ge=0, le=1 << 20, description="GiB")
    disk: int | None = Field(None, ge=0, le=1 << 20, description="GiB")
    build_info: CreateBuildInfo | None = Field(None, alias="buildInfo")


def _templates(state: AppState) -> dict[str, str]:
    s = state.settings.sandboxes
    names = dict(s.templates)
    names.update({alias: s.templates[target] for alias, target in s.aliases.items() if target in s.templates})
    return names


def build_log_response(state: AppState, principal: Principal, snapshot_id: uuid.UUID, follow: bool) -> Response:
    """The build output as plain text, streamed to its end when following."""

    async def body() -> AsyncIterator[bytes]:
        async for piece in svc.build_log(state.redis, state.sessions, principal, snapshot_id, follow):
            yield piece

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")


@router.get("/snapshots")
async def list_snapshots(
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> dict[str, Any]:
    """The installation's templates (and aliases) first, then the tenant's own snapshots, newest first."""
    templates = [snapshot_dto(n, i, state.settings, STARTED) for n, i in sorted(_templates(state).items())]
    offset = (page - 1) * limit
    own_offset = max(0, offset - len(templates))
    own, own_total = await svc.list_snapshots(session, principal, own_offset, limit)
    items = templates[offset : offset + limit] + [record_snapshot_dto(r) for r in own]
    total = len(templates) + own_total
    return {"items": items[:limit], "total": total, "page": page, "totalPages": max(1, -(-total // limit))}


@router.post("/snapshots")
async def create_snapshot(
    body: CreateSnapshot, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Accept the build (pending); the SDK polls the snapshot and follows its build output."""
    info = body.build_info
    req = SnapshotCreate(
        name=body.name,
        dockerfile=info.dockerfile_content if info else None,
        image=body.image_name if info is None else None,
        entrypoint=body.entrypoint,
        cpus=float(body.cpu) if body.cpu else None,
        memory_bytes=body.memory * GIB if body.memory else None,
        disk_bytes=body.disk * GIB if body.disk else None,
        context=info.context_hashes if info else None,
    )
    return record_snapshot_dto(await svc.create_snapshot(session, state.redis, principal, req, state.settings))


@router.get("/snapshots/{ident}/build-logs-url")
async def build_logs_url(
    ident: str, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, str]:
    snapshot = await svc.get_snapshot(session, principal, ident)
    return {"url": f"{base_url(request, state.settings)}/daytona/api/snapshots/{snapshot.id}/build-logs"}


@router.get("/snapshots/{ident}/build-logs")
async def build_logs(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, follow: bool = False
) -> Response:
    snapshot = await svc.get_snapshot(session, principal, ident)
    return build_log_response(state, principal, snapshot.id, follow)


@router.post("/snapshots/{ident}/activate")
async def activate(ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """Snapshots here never go inactive: activating one answers with it as it is."""
    return await get_snapshot(ident, state, session, principal)


@router.get("/snapshots/{ident:path}")
async def get_snapshot(ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    image = _templates(state).get(ident)
    if image is not None:
        return snapshot_dto(ident, image, state.settings, STARTED)
    return record_snapshot_dto(await svc.get_snapshot(session, principal, ident))


@router.delete("/snapshots/{ident:path}")
async def delete_snapshot(ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> Response:
    if ident in _templates(state):
        raise Conflict(f"{ident} is one of this installation's templates; operators change those", state="general")
    snapshot = await svc.get_snapshot(session, principal, ident)
    await svc.delete_snapshot(session, principal, snapshot, state.settings)
    return Response(status_code=200)


@router.get("/object-storage/push-access", include_in_schema=False)
async def object_storage_push_access(principal: PrincipalDep) -> Response:
    """Where the SDK would upload an Image's local files before a build: not here (yet), and said so."""
    raise NotSupported(CONTEXT_REFUSED)
