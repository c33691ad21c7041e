"""Reaching a server inside a sandbox: /v1/sandboxes/{id}/ports/{port}/{path}, any method.

The request goes through a tunnel to 127.0.0.1:<port> inside the sandbox and
nowhere else; the response streams back. The caller's Runyard key is never
forwarded to the sandbox.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from api.tunnel_http import TunnelBroken, forwardable, request
from api.v1.errors import NativeRenderer, body
from core.services import sandboxes as svc
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
