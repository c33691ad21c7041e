"""Native /v1 routes for running things in a sandbox: commands, named shell sessions, and its Python kernel.

wait=true (the default) answers with the outcome; wait=false answers 202 with the job, to poll at /v1/jobs/{id}.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from api.v1.sandbox_common import CallDep, SandboxCall, sandbox_router
from api.v1.sandbox_schemas import (
    CellBody,
    CellOut,
    CommandInputBody,
    CommandOut,
    ExecBody,
    ExecOut,
    SessionBody,
    SessionCommandBody,
)
from core.errors import InvalidInput
from core.job_results import CellResult, ExecResult, SessionCommand
from core.jobkinds import JobKind

router = sandbox_router()


# ------------------------------------------------------------------ commands


@router.post("/sandboxes/{ident}/exec", response_model=ExecOut)
async def exec_command(
    ident: str,
    body: ExecBody,
    call: CallDep,
) -> Any:
    """Run a command to completion; background processes it starts keep running."""
    if not body.command and not body.argv:
        raise InvalidInput.one("command", "required", "give command (run by bash -c) or argv")
    timeout = call.timeout(body.timeout_ms)
    payload: dict[str, Any] = {
        "command": body.command,
        "argv": body.argv,
        "cwd": body.cwd,
        "env": body.env,
        "timeout_ms": timeout,
        "merge_output": body.merge_output,
        "stdin": _b64(body.stdin or ""),
    }
    r = ExecResult.model_validate(await call.op(ident, JobKind.EXEC, payload, timeout))
    return ExecOut(
        exit_code=r.exit_code,
        signal=r.signal,
        timed_out=r.timed_out,
        stdout=r.stdout_text(),
        stderr=r.stderr_text(),
        stdout_truncated=r.stdout_truncated,
        stderr_truncated=r.stderr_truncated,
        wall_ms=r.wall_ms,
    )


def _command(result: dict[str, Any]) -> CommandOut:
    view = SessionCommand.model_validate(result)
    return CommandOut(
        id=view.id,
        command=view.command,
        exit_code=view.exit_code,
        running=view.running,
        stdout=view.stdout_text() if view.has_logs else None,
        stderr=view.stderr_text() if view.has_logs else None,
        stdout_truncated=view.stdout_truncated,
        stderr_truncated=view.stderr_truncated,
    )


@router.post("/sandboxes/{ident}/sessions", status_code=201)
async def create_session(ident: str, body: SessionBody, call: CallDep) -> Any:
    """A named shell whose commands run one after another, keeping cwd and variables."""
    return await call.op(ident, JobKind.SESSION_CREATE, {"session": body.session})


@router.get("/sandboxes/{ident}/sessions")
async def list_sessions(ident: str, call: CallDep) -> Any:
    return await call.op(ident, JobKind.SESSION_LIST, {})


@router.delete("/sandboxes/{ident}/sessions/{name}")
async def delete_session(ident: str, name: str, call: CallDep) -> Any:
    return await call.op(ident, JobKind.SESSION_DELETE, {"session": name})


@router.post("/sandboxes/{ident}/sessions/{name}/commands", response_model=CommandOut)
async def session_command(
    ident: str,
    name: str,
    body: SessionCommandBody,
    call: CallDep,
) -> Any:
    """Run a command in the session; with async=true answer at once with its id (fetch its logs later)."""
    timeout = call.timeout(body.timeout_ms)
    payload = {"session": name, "command": body.command, "async": body.run_async, "timeout_ms": timeout}
    result = await call.op(ident, JobKind.SESSION_EXEC, payload, timeout)
    return _command(result)


@dataclass(frozen=True)
class CommandRef:
    """A command of a named session, as the path names it."""

    ident: str
    name: str
    command_id: str

    async def act(self, call: SandboxCall, kind: JobKind) -> CommandOut:
        return _command(await call.op(self.ident, kind, {"session": self.name, "command_id": self.command_id}))


CommandDep = Annotated[CommandRef, Depends(CommandRef)]


@router.get("/sandboxes/{ident}/sessions/{name}/commands/{command_id}", response_model=CommandOut)
async def session_command_logs(command: CommandDep, call: CallDep) -> CommandOut:
    """A command's state, exit code and output so far."""
    return await command.act(call, JobKind.SESSION_COMMAND)


@router.post("/sandboxes/{ident}/sessions/{name}/commands/{command_id}/cancel", response_model=CommandOut)
async def cancel_session_command(command: CommandDep, call: CallDep) -> CommandOut:
    return await command.act(call, JobKind.SESSION_CANCEL)


@router.post("/sandboxes/{ident}/sessions/{name}/commands/{command_id}/input", response_model=CommandOut)
async def session_command_input(command: CommandDep, body: CommandInputBody, call: CallDep) -> CommandOut:
    """Write to the stdin of a command run with async=true (a synchronous command reads /dev/null)."""
    payload = {"session": command.name, "command_id": command.command_id, "data": _b64(body.data)}
    return _command(await call.op(command.ident, JobKind.SESSION_INPUT, payload))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@router.post("/sandboxes/{ident}/kernel/cells", response_model=CellOut)
async def run_cell(
    ident: str,
    body: CellBody,
    call: CallDep,
) -> Any:
    """Run a cell in the sandbox's Python (IPython) kernel; variables survive between cells."""
    timeout = call.timeout(body.timeout_ms)
    payload = {"code": body.code, "timeout_ms": timeout}
    cell = CellResult.model_validate(await call.op(ident, JobKind.KERNEL_RUN, payload, timeout))
    return CellOut(
        output=cell.output, stdout=cell.stdout, stderr=cell.stderr, error=cell.error, timed_out=cell.timed_out
    )


@router.post("/sandboxes/{ident}/kernel/restart")
async def restart_kernel(ident: str, call: CallDep) -> Any:
    return await call.op(ident, JobKind.KERNEL_RESTART, {})
