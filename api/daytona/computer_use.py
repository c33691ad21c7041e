"""Daytona's computer-use toolbox under /daytona/toolbox/{sandboxId}/computeruse: the sandbox's display.

Each call is one `sandbox.computer_use` job: the sandbox's agent drives the display with the image's
own tools (xdotool, ffmpeg, wmctrl; the desktop template has them) and answers in plain names, which
this module puts in Daytona's shapes (recordings: computer_use_recordings.py). The accessibility tree
answers a deliberate 501.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.daytona.errors import DaytonaRenderer, not_implemented
from api.daytona.toolbox import toolbox
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from core.jobkinds import JobKind

router = APIRouter(
    prefix="/daytona/toolbox/{sandbox_id}/computeruse", tags=["daytona"], route_class=route_class(DaytonaRenderer())
)
TIMEOUT_MS = 60_000
Coordinate = Annotated[int, Field(ge=0, le=100_000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class MouseMove(Body):
    x: Coordinate
    y: Coordinate


class MouseButton(Body):
    x: Coordinate | None = None
    y: Coordinate | None = None
    button: str = Field("left", max_length=10)


class MouseClick(Body):
    x: Coordinate
    y: Coordinate
    button: str = Field("left", max_length=10)
    double: bool = False
    clicks: int | None = Field(None, ge=1, le=10)
    modifiers: list[str] | None = Field(None, max_length=4)


class MouseDrag(Body):
    start_x: Coordinate = Field(alias="startX")
    start_y: Coordinate = Field(alias="startY")
    end_x: Coordinate = Field(alias="endX")
    end_y: Coordinate = Field(alias="endY")
    button: str = Field("left", max_length=10)
    modifiers: list[str] | None = Field(None, max_length=4)


class MouseScroll(Body):
    x: Coordinate
    y: Coordinate
    direction: str = Field(max_length=10)
    amount: int = Field(1, ge=0, le=100)
    modifiers: list[str] | None = Field(None, max_length=4)


class KeyboardType(Body):
    text: str = Field(max_length=100_000)
    delay: int | None = Field(None, ge=0, le=1000, description="ms between keys")


class KeyboardPress(Body):
    key: str = Field(max_length=100)
    modifiers: list[str] | None = Field(None, max_length=4)


class KeyboardHotkey(Body):
    keys: str = Field(max_length=200)


class KeyboardKey(Body):
    key: str = Field(max_length=100)


async def act(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep, action: str, **params: Any
) -> dict[str, Any]:
    tb = await toolbox(sandbox_id, state, session, principal)
    payload = {"action": action, "params": {k: v for k, v in params.items() if v is not None}}
    return await tb.run(JobKind.COMPUTER_USE, payload, TIMEOUT_MS)


def _position(result: dict[str, Any]) -> dict[str, int]:
    return {"x": int(result["x"]), "y": int(result["y"])}


# ------------------------------------------------------------------ the desktop and its programs


def _programs(result: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"running": p["running"], "pid": p.get("pid"), "autoRestart": True}
        for name, p in (result.get("programs") or {}).items()
    }


@router.post("/start")
async def start(sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "desktop.start")
    return {"message": "computer use started", "status": _programs(result)}


@router.post("/stop")
async def stop(sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    await act(sandbox_id, state, session, principal, "desktop.stop")
    return {"message": "computer use stopped", "status": {}}


@router.get("/process-status")
@router.get("/status")
async def status(sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "desktop.status")
    return {"status": result["status"]}


@router.get("/process/{process}/status")
async def process_status(
    sandbox_id: str, process: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "process.status", process=process)
    return {"processName": process, "running": result["running"]}


@router.post("/process/{process}/restart")
async def process_restart(
    sandbox_id: str, process: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "process.restart", process=process)
    return {"processName": process, "message": result["message"]}


@router.get("/process/{process}/logs")
async def process_logs(
    sandbox_id: str, process: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "process.logs", process=process)
    return {"processName": process, "logs": result["logs"]}


@router.get("/process/{process}/errors")
async def process_errors(
    sandbox_id: str, process: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "process.errors", process=process)
    return {"processName": process, "errors": result["errors"]}


# ------------------------------------------------------------------ mouse


@router.get("/mouse/position")
async def mouse_position(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, int]:
    return _position(await act(sandbox_id, state, session, principal, "mouse.position"))


@router.post("/mouse/move")
async def mouse_move(
    sandbox_id: str, body: MouseMove, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, int]:
    return _position(await act(sandbox_id, state, session, principal, "mouse.move", x=body.x, y=body.y))


@router.post("/mouse/down")
async def mouse_down(
    sandbox_id: str, body: MouseButton, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, int]:
    result = await act(sandbox_id, state, session, principal, "mouse.down", **body.model_dump())
    return _position(result)


@router.post("/mouse/up")
async def mouse_up(
    sandbox_id: str, body: MouseButton, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, int]:
    return _position(await act(sandbox_id, state, session, principal, "mouse.up", **body.model_dump()))


@router.post("/mouse/click")
async def mouse_click(
    sandbox_id: str, body: MouseClick, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, int]:
    return _position(await act(sandbox_id, state, session, principal, "mouse.click", **body.model_dump()))


@router.post("/mouse/drag")
async def mouse_drag(
    sandbox_id: str, body: MouseDrag, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, int]:
    return _position(await act(sandbox_id, state, session, principal, "mouse.drag", **body.model_dump()))


@router.post("/mouse/scroll")
async def mouse_scroll(
    sandbox_id: str, body: MouseScroll, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, bool]:
    result = await act(sandbox_id, state, session, principal, "mouse.scroll", **body.model_dump())
    return {"success": bool(result.get("success"))}


# ------------------------------------------------------------------ keyboard


@router.post("/keyboard/type")
async def keyboard_type(
    sandbox_id: str, body: KeyboardType, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await act(sandbox_id, state, session, principal, "keyboard.type", **body.model_dump())


@router.post("/keyboard/key")
async def keyboard_key(
    sandbox_id: str, body: KeyboardPress, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await act(sandbox_id, state, session, principal, "keyboard.key", **body.model_dump())


@router.post("/keyboard/hotkey")
async def keyboard_hotkey(
    sandbox_id: str, body: KeyboardHotkey, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await act(sandbox_id, state, session, principal, "keyboard.hotkey", keys=body.keys)


@router.post("/keyboard/down")
async def keyboard_down(
    sandbox_id: str, body: KeyboardKey, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await act(sandbox_id, state, session, principal, "keyboard.down", key=body.key)


@router.post("/keyboard/up")
async def keyboard_up(
    sandbox_id: str, body: KeyboardKey, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await act(sandbox_id, state, session, principal, "keyboard.up", key=body.key)


# ------------------------------------------------------------------ screenshots and the display

ShowCursor = Annotated[bool, Query(alias="showCursor")]
Region = Annotated[int, Query(ge=0, le=100_000)]
Format = Annotated[str | None, Query(pattern="^(png|jpeg|jpg|webp)$")]
Quality = Annotated[int | None, Query(ge=1, le=100)]
Scale = Annotated[float | None, Query(gt=0, le=4)]


async def _shot(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep, **params: Any
) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "screenshot", **params)
    return {
        "screenshot": result["screenshot"],
        "cursorPosition": _position(result["cursor"]),
        "sizeBytes": int(result["size_bytes"]),
    }


@router.get("/screenshot")
async def screenshot(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep, show_cursor: ShowCursor = False
) -> dict[str, Any]:
    return await _shot(sandbox_id, state, session, principal, show_cursor=show_cursor)


@router.get("/screenshot/region")
async def screenshot_region(
    sandbox_id: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    x: Region,
    y: Region,
    width: Region,
    height: Region,
    show_cursor: ShowCursor = False,
) -> dict[str, Any]:
    region = {"x": x, "y": y, "width": width, "height": height}
    return await _shot(sandbox_id, state, session, principal, show_cursor=show_cursor, **region)


@router.get("/screenshot/compressed")
async def screenshot_compressed(
    sandbox_id: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    show_cursor: ShowCursor = False,
    format: Format = None,
    quality: Quality = None,
    scale: Scale = None,
) -> dict[str, Any]:
    options = {"format": format or "jpeg", "quality": quality, "scale": scale}
    return await _shot(sandbox_id, state, session, principal, show_cursor=show_cursor, **options)


@router.get("/screenshot/region/compressed")
async def screenshot_region_compressed(
    sandbox_id: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    x: Region,
    y: Region,
    width: Region,
    height: Region,
    show_cursor: ShowCursor = False,
    format: Format = None,
    quality: Quality = None,
    scale: Scale = None,
) -> dict[str, Any]:
    options = {"format": format or "jpeg", "quality": quality, "scale": scale}
    region = {"x": x, "y": y, "width": width, "height": height}
    return await _shot(sandbox_id, state, session, principal, show_cursor=show_cursor, **region, **options)


@router.get("/display/info")
async def display_info(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "display.info")
    return {"displays": [_active(d) for d in result["displays"]]}


@router.get("/display/windows")
async def display_windows(
    sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    result = await act(sandbox_id, state, session, principal, "display.windows")
    return {"windows": [_active(w) for w in result["windows"]]}


def _active(item: dict[str, Any]) -> dict[str, Any]:
    """The agent's is_active as Daytona's isActive."""
    return {**{k: v for k, v in item.items() if k != "is_active"}, "isActive": bool(item.get("is_active"))}


# ------------------------------------------------------------------ not here


@router.api_route("/a11y/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def accessibility(sandbox_id: str, path: str, principal: PrincipalDep) -> JSONResponse:
    return not_implemented("computer use: the accessibility tree (AT-SPI)")
