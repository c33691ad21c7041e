"""Native /v1 routes for a sandbox's lifecycle: create, list, read, start, stop, delete, and its jobs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse

from api.deps import IdempotencyKey, PrincipalDep, SessionDep, StateDep
from api.v1.sandbox_common import WaitQuery, sandbox_router
from api.v1.sandbox_schemas import (
    SandboxCreateBody,
    SandboxOut,
    SandboxPage,
)
from core.errors import InvalidInput
from core.jobkinds import JobKind
from core.schemas import JobView
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import Principal
from core.services.sandbox_validation import SandboxCreate

router = sandbox_router()


async def _sandbox_out(state: StateDep, principal: Principal, sandbox_id: uuid.UUID) -> SandboxOut:
    async with state.sessions() as session:
        return SandboxOut.of(await svc.get_sandbox(session, principal, str(sandbox_id)))


async def _lifecycle(
    state: StateDep,
    session: SessionDep,
    principal: Principal,
    sandbox_id: uuid.UUID,
    job_id: uuid.UUID | None,
    wait: bool,
) -> Any:
    if wait:
        await ops.settle(state.caller(session, principal), job_id)
    out = await _sandbox_out(state, principal, sandbox_id)
    if job_id is not None and not wait:
        return JSONResponse(out.model_dump(mode="json"), status_code=202)
    return out


# ------------------------------------------------------------------ lifecycle


@router.post("/sandboxes", status_code=201, response_model=SandboxOut)
async def create_sandbox(
    body: SandboxCreateBody,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = True,
) -> Any:
    """Create a sandbox (from the warm pool when one is ready).

    With an Idempotency-Key, the same request sent again answers with the sandbox the first one created."""
    req = SandboxCreate(**body.model_dump())
    sandbox_id, job_id = await svc.create_sandbox(
        session, state.redis, principal, req, state.settings, idempotency_key=idempotency_key
    )
    return await _lifecycle(state, session, principal, sandbox_id, job_id, wait)


@router.get("/sandboxes", response_model=SandboxPage)
async def list_sandboxes(
    session: SessionDep,
    principal: PrincipalDep,
    label: Annotated[list[str] | None, Query(description="key=value; repeat to require several")] = None,
    include_deleted: bool = False,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SandboxPage:
    labels: dict[str, str] = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput.one("label", "key_value", f"{item!r} is not key=value")
        labels[key] = value
    rows, total = await svc.list_sandboxes(session, principal, labels, include_deleted, offset, limit)
    return SandboxPage(sandboxes=[SandboxOut.of(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/sandboxes/{ident}", response_model=SandboxOut)
async def get_sandbox(ident: str, session: SessionDep, principal: PrincipalDep) -> SandboxOut:
    """By id or by name."""
    return SandboxOut.of(await svc.get_sandbox(session, principal, ident))


async def _change(
    ident: str, kind: JobKind, state: StateDep, session: SessionDep, principal: Principal, wait: bool
) -> Any:
    sandbox = await svc.get_sandbox(session, principal, ident)
    job_id = await svc.change_state(session, principal, sandbox, kind, state.settings, client=state.redis)
    return await _lifecycle(state, session, principal, sandbox.id, job_id, wait)


@router.post("/sandboxes/{ident}/stop", response_model=SandboxOut)
async def stop_sandbox(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, wait: WaitQuery = True
) -> Any:
    """Stop its container; /workspace is kept."""
    return await _change(ident, JobKind.STOP, state, session, principal, wait)


@router.post("/sandboxes/{ident}/start", response_model=SandboxOut)
async def start_sandbox(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, wait: WaitQuery = True
) -> Any:
    return await _change(ident, JobKind.START, state, session, principal, wait)


@router.delete("/sandboxes/{ident}", response_model=SandboxOut)
async def delete_sandbox(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, wait: WaitQuery = True
) -> Any:
    """Delete the container and its workspace volume."""
    return await _change(ident, JobKind.DELETE, state, session, principal, wait)


@router.get("/jobs/{job_id}", response_model=JobView)
async def get_job(
    job_id: uuid.UUID, state: StateDep, session: SessionDep, principal: PrincipalDep, wait: float = 0
) -> JobView:
    """A sandbox operation's job; wait=N answers when it finishes or after N seconds (≤ 60)."""
    if wait < 0 or wait > 60:
        raise InvalidInput.one("wait", "range", "must be between 0 and 60 seconds")
    return await ops.wait_for_job(state.caller(session, principal), job_id, wait)
