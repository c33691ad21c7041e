"""Daytona's computer-use recordings: MP4 files ffmpeg writes in the sandbox (its x11grab of the display),
started, stopped, listed, fetched and deleted as `sandbox.computer_use` jobs; downloads go through the
file API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import Field

from api.daytona.computer_use import Body, act
from api.daytona.errors import DaytonaRenderer
from api.daytona.toolbox import toolbox
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from core.services import operations as ops

router = APIRouter(
    prefix="/daytona/toolbox/{sandbox_id}/computeruse/recordings",
    tags=["daytona"],
    route_class=route_class(DaytonaRenderer()),
)


class StartRecording(Body):
    label: str | None = Field(None, max_length=100)


class StopRecording(Body):
    id: str = Field(max_length=64)


def _recording(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "fileName": r["file_name"],
        "filePath": r["file_path"],
        "startTime": r["start_time"],
        "endTime": r.get("end_time"),
        "status": r["status"],
        "durationSeconds": r.get("duration_seconds"),
        "sizeBytes": r.get("size_bytes"),
    }


@router.post("/start", status_code=201)
async def recording_start(
    sandbox_id: str, body: StartRecording, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _recording(await act(sandbox_id, state, session, principal, "recording.start", label=body.label))


@router.post("/stop")
async def recording_stop(
    sandbox_id: str, body: StopRecording, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _recording(await act(sandbox_id, state, session, principal, "recording.stop", id=body.id))


@router.get("")
async def recordings(sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "recording.list")
    return {"recordings": [_recording(r) for r in result["recordings"]]}


@router.get("/{recording_id}")
async def recording(
    sandbox_id: str, recording_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _recording(await act(sandbox_id, state, session, principal, "recording.get", id=recording_id))


@router.delete("/{recording_id}", status_code=204)
async def recording_delete(
    sandbox_id: str, recording_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    await act(sandbox_id, state, session, principal, "recording.delete", id=recording_id)
    return Response(status_code=204)


@router.get("/{recording_id}/download")
async def recording_download(
    sandbox_id: str, recording_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> StreamingResponse:
    found = await act(sandbox_id, state, session, principal, "recording.get", id=recording_id)
    tb = await toolbox(sandbox_id, state, session, principal)
    size, body = await ops.download(tb.caller, tb.sandbox, str(found["file_path"]))
    headers = {"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{found["file_name"]}"'}
    return StreamingResponse(body, media_type="video/mp4", headers=headers)
