"""Runs: validate, persist, enqueue, read, list, delete, and wait for completion."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import anyio
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import constants as c
from core import queue
from core.errors import Conflict, NotFound, Unavailable
from core.jobkinds import JobKind
from core.models import Base, Job, Run
from core.notify import CompletionHub, JobNotice, wait_finished
from core.records import run_record
from core.schemas import RunLimits, RunRecord
from core.services import idempotency
from core.services.auth import Principal
from core.services.run_validation import PreparedRun
from core.settings import Settings
from core.states import JobState
from core.statuses import RunStatus

JOBS, RUNS = Base.metadata.tables["jobs"], Base.metadata.tables["runs"]


# ------------------------------------------------------------------ creating


class _QueuedCount:
    """How many runs wait: as this process last counted them (at most every half second while far from the cap),
    and how many of its own submissions have passed the check and not yet committed."""

    def __init__(self, ttl_s: float = 0.5) -> None:
        self.ttl_s = ttl_s
        self.counted = 0
        self.at = float("-inf")
        self.inflight = 0


_queued = _QueuedCount()
# Near the cap the count is exact: checked and taken under one lock, held until the submission commits.
QUEUE_CAP_LOCK = 0x52595155  # "RYQU": a transaction-level advisory lock, one for the whole queue


@asynccontextmanager
async def _capacity(session: AsyncSession, settings: Settings, adding: int) -> AsyncIterator[None]:
    """Refuse runs beyond the queue's cap; the body inserts and commits what was let through.

    Far from the cap, this process's recent count plus its own uncommitted submissions decide (no lock on the hot
    path). Within a tenth of the cap, submissions take one lock, count exactly and commit one after another, so
    concurrent ones never take the queue past it."""
    cap = settings.queue.max_queued
    near = _queued.counted + _queued.inflight + adding > cap - max(cap // 10, 1)
    if near:
        await session.execute(select(func.pg_advisory_xact_lock(QUEUE_CAP_LOCK)))
    if near or time.monotonic() - _queued.at > _queued.ttl_s:
        stmt = select(func.count()).select_from(Job).where(Job.state == JobState.QUEUED)
        _queued.counted = (await session.execute(stmt)).scalar_one()
        _queued.at = time.monotonic()
    queued = _queued.counted + _queued.inflight  # committed ones are counted; uncommitted ones of ours are inflight
    if queued + adding > cap:
        raise Unavailable(f"queue is full ({queued} runs waiting); retry later", retry_after=5)
    _queued.inflight += adding
    committed = False
    try:
        yield
        committed = True
    finally:
        _queued.inflight -= adding  # no await between the commit and here: never counted twice, never missed
        if committed:
            _queued.counted += adding


async def create_runs(
    session: AsyncSession,
    principal: Principal,
    runs: list[PreparedRun],
    settings: Settings,
    protocol: str,
    idempotency_key: str | None = None,
) -> list[uuid.UUID]:
    """Persist, commit, then enqueue: a run is in Postgres before anything else knows of it.

    With an idempotency key (one run only), a key the tenant used before gives that run back, unchanged."""
    if idempotency_key is not None:
        if len(runs) != 1:
            raise ValueError("an idempotency key names one run")
        existing = await idempotency.existing_job(session, principal, idempotency_key, JobKind.RUN)
        if existing is not None:
            return [existing]
    now = datetime.now().astimezone()
    ids = [uuid.uuid4() for _ in runs]
    jobs, payloads = [], []
    for job_id, prepared in zip(ids, runs, strict=True):
        req, lim = prepared.request, prepared.limits
        jobs.append(
            {
                "id": job_id,
                "tenant_id": principal.tenant_id,
                "kind": JobKind.RUN,
                "queue": c.QUEUE_RUNS,
                "protocol": protocol,
                "state": JobState.QUEUED.value,
                "attempts": 0,
                "callback_attempts": 0,
                "enqueued_at": now,
                "callback_url": req.callback_url,
                "idempotency_key": idempotency_key,
            }
        )
        payloads.append(
            {
                "job_id": job_id,
                "language_id": prepared.language.id,
                "source_code": req.source,
                "additional_files": req.archive,
                "stdin": req.stdin,
                "expected_output": req.expected_output,
                "compiler_options": req.compiler_options or None,
                "command_line_arguments": req.command_line_arguments or None,
                "redirect_stderr_to_stdout": req.redirect_stderr_to_stdout,
                "enable_network": req.enable_network,
                "cpu_time_limit_ms": lim.cpu_time_ms,
                "cpu_extra_time_ms": lim.cpu_extra_time_ms,
                "wall_time_limit_ms": lim.wall_time_ms,
                "memory_limit_kb": lim.memory_kb,
                "stack_limit_kb": lim.stack_kb,
                "max_processes": lim.max_processes,
                "max_file_size_kb": lim.max_file_size_kb,
                "output_limit_bytes": lim.output_bytes,
                "number_of_runs": lim.number_of_runs,
                "stdout_truncated": False,
                "stderr_truncated": False,
            }
        )
    # Core inserts: this is the hot path of every submission, and no ORM object is needed afterwards.
    try:
        async with _capacity(session, settings, len(runs)):
            await session.execute(insert(JOBS), jobs)
            await session.execute(insert(RUNS), payloads)
            await session.commit()
    except IntegrityError:  # the same key, sent twice at once: the other request created the run
        earlier = await idempotency.after_conflict(session, principal, idempotency_key, JobKind.RUN)
        if earlier is None:
            raise
        return [earlier]

    def publish() -> list[uuid.UUID]:
        return [job_id for job_id in ids if not queue.send_run(settings, job_id)]

    failed = await anyio.to_thread.run_sync(publish)
    if failed:
        # The sweep picks these up once enqueue_retry_after_s has passed.
        await session.execute(
            update(Job).where(Job.id.in_(failed), Job.state == JobState.QUEUED).values(enqueued_at=None)
        )
        await session.commit()
    return ids


# ------------------------------------------------------------------ reading


# Plain rows with both tables' columns (their names do not clash): no ORM objects on the read path.
RUN_ROWS = select(JOBS, RUNS).join(RUNS, RUNS.c.job_id == JOBS.c.id)


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> RunRecord:
    stmt = RUN_ROWS.where(JOBS.c.id == run_id, JOBS.c.tenant_id == principal.tenant_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound("run", str(run_id))
    return run_record(row, row)


async def get_runs(session: AsyncSession, principal: Principal, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, RunRecord]:
    stmt = RUN_ROWS.where(JOBS.c.id.in_(run_ids), JOBS.c.tenant_id == principal.tenant_id)
    return {row.id: run_record(row, row) for row in (await session.execute(stmt)).all()}


@dataclass(frozen=True)
class Page:
    records: list[RunRecord]
    total: int


async def list_runs(session: AsyncSession, principal: Principal, offset: int, limit: int) -> Page:
    total = (
        await session.execute(
            select(func.count()).select_from(Job).where(Job.tenant_id == principal.tenant_id, Job.kind == JobKind.RUN)
        )
    ).scalar_one()
    rows = (
        await session.execute(
            select(Job, Run)
            .join(Run, Run.job_id == Job.id)
            .where(Job.tenant_id == principal.tenant_id)
            .order_by(Job.seq.desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return Page([run_record(job, run) for job, run in rows], total)


# ------------------------------------------------------------------ deleting


async def delete_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> RunRecord:
    """Delete a finished run and return what it was; a queued or running one is refused."""
    record = await get_run(session, principal, run_id)
    if not record.status.finished:
        raise Conflict(f"run {run_id} cannot be deleted while it is {record.status.value}", state=record.status.value)
    await session.execute(delete(Job).where(Job.id == run_id, Job.tenant_id == principal.tenant_id))
    await session.commit()
    return record


async def cancel_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> RunRecord:
    """Cancel a run that no worker has claimed yet."""
    await get_run(session, principal, run_id)  # 404 for other tenants
    cancelled = await session.execute(
        update(Job)
        .where(Job.id == run_id, Job.tenant_id == principal.tenant_id, Job.state == JobState.QUEUED)
        .values(
            state=JobState.CANCELLED.value,
            finished_at=func.now(),
            error="cancelled by the client",
            callback_state=None,
        )
        .returning(Job.id)
    )
    was_queued = cancelled.first() is not None
    await session.commit()
    record = await get_run(session, principal, run_id)
    if not was_queued and record.status is not RunStatus.CANCELLED:
        raise Conflict(
            f"run {run_id} is {record.status.value} and can no longer be cancelled", state=record.status.value
        )
    return record


# ------------------------------------------------------------------ waiting


def wait_budget_s(limits: RunLimits, settings: Settings, compiles: bool) -> float:
    """How long a wait=true request may wait: the run's own time budget plus a margin."""
    per_run = limits.wall_time_ms / 1000
    compile_s = settings.limits.max_wall_time_limit_s if compiles else 0.0
    return compile_s + per_run * limits.number_of_runs + settings.api.wait_margin_s


async def wait_for_runs(
    sessions: async_sessionmaker[AsyncSession],
    hub: CompletionHub,
    principal: Principal,
    run_ids: list[uuid.UUID],
    timeout_s: float,
    queued_after: float | None = None,
) -> dict[uuid.UUID, RunRecord]:
    """Wait until every run finished or the timeout passed (`queued_after`: see notify.wait_finished)."""

    async def read() -> dict[uuid.UUID, RunRecord]:
        async with sessions() as session:
            return await get_runs(session, principal, run_ids)

    def carried(notice: JobNotice) -> RunRecord | None:
        run = notice.run
        return run if run is not None and run.tenant_id == principal.tenant_id else None

    return await wait_finished(hub, run_ids, read, lambda r: r.status.finished, timeout_s, "run", carried, queued_after)
