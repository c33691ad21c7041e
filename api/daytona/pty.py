"""Daytona's PTY sessions: a REST record (in Redis, shared by every API process) and a WebSocket that runs it.

Both SDK generations are served: create with POST then connect (older), and the
single create-connect socket (newer, with the exit-control subprotocol). The
terminal itself is a sandbox stream opened by the host's worker.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field

from api.daytona.errors import DaytonaRenderer
from api.deps import PrincipalDep, SessionDep, StateDep, api_key_from
from api.errors import route_class, status_of
from api.state import AppState
from core import constants as c
from core.errors import NotFound, RunyardError
from core.services import sandboxes as svc
from core.services.auth import authenticate
from core.services.streams import LiveStream, open_stream
from core.stream_frames import Channels, Frame, StreamClosed, frame

router = APIRouter(prefix="/daytona/toolbox/{sandbox_id}", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
EXIT_CONTROL = "X-Daytona-Pty-Exit-Control"
ENVS_PREFIX = "X-Daytona-Pty-Envs~"
RECORD_TTL_S = 86400


class PtyCreate(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    cols: int = Field(80, ge=1, le=1000)
    rows: int = Field(24, ge=1, le=1000)
    cwd: str | None = None
    envs: dict[str, str] | None = None
    lazy_start: bool = Field(False, alias="lazyStart")


class PtySize(BaseModel):
    cols: int = Field(ge=1, le=1000)
    rows: int = Field(ge=1, le=1000)


def _key(sandbox_id: str, pty_id: str) -> str:
    return f"{c.KEY_PREFIX}pty:{sandbox_id}:{pty_id}"


def _info(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "active": bool(record.get("channel")),
        "cols": record["cols"],
        "rows": record["rows"],
        "createdAt": record["createdAt"],
        "cwd": record.get("cwd") or "/workspace",
        "envs": record.get("envs") or {},
        "lazyStart": bool(record.get("lazyStart")),
    }


async def _load(state: AppState, sandbox_id: str, pty_id: str) -> dict[str, Any]:
    raw = await state.redis.get(_key(sandbox_id, pty_id))
    if raw is None:
        raise NotFound("PTY session", pty_id)
    record: dict[str, Any] = json.loads(raw)
    return record


async def _save(state: AppState, sandbox_id: str, record: dict[str, Any]) -> None:
    await state.redis.set(_key(sandbox_id, record["id"]), json.dumps(record), ex=RECORD_TTL_S)


def _new_record(body: PtyCreate) -> dict[str, Any]:
    created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": body.id,
        "cols": body.cols,
        "rows": body.rows,
        "cwd": body.cwd,
        "envs": body.envs or {},
        "lazyStart": body.lazy_start,
        "createdAt": created,
        "channel": None,
    }


@router.post("/process/pty", status_code=201)
async def create_pty(
    sandbox_id: str, body: PtyCreate, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, str]:
    sandbox = await svc.get_sandbox(session, principal, sandbox_id)
    await _save(state, str(sandbox.id), _new_record(body))
    return {"sessionId": body.id}


@router.get("/process/pty")
async def list_ptys(sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    sandbox = await svc.get_sandbox(session, principal, sandbox_id)
    sessions = []
    async for key in state.redis.scan_iter(match=_key(str(sandbox.id), "*")):
        raw = await state.redis.get(key)
        if raw:
            sessions.append(_info(json.loads(raw)))
    return {"sessions": sorted(sessions, key=lambda s: str(s["id"]))}


@router.get("/process/pty/{pty_id}")
async def get_pty(
    sandbox_id: str, pty_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    sandbox = await svc.get_sandbox(session, principal, sandbox_id)
    return _info(await _load(state, str(sandbox.id), pty_id))


@router.post("/process/pty/{pty_id}/resize")
async def resize_pty(
    sandbox_id: str, pty_id: str, body: PtySize, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    sandbox = await svc.get_sandbox(session, principal, sandbox_id)
    record = await _load(state, str(sandbox.id), pty_id)
    record.update(cols=body.cols, rows=body.rows)
    await _save(state, str(sandbox.id), record)
    if record.get("channel"):
        await LiveStream(state.redis, record["channel"]).resize(body.cols, body.rows)
    return _info(record)


@router.delete("/process/pty/{pty_id}")
async def kill_pty(
    sandbox_id: str, pty_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, str]:
    sandbox = await svc.get_sandbox(session, principal, sandbox_id)
    record = await _load(state, str(sandbox.id), pty_id)
    if record.get("channel"):
        await state.redis.publish(Channels.of(record["channel"]).inbound, frame(Frame.CLOSE))
    await state.redis.delete(_key(str(sandbox.id), pty_id))
    return {"message": f"PTY session {pty_id} killed"}


async def _control(ws: WebSocket, **fields: Any) -> None:
    await ws.send_text(json.dumps({"type": "control", **fields}))


async def _run(ws: WebSocket, sandbox_id: str, record: dict[str, Any] | None, pty_id: str, exit_control: bool) -> None:
    """Authenticate, open the terminal, say "connected", relay both ways, and report how it ended."""
    state: AppState = ws.app.state.runyard
    try:
        async with state.sessions() as session:
            principal = await authenticate(session, api_key_from(ws), state.keys)
            sandbox = await svc.get_sandbox(session, principal, sandbox_id)
            if record is None:
                record = await _load(state, str(sandbox.id), pty_id)
            await ws.accept(subprotocol=EXIT_CONTROL if exit_control else None)
            params = {
                "kind": "pty",
                "cols": record["cols"],
                "rows": record["rows"],
                "cwd": record.get("cwd"),
                "env": record.get("envs") or {},
            }
            stream = await open_stream(state.caller(session, principal, "daytona"), state.redis, sandbox, params)
    except RunyardError as exc:
        if ws.client_state.name == "CONNECTED":
            await _control(ws, status="error", error=exc.message)
            await ws.close(code=1011, reason=exc.message[:120])
        else:
            await ws.close(code=4000 + status_of(exc), reason=exc.message[:120])
        return
    record["channel"] = stream.channels.name
    await _save(state, str(sandbox.id), record)
    await _control(ws, status="connected")
    exit_code: int | None = None

    async def down() -> None:
        nonlocal exit_code
        async for item in stream.output():
            if isinstance(item, StreamClosed):
                exit_code = item.exit_code if item.exit_code is not None else 0
                return
            await ws.send_bytes(item)

    async def up() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("bytes")
            await stream.send(raw if isinstance(raw, bytes) else str(message.get("text") or "").encode())

    tasks = {asyncio.create_task(down()), asyncio.create_task(up())}
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if exit_code is not None:
            with contextlib.suppress(Exception):
                if exit_control:
                    await _control(ws, status="exited", exitCode=exit_code)
                # Older SDKs read the exit code only from the close reason, and only when the close code is
                # not a normal one (their receive loop swallows 1000): a non-zero exit closes with 4000.
                code = 1000 if exit_control or exit_code == 0 else 4000
                await ws.close(code=code, reason=json.dumps({"exitCode": exit_code}))
    finally:
        await stream.close()
        await state.redis.delete(_key(str(sandbox.id), str(record["id"])))
        with contextlib.suppress(RuntimeError):
            await ws.close()


@router.websocket("/process/pty/{pty_id}/connect")
async def connect_pty(ws: WebSocket, sandbox_id: str, pty_id: str) -> None:
    await _run(ws, sandbox_id, None, pty_id, exit_control=False)


@router.websocket("/process/pty/create-connect")
async def create_connect_pty(
    ws: WebSocket, sandbox_id: str, id: str, cols: int = 80, rows: int = 24, cwd: str | None = None
) -> None:
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    envs: dict[str, str] = {}
    for protocol in offered:
        if protocol.startswith(ENVS_PREFIX):
            encoded = protocol.removeprefix(ENVS_PREFIX)
            with contextlib.suppress(ValueError, binascii.Error):
                envs = {
                    str(k): str(v)
                    for k, v in json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))).items()
                }
    body = PtyCreate(id=id, cols=max(1, min(cols, 1000)), rows=max(1, min(rows, 1000)), cwd=cwd, envs=envs)
    await _run(ws, sandbox_id, _new_record(body), id, exit_control=EXIT_CONTROL in offered)
