"""What every request handler shares, held on app.state for the app's lifetime."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.notify import CompletionHub
from core.services.auth import KeyCache, Principal
from core.services.languages import Catalog
from core.services.operations import Caller
from core.settings import Settings


@dataclass
class AppState:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    hub: CompletionHub
    catalog: Catalog
    keys: KeyCache

    def caller(self, session: AsyncSession, principal: Principal, protocol: str = "v1") -> Caller:
        return Caller(session, self.sessions, self.hub, principal, self.settings, protocol, self.redis)
