"""Fixtures on real services: a migrated test database, a live stack, tenants with keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text

from core.cli import migrate_database
from core.db import dispose_engines, transaction
from core.services import keys as key_service
from core.settings import get_settings
from tests.conftest import TEST_REDIS_DB
from tests.services import require
from tests.stack import Stack, running_stack

DB_TABLES = "runs, jobs, api_keys, tenants"


@pytest.fixture(scope="session")
def database() -> Iterator[None]:
    require("postgres")
    settings = get_settings()
    with transaction(settings) as session:
        session.execute(text("DROP SCHEMA public CASCADE"))
        session.execute(text("CREATE SCHEMA public"))
    migrate_database()
    yield
    dispose_engines(close=True)


@pytest.fixture(scope="session")
def stack(database: None) -> Iterator[Stack]:
    """The shared stack: one API, one worker, beat; Redis database 15."""
    require("redis", "docker")
    with running_stack(TEST_REDIS_DB) as s:
        yield s


@dataclass(frozen=True)
class Tenant:
    name: str
    key: str
    callback_secret: str


def make_tenant(
    name: str | None = None, requests_per_minute: int | None = None, database_url: str | None = None
) -> Tenant:
    """A tenant with a key, in the suite's database or the one at database_url."""
    import uuid

    tenant = name or f"tenant-{uuid.uuid4().hex[:8]}"
    settings = get_settings()
    if database_url is not None:
        settings = settings.model_copy(update={"database": settings.database.model_copy(update={"url": database_url})})
    with transaction(settings) as session:
        issued = key_service.create_key(session, tenant=tenant, name="test", requests_per_minute=requests_per_minute)
    return Tenant(issued.tenant, issued.key, issued.callback_secret)


@pytest.fixture
def tenant(database: None) -> Tenant:
    return make_tenant()


@pytest.fixture
def other_tenant(database: None) -> Tenant:
    return make_tenant()


@pytest.fixture
def client(stack: Stack, tenant: Tenant) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"X-Auth-Token": tenant.key}, timeout=60) as c:
        yield c
