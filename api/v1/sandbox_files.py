"""Native /v1 routes for a sandbox's files: content up and down (streamed), list, stat, and changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import PrincipalDep, SessionDep, StateDep
from api.v1.sandbox_common import CallDep, PathQuery, sandbox_router
from api.v1.sandbox_schemas import (
    ChmodBody,
    FileInfo,
    MkdirBody,
    MoveBody,
)
from core.job_results import FileListing
from core.jobkinds import JobKind
from core.services import operations as ops
from core.services import sandboxes as svc

router = sandbox_router()


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
    return await ops.upload(state.caller(session, principal), sandbox, path, int(mode, 8), request.stream())


@router.get("/sandboxes/{ident}/files/content")
async def download_file(
    ident: str, path: PathQuery, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    """The file's bytes, exactly."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    size, body = await ops.download(state.caller(session, principal), sandbox, path)
    headers = {"Content-Length": str(size)}
    return StreamingResponse(body, media_type="application/octet-stream", headers=headers)


@router.get("/sandboxes/{ident}/files")
async def list_files(
    ident: str,
    call: CallDep,
    path: PathQuery = "/workspace",
) -> Any:
    result = await call.op(ident, JobKind.FILES_LIST, {"path": path})
    listing = FileListing.model_validate(result)
    return {"path": listing.path, "entries": [FileInfo.of(e.model_dump()) for e in listing.entries]}


@router.get("/sandboxes/{ident}/files/stat", response_model=FileInfo)
async def stat_file(ident: str, path: PathQuery, call: CallDep) -> Any:
    result = await call.op(ident, JobKind.FILES_STAT, {"path": path})
    return FileInfo.of(result)


@router.post("/sandboxes/{ident}/files/mkdir", response_model=FileInfo)
async def make_dir(ident: str, body: MkdirBody, call: CallDep) -> Any:
    payload = {"path": body.path, "mode": int(body.mode, 8), "parents": body.parents}
    result = await call.op(ident, JobKind.FILES_MKDIR, payload)
    return FileInfo.of(result)


@router.delete("/sandboxes/{ident}/files")
async def delete_file(
    ident: str,
    path: PathQuery,
    call: CallDep,
    recursive: bool = False,
) -> Any:
    payload = {"path": path, "recursive": recursive}
    return await call.op(ident, JobKind.FILES_DELETE, payload)


@router.post("/sandboxes/{ident}/files/move", response_model=FileInfo)
async def move_file(ident: str, body: MoveBody, call: CallDep) -> Any:
    payload = body.model_dump()
    result = await call.op(ident, JobKind.FILES_MOVE, payload)
    return FileInfo.of(result)


@router.post("/sandboxes/{ident}/files/chmod", response_model=FileInfo)
async def chmod_file(ident: str, body: ChmodBody, call: CallDep) -> Any:
    payload = {"path": body.path, "mode": int(body.mode, 8)}
    result = await call.op(ident, JobKind.FILES_CHMOD, payload)
    return FileInfo.of(result)


@router.get("/sandboxes/{ident}/files/find")
async def find_files(
    ident: str,
    pattern: Annotated[str, Query(min_length=1, max_length=1000, description="A glob on file names")],
    call: CallDep,
    path: PathQuery = "/workspace",
) -> Any:
    return await call.op(ident, JobKind.FILES_FIND, {"path": path, "pattern": pattern})


@router.get("/sandboxes/{ident}/files/search")
async def search_files(
    ident: str,
    pattern: Annotated[str, Query(min_length=1, max_length=1000, description="A regular expression on lines")],
    call: CallDep,
    path: PathQuery = "/workspace",
) -> Any:
    return await call.op(ident, JobKind.FILES_GREP, {"path": path, "pattern": pattern})
