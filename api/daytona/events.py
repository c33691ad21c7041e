"""Daytona's event channel: Socket.IO at /daytona/api/socket.io/, where newer SDKs learn of their sandboxes'
state changes instead of waiting for the next poll (`create`, `start`, `stop` return as the state changes).

A client authenticates with its API key in the CONNECT packet ({"token": key}) and joins its tenant's room.
Every change of any sandbox's state reaches every API process through Postgres (a trigger NOTIFYs; each
process LISTENs: migration 0007), and each process tells the clients connected to it about their own
tenant's sandboxes: `sandbox.state.updated` with {id, state, newState, oldState} in Daytona's state names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import psycopg
import socketio
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from api.daytona.dto import STATES
from api.state import AppState
from core.errors import RunyardError
from core.services.auth import authenticate
from core.settings import Settings
from core.states import SandboxState

log = logging.getLogger(__name__)
CHANNEL = "runyard_sandbox_state"
PATH = "daytona/api/socket.io"


def daytona_state(state: str | None, archived: bool) -> str | None:
    if state is None:
        return None
    ours = SandboxState(state)
    return "archived" if archived and ours is SandboxState.STOPPED else STATES[ours]


class Events:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[], logger=False)
        self.sio.on("connect", self._connect)

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        state: AppState = self.app.state.runyard
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            async with state.sessions() as session:
                principal = await authenticate(session, str(token or ""), state.keys)
        except RunyardError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        await self.sio.enter_room(sid, f"tenant:{principal.tenant_id}")

    def asgi(self) -> socketio.ASGIApp:
        """The whole API, with Socket.IO at its path."""
        return socketio.ASGIApp(self.sio, other_asgi_app=self.app, socketio_path=PATH)

    async def announce(self, change: dict[str, Any]) -> None:
        state = daytona_state(change.get("state"), bool(change.get("archived")))
        event = {
            "id": change["id"],
            "state": state,
            "newState": state,
            "oldState": daytona_state(change.get("old_state"), False),
        }
        await self.sio.emit("sandbox.state.updated", event, room=f"tenant:{change['tenant_id']}")

    async def listen(self, settings: Settings) -> None:
        """Forever: LISTEN, and announce each change; after a lost connection, connect again."""
        url = make_url(settings.database.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for notice in conn.notifies():
                        with contextlib.suppress(ValueError, KeyError):
                            await self.announce(json.loads(notice.payload))
            except psycopg.Error as exc:
                log.warning("sandbox events: lost the database; listening again", extra={"error": str(exc)})
                await asyncio.sleep(2)
