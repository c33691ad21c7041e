"""What every request handler shares, held on app.state for the app's lifetime."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.notify import CompletionHub
from core.services.auth import KeyCache
from core.services.languages import Catalog
from core.settings import Settings


@dataclass
class AppState:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    hub: CompletionHub
    catalog: Catalog
    keys: KeyCache
