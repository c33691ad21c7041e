"""Tenants and API keys, for operators (the CLI); synchronous."""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.models import ApiKey, Tenant
from core.security import hash_key, key_prefix, new_api_key, new_callback_secret
from core.settings import Settings

ADMIN_TENANT = "admin"


@dataclass(frozen=True)
class IssuedKey:
    key: str
    key_id: uuid.UUID
    tenant: str
    tenant_id: uuid.UUID
    callback_secret: str
    is_admin: bool

    def as_json(self) -> dict[str, Any]:
        """What the API and `runyardctl keys create --json` show of a new key."""
        return {
            "key": self.key,
            "key_id": str(self.key_id),
            "tenant": self.tenant,
            "tenant_id": str(self.tenant_id),
            "callback_secret": self.callback_secret,
            "admin": self.is_admin,
        }


@dataclass(frozen=True)
class KeyInfo:
    key_id: uuid.UUID
    prefix: str
    name: str
    tenant: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None


def get_or_create_tenant(session: Session, name: str, requests_per_minute: int | None = None) -> Tenant:
    tenant = session.execute(select(Tenant).where(Tenant.name == name)).scalar_one_or_none()
    if tenant is None:
        tenant = Tenant(name=name, callback_secret=new_callback_secret(), requests_per_minute=requests_per_minute)
        session.add(tenant)
        session.flush()
    elif requests_per_minute is not None:
        tenant.requests_per_minute = requests_per_minute
    return tenant


def set_tenant_sandbox_rules(
    session: Session, name: str, *, network: bool | None = None, max_sandboxes: int | None = None
) -> Tenant:
    """A tenant's own sandbox settings; None leaves a setting as it is."""
    tenant = session.execute(select(Tenant).where(Tenant.name == name)).scalar_one_or_none()
    if tenant is None:
        raise NotFound("tenant", name)
    if network is not None:
        tenant.sandbox_network = network
    if max_sandboxes is not None:
        tenant.max_sandboxes = max_sandboxes
    return tenant


def create_key(
    session: Session,
    *,
    tenant: str,
    name: str = "",
    admin: bool = False,
    key: str | None = None,
    requests_per_minute: int | None = None,
) -> IssuedKey:
    """Issue a key for a tenant (created if new). Only the hash is stored."""
    owner = get_or_create_tenant(session, tenant, requests_per_minute)
    secret = key or new_api_key()
    row = ApiKey(tenant_id=owner.id, key_hash=hash_key(secret), prefix=key_prefix(secret), name=name, is_admin=admin)
    session.add(row)
    session.flush()
    return IssuedKey(secret, row.id, owner.name, owner.id, owner.callback_secret, admin)


def revoke_key(session: Session, *, key_or_prefix: str) -> int:
    """Revoke by whole key, by key id, or by the prefix shown in listings; returns how many."""
    conditions = [ApiKey.key_hash == hash_key(key_or_prefix), ApiKey.prefix == key_or_prefix]
    with contextlib.suppress(ValueError):
        conditions.append(ApiKey.id == uuid.UUID(key_or_prefix))
    result = session.execute(
        update(ApiKey).where(or_(*conditions), ApiKey.revoked_at.is_(None)).values(revoked_at=func.now())
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count == 0:
        raise NotFound("active key", key_or_prefix)
    return count


def list_keys(session: Session) -> list[KeyInfo]:
    rows = session.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars().all()
    return [KeyInfo(r.id, r.prefix, r.name, r.tenant.name, r.is_admin, r.created_at, r.revoked_at) for r in rows]


def bootstrap_admin(session: Session, settings: Settings) -> str | None:
    """Make sure an admin key exists; return the key when it is known (env or key file)."""
    env_key = settings.api_key.get_secret_value() if settings.api_key else None
    if env_key:
        exists = session.execute(select(ApiKey.id).where(ApiKey.key_hash == hash_key(env_key))).first()
        if exists is None:
            create_key(session, tenant=ADMIN_TENANT, name="bootstrap (RUNYARD_API_KEY)", admin=True, key=env_key)
        return env_key
    key_file = settings.admin_key_file
    if key_file.exists():
        stored = key_file.read_text().strip()
        active = session.execute(
            select(ApiKey.id).where(ApiKey.key_hash == hash_key(stored), ApiKey.revoked_at.is_(None))
        ).first()
        if active is not None:
            return stored
    issued = create_key(session, tenant=ADMIN_TENANT, name="bootstrap (generated)", admin=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(issued.key + "\n")
    return issued.key
