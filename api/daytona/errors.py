"""Daytona's error bodies: {"statusCode", "message", "error"}; the SDK raises by status and shows the message."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.errors import retry_headers, status_of
from core.errors import InvalidInput, RunyardError


def error_body(status: int, message: str) -> dict[str, object]:
    return {"statusCode": status, "message": message, "error": HTTPStatus(status).phrase}


class DaytonaRenderer:
    def domain(self, request: Request, exc: RunyardError) -> Response:
        status = status_of(exc)
        message = exc.message
        if isinstance(exc, InvalidInput):
            message = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        return JSONResponse(error_body(status, message), status_code=status, headers=retry_headers(exc))

    def validation(self, request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
            parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
        return JSONResponse(error_body(400, "; ".join(parts)), status_code=400)


def unsupported(request: Request, routes: list[Any], feature: str) -> JSONResponse:
    """405 for a known path asked with another method; otherwise the deliberate 501 naming the call."""
    path = request.url.path
    allowed = sorted(
        {
            m
            for r in routes
            if getattr(r, "path_regex", None) is not None and r.path_regex.match(path)
            for m in (getattr(r, "methods", None) or ())
        }
    )
    if allowed:
        body = error_body(405, f"{request.method} is not allowed on {path}; use {', '.join(allowed)}")
        return JSONResponse(body, status_code=405, headers={"Allow": ", ".join(allowed)})
    return not_implemented(feature)


# What Runyard refuses on purpose, by the path the SDK calls (after /daytona/api/ or the toolbox's
# /{sandboxId}/): the SDK call, and why. docs/daytona.md's table says the same.
VOLUMES_REFUSED = (
    "a directory shared by sandboxes would escape the disk quota every sandbox has; keep shared data in "
    "a snapshot (create_snapshot), or copy it with the file API"
)
REFUSALS = [
    (re.compile(r"^/volumes"), "volumes (daytona.volume)", VOLUMES_REFUSED),
    (re.compile(r"^/lsp/"), "the LSP server (create_lsp_server)", "the sandbox images have no language servers yet"),
    (
        re.compile(r"^/computeruse/a11y"),
        "computer_use.accessibility",
        "the desktop runs no accessibility (AT-SPI) bus to read a tree from",
    ),
]


def not_implemented(feature: str) -> JSONResponse:
    """A deliberate answer for what Runyard does not do (yet), naming it, and why when it is known."""
    path = feature.rsplit(" ", 1)[-1]
    for pattern, call, why in REFUSALS:
        if pattern.match(path):
            message = f"{call} ({feature}) is not implemented by Runyard: {why}"
            return JSONResponse(error_body(501, message), status_code=501)
    return JSONResponse(error_body(501, f"{feature} is not implemented by Runyard's Daytona layer"), status_code=501)
