"""Daytona's control plane under /daytona/api: sandboxes, their settings, preview links, snapshots."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.daytona.dto import (
    auto_delete_seconds,
    base_url,
    sandbox_dto,
    ssh_endpoint,
    toolbox_url,
)
from api.daytona.errors import VOLUMES_REFUSED, DaytonaRenderer, unsupported
from api.daytona.snapshots import build_log_response
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from core.errors import InvalidInput, NotSupported
from core.jobkinds import JobKind
from core.schemas import SandboxRecord
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import Principal
from core.services.dockerfiles import logical_lines
from core.services.sandbox_validation import SandboxCreate
from core.services.snapshots import CONTEXT_REFUSED

router = APIRouter(prefix="/daytona/api", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
STARTED = datetime(2026, 1, 1, tzinfo=UTC)


class BuildInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    dockerfile_content: str | None = Field(None, alias="dockerfileContent", max_length=1 << 20)
    context_hashes: list[str] | None = Field(None, alias="contextHashes", max_length=1000)

    def dockerfile(self) -> tuple[str | None, str | None]:
        """(an image to take as it is, a Dockerfile to build): Image.base(x) is the image x, unbuilt."""
        if self.context_hashes:
            raise NotSupported(CONTEXT_REFUSED)
        text = self.dockerfile_content or ""
        lines = logical_lines(text)
        match = re.fullmatch(r"FROM\s+(\S+)", lines[0], re.IGNORECASE) if len(lines) == 1 else None
        if match is not None:
            return match.group(1), None
        return None, text if lines else None


class CreateSandbox(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str | None = None
    snapshot: str | None = None
    image: str | None = None
    env: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    public: bool = False
    cpu: float | None = Field(None, ge=0, le=1024, allow_inf_nan=False)
    memory: float | None = Field(None, ge=0, le=1 << 20, allow_inf_nan=False, description="GiB")
    disk: float | None = Field(None, ge=0, le=1 << 20, allow_inf_nan=False, description="GiB")
    auto_stop_interval: int | None = Field(None, alias="autoStopInterval", ge=0, le=525_600)
    auto_archive_interval: int | None = Field(None, alias="autoArchiveInterval", ge=0, le=525_600)
    auto_delete_interval: int | None = Field(None, alias="autoDeleteInterval", ge=-1, le=525_600)
    auto_pause_interval: int | None = Field(None, alias="autoPauseInterval", ge=0, le=43_200)
    ttl_minutes: int | None = Field(None, alias="ttlMinutes", ge=0, le=525_600)
    network_block_all: bool | None = Field(None, alias="networkBlockAll")
    network_allow_list: str | None = Field(None, alias="networkAllowList")
    build_info: BuildInfo | None = Field(None, alias="buildInfo")
    # [{"ENV_VAR": "secret name"}, ...], as the SDK sends a dict of them
    secrets: list[dict[str, str]] | None = Field(None, max_length=200)
    volumes: list[dict[str, Any]] | None = Field(None, max_length=100)

    def secret_env(self) -> dict[str, str]:
        return {env: name for item in self.secrets or [] for env, name in item.items()}


class Labels(BaseModel):
    labels: dict[str, str]


def _source(body: CreateSandbox) -> tuple[str | None, str | None]:
    """(the snapshot, template or image it names, the Dockerfile to build)."""
    if body.snapshot or body.image:
        return body.snapshot or body.image, None
    if body.build_info:
        return body.build_info.dockerfile()
    return None, None


async def _record(state: StateDep, principal: Principal, ident: str) -> SandboxRecord:
    async with state.sessions() as session:
        return await svc.get_sandbox(session, principal, ident)


async def sandbox_view(state: StateDep, request: Request, principal: Principal, ident: str) -> dict[str, Any]:
    return sandbox_dto(await _record(state, principal, ident), toolbox_url(request, state.settings))


@router.get("/config")
async def config(request: Request, state: StateDep) -> dict[str, Any]:
    """What Daytona's older SDKs read once, chiefly where the toolbox is."""
    base = base_url(request, state.settings)
    ssh_host, ssh_port = ssh_endpoint(request, state.settings)
    return {
        "version": "runyard",
        "oidc": {"issuer": "", "clientId": "", "audience": "", "provider": "none"},
        "linkedAccountsEnabled": False,
        "announcements": {},
        "proxyTemplateUrl": f"{base}/daytona/preview/{{{{PORT}}}}/{{{{sandboxId}}}}",
        "proxyToolboxUrl": f"{base}/daytona/toolbox",
        "defaultSnapshot": state.settings.sandboxes.default_template,
        "dashboardUrl": base,
        "maxAutoArchiveInterval": 43200,
        "maintananceMode": False,
        "environment": state.settings.env,
        # No analytics service: the SDK reads metrics from this API (GET /sandbox/{id}/telemetry/metrics).
        "sshGatewayHost": ssh_host,
        "sshGatewayPort": ssh_port,
    }


@router.post("/sandbox")
async def create_sandbox(
    body: CreateSandbox, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Create, and answer once it is started (so the SDK need not poll)."""
    # Daytona's default: network on unless blocked (and the operator has not turned it off).
    network = state.settings.sandboxes.network and not body.network_block_all
    template, dockerfile = _source(body)
    if body.volumes:
        raise NotSupported(f"volumes (CreateSandbox volumes=): {VOLUMES_REFUSED}")
    req = SandboxCreate(
        template=template,
        name=body.name,
        env=body.env,
        secrets=body.secret_env(),
        labels=body.labels,
        cpus=body.cpu,
        memory_bytes=int(body.memory * (1 << 30)) if body.memory else None,
        disk_bytes=int(body.disk * (1 << 30)) if body.disk else None,
        network=network,
        egress_allow=[c for c in body.network_allow_list.split(",") if c.strip()] if body.network_allow_list else None,
        public=body.public,
        auto_stop_s=body.auto_stop_interval * 60 if body.auto_stop_interval is not None else None,
        auto_delete_s=auto_delete_seconds(body.auto_delete_interval) if body.auto_delete_interval is not None else None,
        auto_archive_s=body.auto_archive_interval * 60 if body.auto_archive_interval else None,
        auto_pause_s=body.auto_pause_interval * 60 if body.auto_pause_interval else None,
        ttl_s=body.ttl_minutes * 60 if body.ttl_minutes else None,
    )
    sandbox_id, job_id = await svc.create_sandbox(
        session, state.redis, principal, req, state.settings, "daytona", dockerfile=dockerfile
    )
    # From a Dockerfile being built there is no create job yet: the SDK follows the build, then waits.
    await ops.settle(state.caller(session, principal, "daytona"), job_id)
    return await sandbox_view(state, request, principal, str(sandbox_id))


@router.get("/sandbox/{ident}/build-logs-url")
async def sandbox_build_logs_url(
    ident: str, request: Request, state: StateDep, principal: PrincipalDep
) -> dict[str, str]:
    sandbox = await _record(state, principal, ident)
    return {"url": f"{base_url(request, state.settings)}/daytona/api/sandbox/{sandbox.id}/build-logs"}


@router.get("/sandbox/{ident}/build-logs")
async def sandbox_build_logs(ident: str, state: StateDep, principal: PrincipalDep, follow: bool = False) -> Response:
    """The output of the build of the snapshot the sandbox starts from (nothing if it was not built)."""
    sandbox = await _record(state, principal, ident)
    if sandbox.snapshot_id is None:
        return Response(b"", media_type="text/plain")
    return build_log_response(state, principal, sandbox.snapshot_id, follow)


def _labels_query(labels: str | None) -> dict[str, str]:
    if not labels or labels == "null":
        return {}
    try:
        parsed = json.loads(labels)
    except ValueError as exc:
        raise InvalidInput.one("labels", "json", "must be a JSON object of strings") from exc
    if not isinstance(parsed, dict):
        raise InvalidInput.one("labels", "json", "must be a JSON object of strings")
    return {str(k): str(v) for k, v in parsed.items()}


@router.get("/sandbox/paginated")
async def list_paginated(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    labels: str | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> dict[str, Any]:
    rows, total = await svc.list_sandboxes(session, principal, _labels_query(labels), False, (page - 1) * limit, limit)
    toolbox = toolbox_url(request, state.settings)
    return {
        "items": [sandbox_dto(r, toolbox) for r in rows],
        "total": total,
        "page": page,
        "totalPages": max(1, -(-total // limit)),
    }


@router.get("/sandbox")
async def list_sandboxes(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    labels: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> dict[str, Any]:
    offset = int(cursor) if cursor and cursor.isdigit() and len(cursor) < 10 else 0
    rows, total = await svc.list_sandboxes(session, principal, _labels_query(labels), False, offset, limit)
    toolbox = toolbox_url(request, state.settings)
    following = offset + len(rows)
    return {
        "items": [sandbox_dto(r, toolbox) for r in rows],
        "nextCursor": str(following) if following < total else None,
    }


@router.get("/sandbox/{ident}")
async def get_sandbox(ident: str, request: Request, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    return await sandbox_view(state, request, principal, ident)


async def change_state(
    ident: str, kind: JobKind, request: Request, state: StateDep, principal: Principal, archive: bool = False
) -> dict[str, Any]:
    async with state.sessions() as session:
        sandbox = await svc.get_sandbox(session, principal, ident)
        job_id = await svc.change_state(
            session, principal, sandbox, kind, state.settings, archive=archive, client=state.redis, protocol="daytona"
        )
        await ops.settle(state.caller(session, principal, "daytona"), job_id)
    return await sandbox_view(state, request, principal, str(sandbox.id))


@router.post("/sandbox/{ident}/start")
async def start(ident: str, request: Request, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    return await change_state(ident, JobKind.START, request, state, principal)


@router.post("/sandbox/{ident}/stop")
async def stop(ident: str, request: Request, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    return await change_state(ident, JobKind.STOP, request, state, principal)


@router.post("/sandbox/{ident}/archive")
async def archive(ident: str, request: Request, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    """Stop it and keep its workspace; it shows as archived until started again."""
    return await change_state(ident, JobKind.STOP, request, state, principal, archive=True)


@router.delete("/sandbox/{ident}")
async def delete(ident: str, request: Request, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    return await change_state(ident, JobKind.DELETE, request, state, principal)


async def _update(ident: str, session: SessionDep, principal: Principal, **values: Any) -> SandboxRecord:
    sandbox = await svc.get_sandbox(session, principal, ident)
    return await svc.update_settings(session, sandbox, **values)


@router.put("/sandbox/{ident}/labels")
async def set_labels(
    ident: str, body: Labels, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    sandbox = await _update(ident, session, principal, labels=body.labels)
    return {"labels": dict(sandbox.labels or {})}


@router.post("/sandbox/{ident}/autostop/{interval}")
async def set_autostop(
    ident: str, interval: int, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    sandbox = await _update(ident, session, principal, auto_stop_s=max(0, interval) * 60)
    return sandbox_dto(sandbox, toolbox_url(request, state.settings))


@router.post("/sandbox/{ident}/autoarchive/{interval}")
async def set_autoarchive(
    ident: str, interval: int, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    sandbox = await _update(ident, session, principal, auto_archive_s=max(0, interval) * 60)
    return sandbox_dto(sandbox, toolbox_url(request, state.settings))


@router.post("/sandbox/{ident}/autodelete/{interval}")
async def set_autodelete(
    ident: str, interval: int, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    sandbox = await _update(ident, session, principal, auto_delete_s=auto_delete_seconds(interval))
    return sandbox_dto(sandbox, toolbox_url(request, state.settings))


@router.post("/sandbox/{ident}/autopause/{interval}")
async def set_autopause(
    ident: str, interval: int, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Paused (every process frozen) after this many minutes without activity; 0: never."""
    sandbox = await _update(ident, session, principal, auto_pause_s=max(0, interval) * 60)
    return sandbox_dto(sandbox, toolbox_url(request, state.settings))


@router.post("/sandbox/{ident}/ttl/{ttl_minutes}")
async def set_ttl(
    ident: str, ttl_minutes: int, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Deleted this many minutes after its creation, whatever it is doing; 0: no limit."""
    sandbox = await _update(ident, session, principal, ttl_s=max(0, ttl_minutes) * 60)
    return sandbox_dto(sandbox, toolbox_url(request, state.settings))


@router.post("/sandbox/{ident}/public/{public}")
async def set_public(
    ident: str, public: bool, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    sandbox = await _update(ident, session, principal, public=public)
    return sandbox_dto(sandbox, toolbox_url(request, state.settings))


@router.get("/sandbox/{ident}/ports/{port}/preview-url")
async def preview_url(
    ident: str, port: int, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, str]:
    """A URL for the port, and the token a browser sends (header x-daytona-preview-token) unless it is public."""
    if not 1 <= port <= 65535:
        raise InvalidInput.one("port", "range", "must be between 1 and 65535")
    sandbox = await svc.get_sandbox(session, principal, ident)
    url = f"{base_url(request, state.settings)}/daytona/preview/{sandbox.id}/{port}"
    return {"sandboxId": str(sandbox.id), "url": url, "token": sandbox.preview_token or ""}


@router.get("/sandbox/{ident}/toolbox-proxy-url")
async def toolbox_proxy_url(ident: str, request: Request, state: StateDep, principal: PrincipalDep) -> dict[str, str]:
    await sandbox_view(state, request, principal, ident)  # 404 for what the caller may not see
    return {"url": toolbox_url(request, state.settings)}


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unsupported_call(path: str, request: Request, principal: PrincipalDep) -> Response:
    known = [r for r in router.routes if getattr(r, "name", "") != "unsupported_call"]
    return unsupported(request, known, f"{request.method} /{path}")
