"""Warm pools (Daytona's `warm_pool`): a tenant asks the hosts that can serve an image to keep some sandboxes
of it ready, beside each host's own pools (its default template, and its recently used images). A pool of
a snapshot not pushed to a registry lives on the one host that has it; any other on every sandbox host.
A create of that image, at the default disk size, then starts in the time it takes to claim one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.models import WarmPool
from core.services import snapshots
from core.services.auth import Principal
from core.services.sandbox_validation import resolve_template
from core.services.system import live_workers
from core.settings import Settings
from core.states import SnapshotState


@dataclass(frozen=True)
class WarmPoolView:
    id: uuid.UUID
    snapshot: str
    image: str
    pool: int
    ready: int  # ready sandboxes of its image on the hosts now (the hosts' own pools of it included)
    created_at: datetime
    updated_at: datetime


async def _image(session: AsyncSession, principal: Principal, settings: Settings, name: str) -> tuple[str, str | None]:
    """The image a snapshot name stands for, and the one host that has it (None: any host)."""
    own = await snapshots.named(session, principal, name)
    if own is not None:
        if own.state != SnapshotState.ACTIVE:
            raise InvalidInput.one("snapshot", "not_active", f"snapshot {name} is {own.state}; it must be active")
        return own.image_ref, None if own.pushed else own.host
    s = settings.sandboxes
    if name not in s.templates and name not in s.aliases:
        # Not any image: a pool of one no host has would only keep a host trying to pull it.
        raise InvalidInput.one("snapshot", "not_found", f"{name!r} is neither a template nor one of your snapshots")
    _, image = resolve_template(settings, name, "snapshot")
    return image, None


async def _ready(client: aioredis.Redis) -> dict[str, int]:
    counts: dict[str, int] = {}
    for worker in await live_workers(client):
        for image, n in worker.sandboxes.pool_images.items():
            counts[image] = counts.get(image, 0) + n
    return counts


def _view(row: WarmPool, ready: dict[str, int]) -> WarmPoolView:
    return WarmPoolView(
        row.id, row.snapshot, row.image, row.pool, ready.get(row.image, 0), row.created_at, row.updated_at
    )


async def _check_total(
    session: AsyncSession, principal: Principal, settings: Settings, extra: int, but: uuid.UUID | None
) -> None:
    where = [WarmPool.tenant_id == principal.tenant_id]
    if but is not None:
        where.append(WarmPool.id != but)
    held = (await session.execute(select(func.coalesce(func.sum(WarmPool.pool), 0)).where(*where))).scalar_one()
    limit = settings.sandboxes.max_warm_per_tenant
    if int(held) + extra > limit:
        raise Conflict(f"warm pool quota: {held} of {limit} ready sandboxes asked for already", state="quota")


async def create(
    session: AsyncSession, client: aioredis.Redis, settings: Settings, principal: Principal, snapshot: str, pool: int
) -> WarmPoolView:
    if pool < 1:
        raise InvalidInput.one("pool", "ge", "must be at least 1", 1)
    image, host = await _image(session, principal, settings, snapshot)
    await _check_total(session, principal, settings, pool, None)
    row = WarmPool(tenant_id=principal.tenant_id, snapshot=snapshot, image=image, host=host, pool=pool)
    session.add(row)
    await session.commit()
    return _view(row, await _ready(client))


async def _row(session: AsyncSession, principal: Principal, ident: str) -> WarmPool:
    try:
        pool_id = uuid.UUID(ident)
    except ValueError:
        raise NotFound("warm pool", ident) from None
    found = (
        await session.execute(select(WarmPool).where(WarmPool.id == pool_id, WarmPool.tenant_id == principal.tenant_id))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("warm pool", ident)
    return found


async def listed(session: AsyncSession, client: aioredis.Redis, principal: Principal) -> list[WarmPoolView]:
    rows = (
        await session.execute(select(WarmPool).where(WarmPool.tenant_id == principal.tenant_id).order_by(WarmPool.seq))
    ).scalars()
    ready = await _ready(client)
    return [_view(r, ready) for r in rows]


async def resize(
    session: AsyncSession, client: aioredis.Redis, settings: Settings, principal: Principal, ident: str, pool: int
) -> WarmPoolView:
    if pool < 0:
        raise InvalidInput.one("pool", "ge", "must be at least 0", 0)
    row = await _row(session, principal, ident)
    await _check_total(session, principal, settings, pool, row.id)
    await session.execute(update(WarmPool).where(WarmPool.id == row.id).values(pool=pool, updated_at=func.now()))
    await session.commit()
    return _view(await _row(session, principal, ident), await _ready(client))


async def remove(session: AsyncSession, principal: Principal, ident: str) -> None:
    row = await _row(session, principal, ident)
    await session.execute(delete(WarmPool).where(WarmPool.id == row.id))
    await session.commit()
