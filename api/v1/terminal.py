"""A terminal in a sandbox over WebSocket: /v1/sandboxes/{id}/terminal.

Binary frames carry the terminal's bytes both ways; a text frame
{"resize": [cols, rows]} resizes it. When the shell ends, a text frame
{"exit_code": N} comes last, then the socket closes (1000). Authentication is
the API key, as a header or as the X-Auth-Token query parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.deps import api_key_from
from api.errors import status_of
from api.state import AppState
from core.errors import RunyardError
from core.services import sandboxes as svc
from core.services.auth import authenticate
from core.services.streams import LiveStream, open_stream
from core.stream_frames import StreamClosed

router = APIRouter(prefix="/v1", tags=["sandboxes"])


async def pump_output(ws: WebSocket, stream: LiveStream) -> None:
    async for item in stream.output():
        if isinstance(item, StreamClosed):
            await ws.send_text(json.dumps({"exit_code": item.exit_code, "error": item.error}))
            return
        await ws.send_bytes(item)


async def pump_input(ws: WebSocket, stream: LiveStream) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            await stream.send(message["bytes"])
        elif message.get("text") is not None:
            try:
                cols, rows = json.loads(message["text"])["resize"]
                await stream.resize(int(cols), int(rows))
            except (ValueError, KeyError, TypeError):
                await stream.send(message["text"].encode())  # plain text is typed input


@router.websocket("/sandboxes/{ident}/terminal")
async def terminal(ws: WebSocket, ident: str, cols: int = 80, rows: int = 24, cwd: str | None = None) -> None:
    state: AppState = ws.app.state.runyard
    try:
        async with state.sessions() as session:
            principal = await authenticate(session, api_key_from(ws), state.keys)
            sandbox = await svc.get_sandbox(session, principal, ident)
            params = {"kind": "pty", "cols": max(1, min(cols, 1000)), "rows": max(1, min(rows, 1000)), "cwd": cwd}
            stream = await open_stream(state.caller(session, principal, "v1"), state.redis, sandbox, params)
    except RunyardError as exc:
        await ws.close(code=4000 + status_of(exc), reason=exc.message[:120])
        return
    await ws.accept()
    try:
        output = asyncio.create_task(pump_output(ws, stream))
        typing = asyncio.create_task(pump_input(ws, stream))
        _, pending = await asyncio.wait({output, typing}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await task
    finally:
        await stream.close()
        with contextlib.suppress(RuntimeError):
            await ws.close()
