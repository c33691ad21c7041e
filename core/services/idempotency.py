"""Idempotency keys: a client names the request that creates a job, and sending it again (after a
dropped connection, a restarted API) gets the job the first one created instead of a second one."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.models import Job
from core.services.auth import Principal


async def existing_job(session: AsyncSession, principal: Principal, key: str, kind: str) -> uuid.UUID | None:
    """The tenant's job created under this key, if any; a Conflict if the key named another kind of request."""
    row = (
        await session.execute(
            select(Job.id, Job.kind).where(Job.tenant_id == principal.tenant_id, Job.idempotency_key == key)
        )
    ).first()
    if row is None:
        return None
    if row.kind != kind:
        raise Conflict(f"Idempotency-Key {key!r} was already used for another kind of request ({row.kind})")
    return uuid.UUID(str(row.id))


async def after_conflict(session: AsyncSession, principal: Principal, key: str | None, kind: str) -> uuid.UUID | None:
    """After an insert broke a unique rule: roll back, and the job that another request sent under the same
    key created meanwhile. None when no key explains the conflict (the caller raises it again)."""
    await session.rollback()
    return await existing_job(session, principal, key, kind) if key is not None else None
