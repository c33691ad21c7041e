"""noVNC behind a path: its pages open their WebSocket at the host's root (/websockify) unless the page's
`path` parameter says otherwise. Behind Runyard's port proxies the server lives under a prefix, so a
request for noVNC's page without `path` is sent to the same page with it (the browser then connects
through the proxy). Daytona's own previews are one host per port, where the root is right."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

PAGES = ("vnc.html", "vnc_lite.html")


def with_websocket_path(request: Request, path: str, prefix: str, credential: str | None = None) -> str | None:
    """The URL to send noVNC's page request to, or None if it needs no change. `credential` (a query part)
    rides along for a WebSocket that cannot carry a header."""
    if request.method != "GET" or path.rsplit("/", 1)[-1] not in PAGES or "path" in request.query_params:
        return None
    websocket = f"{prefix.strip('/')}/websockify" + (f"?{credential}" if credential else "")
    query = request.url.query
    return f"{request.url.path}?{query + '&' if query else ''}{urlencode({'path': websocket})}"
