"""Which worker host a new sandbox, or a snapshot's build, goes to."""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Unavailable
from core.models import Sandbox
from core.services.system import live_workers
from core.states import SandboxState


async def pick_host(client: aioredis.Redis, session: AsyncSession, image: str) -> str:
    """The live host with the fewest live sandboxes among those whose workers serve sandboxes of this image."""
    workers = [w for w in await live_workers(client) if w.sandbox_images]
    # A template's image only where it is served; any other image wherever sandboxes are (pulled if need be).
    hosts = {w.host for w in workers if image in w.sandbox_images} or {w.host for w in workers}
    if not hosts:
        raise Unavailable("no worker host serving sandboxes is alive; retry later", retry_after=10)
    counts = dict(
        (
            await session.execute(
                select(Sandbox.host, func.count())
                .where(Sandbox.host.in_(hosts), Sandbox.state != SandboxState.DELETED)
                .group_by(Sandbox.host)
            )
        )
        .tuples()
        .all()
    )
    return min(sorted(hosts), key=lambda h: counts.get(h, 0))
