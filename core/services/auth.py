"""Who is calling: API keys resolved to a tenant, with a short in-process cache."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AuthenticationFailed
from core.models import ApiKey
from core.security import hash_key


@dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    tenant_name: str
    key_id: uuid.UUID
    is_admin: bool
    callback_secret: str
    requests_per_minute: int | None

    @classmethod
    def of_tenant(cls, tenant_id: uuid.UUID) -> Principal:
        """Acting for a tenant without one of its keys: a token that stands in for one (a preview's, a
        signed link's, an SSH access token) was checked instead."""
        return cls(tenant_id, "", uuid.UUID(int=0), False, "", None)


class KeyCache:
    """Maps key hashes to principals for a few seconds; revocation takes effect within that time."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, key_hash: str) -> Principal | None:
        hit = self._entries.get(key_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self.ttl_s, principal)


async def authenticate(session: AsyncSession, key: str | None, cache: KeyCache) -> Principal:
    if not key:
        raise AuthenticationFailed(
            "an API key is required: send it as X-Auth-Token, as 'Authorization: Bearer <key>', "
            "or as the password of HTTP Basic auth"
        )
    digest = hash_key(key)
    cached = cache.get(digest)
    if cached is not None:
        return cached
    row = (
        await session.execute(select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)))
    ).scalar_one_or_none()
    if row is None:
        raise AuthenticationFailed("the API key is unknown or revoked")
    principal = Principal(
        tenant_id=row.tenant_id,
        tenant_name=row.tenant.name,
        key_id=row.id,
        is_admin=row.is_admin,
        callback_secret=row.tenant.callback_secret,
        requests_per_minute=row.tenant.requests_per_minute,
    )
    cache.put(digest, principal)
    return principal
