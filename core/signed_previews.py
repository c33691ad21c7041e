"""Signed preview links: a token that opens one port of one sandbox until it expires (or is expired early),
without the sandbox's own preview token or an API key. Kept in Redis with its expiry as the key's TTL."""

from __future__ import annotations

import secrets
import uuid

import redis.asyncio as aioredis

from core import constants as c

KEY = c.KEY_PREFIX + "signed-preview:"  # + token; "<sandbox id>:<port>"
MAX_TTL_S = 7 * 86400


def _what(sandbox_id: uuid.UUID, port: int) -> str:
    return f"{sandbox_id}:{port}"


async def issue(client: aioredis.Redis, sandbox_id: uuid.UUID, port: int, ttl_s: int) -> str:
    token = secrets.token_urlsafe(24)
    await client.set(KEY + token, _what(sandbox_id, port), ex=max(1, min(ttl_s, MAX_TTL_S)))
    return token


async def opens(client: aioredis.Redis, token: str, sandbox_id: uuid.UUID, port: int) -> bool:
    if not token or len(token) > 100:
        return False
    found = await client.get(KEY + token)
    return found is not None and (found.decode() if isinstance(found, bytes) else str(found)) == _what(sandbox_id, port)


async def expire(client: aioredis.Redis, token: str, sandbox_id: uuid.UUID, port: int) -> bool:
    """Ends the token now; False if it was not one for that port (or had expired already)."""
    if not await opens(client, token, sandbox_id, port):
        return False
    await client.delete(KEY + token)
    return True
