"""Daytona's toolbox under /daytona/toolbox/{sandboxId}: process and sessions (files: toolbox_files.py).

Session output for older SDKs travels multiplexed in one stream, stdout after
\\x01\\x01\\x01 and stderr after \\x02\\x02\\x02, as Daytona's own toolbox sends it.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.daytona.errors import DaytonaRenderer
from api.deps import PrincipalDep, SessionDep, StateDep, api_key_from
from api.errors import route_class, status_of
from api.state import AppState
from core import constants as c
from core.errors import InvalidInput, NotFound, RunyardError
from core.job_results import ExecResult, SessionCommand, SessionListing
from core.jobkinds import JobKind
from core.schemas import SandboxRecord
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import Principal, authenticate

router = APIRouter(prefix="/daytona/toolbox/{sandbox_id}", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
STDOUT, STDERR = "\x01\x01\x01", "\x02\x02\x02"


def muxed(stdout: str, stderr: str) -> str:
    return (STDOUT + stdout if stdout else "") + (STDERR + stderr if stderr else "")


class Toolbox:
    """One toolbox request: the caller, their sandbox, and a way to run an operation on it."""

    def __init__(self, state: AppState, session: Any, principal: Principal, sandbox: SandboxRecord) -> None:
        self.state, self.session, self.principal, self.sandbox = state, session, principal, sandbox
        self.caller = state.caller(session, principal, "daytona")

    async def run(
        self,
        kind: JobKind,
        payload: dict[str, Any],
        timeout_ms: int | None = None,
        secrets: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return await ops.run_op(self.caller, self.sandbox, kind, payload, timeout_ms, secrets)


async def toolbox(sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> Toolbox:
    return Toolbox(state, session, principal, await svc.get_sandbox(session, principal, sandbox_id))


# ------------------------------------------------------------------ process


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    command: str
    cwd: str | None = None
    envs: dict[str, str] | None = None
    timeout: int | None = Field(None, description="seconds")


@router.post("/process/execute")
async def execute(
    sandbox_id: str, body: ExecuteRequest, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    tb = await toolbox(sandbox_id, state, session, principal)
    limit = int(state.settings.sandboxes.max_exec_timeout_s)
    timeout_ms = min(body.timeout or int(state.settings.sandboxes.exec_timeout_s), limit) * 1000
    payload = {
        "argv": ["/bin/sh", "-c", body.command],
        "cwd": body.cwd,
        "env": body.envs,
        "timeout_ms": timeout_ms,
        "merge_output": True,
    }
    result = await tb.run(JobKind.EXEC, payload, timeout_ms)
    r = ExecResult.model_validate(result)
    return {"exitCode": 124 if r.timed_out else r.exit_code, "result": r.stdout_text()}


class CodeRunRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(max_length=1 << 20)
    language: str = "python"
    argv: list[str] | None = Field(None, max_length=1000)
    envs: dict[str, str] | None = None
    timeout: int | None = Field(None, ge=1, le=86_400, description="seconds")


# The interpreter for each of Daytona's code-run languages: the sandbox's own (TypeScript by tsx, if the
# image has it; the agent template has Python and Node.js).
CODE_RUNNERS = {"python": ["python3", "-c"], "javascript": ["node", "-e"], "typescript": ["tsx", "-e"]}


@router.post("/process/code-run")
async def code_run(
    sandbox_id: str, body: CodeRunRequest, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The code in the sandbox's language, run as a program; its exit code and output (stderr merged)."""
    runner = CODE_RUNNERS.get(body.language.lower())
    if runner is None:
        raise InvalidInput.one("language", "one_of", f"must be one of {', '.join(CODE_RUNNERS)}")
    tb = await toolbox(sandbox_id, state, session, principal)
    limit = int(state.settings.sandboxes.max_exec_timeout_s)
    timeout_ms = min(body.timeout or int(state.settings.sandboxes.exec_timeout_s), limit) * 1000
    # argv[0] of the program: "-" for python's -c and node's -e alike, then the caller's arguments.
    payload = {
        "argv": [*runner, body.code, *(["--"] if body.language.lower() != "python" else []), *(body.argv or [])],
        "env": body.envs,
        "timeout_ms": timeout_ms,
        "merge_output": True,
    }
    r = ExecResult.model_validate(await tb.run(JobKind.EXEC, payload, timeout_ms))
    output = r.stdout_text()
    return {"exitCode": 124 if r.timed_out else r.exit_code, "result": output, "artifacts": {"charts": []}}


@router.get("/user-home-dir")
@router.get("/work-dir")
async def home(sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, str]:
    await toolbox(sandbox_id, state, session, principal)
    return {"dir": "/workspace"}


# ------------------------------------------------------------------ sessions


class SessionCreate(BaseModel):
    session_id: str = Field(alias="sessionId", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")


class SessionExec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    command: str
    run_async: bool | None = Field(None, alias="runAsync")
    var_async: bool | None = Field(None, alias="async")


def _command(result: dict[str, Any] | SessionCommand) -> dict[str, Any]:
    view = SessionCommand.model_validate(result)
    return {"id": view.id, "command": view.command, "exitCode": view.exit_code}


@router.post("/process/session", status_code=201)
async def create_session(
    sandbox_id: str, body: SessionCreate, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    await tb.run(JobKind.SESSION_CREATE, {"session": body.session_id})
    return Response(status_code=201)


async def _sessions(tb: Toolbox) -> list[dict[str, Any]]:
    listed = SessionListing.model_validate(await tb.run(JobKind.SESSION_LIST, {}))
    return [{"sessionId": s.session, "commands": [_command(c) for c in s.commands]} for s in listed.sessions]


@router.get("/process/session")
async def list_sessions(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    return await _sessions(await toolbox(sandbox_id, state, session, principal))


async def _entrypoint(tb: Toolbox) -> dict[str, Any]:
    """The session the image's (or snapshot's) entrypoint runs in; one without commands if it has none."""
    for found in await _sessions(tb):
        if found["sessionId"] == c.AUTOSTART_SESSION:
            return found
    return {"sessionId": c.AUTOSTART_SESSION, "commands": []}


@router.get("/process/session/entrypoint")
async def entrypoint_session(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await _entrypoint(await toolbox(sandbox_id, state, session, principal))


@router.get("/process/session/entrypoint/logs")
async def entrypoint_logs(
    sandbox_id: str, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    commands = (await _entrypoint(tb))["commands"]
    if not commands:
        return _logs(request, "", "")
    return await _command_logs(tb, request, c.AUTOSTART_SESSION, commands[0]["id"])


@router.get("/process/session/{name}")
async def get_session(
    sandbox_id: str, name: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    for found in await _sessions(await toolbox(sandbox_id, state, session, principal)):
        if found["sessionId"] == name:
            return found
    raise NotFound("session", name)


@router.delete("/process/session/{name}", status_code=204)
async def delete_session(
    sandbox_id: str, name: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    await tb.run(JobKind.SESSION_DELETE, {"session": name})
    return Response(status_code=204)


@router.post("/process/session/{name}/exec")
async def session_exec(
    sandbox_id: str, name: str, body: SessionExec, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    run_async = bool(body.run_async or body.var_async)
    timeout_ms = int(state.settings.sandboxes.max_exec_timeout_s * 1000)
    payload = {"session": name, "command": body.command, "async": run_async, "timeout_ms": timeout_ms}
    view = SessionCommand.model_validate(await tb.run(JobKind.SESSION_EXEC, payload, timeout_ms))
    if run_async:
        return JSONResponse({"cmdId": view.id}, status_code=202)
    stdout, stderr = view.stdout_text(), view.stderr_text()
    answer = {
        "cmdId": view.id,
        "exitCode": view.exit_code,
        "output": muxed(stdout, stderr),
        "stdout": stdout,
        "stderr": stderr,
    }
    return JSONResponse(answer)


@router.get("/process/session/{name}/command/{command_id}")
async def get_command(
    sandbox_id: str, name: str, command_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    tb = await toolbox(sandbox_id, state, session, principal)
    return _command(await tb.run(JobKind.SESSION_COMMAND, {"session": name, "command_id": command_id}))


class SessionInput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: str = Field(max_length=1 << 20)


@router.post("/process/session/{name}/command/{command_id}/input", status_code=204)
async def command_input(
    sandbox_id: str,
    name: str,
    command_id: str,
    body: SessionInput,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Write to the stdin of a command run with runAsync (a synchronous one reads /dev/null, as it cannot be named)."""
    tb = await toolbox(sandbox_id, state, session, principal)
    data = base64.b64encode(body.data.encode()).decode()
    await tb.run(JobKind.SESSION_INPUT, {"session": name, "command_id": command_id, "data": data})
    return Response(status_code=204)


@router.get("/process/session/{name}/command/{command_id}/logs")
async def command_logs(
    sandbox_id: str,
    name: str,
    command_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """JSON for SDKs that ask for it, otherwise the multiplexed text Daytona's toolbox sends."""
    return await _command_logs(await toolbox(sandbox_id, state, session, principal), request, name, command_id)


async def _command_logs(tb: Toolbox, request: Request, name: str, command_id: str) -> Response:
    view = SessionCommand.model_validate(
        await tb.run(JobKind.SESSION_COMMAND, {"session": name, "command_id": command_id})
    )
    return _logs(request, view.stdout_text(), view.stderr_text())


def _logs(request: Request, stdout: str, stderr: str) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"output": stdout + stderr, "stdout": stdout, "stderr": stderr})
    return Response(muxed(stdout, stderr), media_type="text/plain")


@router.websocket("/process/session/entrypoint/logs")
async def follow_entrypoint_logs(ws: WebSocket, sandbox_id: str) -> None:
    await follow_command_logs(ws, sandbox_id, c.AUTOSTART_SESSION, None)


@router.websocket("/process/session/{name}/command/{command_id}/logs")
async def follow_command_logs(ws: WebSocket, sandbox_id: str, name: str, command_id: str | None) -> None:
    """Follow a command's output until it ends: polled from the sandbox, new bytes sent as they appear.
    No command id: the entrypoint's first command, if it has one."""
    state: AppState = ws.app.state.runyard
    try:
        async with state.sessions() as session:
            principal = await authenticate(session, api_key_from(ws), state.keys)
            tb = Toolbox(state, session, principal, await svc.get_sandbox(session, principal, sandbox_id))
            await ws.accept()
            if command_id is None:
                commands = (await _entrypoint(tb))["commands"]
                if not commands:
                    await ws.close(code=1000)
                    return
                command_id = str(commands[0]["id"])
            sent_out = sent_err = 0
            while True:
                view = SessionCommand.model_validate(
                    await tb.run(JobKind.SESSION_COMMAND, {"session": name, "command_id": command_id})
                )
                stdout, stderr = view.stdout_text(), view.stderr_text()
                chunk = muxed(stdout[sent_out:], stderr[sent_err:])
                sent_out, sent_err = len(stdout), len(stderr)
                if chunk:
                    await ws.send_text(chunk)
                if not view.running:
                    break
                await asyncio.sleep(0.5)
    except RunyardError as exc:
        await ws.close(code=4000 + status_of(exc), reason=exc.message[:120])
        return
    await ws.close(code=1000)
