"""Reaching a server inside a sandbox: /v1/sandboxes/{id}/ports/{port}/{path}, any method.

The request goes through a tunnel to 127.0.0.1:<port> inside the sandbox and
nowhere else; the response streams back. The caller's Runyard key is never
forwarded to the sandbox.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import PrincipalDep, SessionDep, StateDep, api_key_from
from api.errors import route_class, status_of
from api.state import AppState
from api.tunnel_http import TunnelBroken, forwardable, request
from api.tunnel_ws import HandshakeFailed, UpstreamSocket, relay
from api.v1.errors import NativeRenderer, body
from core.errors import RunyardError
from core.services import sandboxes as svc
from core.services.auth import authenticate
from core.services.streams import open_stream

router = APIRouter(prefix="/v1", tags=["sandboxes"], route_class=route_class(NativeRenderer()))
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
OUR_HEADERS = {"x-auth-token", "authorization"}
PortPath = Annotated[int, Path(ge=1, le=65535)]


@router.api_route("/sandboxes/{ident}/ports/{port}/{path:path}", methods=METHODS, include_in_schema=True)
async def proxy(
    ident: str,
    port: PortPath,
    path: str,
    request_in: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Forward this request to the server listening on `port` inside the sandbox."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    payload = await request_in.body()
    query = "&".join(
        part for part in request_in.url.query.split("&") if part and not part.lower().startswith("x-auth-token=")
    )
    target = "/" + path + (f"?{query}" if query else "")
    stream = await open_stream(
        session, state.sessions, state.hub, state.redis, principal, sandbox, {"kind": "tcp", "port": port},
        state.settings,
    )  # fmt: skip
    headers = forwardable(request_in.headers.items(), OUR_HEADERS)
    try:
        upstream = await request(stream, request_in.method, target, port, headers, payload)
    except TunnelBroken as exc:
        await stream.close()
        return JSONResponse(body("bad_gateway", str(exc)), status_code=502)
    response = StreamingResponse(upstream.body, status_code=upstream.status)
    response.raw_headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in forwardable(upstream.headers, set())
    ]
    return response


@router.websocket("/sandboxes/{ident}/ports/{port}/{path:path}")
async def proxy_websocket(ws: WebSocket, ident: str, port: int, path: str) -> None:
    """A WebSocket to the server on `port` inside the sandbox (noVNC, dev servers' live reload)."""
    state: AppState = ws.app.state.runyard
    if not 1 <= port <= 65535:
        await ws.close(code=4422, reason="port must be between 1 and 65535")
        return
    query = "&".join(p for p in ws.url.query.split("&") if p and not p.lower().startswith("x-auth-token="))
    target = "/" + path + (f"?{query}" if query else "")
    subprotocols = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    try:
        async with state.sessions() as session:
            principal = await authenticate(session, api_key_from(ws), state.keys)
            sandbox = await svc.get_sandbox(session, principal, ident)
            stream = await open_stream(
                session, state.sessions, state.hub, state.redis, principal, sandbox, {"kind": "tcp", "port": port},
                state.settings,
            )  # fmt: skip
    except RunyardError as exc:
        await ws.close(code=4000 + status_of(exc), reason=exc.message[:120])
        return
    upstream = UpstreamSocket(stream, port, target, subprotocols)
    try:
        try:
            await upstream.handshake()
        except HandshakeFailed as exc:
            await ws.close(code=4502, reason=str(exc)[:120])
            return
        await ws.accept(subprotocol=upstream.accepted_subprotocol)
        await relay(ws, upstream)
    finally:
        await stream.close()
        with contextlib.suppress(RuntimeError):
            await ws.close()
