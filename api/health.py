"""Liveness and readiness; no key needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from core.services import system

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(state: StateDep) -> JSONResponse:
    """Ready (200) when Redis, Postgres and at least one worker answer; 503 with the reason otherwise."""
    async with state.sessions() as session:
        postgres = await system.check_postgres(session)
    redis_check = await system.check_redis(state.redis)
    workers = await system.check_workers(state.redis) if redis_check.ok else system.Check(False, "Redis is down")
    checks: dict[str, Any] = {
        "postgres": {"ok": postgres.ok, "detail": postgres.detail},
        "redis": {"ok": redis_check.ok, "detail": redis_check.detail},
        "workers": {"ok": workers.ok, "detail": workers.detail, **workers.data},
    }
    ready = all(check["ok"] for check in checks.values())
    body = {"live": True, "ready": ready, "status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/health/live")
async def live() -> dict[str, bool]:
    """The process answers; says nothing about its dependencies."""
    return {"live": True}
