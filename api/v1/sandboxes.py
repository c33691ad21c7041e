"""Native /v1 routes for persistent sandboxes: lifecycle, exec, sessions, kernel and files.

Each route validates and translates; every operation is a job executed by the
worker on the sandbox's host. wait=true (the default) answers with the outcome;
wait=false answers 202 with the job, to poll at /v1/jobs/{id}.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import IdempotencyKey, PrincipalDep, SessionDep, StateDep
from api.errors import pending_response, route_class
from api.v1.errors import NativeRenderer
from api.v1.sandbox_schemas import (
    CellBody,
    CellOut,
    ChmodBody,
    CommandOut,
    ExecBody,
    ExecOut,
    FileInfo,
    MkdirBody,
    MoveBody,
    SandboxCreateBody,
    SandboxOut,
    SandboxPage,
    SessionBody,
    SessionCommandBody,
)
from core.errors import InvalidInput, Pending
from core.jobkinds import JobKind
from core.schemas import JobView
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import Principal
from core.services.runs import check_callback
from core.views import b64_text

router = APIRouter(prefix="/v1", tags=["sandboxes"], route_class=route_class(NativeRenderer()))
WaitQuery = Annotated[bool, Query(description="Answer with the outcome (default), or at once with the job (202)")]
CallbackQuery = Annotated[
    str | None,
    Query(max_length=2048, description="POSTed the finished job (signed, as for runs); implies wait=false"),
]


@dataclass(frozen=True)
class OpOptions:
    wait: bool = True
    callback_url: str | None = None


def op_options(wait: WaitQuery = True, callback_url: CallbackQuery = None) -> OpOptions:
    return OpOptions(wait, callback_url)


OptionsDep = Annotated[OpOptions, Depends(op_options)]
PathQuery = Annotated[str, Query(min_length=1, max_length=4096, description="Absolute, or relative to /workspace")]


async def _sandbox_out(state: StateDep, principal: Principal, sandbox_id: uuid.UUID) -> SandboxOut:
    async with state.sessions() as session:
        return SandboxOut.of(await svc.get_sandbox(session, principal, str(sandbox_id)))


async def _lifecycle(
    state: StateDep, principal: Principal, sandbox_id: uuid.UUID, job_id: uuid.UUID | None, wait: bool
) -> Any:
    if wait:
        await ops.settle(state.sessions, state.hub, principal, job_id, state.settings)
    out = await _sandbox_out(state, principal, sandbox_id)
    if job_id is not None and not wait:
        return JSONResponse(out.model_dump(mode="json"), status_code=202)
    return out


async def _op(
    state: StateDep,
    session: SessionDep,
    principal: Principal,
    ident: str,
    kind: JobKind,
    payload: dict[str, Any],
    opts: OpOptions,
    timeout_ms: int | None = None,
) -> dict[str, Any] | JSONResponse:
    """Queue one operation; with wait, return its result (or raise its error), else 202 with the job."""
    wait, callback_url = opts.wait, opts.callback_url
    if callback_url is not None:
        error = await check_callback(callback_url, state.settings)
        if error is not None:
            raise InvalidInput([error])
        wait = False
    sandbox = await svc.get_sandbox(session, principal, ident)
    if wait:
        return await ops.run_op(
            session, state.sessions, state.hub, principal, sandbox, kind, payload, state.settings, timeout_ms
        )
    job_id = await ops.submit_op(session, principal, sandbox, kind, payload, state.settings, timeout_ms, callback_url)
    return pending_response(Pending(await ops.get_job(session, principal, job_id)))


def _timeout(settings: Any, timeout_ms: int | None) -> int:
    s = settings.sandboxes
    if timeout_ms is None:
        return int(s.exec_timeout_s * 1000)
    if timeout_ms > s.max_exec_timeout_s * 1000:
        raise InvalidInput.one(
            "timeout_ms", "le", f"must be less than or equal to {int(s.max_exec_timeout_s * 1000)}",
            s.max_exec_timeout_s * 1000,
        )  # fmt: skip
    return timeout_ms


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
    req = svc.SandboxCreate(**body.model_dump())
    sandbox_id, job_id = await svc.create_sandbox(
        session, state.redis, principal, req, state.settings, idempotency_key=idempotency_key
    )
    return await _lifecycle(state, principal, sandbox_id, job_id, wait)


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
    return await _lifecycle(state, principal, sandbox.id, job_id, wait)


@router.post("/sandboxes/{ident}/stop", response_model=SandboxOut)
async def stop_sandbox(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, wait: WaitQuery = True
) -> Any:
    """Stop its container; /workspace is kept."""
    return await _change(ident, svc.KIND_STOP, state, session, principal, wait)


@router.post("/sandboxes/{ident}/start", response_model=SandboxOut)
async def start_sandbox(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, wait: WaitQuery = True
) -> Any:
    return await _change(ident, svc.KIND_START, state, session, principal, wait)


@router.delete("/sandboxes/{ident}", response_model=SandboxOut)
async def delete_sandbox(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, wait: WaitQuery = True
) -> Any:
    """Delete the container and its workspace volume."""
    return await _change(ident, svc.KIND_DELETE, state, session, principal, wait)


@router.get("/jobs/{job_id}", response_model=JobView)
async def get_job(job_id: uuid.UUID, state: StateDep, principal: PrincipalDep, wait: float = 0) -> JobView:
    """A sandbox operation's job; wait=N answers when it finishes or after N seconds (≤ 60)."""
    if wait < 0 or wait > 60:
        raise InvalidInput.one("wait", "range", "must be between 0 and 60 seconds")
    return await ops.wait_for_job(state.sessions, state.hub, principal, job_id, wait)


# ------------------------------------------------------------------ commands


@router.post("/sandboxes/{ident}/exec", response_model=ExecOut)
async def exec_command(
    ident: str,
    body: ExecBody,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
) -> Any:
    """Run a command to completion; background processes it starts keep running."""
    if not body.command and not body.argv:
        raise InvalidInput.one("command", "required", "give command (run by bash -c) or argv")
    timeout = _timeout(state.settings, body.timeout_ms)
    payload: dict[str, Any] = {
        "command": body.command, "argv": body.argv, "cwd": body.cwd, "env": body.env, "timeout_ms": timeout,
        "merge_output": body.merge_output,
        "stdin": base64.b64encode((body.stdin or "").encode()).decode(),
    }  # fmt: skip
    result = await _op(state, session, principal, ident, JobKind.EXEC, payload, opts, timeout)
    if isinstance(result, JSONResponse):
        return result
    return ExecOut(
        exit_code=result.get("exit_code"), signal=result.get("signal"), timed_out=bool(result.get("timed_out")),
        stdout=b64_text(result.get("stdout")), stderr=b64_text(result.get("stderr")),
        stdout_truncated=bool(result.get("stdout_truncated")), stderr_truncated=bool(result.get("stderr_truncated")),
        wall_ms=float(result.get("wall_ms") or 0),
    )  # fmt: skip


def _command(view: dict[str, Any]) -> CommandOut:
    has_logs = "stdout" in view
    return CommandOut(
        id=view["id"], command=view["command"], exit_code=view.get("exit_code"), running=bool(view.get("running")),
        stdout=b64_text(view.get("stdout")) if has_logs else None,
        stderr=b64_text(view.get("stderr")) if has_logs else None,
        stdout_truncated=view.get("stdout_truncated"), stderr_truncated=view.get("stderr_truncated"),
    )  # fmt: skip


@router.post("/sandboxes/{ident}/sessions", status_code=201)
async def create_session(
    ident: str, body: SessionBody, state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep
) -> Any:
    """A named shell whose commands run one after another, keeping cwd and variables."""
    return await _op(state, session, principal, ident, JobKind.SESSION_CREATE, {"session": body.session}, opts)


@router.get("/sandboxes/{ident}/sessions")
async def list_sessions(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep
) -> Any:
    return await _op(state, session, principal, ident, JobKind.SESSION_LIST, {}, opts)


@router.delete("/sandboxes/{ident}/sessions/{name}")
async def delete_session(
    ident: str, name: str, state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep
) -> Any:
    return await _op(state, session, principal, ident, JobKind.SESSION_DELETE, {"session": name}, opts)


@router.post("/sandboxes/{ident}/sessions/{name}/commands", response_model=CommandOut)
async def session_command(
    ident: str,
    name: str,
    body: SessionCommandBody,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
) -> Any:
    """Run a command in the session; with async=true answer at once with its id (fetch its logs later)."""
    timeout = _timeout(state.settings, body.timeout_ms)
    payload = {"session": name, "command": body.command, "async": body.run_async, "timeout_ms": timeout}
    result = await _op(state, session, principal, ident, JobKind.SESSION_EXEC, payload, opts, timeout)
    return result if isinstance(result, JSONResponse) else _command(result)


@router.get("/sandboxes/{ident}/sessions/{name}/commands/{command_id}", response_model=CommandOut)
async def session_command_logs(
    ident: str,
    name: str,
    command_id: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
) -> Any:
    """A command's state, exit code and output so far."""
    payload = {"session": name, "command_id": command_id}
    result = await _op(state, session, principal, ident, JobKind.SESSION_COMMAND, payload, opts)
    return result if isinstance(result, JSONResponse) else _command(result)


@router.post("/sandboxes/{ident}/sessions/{name}/commands/{command_id}/cancel", response_model=CommandOut)
async def cancel_session_command(
    ident: str,
    name: str,
    command_id: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
) -> Any:
    payload = {"session": name, "command_id": command_id}
    result = await _op(state, session, principal, ident, JobKind.SESSION_CANCEL, payload, opts)
    return result if isinstance(result, JSONResponse) else _command(result)


@router.post("/sandboxes/{ident}/kernel/cells", response_model=CellOut)
async def run_cell(
    ident: str,
    body: CellBody,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
) -> Any:
    """Run a cell in the sandbox's Python (IPython) kernel; variables survive between cells."""
    timeout = _timeout(state.settings, body.timeout_ms)
    payload = {"code": body.code, "timeout_ms": timeout}
    result = await _op(state, session, principal, ident, JobKind.KERNEL_RUN, payload, opts, timeout)
    if isinstance(result, JSONResponse):
        return result
    return CellOut(
        output=result.get("output", ""), stdout=result.get("stdout", ""), stderr=result.get("stderr", ""),
        error=result.get("error"), timed_out=bool(result.get("timed_out")),
    )  # fmt: skip


@router.post("/sandboxes/{ident}/kernel/restart")
async def restart_kernel(
    ident: str, state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep
) -> Any:
    return await _op(state, session, principal, ident, JobKind.KERNEL_RESTART, {}, opts)


# ------------------------------------------------------------------ files


@router.put("/sandboxes/{ident}/files/content")
async def upload_file(
    ident: str,
    request: Request,
    path: PathQuery,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    mode: Annotated[str, Query(pattern=r"^0?[0-7]{3,4}$")] = "644",
) -> Any:
    """Write the request body (any bytes, up to the configured maximum) to path, atomically."""
    sandbox = await svc.get_sandbox(session, principal, ident)  # 404 before reading a large body
    return await ops.upload(
        session, state.sessions, state.hub, principal, sandbox, path, int(mode, 8), request.stream(), state.settings
    )


@router.get("/sandboxes/{ident}/files/content")
async def download_file(
    ident: str, path: PathQuery, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    """The file's bytes, exactly."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    size, body = await ops.download(session, state.sessions, state.hub, principal, sandbox, path, state.settings)
    headers = {"Content-Length": str(size)}
    return StreamingResponse(body, media_type="application/octet-stream", headers=headers)


@router.get("/sandboxes/{ident}/files")
async def list_files(
    ident: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
    path: PathQuery = "/workspace",
) -> Any:
    result = await _op(state, session, principal, ident, JobKind.FILES_LIST, {"path": path}, opts)
    if isinstance(result, JSONResponse):
        return result
    return {"path": result["path"], "entries": [FileInfo.of(e) for e in result["entries"]]}


@router.get("/sandboxes/{ident}/files/stat", response_model=FileInfo)
async def stat_file(
    ident: str, path: PathQuery, state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep
) -> Any:
    result = await _op(state, session, principal, ident, JobKind.FILES_STAT, {"path": path}, opts)
    return result if isinstance(result, JSONResponse) else FileInfo.of(result)


@router.post("/sandboxes/{ident}/files/mkdir", response_model=FileInfo)
async def make_dir(
    ident: str, body: MkdirBody, state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep
) -> Any:
    payload = {"path": body.path, "mode": int(body.mode, 8), "parents": body.parents}
    result = await _op(state, session, principal, ident, JobKind.FILES_MKDIR, payload, opts)
    return result if isinstance(result, JSONResponse) else FileInfo.of(result)


@router.delete("/sandboxes/{ident}/files")
async def delete_file(
    ident: str,
    path: PathQuery,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
    recursive: bool = False,
) -> Any:
    payload = {"path": path, "recursive": recursive}
    return await _op(state, session, principal, ident, JobKind.FILES_DELETE, payload, opts)


@router.post("/sandboxes/{ident}/files/move", response_model=FileInfo)
async def move_file(
    ident: str, body: MoveBody, state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep
) -> Any:
    payload = body.model_dump()
    result = await _op(state, session, principal, ident, JobKind.FILES_MOVE, payload, opts)
    return result if isinstance(result, JSONResponse) else FileInfo.of(result)


@router.post("/sandboxes/{ident}/files/chmod", response_model=FileInfo)
async def chmod_file(
    ident: str, body: ChmodBody, state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep
) -> Any:
    payload = {"path": body.path, "mode": int(body.mode, 8)}
    result = await _op(state, session, principal, ident, JobKind.FILES_CHMOD, payload, opts)
    return result if isinstance(result, JSONResponse) else FileInfo.of(result)


@router.get("/sandboxes/{ident}/files/find")
async def find_files(
    ident: str,
    pattern: Annotated[str, Query(min_length=1, max_length=1000, description="A glob on file names")],
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
    path: PathQuery = "/workspace",
) -> Any:
    return await _op(state, session, principal, ident, JobKind.FILES_FIND, {"path": path, "pattern": pattern}, opts)


@router.get("/sandboxes/{ident}/files/search")
async def search_files(
    ident: str,
    pattern: Annotated[str, Query(min_length=1, max_length=1000, description="A regular expression on lines")],
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    opts: OptionsDep,
    path: PathQuery = "/workspace",
) -> Any:
    return await _op(state, session, principal, ident, JobKind.FILES_GREP, {"path": path, "pattern": pattern}, opts)
