"""Whatever Daytona's SDK may call that Runyard does not do: a deliberate 501 that names it, never a 404 or 500."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.daytona import (
    computer_use,
    computer_use_recordings,
    git,
    interpreter,
    lifecycle,
    pty,
    telemetry,
    toolbox,
    toolbox_files,
)
from api.daytona.errors import DaytonaRenderer, unsupported
from api.deps import PrincipalDep
from api.errors import route_class

router = APIRouter(prefix="/daytona/toolbox/{sandbox_id}", route_class=route_class(DaytonaRenderer()))


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unsupported_toolbox(sandbox_id: str, path: str, request: Request, principal: PrincipalDep) -> Response:
    known = [*toolbox.router.routes, *pty.router.routes, *computer_use.router.routes]
    known += [*computer_use_recordings.router.routes, *git.router.routes, *toolbox_files.router.routes]
    known += [*interpreter.router.routes, *lifecycle.toolbox_router.routes, *telemetry.toolbox_router.routes]
    return unsupported(request, known, f"toolbox {request.method} /{path}")
