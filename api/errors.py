"""Rendering errors per protocol: each adapter's routes use a route class with its own renderer.

The core raises domain errors; the route class catches them (and request
validation errors, and infrastructure outages) and lets the adapter render
them in its protocol's shape. Nothing below the HTTP layer raises HTTPException.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import redis.exceptions
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from core import errors
from core.errors import Pending, RunyardError, Unavailable

log = logging.getLogger(__name__)

INFRASTRUCTURE = (OperationalError, InterfaceError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class Renderer(Protocol):
    def domain(self, request: Request, exc: RunyardError) -> Response: ...

    def validation(self, request: Request, exc: RequestValidationError) -> Response: ...


def route_class(renderer: Renderer) -> type[APIRoute]:
    class ProtocolRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def render_errors(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return renderer.validation(request, exc)
                except Pending as exc:
                    return pending_response(exc)
                except RunyardError as exc:
                    return renderer.domain(request, exc)
                except INFRASTRUCTURE as exc:
                    log.warning("dependency unavailable", extra={"path": request.url.path, "error": repr(exc)})
                    return renderer.domain(
                        request, Unavailable(f"a backing service is unavailable: {type(exc).__name__}")
                    )
                except DBAPIError as exc:
                    if exc.connection_invalidated:
                        return renderer.domain(request, Unavailable("the database connection was lost"))
                    raise

            return render_errors

    return ProtocolRoute


_STATUS: dict[type[RunyardError], int] = {
    errors.AuthenticationFailed: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.InvalidInput: 422,
    errors.BadRequest: 400,
    errors.Conflict: 409,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    errors.NotSupported: 501,
}


def status_of(exc: RunyardError) -> int:
    for kind in type(exc).__mro__:
        if kind in _STATUS:
            return _STATUS[kind]
    return 400


def retry_headers(exc: RunyardError) -> dict[str, str]:
    retry_after = getattr(exc, "retry_after", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else {}


def pending_response(exc: Pending) -> JSONResponse:
    """The same answer in every protocol: accepted and still going, here is the job and where to read it."""
    job = exc.job
    headers = {"Location": f"/v1/jobs/{job.id}", "Retry-After": "1"}
    return JSONResponse(job.model_dump(mode="json"), status_code=202, headers=headers)
