"""SSH access tokens: one opens one sandbox's shell through the SSH gateway (api/ssh_gateway.py) until it
expires or is revoked. The token is the SSH user name (`ssh <token>@host -p <port>`), as on Daytona.

Kept in Redis under the token's SHA-256, never the token itself, with its expiry as the key's TTL: a
leaked Redis dump opens nothing, and an expired token is gone by itself."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from pydantic import BaseModel

from core import constants as c

KEY = c.KEY_PREFIX + "ssh-access:"  # + sha256(token)
BY_SANDBOX = c.KEY_PREFIX + "ssh-access-of:"  # + sandbox id; a set of token digests, to revoke them all
MAX_MINUTES = 7 * 24 * 60


class SshAccess(BaseModel):
    id: uuid.UUID
    sandbox_id: uuid.UUID
    tenant_id: uuid.UUID
    created_at: datetime
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def grant(
    client: aioredis.Redis, sandbox_id: uuid.UUID, tenant_id: uuid.UUID, minutes: int
) -> tuple[str, SshAccess]:
    """A new token (shown once) and what it opens."""
    token = secrets.token_urlsafe(24).replace("-", "a").replace("_", "b")  # a user name ssh takes as it is
    now = datetime.now(UTC)
    access = SshAccess(
        id=uuid.uuid4(),
        sandbox_id=sandbox_id,
        tenant_id=tenant_id,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    pipe = client.pipeline(transaction=True)
    pipe.set(KEY + _digest(token), access.model_dump_json(), ex=minutes * 60)
    pipe.sadd(BY_SANDBOX + str(sandbox_id), _digest(token))
    pipe.expire(BY_SANDBOX + str(sandbox_id), MAX_MINUTES * 60)
    await pipe.execute()
    return token, access


async def check(client: aioredis.Redis, token: str) -> SshAccess | None:
    """What the token opens, if it is live."""
    if not token or len(token) > 200:
        return None
    raw = await client.get(KEY + _digest(token))
    if raw is None:
        return None
    access = SshAccess.model_validate_json(raw)
    return access if access.expires_at > datetime.now(UTC) else None


async def revoke(client: aioredis.Redis, sandbox_id: uuid.UUID, token: str | None) -> int:
    """One token of the sandbox, or all of them (token None); how many went."""
    members = await client.smembers(BY_SANDBOX + str(sandbox_id))
    digests = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
    if token is not None:
        digests = [d for d in digests if d == _digest(token)]
    if not digests:
        return 0
    pipe = client.pipeline(transaction=True)
    pipe.delete(*(KEY + d for d in digests))
    pipe.srem(BY_SANDBOX + str(sandbox_id), *digests)
    gone, _ = await pipe.execute()
    return int(gone)
