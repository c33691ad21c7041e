"""Daytona's toolbox files under /daytona/toolbox/{sandboxId}/files: each call is a sandbox job; bodies are
streamed through Postgres in chunks, never whole in memory on the way in."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from api.daytona.errors import DaytonaRenderer, not_implemented
from api.daytona.file_links import LinkOrKey, upload_field
from api.daytona.toolbox import Toolbox, toolbox
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class, status_of
from core.errors import InvalidInput, RunyardError
from core.job_results import FileEntry, FileListing
from core.jobkinds import JobKind
from core.services import operations as ops

router = APIRouter(prefix="/daytona/toolbox/{sandbox_id}", tags=["daytona"], route_class=route_class(DaytonaRenderer()))


# ------------------------------------------------------------------ files


def _mode(text: str | None, default: int) -> int:
    if not text:
        return default
    try:
        return int(text, 8) & 0o7777
    except ValueError as exc:
        raise InvalidInput.one("mode", "octal", "must be an octal mode such as 755") from exc


def file_info(result: dict[str, Any]) -> dict[str, Any]:
    info = FileEntry.model_validate(result)
    kind = stat.S_IFDIR if info.is_dir else (stat.S_IFLNK if info.is_symlink else stat.S_IFREG)
    permissions = stat.filemode(kind | info.mode)
    owner = "sandbox" if info.uid == 64000 else str("" if info.uid is None else info.uid)
    group = "sandbox" if info.gid == 64000 else str("" if info.gid is None else info.gid)
    modified = datetime.fromtimestamp(info.mtime, UTC).isoformat().replace("+00:00", "Z")
    return {
        "name": info.name,
        "path": info.path,
        "isDir": info.is_dir,
        "size": info.size,
        "mode": format(info.mode, "o"),
        "modTime": modified,
        "modifiedAt": modified,
        "owner": owner,
        "group": group,
        "permissions": permissions,
    }


@router.get("/files")
async def list_files(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep, path: str = "/workspace"
) -> list[dict[str, Any]]:
    tb = await toolbox(sandbox_id, state, session, principal)
    listing = FileListing.model_validate(await tb.run(JobKind.FILES_LIST, {"path": path}))
    return [file_info(e.model_dump()) for e in listing.entries]


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
    await ops.upload(tb.caller, tb.sandbox, path, 0o644, _pieces(upload))


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
@router.post("/files/upload-v2")
async def upload_one(path: str, request: Request, tb: LinkOrKey) -> Response:
    """One file, as multipart field `file`; with an API key, or through a signed link (Daytona's upload_url)."""
    form = await request.form(max_files=1)
    await _upload(tb, path, upload_field(form))
    return Response(status_code=200)


class BulkDownload(BaseModel):
    paths: list[str] = Field(min_length=1, max_length=1000)


async def _download(tb: Toolbox, path: str) -> bytes:
    _, body = await ops.download(tb.caller, tb.sandbox, path)
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
async def download_one(path: str, tb: LinkOrKey) -> Response:
    """With an API key, or through a signed link (Daytona's download_url)."""
    return Response(await _download(tb, path), media_type="application/octet-stream")
