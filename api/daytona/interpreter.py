"""Daytona's code interpreter under /daytona/toolbox/{sandboxId}/process/interpreter: our Python kernels.

Each context is a kernel of its own (its variables, its working directory); code without a context
runs in the sandbox's default kernel, the one /v1's kernel cells use. `run_code` is a WebSocket: one
message in (code, context, env, timeout), then the cell's output as it is written (stdout and stderr
frames), an error frame if it raised, and a close: 1000 when it ended, 4008 when it ran out of time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, WebSocket
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.daytona.errors import DaytonaRenderer
from api.daytona.toolbox import Toolbox, toolbox
from api.deps import api_key_from
from api.errors import route_class, status_of
from api.state import AppState
from core import job_output
from core.errors import InvalidInput, RunyardError
from core.job_results import CellResult
from core.jobkinds import JobKind
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import authenticate
from core.states import JobState

router = APIRouter(
    prefix="/daytona/toolbox/{sandbox_id}/process/interpreter",
    tags=["daytona"],
    route_class=route_class(DaytonaRenderer()),
)
ToolboxDep = Annotated[Toolbox, Depends(toolbox)]
TIMED_OUT = 4008  # the close code Daytona's SDK reads as "execution timed out"
DEFAULT_TIMEOUT_S = 600  # Daytona's default for a cell


class ContextBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cwd: str | None = Field(None, max_length=4096)
    language: str | None = None


def _context(view: dict[str, Any]) -> dict[str, Any]:
    created = datetime.fromtimestamp(float(view["created_at"]), UTC).isoformat()
    return {"id": view["id"], "cwd": view["cwd"], "createdAt": created, "active": view["active"], "language": "python"}


@router.post("/context")
async def create_context(body: ContextBody, tb: ToolboxDep) -> dict[str, Any]:
    if body.language not in (None, "", "python"):
        raise InvalidInput.one("language", "one_of", "contexts run Python (the sandbox's kernels)")
    payload = {"cwd": body.cwd} if body.cwd else {}
    return _context(await tb.run(JobKind.KERNEL_CONTEXT_CREATE, payload))


@router.get("/context")
async def list_contexts(tb: ToolboxDep) -> dict[str, Any]:
    listed = await tb.run(JobKind.KERNEL_CONTEXT_LIST, {})
    return {"contexts": [_context(view) for view in listed["contexts"]]}


@router.delete("/context/{context_id}")
async def delete_context(context_id: str, tb: ToolboxDep) -> Response:
    await tb.run(JobKind.KERNEL_CONTEXT_DELETE, {"context": context_id})
    return Response("{}", media_type="application/json")


class RunCode(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    code: str = Field(max_length=1 << 20)
    context_id: str | None = Field(None, alias="contextId")
    envs: dict[str, str] | None = None
    timeout: int | None = Field(None, ge=0, description="seconds; 0 for the longest this installation allows")


@router.websocket("/execute")
async def run_code(ws: WebSocket, sandbox_id: str) -> None:
    state: AppState = ws.app.state.runyard
    try:
        async with state.sessions() as session:
            principal = await authenticate(session, api_key_from(ws), state.keys)
            sandbox = await svc.get_sandbox(session, principal, sandbox_id)
            await ws.accept()
            try:
                request = RunCode.model_validate(json.loads(await ws.receive_text()))
            except (ValueError, ValidationError) as exc:
                await ws.close(code=4400, reason=f"not a run_code request: {exc}"[:120])
                return
            limit = int(state.settings.sandboxes.max_exec_timeout_s)
            timeout_s = min(request.timeout or (limit if request.timeout == 0 else DEFAULT_TIMEOUT_S), limit)
            caller = state.caller(session, principal, "daytona")
            payload = {"code": request.code, "timeout_ms": timeout_s * 1000, "stream": True}
            payload |= {"context": request.context_id} if request.context_id else {}
            payload |= {"env": request.envs} if request.envs else {}
            job_id = await ops.submit_op(caller, sandbox, JobKind.KERNEL_RUN, payload, timeout_s * 1000)
            after, ended, finished = "0-0", False, False
            while not ended:
                # Once the job is over, what is left is read without waiting: a worker that died wrote no end mark.
                pieces, after, ended = await job_output.read(state.redis, job_id, after, None if finished else 500)
                for stream, text in pieces:
                    await ws.send_text(json.dumps({"type": stream, "text": text}))
                if finished:
                    break
                finished = JobState((await ops.get_job(session, principal, job_id)).state).terminal
                await session.rollback()  # the next look at the job sees it anew
            cell = CellResult.model_validate(ops.outcome(await ops.wait_for_job(caller, job_id, 30)))
    except RunyardError as exc:
        await ws.close(code=4000 + status_of(exc), reason=exc.message[:120])
        return
    if cell.timed_out:
        await ws.close(code=TIMED_OUT, reason=f"the code ran longer than its timeout of {timeout_s}s")
        return
    if cell.error:
        error = dict(cell.error)
        frame = {"type": "error", "name": error.get("ename"), "value": error.get("evalue")}
        await ws.send_text(json.dumps(frame | {"traceback": error.get("traceback") or ""}))
    await ws.close(code=1000)
