"""Operations on a sandbox as jobs: persist, enqueue, wait, and what their outcome means to a caller.

Every adapter reaches a started sandbox through `run_op` (or `submit_op` without waiting), so
a wait that runs out, a failure and a success read the same in every protocol.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
import redis.asyncio as aioredis
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import constants as c
from core import job_payloads, job_secrets, queue
from core.errors import Conflict, InvalidInput, NotFound, Pending
from core.jobkinds import JobKind
from core.models import Base
from core.notify import CompletionHub, JobNotice, wait_finished
from core.schemas import JobView, SandboxRecord
from core.services import blobs
from core.services.auth import Principal
from core.services.sandbox_errors import raise_for_job
from core.settings import Settings
from core.states import JobState, SandboxState

JOBS = Base.metadata.tables["jobs"]


def storable(text: str) -> str | None:
    """Why PostgreSQL could not store this text (NUL, or a lone surrogate that is no character), or None."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (it holds a lone surrogate)"
    return None


def refuse_nul(value: Any, field: str) -> None:
    """No path, command or variable needs a NUL or a lone surrogate, and PostgreSQL's JSON refuses both."""
    if isinstance(value, str) and (problem := storable(value)):
        raise InvalidInput.one(field or "body", "text", problem)
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, field)
            refuse_nul(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            refuse_nul(item, f"{field}.{i}")


async def insert_job(
    session: AsyncSession,
    principal: Principal,
    sandbox_id: uuid.UUID | None,
    host: str,
    kind: JobKind,
    payload: dict[str, Any],
    protocol: str,
    timeout_ms: int | None,
    callback_url: str | None,
    idempotency_key: str | None = None,
    snapshot_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A host's job, on a sandbox or on a snapshot (building, removing it)."""
    job_id = uuid.uuid4()
    await session.execute(
        insert(JOBS).values(
            id=job_id,
            tenant_id=principal.tenant_id,
            kind=kind.value,
            queue=c.host_queue(host),
            protocol=protocol,
            state=JobState.QUEUED.value,
            attempts=0,
            callback_attempts=0,
            enqueued_at=datetime.now().astimezone(),
            sandbox_id=sandbox_id,
            snapshot_id=snapshot_id,
            payload=payload,
            timeout_ms=timeout_ms,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
        )
    )
    return job_id


async def enqueue(settings: Settings, job_id: uuid.UUID, host: str, kind: JobKind = JobKind.EXEC) -> None:
    """Send a host's job to the task its kind needs (any sandbox kind is the same task)."""
    # Not sent (Redis down): the job is in Postgres with enqueued_at set, and the sweep sends it again.
    await anyio.to_thread.run_sync(queue.send_host_job, settings, job_id, kind, c.host_queue(host))


@dataclass(frozen=True)
class Caller:
    """Who asks, through which protocol, and what a request reaches the database, the queue and the waiters with."""

    session: AsyncSession
    sessions: async_sessionmaker[AsyncSession]
    hub: CompletionHub
    principal: Principal
    settings: Settings
    protocol: str = "v1"
    redis: aioredis.Redis | None = None  # for a job's secrets (core/job_secrets.py)


async def submit_op(
    caller: Caller,
    sandbox: SandboxRecord,
    kind: JobKind,
    payload: dict[str, Any],
    timeout_ms: int | None = None,
    callback_url: str | None = None,
    secrets: dict[str, str] | None = None,
) -> uuid.UUID:
    """Queue one operation on a started sandbox; `secrets` (environment variables of an exec) are never stored."""
    if secrets:
        payload = {**payload, "secret_env": sorted(secrets)}
    payload = job_payloads.checked(kind, payload)
    refuse_nul(payload, "")
    if sandbox.state != SandboxState.STARTED:
        hint = "; start it first" if sandbox.state in (SandboxState.STOPPED, SandboxState.ERROR) else ""
        raise Conflict(f"sandbox {sandbox.name} is {sandbox.state}{hint}", sandbox.state)
    session = caller.session
    job_id = await insert_job(
        session, caller.principal, sandbox.id, sandbox.host, kind, payload, caller.protocol, timeout_ms, callback_url
    )
    if secrets:
        if caller.redis is None:
            raise TypeError("a job with secrets needs a caller with Redis")
        ttl_s = wait_budget_s(caller.settings, timeout_ms) + caller.settings.sandboxes.lifecycle_wait_s
        await job_secrets.put(caller.redis, job_id, secrets, ttl_s)  # before the commit: no job without them
    await session.commit()
    await enqueue(caller.settings, job_id, sandbox.host)
    return job_id


async def get_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> JobView:
    jobs = JOBS.c
    columns = [jobs[name] for name in JobView.model_fields]
    job = (
        await session.execute(select(*columns).where(jobs.id == job_id, jobs.tenant_id == principal.tenant_id))
    ).first()
    if job is None or job.kind == JobKind.RUN:
        raise NotFound("job", str(job_id))
    return JobView.model_validate(job)


async def wait_for_job(
    caller: Caller, job_id: uuid.UUID, timeout_s: float, queued_after: float | None = None
) -> JobView:
    """The job once it is finished, or as it is when the timeout passes (`queued_after`: see
    notify.wait_finished)."""

    async def read() -> dict[uuid.UUID, JobView]:
        async with caller.sessions() as session:
            return {job_id: await get_job(session, caller.principal, job_id)}

    def carried(notice: JobNotice) -> JobView | None:
        return notice.job if notice.job is not None and notice.job.id == job_id else None

    found = await wait_finished(
        caller.hub, [job_id], read, lambda j: JobState(j.state).terminal, timeout_s, "job", carried, queued_after
    )
    return found[job_id]


def outcome(job: JobView) -> dict[str, Any]:
    """A finished job's result; its failure as the matching domain error; still going, Pending (202)."""
    if not JobState(job.state).terminal:
        raise Pending(job)
    if job.state != JobState.SUCCEEDED:
        raise_for_job(job)
    return dict(job.result or {})


def wait_budget_s(settings: Settings, timeout_ms: int | None) -> float:
    return (timeout_ms or settings.sandboxes.exec_timeout_s * 1000) / 1000 + settings.api.wait_margin_s


async def run_op(
    caller: Caller,
    sandbox: SandboxRecord,
    kind: JobKind,
    payload: dict[str, Any],
    timeout_ms: int | None = None,
    secrets: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Queue one operation and wait for its outcome (see `outcome`)."""
    before = time.monotonic()
    job_id = await submit_op(caller, sandbox, kind, payload, timeout_ms, secrets=secrets)
    return outcome(await wait_for_job(caller, job_id, wait_budget_s(caller.settings, timeout_ms), before))


async def settle(caller: Caller, job_id: uuid.UUID | None) -> None:
    """Wait for a lifecycle job (create, start, stop, delete); its failure is raised, a slow one is not:
    the caller answers with the sandbox as it then is."""
    if job_id is None:
        return
    job = await wait_for_job(caller, job_id, caller.settings.sandboxes.lifecycle_wait_s)
    if job.state == JobState.FAILED:
        raise_for_job(job)


# ------------------------------------------------------------------ file bodies

UPLOAD_TIMEOUT_MS = 600_000


async def upload(
    caller: Caller, sandbox: SandboxRecord, path: str, mode: int, pieces: AsyncIterator[bytes]
) -> dict[str, Any]:
    """Store the body, then write it to path as a job. The job owns the body from then on: the worker drops it
    once the job is finished (the sweep, if the job never finishes), so a wait that ends early loses nothing."""
    s = caller.settings.sandboxes
    stored = await blobs.store(caller.session, caller.principal.tenant_id, pieces, s.max_file_bytes, s.chunk_bytes)
    payload = {"path": path, "mode": mode, "blob_id": str(stored.id), "size": stored.size, "sha256": stored.sha256}
    return await run_op(caller, sandbox, JobKind.FILES_UPLOAD, payload, UPLOAD_TIMEOUT_MS)


async def download(caller: Caller, sandbox: SandboxRecord, path: str) -> tuple[int, AsyncIterator[bytes]]:
    """The file's size, and its bytes as they are read (the body is dropped once read whole)."""
    result = await run_op(caller, sandbox, JobKind.FILES_DOWNLOAD, {"path": path}, UPLOAD_TIMEOUT_MS)
    blob_id = uuid.UUID(result["blob_id"])
    sessions = caller.sessions

    async def body() -> AsyncIterator[bytes]:
        async with sessions() as reader:
            async for chunk in blobs.chunks(reader, blob_id):
                yield chunk
            await blobs.drop(reader, blob_id)

    return int(result["size"]), body()
