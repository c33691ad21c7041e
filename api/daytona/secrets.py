"""Daytona's secrets (daytona.secret) and a sandbox's (update_secrets, create's secrets=): core/services/secrets.py.
Values go in, never out: every answer has the secret's name, description, hosts and placeholder only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.daytona.control import sandbox_view
from api.daytona.errors import DaytonaRenderer
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from core.errors import InvalidInput
from core.services import sandboxes as svc
from core.services import secrets as store

router = APIRouter(prefix="/daytona/api", tags=["daytona"], route_class=route_class(DaytonaRenderer()))


def _iso(moment: object) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)


def secret_dto(view: store.SecretView) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "name": view.name,
        "description": view.description,
        "hosts": view.hosts,
        "placeholder": view.placeholder,
        "createdAt": _iso(view.created_at),
        "updatedAt": _iso(view.updated_at),
    }


class CreateSecret(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=200)
    value: str = Field(max_length=store.MAX_VALUE)
    description: str | None = Field(None, max_length=2000)
    hosts: list[str] | None = Field(None, max_length=100)


class UpdateSecret(BaseModel):
    model_config = ConfigDict(extra="ignore")
    value: str | None = Field(None, max_length=store.MAX_VALUE)
    description: str | None = Field(None, max_length=2000)
    hosts: list[str] | None = Field(None, max_length=100)


@router.post("/secret", status_code=201)
async def create_secret(
    body: CreateSecret, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    view = await store.create(session, state.settings, principal, body.name, body.value, body.description, body.hosts)
    return secret_dto(view)


@router.get("/secret")
async def list_secrets(session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    views, _ = await store.listed(session, principal, None, 0, store.MAX_PER_TENANT)
    return [secret_dto(v) for v in views]


@router.get("/secret/paginated")
async def list_secrets_paginated(
    session: SessionDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    name: str | None = None,
) -> dict[str, Any]:
    """Cursor pages (the cursor is where the next page starts)."""
    try:
        offset = int(cursor) if cursor else 0
    except ValueError:
        raise InvalidInput.one("cursor", "invalid", "use the nextCursor of the previous page") from None
    views, total = await store.listed(session, principal, name, max(0, offset), limit)
    following = offset + len(views)
    return {
        "items": [secret_dto(v) for v in views],
        "total": total,
        "nextCursor": str(following) if following < total else None,
    }


@router.get("/secret/{ident}")
async def get_secret(ident: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return secret_dto(await store.get(session, principal, ident))


@router.patch("/secret/{ident}")
async def update_secret(
    ident: str, body: UpdateSecret, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A new value reaches sandboxes as they are next started."""
    view = await store.change(session, state.settings, principal, ident, body.value, body.description, body.hosts)
    return secret_dto(view)


@router.delete("/secret/{ident}", status_code=204)
async def delete_secret(ident: str, session: SessionDep, principal: PrincipalDep) -> Response:
    await store.remove(session, principal, ident)
    return Response(status_code=204)


class SandboxSecrets(BaseModel):
    model_config = ConfigDict(extra="ignore")
    secrets: list[dict[str, str]] = Field(max_length=200)


@router.put("/sandbox/{ident}/secrets")
async def update_sandbox_secrets(
    ident: str, body: SandboxSecrets, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The sandbox's secrets from now on, in place of its earlier ones; its processes get them at its next start."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    wanted = {env: name for item in body.secrets for env, name in item.items()}
    await store.attach(session, state.settings, principal, sandbox, wanted)
    return await sandbox_view(state, request, principal, str(sandbox.id))
