"""A desktop sandbox's browser, for agents that do not write Playwright: /v1/sandboxes/{id}/browser.

Each action is a `sandbox.computer_use` job: the desktop image's own Playwright acts on the page its
Chromium shows (so the desktop, and noVNC, show what the agent did). For Playwright outside, the
DevTools endpoint is reachable only through the authenticated port proxy: /browser/cdp hands out its
WebSocket URL.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import Request
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, SessionDep, StateDep
from api.tunnel_http import TunnelBroken, open_tunnel, request
from api.v1.sandbox_common import CallDep, sandbox_router
from api.v1.sandbox_schemas import Strict
from core.errors import Conflict, InvalidInput
from core.jobkinds import JobKind
from core.services import sandboxes as svc

router = sandbox_router()
CDP_PORT = 9222
TIMEOUT_MS = 90_000


class BrowserAction(Strict):
    action: Literal["navigate", "click", "type", "screenshot", "content", "evaluate"]
    url: str | None = Field(None, max_length=8192, description="navigate: where to")
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] | None = None
    selector: str | None = Field(None, max_length=4096, description="click, type: a CSS or Playwright selector")
    x: float | None = Field(None, ge=0, le=100_000, description="click: page coordinates, without a selector")
    y: float | None = Field(None, ge=0, le=100_000)
    text: str | None = Field(None, max_length=100_000, description="type: into the selector, or where focus is")
    submit: bool = Field(False, description="type: press Enter after")
    full_page: bool = Field(False, description="screenshot: the whole page, not only the viewport")
    expression: str | None = Field(None, max_length=100_000, description="evaluate: JavaScript, its value as JSON")


class VncOut(BaseModel):
    url: str = Field(description="noVNC's page for a browser: the sandbox's preview link with its preview token")


class CdpOut(BaseModel):
    ws_url: str = Field(description="For Playwright's connect_over_cdp (send your key as X-Auth-Token)")
    browser: str | None = None


_NEEDS = {"navigate": "url", "type": "text", "evaluate": "expression"}


@router.post("/sandboxes/{ident}/browser", tags=["sandboxes"])
async def browser_action(ident: str, body: BrowserAction, call: CallDep) -> dict[str, Any]:
    """Navigate, click, type, take a screenshot (PNG, base64), read the page's text and links, or evaluate."""
    needed = _NEEDS.get(body.action)
    if needed and getattr(body, needed) is None:
        raise InvalidInput.one(needed, "required", f"{body.action} needs {needed}")
    if body.action == "click" and body.selector is None and (body.x is None or body.y is None):
        raise InvalidInput.one("selector", "required", "click needs a selector, or x and y")
    params = body.model_dump(exclude_none=True)
    return await call.op(ident, JobKind.COMPUTER_USE, {"action": "browser", "params": params}, TIMEOUT_MS)


@router.get("/sandboxes/{ident}/browser/cdp", response_model=CdpOut, tags=["sandboxes"])
async def browser_cdp(
    ident: str, request_in: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> CdpOut:
    """The desktop Chromium's DevTools WebSocket, through this API's port proxy (never exposed otherwise)."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    stream = await open_tunnel(state, session, principal, sandbox, CDP_PORT)
    try:
        upstream = await request(stream, "GET", "/json/version", CDP_PORT, [], b"")
        raw = b"".join([chunk async for chunk in upstream.body])
    except TunnelBroken as exc:
        message = f"no browser answers on port {CDP_PORT} in this sandbox (a desktop sandbox has one): {exc}"
        raise Conflict(message) from exc
    finally:
        await stream.close()
    try:
        version = json.loads(raw)
        inner = str(version["webSocketDebuggerUrl"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Conflict(f"what answers on port {CDP_PORT} is not a browser's DevTools") from exc
    base = (state.settings.api.public_url or str(request_in.base_url)).rstrip("/")
    path = inner.split(f":{CDP_PORT}", 1)[-1]  # /devtools/browser/<id>
    ws_base = "ws" + base.removeprefix("http")
    return CdpOut(ws_url=f"{ws_base}/v1/sandboxes/{sandbox.id}/ports/{CDP_PORT}{path}", browser=version.get("Browser"))


@router.get("/sandboxes/{ident}/vnc", response_model=VncOut, tags=["sandboxes"])
async def vnc_link(
    ident: str, request_in: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> VncOut:
    """A link that opens the desktop in a browser (noVNC on port 6080). It carries the sandbox's preview token,
    which reaches only this sandbox's ports, never your key; and VNC_PASSWORD, if the sandbox has one."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    base = (state.settings.api.public_url or str(request_in.base_url)).rstrip("/")
    query = {"autoconnect": "true", "resize": "scale"}
    if not sandbox.public:
        query["token"] = sandbox.preview_token or ""
    if sandbox.env.get("VNC_PASSWORD"):
        query["password"] = sandbox.env["VNC_PASSWORD"]
    return VncOut(url=f"{base}/daytona/preview/{sandbox.id}/6080/vnc_lite.html?{urlencode(query)}")
