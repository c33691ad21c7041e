"""Operators' routes: issue and revoke keys over the API (admin keys only), and the state of the cluster."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from api.v1.errors import NativeRenderer
from core.db import transaction
from core.errors import PermissionDenied
from core.services import keys as key_service
from core.services.auth import Principal
from core.services.system import live_workers, queue_overview

router = APIRouter(prefix="/v1", tags=["operators"], route_class=route_class(NativeRenderer()))


def _admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied("this needs an admin key")


class KeyCreate(BaseModel):
    tenant: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._@-]+$")
    name: str = Field("", max_length=200)
    admin: bool = False
    requests_per_minute: int | None = Field(None, ge=1, le=1_000_000)


@router.post("/admin/keys", status_code=201)
async def create_key(body: KeyCreate, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    """Issue a key for a tenant (created if new). The key is in this answer only; only its hash is kept."""
    _admin(principal)

    def issue() -> key_service.IssuedKey:
        with transaction(state.settings) as session:
            return key_service.create_key(
                session,
                tenant=body.tenant,
                name=body.name,
                admin=body.admin,
                requests_per_minute=body.requests_per_minute,
            )

    issued = await anyio.to_thread.run_sync(issue)
    return issued.as_json()


@router.delete("/admin/keys/{key}")
async def revoke_key(key: str, state: StateDep, principal: PrincipalDep) -> dict[str, int]:
    """Revoke by key, id or listed prefix; it stops working within the auth cache time."""
    _admin(principal)

    def revoke() -> int:
        with transaction(state.settings) as session:
            return key_service.revoke_key(session, key_or_prefix=key)

    return {"revoked": await anyio.to_thread.run_sync(revoke)}


@router.get("/admin/keys")
async def list_keys(state: StateDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    _admin(principal)

    def rows() -> list[key_service.KeyInfo]:
        with transaction(state.settings) as session:
            return key_service.list_keys(session)

    return [
        {
            "key_id": str(r.key_id),
            "prefix": r.prefix,
            "name": r.name,
            "tenant": r.tenant,
            "admin": r.is_admin,
            "created_at": r.created_at.isoformat(),
            "revoked": r.revoked_at is not None,
        }
        for r in await anyio.to_thread.run_sync(rows)
    ]


@router.get("/status")
async def status(state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """Queues (waiting, running, slots), workers with their pools, at a glance."""
    workers = await live_workers(state.redis)
    return {
        "queues": await queue_overview(session, state.redis),
        "workers": [
            w.model_dump(include={"name", "host", "at", "queues", "concurrency", "pools", "sandboxes"}) for w in workers
        ],
    }
