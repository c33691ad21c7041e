"""Signed file links (Daytona's `download_url` and `upload_url`): the SDK signs a link with the sandbox's
signing key, and whoever holds the link may read (GET) or write (POST) that one path until it expires.

The signature is Daytona's v1: "v1_" and the unpadded URL-safe base64 of an HMAC-SHA256, under the key,
of "v1:files:<METHOD>:<path>:<expires>"; expires is a unix time, 0 for never."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import PermissionDenied
from core.models import Sandbox
from core.schemas import SandboxRecord


def signature(key: str, method: str, path: str, expires: int) -> str:
    digest = hmac.new(key.encode(), f"v1:files:{method}:{path}:{expires}".encode(), hashlib.sha256).digest()
    return "v1_" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def signing_key(session: AsyncSession, sandbox: SandboxRecord, rotate: bool = False) -> str:
    """The sandbox's key (made now if it has none); a new one, which ends every earlier link, with rotate."""
    if sandbox.signing_key and not rotate:
        return sandbox.signing_key
    key = secrets.token_urlsafe(32)
    stmt = update(Sandbox).where(Sandbox.id == sandbox.id)
    if not rotate:  # two first asks at once: the first one's key stands
        stmt = stmt.where(Sandbox.signing_key.is_(None))
    await session.execute(stmt.values(signing_key=key))
    await session.commit()
    found = await session.get(Sandbox, sandbox.id, populate_existing=True)
    return str(found.signing_key) if found is not None and found.signing_key else key


def check(
    sandbox: SandboxRecord | None, sandbox_id: uuid.UUID, method: str, path: str, expires: str, signed: str
) -> None:
    """PermissionDenied unless the link was signed with this sandbox's key for this method and path, and is live."""
    try:
        when = int(expires)
    except ValueError:
        raise PermissionDenied("this file link's expiry is not a unix time") from None
    key = sandbox.signing_key if sandbox is not None and sandbox.id == sandbox_id else None
    if not key or not hmac.compare_digest(signature(key, method, path, when), signed):
        raise PermissionDenied("this file link's signature is not valid for this sandbox, method and path")
    if when and when < time.time():
        raise PermissionDenied("this file link has expired")
