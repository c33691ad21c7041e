"""Dependencies shared by every adapter: state, sessions, the authenticated caller."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from api.state import AppState
from core import ratelimit
from core.errors import RateLimited
from core.services.auth import Principal, authenticate


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.runyard
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def api_key_from(request: HTTPConnection) -> str | None:
    """X-Auth-Token (Judge0), Bearer, or Basic with the key as password (clients that only have a URL)."""
    token = request.headers.get("x-auth-token") or next(
        (v for k, v in request.query_params.multi_items() if k.lower() == "x-auth-token"), None
    )
    if token:
        return token.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or user or None
    return None


async def get_principal(request: Request, state: StateDep, session: SessionDep) -> Principal:
    principal = await authenticate(session, api_key_from(request), state.keys)
    budget = principal.requests_per_minute or state.settings.rate.requests_per_minute
    decision = await ratelimit.hit(state.redis, principal.tenant_id, budget)
    if not decision.allowed:
        raise RateLimited(f"rate limit of {budget} requests per minute exceeded", decision.retry_after)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]

# Printable ASCII, as HTTP header values go; a UUID per request is what clients usually send.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Names this request: sent again with the same key, it answers with what the first one created",
    ),
]
