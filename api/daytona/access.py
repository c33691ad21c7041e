"""Daytona's access calls: signed preview links (one port, until they expire or are expired early) and SSH
access tokens for the SSH gateway (api/ssh_gateway.py): create, validate and revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.daytona.dto import base_url, sandbox_dto, ssh_endpoint, toolbox_url
from api.daytona.errors import DaytonaRenderer
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from core import signed_previews, ssh_access
from core.errors import InvalidInput, NotFound
from core.services import sandboxes as svc
from core.settings import Settings

router = APIRouter(prefix="/daytona/api", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
DEFAULT_SIGNED_S = 60  # Daytona's default life of a signed link


def _port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise InvalidInput.one("port", "range", "must be between 1 and 65535")
    return port


@router.get("/sandbox/{ident}/ports/{port}/signed-preview-url")
async def signed_preview_url(
    ident: str,
    port: int,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    expires_in_seconds: Annotated[
        int | None, Query(alias="expiresInSeconds", ge=1, le=signed_previews.MAX_TTL_S)
    ] = None,
) -> dict[str, Any]:
    """A link that opens this one port without any header, until it expires."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    token = await signed_previews.issue(state.redis, sandbox.id, _port(port), expires_in_seconds or DEFAULT_SIGNED_S)
    url = f"{base_url(request, state.settings)}/daytona/preview/{sandbox.id}/{port}/?token={token}"
    return {"sandboxId": str(sandbox.id), "port": port, "token": token, "url": url}


@router.post("/sandbox/{ident}/ports/{port}/signed-preview-url/{token}/expire")
async def expire_signed_preview_url(
    ident: str, port: int, token: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    sandbox = await svc.get_sandbox(session, principal, ident)
    if not await signed_previews.expire(state.redis, token, sandbox.id, _port(port)):
        raise NotFound("signed preview token", token[:8] + "…")
    return Response(status_code=200)


def _ssh_command(request: Request, settings: Settings, token: str) -> str:
    host, port = ssh_endpoint(request, settings)
    return f"ssh -p {port} {token}@{host}"


@router.post("/sandbox/{ident}/ssh-access")
async def create_ssh_access(
    ident: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    expires_in_minutes: Annotated[int | None, Query(alias="expiresInMinutes", ge=1, le=ssh_access.MAX_MINUTES)] = None,
) -> dict[str, Any]:
    """A token that logs its holder into the sandbox's shell through the SSH gateway, until it expires."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    minutes = expires_in_minutes or state.settings.ssh.default_minutes
    token, access = await ssh_access.grant(state.redis, sandbox.id, principal.tenant_id, minutes)
    stamp = access.created_at.isoformat()
    return {
        "id": str(access.id),
        "sandboxId": str(sandbox.id),
        "token": token,
        "expiresAt": access.expires_at.isoformat(),
        "createdAt": stamp,
        "updatedAt": stamp,
        "sshCommand": _ssh_command(request, state.settings, token),
    }


@router.delete("/sandbox/{ident}/ssh-access")
async def revoke_ssh_access(
    ident: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    token: str | None = None,
) -> dict[str, Any]:
    """One token (or, without one, every token of the sandbox) stops working now."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    await ssh_access.revoke(state.redis, sandbox.id, token)
    return sandbox_dto(sandbox, toolbox_url(request, state.settings))


@router.get("/sandbox/ssh-access/validate")
async def validate_ssh_access(token: str, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    access = await ssh_access.check(state.redis, token)
    if access is None or access.tenant_id != principal.tenant_id:
        return {"valid": False, "sandboxId": ""}
    return {"valid": True, "sandboxId": str(access.sandbox_id)}
