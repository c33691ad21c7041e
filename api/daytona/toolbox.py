"""Daytona's toolbox under /daytona/toolbox/{sandboxId}: process, sessions, files. Each call is a sandbox job.

Session output for older SDKs travels multiplexed in one stream, stdout after
\\x01\\x01\\x01 and stderr after \\x02\\x02\\x02, as Daytona's own toolbox sends it.
"""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from api.daytona.errors import DaytonaRenderer, not_implemented
from api.deps import PrincipalDep, SessionDep, StateDep, api_key_from
from api.errors import route_class, status_of
from api.state import AppState
from core.errors import InvalidInput, NotFound, RunyardError
from core.jobkinds import JobKind
from core.models import Sandbox
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import Principal, authenticate
from core.views import b64_text

router = APIRouter(prefix="/daytona/toolbox/{sandbox_id}", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
STDOUT, STDERR = "\x01\x01\x01", "\x02\x02\x02"


def muxed(stdout: str, stderr: str) -> str:
    return (STDOUT + stdout if stdout else "") + (STDERR + stderr if stderr else "")


class Toolbox:
    """One toolbox request: the caller, their sandbox, and a way to run an operation on it."""

    def __init__(self, state: AppState, session: Any, principal: Principal, sandbox: Sandbox) -> None:
        self.state, self.session, self.principal, self.sandbox = state, session, principal, sandbox

    async def run(self, kind: JobKind, payload: dict[str, Any], timeout_ms: int | None = None) -> dict[str, Any]:
        return await ops.run_op(
            self.session,
            self.state.sessions,
            self.state.hub,
            self.principal,
            self.sandbox,
            kind,
            payload,
            self.state.settings,
            timeout_ms,
            "daytona",
        )


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
    payload = {"argv": ["/bin/sh", "-c", body.command], "cwd": body.cwd, "env": body.envs,
               "timeout_ms": timeout_ms, "merge_output": True}  # fmt: skip
    result = await tb.run(JobKind.EXEC, payload, timeout_ms)
    exit_code = result.get("exit_code")
    return {"exitCode": 124 if result.get("timed_out") else exit_code, "result": b64_text(result.get("stdout"))}


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


def _command(view: dict[str, Any]) -> dict[str, Any]:
    return {"id": view["id"], "command": view["command"], "exitCode": view.get("exit_code")}


@router.post("/process/session", status_code=201)
async def create_session(
    sandbox_id: str, body: SessionCreate, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    await tb.run(JobKind.SESSION_CREATE, {"session": body.session_id})
    return Response(status_code=201)


async def _sessions(tb: Toolbox) -> list[dict[str, Any]]:
    listed = await tb.run(JobKind.SESSION_LIST, {})
    return [
        {"sessionId": s["session"], "commands": [_command(c) for c in s.get("commands", [])]}
        for s in listed.get("sessions", [])
    ]


@router.get("/process/session")
async def list_sessions(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    return await _sessions(await toolbox(sandbox_id, state, session, principal))


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
    view = await tb.run(JobKind.SESSION_EXEC, payload, timeout_ms)
    if run_async:
        return JSONResponse({"cmdId": view["id"]}, status_code=202)
    stdout, stderr = b64_text(view.get("stdout")), b64_text(view.get("stderr"))
    answer = {"cmdId": view["id"], "exitCode": view.get("exit_code"), "output": muxed(stdout, stderr),
              "stdout": stdout, "stderr": stderr}  # fmt: skip
    return JSONResponse(answer)


@router.get("/process/session/{name}/command/{command_id}")
async def get_command(
    sandbox_id: str, name: str, command_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    tb = await toolbox(sandbox_id, state, session, principal)
    return _command(await tb.run(JobKind.SESSION_COMMAND, {"session": name, "command_id": command_id}))


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
    tb = await toolbox(sandbox_id, state, session, principal)
    view = await tb.run(JobKind.SESSION_COMMAND, {"session": name, "command_id": command_id})
    stdout, stderr = b64_text(view.get("stdout")), b64_text(view.get("stderr"))
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"output": stdout + stderr, "stdout": stdout, "stderr": stderr})
    return Response(muxed(stdout, stderr), media_type="text/plain")


@router.websocket("/process/session/{name}/command/{command_id}/logs")
async def follow_command_logs(ws: WebSocket, sandbox_id: str, name: str, command_id: str) -> None:
    """Follow a command's output until it ends: polled from the sandbox, new bytes sent as they appear."""
    state: AppState = ws.app.state.runyard
    try:
        async with state.sessions() as session:
            principal = await authenticate(session, api_key_from(ws), state.keys)
            tb = Toolbox(state, session, principal, await svc.get_sandbox(session, principal, sandbox_id))
            await ws.accept()
            sent_out = sent_err = 0
            while True:
                view = await tb.run(JobKind.SESSION_COMMAND, {"session": name, "command_id": command_id})
                stdout, stderr = b64_text(view.get("stdout")), b64_text(view.get("stderr"))
                chunk = muxed(stdout[sent_out:], stderr[sent_err:])
                sent_out, sent_err = len(stdout), len(stderr)
                if chunk:
                    await ws.send_text(chunk)
                if not view.get("running"):
                    break
                await asyncio.sleep(0.5)
    except RunyardError as exc:
        await ws.close(code=4000 + status_of(exc), reason=exc.message[:120])
        return
    await ws.close(code=1000)


# ------------------------------------------------------------------ files


def _mode(text: str | None, default: int) -> int:
    if not text:
        return default
    try:
        return int(text, 8) & 0o7777
    except ValueError as exc:
        raise InvalidInput.one("mode", "octal", "must be an octal mode such as 755") from exc


def file_info(info: dict[str, Any]) -> dict[str, Any]:
    mode = int(info["mode"])
    kind = stat.S_IFDIR if info["is_dir"] else (stat.S_IFLNK if info["is_symlink"] else stat.S_IFREG)
    permissions = stat.filemode(kind | mode)
    owner = "sandbox" if info.get("uid") == 64000 else str(info.get("uid", ""))
    group = "sandbox" if info.get("gid") == 64000 else str(info.get("gid", ""))
    modified = datetime.fromtimestamp(float(info["mtime"]), UTC).isoformat().replace("+00:00", "Z")
    return {
        "name": info["name"], "path": info["path"], "isDir": info["is_dir"], "size": int(info["size"]),
        "mode": format(mode, "o"), "modTime": modified, "modifiedAt": modified, "owner": owner, "group": group,
        "permissions": permissions,
    }  # fmt: skip


@router.get("/files")
async def list_files(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep, path: str = "/workspace"
) -> list[dict[str, Any]]:
    tb = await toolbox(sandbox_id, state, session, principal)
    return [file_info(e) for e in (await tb.run(JobKind.FILES_LIST, {"path": path}))["entries"]]


@router.get("/files/info")
async def get_file_info(
    sandbox_id: str, path: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    tb = await toolbox(sandbox_id, state, session, principal)
    return file_info(await tb.run(JobKind.FILES_STAT, {"path": path}))


@router.post("/files/folder", status_code=201)
async def create_folder(
    sandbox_id: str, path: str, state: StateDep, session: SessionDep, principal: PrincipalDep, mode: str = "755"
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    await tb.run(JobKind.FILES_MKDIR, {"path": path, "mode": _mode(mode, 0o755), "parents": True})
    return Response(status_code=201)


@router.delete("/files", status_code=204)
async def delete_file(
    sandbox_id: str, path: str, state: StateDep, session: SessionDep, principal: PrincipalDep, recursive: bool = False
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    await tb.run(JobKind.FILES_DELETE, {"path": path, "recursive": recursive})
    return Response(status_code=204)


@router.post("/files/permissions")
async def set_permissions(
    sandbox_id: str,
    path: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    mode: str | None = None,
    owner: str | None = None,
    group: str | None = None,
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)  # an unknown sandbox is a 404 first
    if owner not in (None, "", "sandbox") or group not in (None, "", "sandbox"):
        return not_implemented("changing a file's owner or group (sandboxed code has one user, 'sandbox')")
    if mode:
        await tb.run(JobKind.FILES_CHMOD, {"path": path, "mode": _mode(mode, 0o644)})
    return Response(status_code=200)


@router.post("/files/move")
async def move_file(
    sandbox_id: str, source: str, destination: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    await tb.run(JobKind.FILES_MOVE, {"source": source, "destination": destination, "overwrite": True})
    return Response(status_code=200)


@router.get("/files/find")
async def find_in_files(
    sandbox_id: str, path: str, pattern: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    """Daytona's find searches contents (ours: search)."""
    tb = await toolbox(sandbox_id, state, session, principal)
    found = await tb.run(JobKind.FILES_GREP, {"path": path, "pattern": pattern})
    return [{"file": m["path"], "line": m["line"], "content": m["content"]} for m in found["matches"]]


@router.get("/files/search")
async def search_files(
    sandbox_id: str, path: str, pattern: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, list[str]]:
    """Daytona's search matches names by glob (ours: find)."""
    tb = await toolbox(sandbox_id, state, session, principal)
    return {"files": (await tb.run(JobKind.FILES_FIND, {"path": path, "pattern": pattern}))["paths"]}


class ReplaceRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    files: list[str] = Field(max_length=1000)
    pattern: str = Field(min_length=1)
    new_value: str = Field("", alias="newValue")


@router.post("/files/replace")
async def replace_in_files(
    sandbox_id: str, body: ReplaceRequest, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    tb = await toolbox(sandbox_id, state, session, principal)
    results = []
    for path in body.files:
        try:
            await tb.run(JobKind.FILES_REPLACE, {"path": path, "pattern": body.pattern, "new": body.new_value})
            results.append({"file": path, "success": True})
        except RunyardError as exc:
            results.append({"file": path, "success": False, "error": exc.message})
    return results


async def _pieces(upload: UploadFile) -> AsyncIterator[bytes]:
    while piece := await upload.read(1 << 20):
        yield piece


async def _upload(tb: Toolbox, path: str, upload: UploadFile) -> None:
    await ops.upload(
        tb.session,
        tb.state.sessions,
        tb.state.hub,
        tb.principal,
        tb.sandbox,
        path,
        0o644,
        _pieces(upload),
        tb.state.settings,
        "daytona",
    )


@router.post("/files/bulk-upload")
async def bulk_upload(
    sandbox_id: str, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    """multipart: files[i].path (where) and files[i].file (the bytes); the part's filename is not trusted."""
    tb = await toolbox(sandbox_id, state, session, principal)
    form = await request.form(max_files=1000, max_fields=2000)
    paths: dict[str, str] = {}
    files: dict[str, UploadFile] = {}
    for key, value in form.multi_items():
        index, _, field = key.rpartition(".")
        if field == "path" and isinstance(value, str):
            paths[index] = value
        elif field == "file" and isinstance(value, UploadFile):
            files[index] = value
    if not files or set(files) != set(paths):
        raise InvalidInput.one("files", "pairs", "each files[i].file needs its files[i].path")
    for index, upload in files.items():
        await _upload(tb, paths[index], upload)
    return Response(status_code=200)


@router.post("/files/upload")
async def upload_one(
    sandbox_id: str, path: str, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    form = await request.form(max_files=1)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput.one("file", "required", "a multipart field named file")
    await _upload(tb, path, upload)
    return Response(status_code=200)


class BulkDownload(BaseModel):
    paths: list[str] = Field(min_length=1, max_length=1000)


async def _download(tb: Toolbox, path: str) -> bytes:
    _, body = await ops.download(
        tb.session, tb.state.sessions, tb.state.hub, tb.principal, tb.sandbox, path, tb.state.settings, "daytona"
    )
    return b"".join([chunk async for chunk in body])


@router.post("/files/bulk-download")
async def bulk_download(
    sandbox_id: str, body: BulkDownload, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    """One multipart part per path, named by the path asked for; failures as JSON parts named error."""
    tb = await toolbox(sandbox_id, state, session, principal)
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for path in body.paths:
        quoted = path.replace('"', "%22")
        try:
            data = await _download(tb, path)
            head = f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            head += "Content-Type: application/octet-stream\r\n"
        except RunyardError as exc:
            status = status_of(exc)
            data = json.dumps({"message": exc.message, "statusCode": status, "code": type(exc).__name__}).encode()
            head = f'Content-Disposition: form-data; name="error"; filename="{quoted}"\r\n'
            head += "Content-Type: application/json\r\n"
        parts.append(f"--{boundary}\r\n{head}\r\n".encode() + data + b"\r\n")
    content = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return Response(content, media_type=f"multipart/form-data; boundary={boundary}")


@router.get("/files/download")
async def download_one(
    sandbox_id: str, path: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    tb = await toolbox(sandbox_id, state, session, principal)
    return Response(await _download(tb, path), media_type="application/octet-stream")
