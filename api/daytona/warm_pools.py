"""Daytona's warm pools (daytona.warm_pool): core/services/warm_pools.py, in Daytona's shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.daytona.dto import GIB
from api.daytona.errors import DaytonaRenderer
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from core.services import warm_pools as pools
from core.services.auth import Principal
from core.settings import Settings

router = APIRouter(prefix="/daytona/api", tags=["daytona"], route_class=route_class(DaytonaRenderer()))


def pool_dto(view: pools.WarmPoolView, principal: Principal, settings: Settings) -> dict[str, Any]:
    s = settings.sandboxes
    return {
        "id": str(view.id),
        "organizationId": str(principal.tenant_id),
        "snapshot": view.snapshot,
        "target": "local",
        "pool": view.pool,
        "currentSize": view.ready,
        "cpu": s.cpus,
        "mem": s.memory_bytes // GIB,
        "disk": s.disk_bytes // GIB,
        "osUser": "",
        "env": {},
        "createdAt": view.created_at.isoformat(),
        "updatedAt": view.updated_at.isoformat(),
    }


class CreateWarmPool(BaseModel):
    model_config = ConfigDict(extra="ignore")
    snapshot: str = Field(min_length=1, max_length=300)
    pool: int = Field(ge=1, le=1000)
    target: str | None = None


class UpdateWarmPool(BaseModel):
    model_config = ConfigDict(extra="ignore")
    pool: int = Field(ge=0, le=1000)


@router.get("/warm-pools")
async def list_warm_pools(state: StateDep, session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    return [pool_dto(v, principal, state.settings) for v in await pools.listed(session, state.redis, principal)]


@router.post("/warm-pools", status_code=201)
async def create_warm_pool(
    body: CreateWarmPool, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Each host that can serve the snapshot keeps `pool` sandboxes of it ready (the one host that has it)."""
    view = await pools.create(session, state.redis, state.settings, principal, body.snapshot, body.pool)
    return pool_dto(view, principal, state.settings)


@router.patch("/warm-pools/{ident}")
async def update_warm_pool(
    ident: str, body: UpdateWarmPool, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    view = await pools.resize(session, state.redis, state.settings, principal, ident, body.pool)
    return pool_dto(view, principal, state.settings)


@router.delete("/warm-pools/{ident}", status_code=204)
async def delete_warm_pool(ident: str, session: SessionDep, principal: PrincipalDep) -> Response:
    await pools.remove(session, principal, ident)
    return Response(status_code=204)
