"""Daytona's preview links: /daytona/preview/{sandboxId}/{port}/... reaches that port inside the sandbox.

No API key is needed: the sandbox's preview token is (header x-daytona-preview-token, query ?token=, or the
cookie set after the first authorised request, so a browser can load the page's assets), unless the sandbox
is public. Requests reach 127.0.0.1:<port> inside that one sandbox and nowhere else.
"""

from __future__ import annotations

import hmac
import uuid

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.requests import HTTPConnection

from api.daytona.errors import DaytonaRenderer, error_body
from api.deps import StateDep
from api.errors import route_class, status_of
from api.novnc import with_websocket_path
from api.state import AppState
from api.tunnel_http import forward, forwardable, open_tunnel, upstream_target
from api.tunnel_ws import serve
from core import signed_previews
from core.errors import NotFound, PermissionDenied, RunyardError
from core.schemas import SandboxRecord
from core.services import sandboxes as svc
from core.services.auth import Principal
from core.services.streams import LiveStream
from core.states import SandboxState

router = APIRouter(prefix="/daytona/preview", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
TOKEN_HEADER = "x-daytona-preview-token"  # noqa: S105 - a header name, not a secret
OURS = {TOKEN_HEADER, "x-auth-token", "authorization"}


def _cookie(sandbox_id: uuid.UUID) -> str:
    return f"runyard_preview_{sandbox_id.hex}"


async def _authorise(
    state: AppState, conn: HTTPConnection, sandbox_id: str, port: int
) -> tuple[SandboxRecord, str | None]:
    """The sandbox, if this caller may reach it; and the cookie to set (the token it came with), if any.

    A token is the sandbox's preview token (every port) or a signed link's (one port, until it expires)."""
    try:
        ident = uuid.UUID(sandbox_id)
    except ValueError as exc:
        raise NotFound("sandbox", sandbox_id) from exc
    if not 1 <= port <= 65535:
        raise NotFound("port", str(port))
    async with state.sessions() as session:
        sandbox = await svc.sandbox_by_id(session, ident)
    if sandbox is None or sandbox.state == SandboxState.DELETED:
        raise NotFound("sandbox", sandbox_id)
    if sandbox.public:
        return sandbox, None
    offered = conn.headers.get(TOKEN_HEADER) or conn.query_params.get("token")
    if offered and await _opens(state, sandbox, port, offered):
        return sandbox, offered
    cookie = conn.cookies.get(_cookie(ident))
    if cookie and await _opens(state, sandbox, port, cookie):
        return sandbox, None
    raise PermissionDenied("this preview needs its token (header x-daytona-preview-token, or ?token=)")


async def _opens(state: AppState, sandbox: SandboxRecord, port: int, token: str) -> bool:
    expected = sandbox.preview_token or ""
    if expected and hmac.compare_digest(token, expected):
        return True
    return await signed_previews.opens(state.redis, token, sandbox.id, port)


def _owner(sandbox: SandboxRecord) -> Principal:
    """The preview acts for the sandbox's tenant (its token stands in for a key)."""
    return Principal.of_tenant(sandbox.tenant_id)


async def _tunnel(state: AppState, sandbox: SandboxRecord, port: int) -> LiveStream:
    async with state.sessions() as session:
        fresh = await svc.sandbox_by_id(session, sandbox.id)
        if fresh is None:
            raise NotFound("sandbox", str(sandbox.id))
        return await open_tunnel(state, session, _owner(fresh), fresh, port)


def _headers(conn: HTTPConnection) -> list[tuple[str, str]]:
    """The caller's headers minus ours: the preview token (as header or cookie) never reaches the sandbox."""
    headers = []
    for name, value in forwardable(conn.headers.items(), OURS):
        if name.lower() == "cookie":
            kept = [c for c in value.split(";") if not c.strip().startswith("runyard_preview_")]
            if not kept:
                continue
            value = ";".join(kept).strip()
        headers.append((name, value))
    return headers


def _target(conn: HTTPConnection, path: str) -> str:
    return upstream_target(path, conn.url.query, lambda part: part.startswith("token="))


def _preflight(request_in: Request) -> Response:
    """A public preview's CORS preflight, answered here: anyone may call a public sandbox's ports."""
    headers = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": request_in.headers.get("access-control-request-method", "GET"),
        "Access-Control-Max-Age": "600",
    }
    asked = request_in.headers.get("access-control-request-headers")
    if asked:
        headers["Access-Control-Allow-Headers"] = asked
    return Response(status_code=204, headers=headers)


# A bare link (no path) is the port's root page, as on Daytona: not a redirect.
@router.api_route("/{sandbox_id}/{port}", methods=METHODS, include_in_schema=False)
@router.api_route("/{sandbox_id}/{port}/{path:path}", methods=METHODS)
async def preview(sandbox_id: str, port: int, request_in: Request, state: StateDep, path: str = "") -> Response:
    sandbox, set_cookie = await _authorise(state, request_in, sandbox_id, port)
    preflight = request_in.method == "OPTIONS" and "access-control-request-method" in request_in.headers
    if sandbox.public and preflight:
        return _preflight(request_in)
    novnc = with_websocket_path(request_in, path, f"daytona/preview/{sandbox.id}/{port}")
    if novnc is not None:
        return RedirectResponse(novnc, status_code=307)
    payload = await request_in.body()
    stream = await _tunnel(state, sandbox, port)
    response = await forward(
        stream,
        request_in.method,
        _target(request_in, path),
        port,
        _headers(request_in),
        payload,
        lambda reason: JSONResponse(error_body(502, reason), status_code=502),
    )
    if sandbox.public and "access-control-allow-origin" not in response.headers:
        # Public: no token, no cookie, nothing a cross-origin page could borrow; SUNA's frontend reads these.
        response.headers["Access-Control-Allow-Origin"] = "*"
    if set_cookie:
        # Scoped to the port the token opened: a signed link's token opens no other.
        response.set_cookie(
            _cookie(sandbox.id),
            set_cookie,
            httponly=True,
            samesite="lax",
            path=f"/daytona/preview/{sandbox.id}/{port}/",
        )
    return response


@router.websocket("/{sandbox_id}/{port}")
@router.websocket("/{sandbox_id}/{port}/{path:path}")
async def preview_websocket(ws: WebSocket, sandbox_id: str, port: int, path: str = "") -> None:
    state: AppState = ws.app.state.runyard
    try:
        sandbox, _ = await _authorise(state, ws, sandbox_id, port)
        stream = await _tunnel(state, sandbox, port)
    except RunyardError as exc:
        await ws.close(code=4000 + status_of(exc), reason=exc.message[:120])
        return
    await serve(ws, stream, port, _target(ws, path))
