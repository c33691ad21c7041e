"""Native /v1 routes: runs, languages, and the caller's own account."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import IdempotencyKey, PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from api.v1.convert import to_run_request
from api.v1.errors import NativeRenderer
from api.v1.schemas import BatchCreate, LanguageOut, Me, RunCreate, RunPage
from core.errors import FieldError, InvalidInput
from core.heartbeats import WorkerHeartbeat
from core.schemas import RunRecord
from core.services import run_validation
from core.services import runs as run_service
from core.services.run_validation import PreparedRun
from core.services.system import live_workers
from core.views import RunView, run_view

router = APIRouter(prefix="/v1", tags=["native"], route_class=route_class(NativeRenderer()))

WaitQuery = Annotated[bool, Query(description="Answer when the run has finished (bounded by its time limits)")]
Base64Query = Annotated[bool, Query(alias="base64", description="Give stdout, stderr and compile_output as base64")]


async def _prepare(body: RunCreate, state: StateDep, session: SessionDep, prefix: str = "") -> PreparedRun:
    try:
        language = await state.catalog.resolve(session, body.language, field="language_id")
        return await run_validation.prepare_run(
            session, to_run_request(body, language.id), state.settings, state.catalog
        )
    except InvalidInput as exc:
        if not prefix:
            raise
        raise InvalidInput([FieldError(prefix + e.field, e.rule, e.message, e.limit) for e in exc.errors]) from exc


async def _views(state: StateDep, session: SessionDep, records: list[RunRecord], as_base64: bool) -> list[RunView]:
    views = []
    for record in records:
        language = await state.catalog.get(session, record.language_id)
        views.append(run_view(record, language.name if language else None, as_base64))
    return views


@router.post("/runs", status_code=201, response_model=RunView)
async def create_run(
    body: RunCreate,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = False,
    as_base64: Base64Query = False,
) -> RunView:
    """Submit a run. With wait=true the answer comes when it finishes, or at its time budget.

    With an Idempotency-Key, sending the same request again (after a dropped connection, say) answers
    with the run the first one created, waiting for it again if asked, instead of creating another."""
    prepared = await _prepare(body, state, session)
    before = time.monotonic()
    [run_id] = await run_service.create_runs(
        session, principal, [prepared], state.settings, protocol="v1", idempotency_key=idempotency_key
    )
    if wait:
        budget = run_service.wait_budget_s(prepared.limits, state.settings, bool(prepared.language.compile_cmd))
        fresh = before if idempotency_key is None else None  # a key may give back a run queued long ago
        records = await run_service.wait_for_runs(state.sessions, state.hub, principal, [run_id], budget, fresh)
        record = records[run_id]
    else:
        record = await run_service.get_run(session, principal, run_id)
    return (await _views(state, session, [record], as_base64))[0]


@router.post("/runs/batch", status_code=201, response_model=list[RunView])
async def create_runs(
    body: BatchCreate, state: StateDep, session: SessionDep, principal: PrincipalDep, as_base64: Base64Query = False
) -> list[RunView]:
    """Submit several runs at once; all are checked first, and none is created unless all are valid."""
    if len(body.runs) > state.settings.max_batch_size:
        raise InvalidInput.one(
            "runs",
            "max_items",
            f"at most {state.settings.max_batch_size} runs per batch",
            state.settings.max_batch_size,
        )
    prepared = [await _prepare(run, state, session, prefix=f"runs.{i}.") for i, run in enumerate(body.runs)]
    ids = await run_service.create_runs(session, principal, prepared, state.settings, protocol="v1")
    records = await run_service.get_runs(session, principal, ids)
    return await _views(state, session, [records[i] for i in ids], as_base64)


@router.get("/runs/{run_id}", response_model=RunView)
async def get_run(
    run_id: uuid.UUID,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for the run to finish")] = 0,
    as_base64: Base64Query = False,
) -> RunView:
    """Read a run; with wait=N, answer as soon as it finishes or after N seconds."""
    if wait > 0:
        records = await run_service.wait_for_runs(state.sessions, state.hub, principal, [run_id], wait)
        if run_id not in records:
            await run_service.get_run(session, principal, run_id)  # raises NotFound
        record = records[run_id]
    else:
        record = await run_service.get_run(session, principal, run_id)
    return (await _views(state, session, [record], as_base64))[0]


@router.get("/runs", response_model=RunPage)
async def list_runs(
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    """List your runs, newest first."""
    page = await run_service.list_runs(session, principal, offset, limit)
    return RunPage(
        items=await _views(state, session, page.records, False), total=page.total, offset=offset, limit=limit
    )


@router.delete("/runs/{run_id}", response_model=RunView)
async def delete_run(run_id: uuid.UUID, state: StateDep, session: SessionDep, principal: PrincipalDep) -> RunView:
    """Cancel a queued run, or delete a finished one (its stored output goes with it)."""
    record = await run_service.get_run(session, principal, run_id)
    if record.status.finished:
        record = await run_service.delete_run(session, principal, run_id)
    else:
        record = await run_service.cancel_run(session, principal, run_id)
    return (await _views(state, session, [record], False))[0]


@router.get("/languages", response_model=list[LanguageOut])
async def languages(state: StateDep, session: SessionDep, principal: PrincipalDep) -> list[LanguageOut]:
    """Languages the workers' images provide, with the versions really installed."""
    return [
        LanguageOut(
            id=lang.id,
            name=lang.name,
            aliases=lang.aliases,
            compiled=bool(lang.compile_cmd),
            multi_file=lang.is_project,
        )
        for lang in await state.catalog.all(session)
        if not lang.is_archived
    ]


@router.get("/workers")
async def workers(state: StateDep, principal: PrincipalDep) -> list[WorkerHeartbeat]:
    """Live workers: their queues, concurrency, images, and warm pool statistics."""
    return await live_workers(state.redis)


@router.get("/me", response_model=Me)
async def me(state: StateDep, principal: PrincipalDep) -> Me:
    """Who this key belongs to, and the secret that signs your callbacks."""
    return Me(
        tenant=principal.tenant_name,
        tenant_id=str(principal.tenant_id),
        admin=principal.is_admin,
        callback_secret=principal.callback_secret,
        requests_per_minute=principal.requests_per_minute or state.settings.rate.requests_per_minute,
    )
