"""Engines and session factories, built lazily from settings and kept per URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings

# What a step that only runs Core statements takes: a Session's transaction, or a bare Connection's (lighter: no
# ORM unit of work to set up, which cost a worker more per job than the statements themselves).
Executor = Session | Connection

_sync_engines: dict[str, Engine] = {}
_async_engines: dict[str, AsyncEngine] = {}


def _options(settings: Settings) -> dict[str, Any]:
    db = settings.database
    return {
        "pool_size": db.pool_size,
        "pool_pre_ping": True,
        "connect_args": {"connect_timeout": int(db.connect_timeout_s)},
    }


def sync_engine(settings: Settings) -> Engine:
    url = settings.database.url
    if url not in _sync_engines:
        _sync_engines[url] = create_engine(url, **_options(settings))
    return _sync_engines[url]


def async_engine(settings: Settings) -> AsyncEngine:
    url = settings.database.url
    if url not in _async_engines:
        _async_engines[url] = create_async_engine(url, **_options(settings))
    return _async_engines[url]


def session_factory(settings: Settings) -> sessionmaker[Session]:
    return sessionmaker(sync_engine(settings), expire_on_commit=False)


def async_session_factory(settings: Settings) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(async_engine(settings), expire_on_commit=False)


@contextmanager
def transaction(settings: Settings) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error."""
    with session_factory(settings).begin() as session:
        yield session


@contextmanager
def connection(settings: Settings) -> Iterator[Connection]:
    """A connection in one transaction: committed on success, rolled back on error."""
    with sync_engine(settings).begin() as conn:
        yield conn


def core_connection(db: Executor) -> Connection:
    """The Connection a step's statements run on, for Core statements straight on it from either kind of step."""
    return db.connection() if isinstance(db, Session) else db


def dispose_engines(close: bool = False) -> None:
    """Forget pooled connections; after a fork (close=False) without touching the parent's sockets."""
    for engine in _sync_engines.values():
        engine.dispose(close=close)
    _sync_engines.clear()
    _async_engines.clear()


async def dispose_async_engines() -> None:
    for engine in _async_engines.values():
        await engine.dispose()
    _async_engines.clear()
