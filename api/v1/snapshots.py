"""Native snapshots: a tenant's images built from a Dockerfile, as jobs on a worker host.

POST answers at once (202, pending); follow the build at /v1/snapshots/{id}/logs?follow=true, or poll
the snapshot until it is active (or build_failed, with its error). Sandboxes start from an active one
by naming it as their template.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, SessionDep, StateDep
from api.v1.sandbox_common import sandbox_router
from api.v1.sandbox_schemas import Strict
from core.schemas import SnapshotRecord
from core.services import snapshots as svc
from core.services.snapshots import SnapshotCreate

router = sandbox_router()


class SnapshotCreateBody(Strict):
    name: str = Field(description="Unique among your snapshots; sandboxes name it as their template")
    dockerfile: str | None = Field(None, description="What to build (no build context: COPY of local files fails)")
    image: str | None = Field(None, description="Instead of a Dockerfile: an image to take as it is")
    entrypoint: list[str] | None = Field(
        None, description="Recorded as the image's ENTRYPOINT (sandboxes do not run it)"
    )
    cpus: float | None = Field(None, description="Default of sandboxes started from it")
    memory_bytes: int | None = Field(None, description="Default of sandboxes started from it; builds get at least this")
    disk_bytes: int | None = Field(None, description="Default of sandboxes started from it")


class SnapshotOut(BaseModel):
    id: uuid.UUID
    name: str
    state: str = Field(description="pending, building, active, build_failed, removing or deleted")
    image_ref: str = Field(description="The image sandboxes start from")
    host: str = Field(description="The worker host that builds it, and holds it unless it was pushed to a registry")
    pushed: bool
    dockerfile: str
    entrypoint: list[str] | None
    cpus: float | None
    memory_bytes: int | None
    disk_bytes: int | None
    size_bytes: int | None
    error: str | None
    created_at: datetime
    built_at: datetime | None

    @classmethod
    def of(cls, s: SnapshotRecord) -> SnapshotOut:
        return cls.model_validate(s, from_attributes=True)


class SnapshotPage(BaseModel):
    snapshots: list[SnapshotOut]
    total: int
    offset: int
    limit: int


def _accepted(snapshot: SnapshotRecord) -> JSONResponse:
    return JSONResponse(SnapshotOut.of(snapshot).model_dump(mode="json"), status_code=202)


@router.post("/snapshots", status_code=202, response_model=SnapshotOut, tags=["snapshots"])
async def create_snapshot(
    body: SnapshotCreateBody, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> JSONResponse:
    """Build a Dockerfile (or take an image) into a named snapshot, as a job on a worker host."""
    req = SnapshotCreate(**body.model_dump())
    return _accepted(await svc.create_snapshot(session, state.redis, principal, req, state.settings))


@router.get("/snapshots", response_model=SnapshotPage, tags=["snapshots"])
async def list_snapshots(
    session: SessionDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SnapshotPage:
    rows, total = await svc.list_snapshots(session, principal, offset, limit)
    return SnapshotPage(snapshots=[SnapshotOut.of(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/snapshots/{ident}", response_model=SnapshotOut, tags=["snapshots"])
async def get_snapshot(ident: str, session: SessionDep, principal: PrincipalDep) -> SnapshotOut:
    """By id or by name."""
    return SnapshotOut.of(await svc.get_snapshot(session, principal, ident))


@router.get("/snapshots/{ident}/logs", tags=["snapshots"])
async def snapshot_logs(
    ident: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    follow: Annotated[bool, Query(description="Stream the output until the build is over")] = False,
) -> StreamingResponse:
    """The build's output as text (its newest bytes once it is over)."""
    snapshot = await svc.get_snapshot(session, principal, ident)

    async def body() -> AsyncIterator[bytes]:
        async for piece in svc.build_log(state.redis, state.sessions, principal, snapshot.id, follow):
            yield piece

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")


@router.delete("/snapshots/{ident}", status_code=202, response_model=SnapshotOut, tags=["snapshots"])
async def delete_snapshot(ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> JSONResponse:
    """Remove it from its host (sandboxes made from it keep running); refused while it builds."""
    snapshot = await svc.get_snapshot(session, principal, ident)
    await svc.delete_snapshot(session, principal, snapshot, state.settings)
    async with state.sessions() as fresh:
        return _accepted(await svc.get_snapshot(fresh, principal, str(snapshot.id)))
