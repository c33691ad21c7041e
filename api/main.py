"""The FastAPI application: wiring only. Routes live with their adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from api import health, metrics
from api.daytona import access as daytona_access
from api.daytona import computer_use as daytona_computer_use
from api.daytona import computer_use_recordings as daytona_computer_use_recordings
from api.daytona import control as daytona_control
from api.daytona import file_links as daytona_file_links
from api.daytona import git as daytona_git
from api.daytona import interpreter as daytona_interpreter
from api.daytona import lifecycle as daytona_lifecycle
from api.daytona import preview as daytona_preview
from api.daytona import pty as daytona_pty
from api.daytona import secrets as daytona_secrets
from api.daytona import snapshots as daytona_snapshots
from api.daytona import telemetry as daytona_telemetry
from api.daytona import toolbox as daytona_toolbox
from api.daytona import toolbox_files as daytona_toolbox_files
from api.daytona import unsupported as daytona_unsupported
from api.daytona import warm_pools as daytona_warm_pools
from api.daytona.events import Events
from api.judge0 import info as judge0_info
from api.judge0 import submissions as judge0_submissions
from api.limits import BodySizeLimit
from api.sandboxai import routes as sandboxai_routes
from api.shutdown import drain_on_signals
from api.state import AppState
from api.v1 import admin as v1_admin
from api.v1 import browser as v1_browser
from api.v1 import ports as v1_ports
from api.v1 import routes as v1_routes
from api.v1 import sandbox_commands, sandbox_files, sandbox_lifecycle
from api.v1 import snapshots as v1_snapshots
from api.v1 import terminal as v1_terminal
from core import __version__, logs, redis_client
from core.db import async_session_factory, dispose_async_engines
from core.notify import CompletionHub
from core.services.auth import KeyCache
from core.services.languages import Catalog
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = redis_client.async_client(settings)
        hub = CompletionHub(settings.redis.url)
        hub.start()
        restore_signals = drain_on_signals(hub)
        app.state.runyard = AppState(
            settings=settings,
            sessions=async_session_factory(settings),
            redis=client,
            hub=hub,
            catalog=Catalog(),
            keys=KeyCache(settings.api.auth_cache_s),
        )
        listening = asyncio.create_task(events.listen(settings))
        try:
            yield
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            restore_signals()
            await hub.stop()
            await client.aclose()
            await dispose_async_engines()

    app = FastAPI(
        title="Runyard",
        version=__version__,
        summary="A self-hosted execution cluster for AI agents and code judges",
        lifespan=lifespan,
    )
    events = Events(app)
    app.state.events = events
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.api.max_body_bytes,
        file_max_bytes=settings.sandboxes.max_file_bytes + (1 << 20),
        file_suffixes=("/files/content",),
    )
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Routers are tried in order, each route's pattern matched in turn: the hot paths come first. Judge0's
    # root paths overlap none of the prefixed ones (/v1, /sandboxai, /daytona) that follow.
    app.include_router(judge0_submissions.router)
    app.include_router(judge0_info.router)
    app.include_router(v1_routes.router)
    app.include_router(v1_admin.router)
    app.include_router(sandbox_lifecycle.router)
    app.include_router(sandbox_commands.router)
    app.include_router(sandbox_files.router)
    app.include_router(v1_terminal.router)
    app.include_router(v1_ports.router)
    app.include_router(v1_snapshots.router)
    app.include_router(v1_browser.router)
    # Daytona's toolbox (SUNA's commands and files) ahead of its control routes: no path is in both.
    app.include_router(daytona_toolbox.router)
    app.include_router(daytona_toolbox_files.router)
    app.include_router(sandboxai_routes.router)
    app.include_router(daytona_snapshots.router)  # before control: its catch-all answers what no route does
    app.include_router(daytona_lifecycle.router)
    app.include_router(daytona_access.router)
    app.include_router(daytona_file_links.router)
    app.include_router(daytona_secrets.router)
    app.include_router(daytona_warm_pools.router)
    app.include_router(daytona_telemetry.router)
    app.include_router(daytona_telemetry.toolbox_router)
    app.include_router(daytona_lifecycle.toolbox_router)
    app.include_router(daytona_control.router)
    app.include_router(daytona_git.router)
    app.include_router(daytona_interpreter.router)
    app.include_router(daytona_computer_use.router)
    app.include_router(daytona_computer_use_recordings.router)
    app.include_router(daytona_pty.router)
    app.include_router(daytona_preview.router)
    app.include_router(daytona_unsupported.router)  # last of Daytona's: it answers whatever the others do not

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Only paths and methods no route knows reach here; routes render their own errors.
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid request", "detail": exc.errors()}, status_code=422)

    return app


def app_factory() -> ASGIApp:
    """Entry point for `uvicorn --factory api.main:app_factory`: the API, with Daytona's event channel."""
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_json)
    app = create_app(settings)
    return app.state.events.asgi()  # type: ignore[no-any-return]
