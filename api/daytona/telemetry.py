"""Daytona's metrics: a sandbox's CPU, memory and disk now (toolbox GET /system/metrics, read from the engine
by a job on its host) and over time (GET /sandbox/{id}/telemetry/metrics, from the samples its host keeps)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.daytona.errors import DaytonaRenderer
from api.daytona.toolbox import Toolbox
from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from core import usage_history
from core.errors import InvalidInput
from core.job_results import UsageSample
from core.jobkinds import JobKind
from core.services import sandboxes as svc

router = APIRouter(prefix="/daytona/api", tags=["daytona"], route_class=route_class(DaytonaRenderer()))
toolbox_router = APIRouter(
    prefix="/daytona/toolbox/{sandbox_id}", tags=["daytona"], route_class=route_class(DaytonaRenderer())
)

# Daytona's metric names, and what of a sample each is.
SERIES = {
    "daytona.sandbox.cpu.utilization": lambda s: s.cpu_pct,
    "daytona.sandbox.cpu.limit": lambda s: s.cpus,
    "daytona.sandbox.memory.usage": lambda s: s.mem_used,
    "daytona.sandbox.memory.limit": lambda s: s.mem_limit,
    "daytona.sandbox.memory.cache": lambda s: s.mem_cache,
    "daytona.sandbox.filesystem.usage": lambda s: s.disk_used,
    "daytona.sandbox.filesystem.total": lambda s: s.disk_limit,
}


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


@toolbox_router.get("/system/metrics")
async def latest(sandbox_id: str, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    tb = Toolbox(state, session, principal, await svc.get_sandbox(session, principal, sandbox_id))
    s = UsageSample.model_validate(await tb.run(JobKind.METRICS, {}))
    return {
        "cpuCount": max(1, round(s.cpus)),
        "cpuUsedPct": s.cpu_pct,
        "memTotal": s.mem_limit,
        "memUsed": s.mem_used,
        "memCache": s.mem_cache,
        "diskTotal": s.disk_limit,
        "diskUsed": s.disk_used,
        "diskFree": max(0, s.disk_limit - s.disk_used),
        "timestamp": _stamp(s.at),
        "timestampUnix": int(s.at),
    }


def _when(value: str | None, field: str, default: float) -> float:
    if not value:
        return default
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput.one(field, "datetime", "must be an ISO 8601 date and time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@router.get("/sandbox/{ident}/telemetry/metrics")
async def history(
    ident: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    metric_names: Annotated[list[str] | None, Query(alias="metricNames")] = None,
) -> dict[str, Any]:
    """The samples between from and to (each metricsInterval seconds, kept for metricsKeep), one series per name."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    names = [n for raw in metric_names or [] for n in raw.split(",") if n] or list(SERIES)
    unknown = [n for n in names if n not in SERIES]
    if unknown:
        raise InvalidInput.one("metricNames", "one_of", f"unknown metric {unknown[0]!r}; known: {', '.join(SERIES)}")
    now = datetime.now(UTC).timestamp()
    samples = await usage_history.between(
        state.redis, sandbox.id, _when(start, "from", sandbox.created_at.timestamp()), _when(end, "to", now)
    )
    series = [
        {"metricName": n, "dataPoints": [{"timestamp": _stamp(s.at), "value": SERIES[n](s)} for s in samples]}
        for n in names
    ]
    return {"series": series}
