"""SandboxAI's REST contract (api/v1.yaml of substratusai/sandboxai), translated onto Runyard's sandboxes.

Its client sends the key as the password of the base URL's basic auth. A
SandboxAI "space" becomes a label on the sandbox; names are unique per tenant.
Errors are SandboxAI's {"message": ...} with the status the client expects.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import retry_headers, route_class, status_of
from core.errors import NotFound, RunyardError
from core.job_results import CellResult, ExecResult
from core.jobkinds import JobKind
from core.schemas import SandboxRecord
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import Principal
from core.services.sandbox_validation import SandboxCreate
from core.states import SandboxState

SPACE_LABEL = "sandboxai.space"


class SandboxAIRenderer:
    def domain(self, request: Request, exc: RunyardError) -> Response:
        return JSONResponse({"message": exc.message}, status_code=status_of(exc), headers=retry_headers(exc))

    def validation(self, request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
            parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
        return JSONResponse({"message": "; ".join(parts)}, status_code=422)


router = APIRouter(prefix="/sandboxai/v1", tags=["sandboxai"], route_class=route_class(SandboxAIRenderer()))


class SandboxSpec(BaseModel):
    image: str | None = None
    env: dict[str, str] | None = None


class CreateSandboxRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    spec: SandboxSpec


class SandboxOut(BaseModel):
    name: str
    uid: str
    spec: SandboxSpec
    status: dict[str, Any] = Field(default_factory=dict)


class ShellRequest(BaseModel):
    command: str
    split_output: bool = False


class CellRequest(BaseModel):
    code: str
    split_output: bool = False


class ToolResult(BaseModel):
    output: str | None = None
    stdout: str | None = None
    stderr: str | None = None


def _out(sandbox: SandboxRecord, requested_image: str | None = None) -> SandboxOut:
    return SandboxOut(
        name=sandbox.name,
        uid=str(sandbox.id),
        spec=SandboxSpec(image=requested_image or sandbox.image, env=dict(sandbox.env or {})),
        status={"state": sandbox.state},
    )


async def _find(session: SessionDep, principal: Principal, space: str, name: str) -> SandboxRecord:
    sandbox = await svc.get_sandbox(session, principal, name)
    if (sandbox.labels or {}).get(SPACE_LABEL) != space or sandbox.state == SandboxState.DELETED:
        raise NotFound("sandbox", f"{space}/{name}")
    return sandbox


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {}


@router.post("/spaces/{space}/sandboxes", status_code=201, response_model=SandboxOut)
async def create_sandbox(
    space: str, body: CreateSandboxRequest, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> SandboxOut:
    req = SandboxCreate(template=body.spec.image, name=body.name, env=body.spec.env, labels={SPACE_LABEL: space})
    sandbox_id, job_id = await svc.create_sandbox(session, state.redis, principal, req, state.settings, "sandboxai")
    await ops.settle(state.caller(session, principal, "sandboxai"), job_id)
    async with state.sessions() as fresh:
        sandbox = await svc.get_sandbox(fresh, principal, str(sandbox_id))
    return _out(sandbox, body.spec.image)


@router.get("/spaces/{space}/sandboxes/{name}", response_model=SandboxOut)
async def get_sandbox(space: str, name: str, session: SessionDep, principal: PrincipalDep) -> SandboxOut:
    return _out(await _find(session, principal, space, name))


@router.delete("/spaces/{space}/sandboxes/{name}", status_code=204)
async def delete_sandbox(
    space: str, name: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    sandbox = await _find(session, principal, space, name)
    job_id = await svc.change_state(
        session, principal, sandbox, JobKind.DELETE, state.settings, client=state.redis, protocol="sandboxai"
    )
    await ops.settle(state.caller(session, principal, "sandboxai"), job_id)
    return Response(status_code=204)


async def _tool(
    state: StateDep,
    session: SessionDep,
    principal: Principal,
    space: str,
    name: str,
    kind: JobKind,
    payload: dict[str, Any],
    timeout_ms: int,
) -> dict[str, Any]:
    sandbox = await _find(session, principal, space, name)
    return await ops.run_op(state.caller(session, principal, "sandboxai"), sandbox, kind, payload, timeout_ms)


@router.post("/spaces/{space}/sandboxes/{name}/tools:run_shell_command", response_model=ToolResult)
async def run_shell_command(
    space: str, name: str, body: ShellRequest, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> ToolResult:
    timeout_ms = int(state.settings.sandboxes.max_exec_timeout_s * 1000)  # SandboxAI has no timeout of its own
    payload = {"command": body.command, "timeout_ms": timeout_ms, "merge_output": not body.split_output}
    r = ExecResult.model_validate(
        await _tool(state, session, principal, space, name, JobKind.EXEC, payload, timeout_ms)
    )
    if body.split_output:
        return ToolResult(stdout=r.stdout_text(), stderr=r.stderr_text())
    return ToolResult(output=r.stdout_text())


@router.post("/spaces/{space}/sandboxes/{name}/tools:run_ipython_cell", response_model=ToolResult)
async def run_ipython_cell(
    space: str, name: str, body: CellRequest, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> ToolResult:
    timeout_ms = int(state.settings.sandboxes.max_exec_timeout_s * 1000)
    payload = {"code": body.code, "timeout_ms": timeout_ms}
    cell = CellResult.model_validate(
        await _tool(state, session, principal, space, name, JobKind.KERNEL_RUN, payload, timeout_ms)
    )
    if body.split_output:
        return ToolResult(stdout=cell.stdout, stderr=cell.stderr)
    return ToolResult(output=cell.output)
