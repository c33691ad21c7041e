"""Daytona's calls that change a sandbox after its create: resize, pause, recover, network settings, activity,
and the toolbox's environment (POST /env). Each is one of core/services/sandbox_changes.py's changes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.daytona.control import change_state, sandbox_view
from api.daytona.dto import GIB
from api.daytona.errors import DaytonaRenderer
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from core.errors import Conflict, InvalidInput
from core.jobkinds import JobKind
from core.services import operations as ops
from core.services import sandbox_changes as changes
from core.services import sandbox_snapshots as snapshot_of
from core.services import sandboxes as svc
from core.states import SandboxState

router = APIRouter(prefix="/daytona/api", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
toolbox_router = APIRouter(
    prefix="/daytona/toolbox/{sandbox_id}", tags=["daytona"], route_class=route_class(DaytonaRenderer())
)


class Resize(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cpu: int | None = Field(None, ge=1, le=1024)
    memory: int | None = Field(None, ge=1, le=1 << 20, description="GiB")
    disk: int | None = Field(None, ge=1, le=1 << 20, description="GiB")


@router.post("/sandbox/{ident}/resize")
async def resize(
    ident: str, body: Resize, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """CPU and memory live on a started sandbox (on a stopped one, from its next start); disk only grows."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    caller = state.caller(session, principal, "daytona")
    memory = body.memory * GIB if body.memory else None
    await changes.resize(caller, sandbox, body.cpu, memory, body.disk * GIB if body.disk else None)
    return await sandbox_view(state, request, principal, str(sandbox.id))


@router.post("/sandbox/{ident}/pause")
async def pause(
    ident: str, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Every process frozen where it is (memory kept); `start` resumes them."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    await changes.pause(state.caller(session, principal, "daytona"), sandbox)
    return await sandbox_view(state, request, principal, str(sandbox.id))


@router.post("/sandbox/{ident}/recover")
async def recover(
    ident: str, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Out of the error state: its container is started again, with its filesystem as it was."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    if sandbox.state not in (SandboxState.ERROR, SandboxState.STARTED, SandboxState.STARTING):
        raise Conflict(f"sandbox {sandbox.name} is {sandbox.state}, not in error: nothing to recover", sandbox.state)
    return await change_state(str(sandbox.id), JobKind.START, request, state, principal)


class NetworkSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    network_block_all: bool | None = Field(None, alias="networkBlockAll")
    network_allow_list: str | None = Field(None, alias="networkAllowList", max_length=10_000)
    domain_allow_list: str | None = Field(None, alias="domainAllowList")


@router.post("/sandbox/{ident}/network-settings")
async def network_settings(
    ident: str, body: NetworkSettings, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Block all, or the network narrowed to comma-separated CIDRs (an empty list: the whole fenced internet)."""
    if body.domain_allow_list:
        # The fence works on addresses: a name would need a proxy that resolves and checks it.
        raise InvalidInput.one("domainAllowList", "not_supported", "Runyard allows networks (CIDRs), not domains")
    allow = None
    if body.network_allow_list is not None:
        allow = [cidr.strip() for cidr in body.network_allow_list.split(",") if cidr.strip()]
    sandbox = await svc.get_sandbox(session, principal, ident)
    await changes.set_network(state.caller(session, principal, "daytona"), sandbox, body.network_block_all, allow)
    return await sandbox_view(state, request, principal, str(sandbox.id))


@router.post("/sandbox/{ident}/last-activity", status_code=201)
async def last_activity(ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> Response:
    """Activity now: its auto-stop timer starts again."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    await changes.touch(state.caller(session, principal, "daytona"), sandbox)
    return Response(status_code=201)


class EnvUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    set: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list, max_length=200)


@toolbox_router.post("/env")
async def update_env(
    sandbox_id: str, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, str]:
    """Variables for every process started from now on, kept for the sandbox's later starts."""
    # Read as JSON whatever its Content-Type: the SDK sends this one body without any.
    try:
        body = EnvUpdate.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    sandbox = await svc.get_sandbox(session, principal, sandbox_id)
    return await changes.update_env(state.caller(session, principal, "daytona"), sandbox, body.set, body.unset)


class SnapshotOfSandbox(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str = Field(min_length=1, max_length=200)
    include_memory: bool | None = Field(None, alias="includeMemory")


@router.post("/sandbox/{ident}/snapshot")
async def create_snapshot(
    ident: str,
    body: SnapshotOfSandbox,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Its whole filesystem as a named snapshot, active when this answers; sandboxes can start from it."""
    if body.include_memory:
        raise InvalidInput.one("includeMemory", "not_supported", "a snapshot holds the filesystem, not memory")
    sandbox = await svc.get_sandbox(session, principal, ident)
    await snapshot_of.commit(state.caller(session, principal, "daytona"), sandbox, body.name)
    return await sandbox_view(state, request, principal, str(sandbox.id))


class Fork(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(None, max_length=63)


@router.post("/sandbox/{ident}/fork")
async def fork(
    ident: str, body: Fork, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A new sandbox with a copy of this one's filesystem (its size, environment, labels and network too)."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    caller = state.caller(session, principal, "daytona")
    forked, job_id = await snapshot_of.fork(caller, state.redis, sandbox, body.name)
    await ops.settle(caller, job_id)
    return await sandbox_view(state, request, principal, str(forked))
