"""Judge0's /submissions routes."""

from __future__ import annotations

import math
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import IdempotencyKey, PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from api.judge0.convert import to_run_request
from api.judge0.errors import Judge0Renderer, field_messages
from api.judge0.schemas import BatchIn, SubmissionIn
from api.state import AppState
from core.errors import BadRequest, InvalidInput, NotFound
from core.schemas import RunRecord
from core.services import run_validation
from core.services import runs as run_service
from core.services.run_validation import PreparedRun
from core.statuses import judge0_status
from core.views import InvalidFields, NotUtf8, judge0_fields, judge0_submission

router = APIRouter(tags=["judge0"], route_class=route_class(Judge0Renderer()))

UTF8_ERROR = "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter"
UTF8_BATCH_ERROR = (
    "some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter"
)

Base64Param = Annotated[str | None, Query(description="'true' to send and receive text fields as base64")]
WaitParam = Annotated[str | None, Query(description="'true' to answer when the submission has finished")]


def _flag(value: str | None) -> bool:
    return value == "true"


def requested_fields(
    fields: Annotated[str | None, Query(description="Comma-separated attributes to return, or '*'")] = None,
) -> tuple[str, ...]:
    try:
        return judge0_fields(fields)
    except InvalidFields as exc:
        raise BadRequest(f"invalid fields: [{', '.join(exc.names)}]") from exc


FieldsDep = Annotated[tuple[str, ...], Depends(requested_fields)]


def _token(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound("submission", raw) from exc


async def _render(
    state: AppState, session: SessionDep, record: RunRecord, fields: tuple[str, ...], encoded: bool
) -> dict[str, Any]:
    language = await state.catalog.get(session, record.language_id)
    return judge0_submission(record, language.name if language else None, fields, encoded)


async def _parse(session: SessionDep, state: AppState, raw: dict[str, Any], encoded: bool) -> PreparedRun:
    try:
        body = SubmissionIn.model_validate(raw)
    except ValidationError as exc:
        messages: dict[str, list[str]] = {}
        for err in exc.errors():
            messages.setdefault(str(err["loc"][-1]) if err["loc"] else "body", []).append(err["msg"])
        raise _Judge0Invalid(messages) from exc
    return await run_validation.prepare_run(session, to_run_request(body, encoded), state.settings, state.catalog)


class _Judge0Invalid(Exception):
    def __init__(self, messages: dict[str, list[str]]) -> None:
        super().__init__(messages)
        self.messages = messages


async def _json_object(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError as exc:
        return JSONResponse({"body": [f"is not valid JSON ({exc})"]}, status_code=422)
    if not isinstance(body, dict):
        return JSONResponse({"body": ["must be a JSON object"]}, status_code=422)
    return body


@router.post("/submissions", status_code=201)
async def create_submission(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    wanted: FieldsDep,
    base64_encoded: Base64Param = None,
    wait: WaitParam = None,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Create a submission (Judge0). With wait=true the answer comes when it has finished.

    Beyond Judge0: an Idempotency-Key makes sending the same submission again return its first token."""
    body = await _json_object(request)
    if isinstance(body, JSONResponse):
        return body
    encoded = _flag(base64_encoded)
    try:
        prepared = await _parse(session, state, body, encoded)
    except _Judge0Invalid as exc:
        return JSONResponse(exc.messages, status_code=422)
    before = time.monotonic()
    [run_id] = await run_service.create_runs(
        session, principal, [prepared], state.settings, protocol="judge0", idempotency_key=idempotency_key
    )
    if not _flag(wait):
        return JSONResponse({"token": str(run_id)}, status_code=201)
    budget = run_service.wait_budget_s(prepared.limits, state.settings, bool(prepared.language.compile_cmd))
    fresh = before if idempotency_key is None else None  # a key may give back a run queued long ago
    waited = await run_service.wait_for_runs(state.sessions, state.hub, principal, [run_id], budget, fresh)
    record = waited[run_id]
    try:
        return JSONResponse(await _render(state, session, record, wanted, encoded), status_code=201)
    except NotUtf8:
        return JSONResponse({"error": UTF8_ERROR, "token": str(run_id)}, status_code=201)


@router.post("/submissions/batch", status_code=201)
async def create_batch(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    base64_encoded: Base64Param = None,
) -> Any:
    """Create up to max_submission_batch_size submissions; invalid ones are answered with their errors."""
    raw = await _json_object(request)
    if isinstance(raw, JSONResponse):
        return raw
    try:
        batch = BatchIn.model_validate(raw)
    except ValidationError:
        return JSONResponse({"submissions": ["must be a list of submission objects"]}, status_code=422)
    size, maximum = len(batch.submissions), state.settings.max_batch_size
    if size > maximum:
        return JSONResponse(
            {"error": f"number of submissions in a batch should be less than or equal to {maximum}"}, status_code=400
        )
    if size == 0:
        return JSONResponse({"error": "there should be at least one submission in a batch"}, status_code=400)
    encoded = _flag(base64_encoded)
    answers: list[dict[str, Any] | None] = []
    valid: list[PreparedRun] = []
    for item in batch.submissions:
        try:
            valid.append(await _parse(session, state, item, encoded))
            answers.append(None)
        except _Judge0Invalid as exc:
            answers.append(dict(exc.messages))
        except InvalidInput as exc:
            answers.append(dict(field_messages(exc.errors)))
    ids = iter(await run_service.create_runs(session, principal, valid, state.settings, "judge0") if valid else [])
    response = [answer if answer is not None else {"token": str(next(ids))} for answer in answers]
    return JSONResponse(response, status_code=201 if valid else 422)


@router.get("/submissions/batch")
async def get_batch(
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    wanted: FieldsDep,
    tokens: Annotated[str | None, Query(description="Comma-separated tokens")] = None,
    base64_encoded: Base64Param = None,
) -> Any:
    """Read several submissions; unknown tokens come back as null."""
    raw = [t.strip() for t in (tokens or "").split(",") if t.strip()]
    maximum = state.settings.max_batch_size
    if len(raw) > maximum:
        return JSONResponse(
            {"error": f"number of submissions in a batch should be less than or equal to {maximum}"}, status_code=400
        )
    if not raw:
        return JSONResponse({"error": "there should be at least one submission in a batch"}, status_code=400)
    parsed: list[uuid.UUID | None] = []
    for t in raw:
        try:
            parsed.append(uuid.UUID(t))
        except ValueError:
            parsed.append(None)
    records = await run_service.get_runs(session, principal, [p for p in parsed if p is not None])
    out: list[dict[str, Any] | None] = []
    try:
        for p in parsed:
            record = records.get(p) if p is not None else None
            out.append(await _render(state, session, record, wanted, _flag(base64_encoded)) if record else None)
    except NotUtf8:
        return JSONResponse({"error": UTF8_BATCH_ERROR}, status_code=400)
    return {"submissions": out}


@router.get("/submissions/{token}")
async def get_submission(
    token: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    wanted: FieldsDep,
    base64_encoded: Base64Param = None,
) -> Any:
    """Read one submission."""
    record = await run_service.get_run(session, principal, _token(token))
    try:
        return await _render(state, session, record, wanted, _flag(base64_encoded))
    except NotUtf8:
        return JSONResponse({"error": UTF8_ERROR}, status_code=400)


@router.get("/submissions")
async def list_submissions(
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    wanted: FieldsDep,
    page: Annotated[str | None, Query()] = None,
    per_page: Annotated[str | None, Query()] = None,
    base64_encoded: Base64Param = None,
) -> Any:
    """Your own submissions, newest first, paginated as Judge0 does."""
    page_no, size = _int_param(page, 1), _int_param(per_page, 20)
    if page_no is None or not 0 < page_no <= 10_000_000:
        return JSONResponse({"error": f"invalid page: {page}"}, status_code=400)
    if size is None or not 1 <= size <= 200:
        return JSONResponse({"error": f"invalid per_page: {per_page} (1 to 200)"}, status_code=400)
    result = await run_service.list_runs(session, principal, (page_no - 1) * size, size)
    pages = max(1, math.ceil(result.total / size))
    try:
        items = [await _render(state, session, r, wanted, _flag(base64_encoded)) for r in result.records]
    except NotUtf8:
        return JSONResponse({"error": UTF8_BATCH_ERROR}, status_code=400)
    return {
        "submissions": items,
        "meta": {
            "current_page": page_no,
            "next_page": page_no + 1 if page_no < pages else None,
            "prev_page": page_no - 1 if page_no > 1 else None,
            "total_pages": pages,
            "total_count": result.total,
        },
    }


def _int_param(raw: str | None, default: int) -> int | None:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


@router.delete("/submissions/{token}")
async def delete_submission(
    token: str,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    wanted: FieldsDep,
) -> Any:
    """Delete a finished submission; returns it (base64-encoded) one last time."""
    run_id = _token(token)
    record = await run_service.get_run(session, principal, run_id)
    if not record.status.finished:
        status = judge0_status(record.status, record.exit_signal)
        return JSONResponse(
            {"error": f"submission cannot be deleted because its status is {status.id} ({status.description})"},
            status_code=400,
        )
    record = await run_service.delete_run(session, principal, run_id)
    return await _render(state, session, record, wanted, True)
