"""Reaching a server inside a sandbox: /v1/sandboxes/{id}/ports/{port}/{path}, any method.

The request goes through a tunnel to 127.0.0.1:<port> inside the sandbox and
nowhere else; the response streams back. The caller's Runyard key is never
forwarded to the sandbox.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse

from api.deps import PrincipalDep, SessionDep, StateDep, api_key_from
from api.errors import route_class, status_of
from api.novnc import with_websocket_path
from api.state import AppState
from api.tunnel_http import forward, forwardable, open_tunnel, upstream_target
from api.tunnel_ws import serve
from api.v1.errors import NativeRenderer, body
from core.errors import RunyardError
from core.services import sandboxes as svc
from core.services.auth import authenticate

router = APIRouter(prefix="/v1", tags=["sandboxes"], route_class=route_class(NativeRenderer()))
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
OUR_HEADERS = {"x-auth-token", "authorization"}
PortPath = Annotated[int, Path(ge=1, le=65535)]


def _our_key(query_part: str) -> bool:
    """The API key given as a query parameter: it stays here, never reaches the sandbox."""
    return query_part.lower().startswith("x-auth-token=")


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
    key = next((part for part in request_in.url.query.split("&") if _our_key(part)), None)
    novnc = with_websocket_path(request_in, path, f"v1/sandboxes/{sandbox.id}/ports/{port}", key)
    if novnc is not None:
        return RedirectResponse(novnc, status_code=307)
    payload = await request_in.body()
    target = upstream_target(path, request_in.url.query, _our_key)
    stream = await open_tunnel(state, session, principal, sandbox, port)
    headers = forwardable(request_in.headers.items(), OUR_HEADERS)
    return await forward(
        stream,
        request_in.method,
        target,
        port,
        headers,
        payload,
        lambda reason: JSONResponse(body("bad_gateway", reason), status_code=502),
    )


@router.websocket("/sandboxes/{ident}/ports/{port}/{path:path}")
async def proxy_websocket(ws: WebSocket, ident: str, port: int, path: str) -> None:
    """A WebSocket to the server on `port` inside the sandbox (noVNC, dev servers' live reload)."""
    state: AppState = ws.app.state.runyard
    if not 1 <= port <= 65535:
        await ws.close(code=4422, reason="port must be between 1 and 65535")
        return
    target = upstream_target(path, ws.url.query, _our_key)
    try:
        async with state.sessions() as session:
            principal = await authenticate(session, api_key_from(ws), state.keys)
            sandbox = await svc.get_sandbox(session, principal, ident)
            stream = await open_tunnel(state, session, principal, sandbox, port)
    except RunyardError as exc:
        await ws.close(code=4000 + status_of(exc), reason=exc.message[:120])
        return
    await serve(ws, stream, port, target)
