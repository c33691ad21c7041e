"""A tenant's secrets: named values, encrypted at rest, never sent back by the API; and the secrets a sandbox's
environment takes (variable -> secret name), resolved by its host's worker when it configures the sandbox.

Daytona hands a sandbox a placeholder and swaps in the value only on requests to the secret's hosts, so
code in the sandbox never sees it. Runyard has no such proxy yet: it hands the value itself as the
variable, and only where the operator allows it (`sandboxes.secrets_as_env`); otherwise attaching a
secret is refused, so no one believes a value protected that is not.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core import secret_box
from core.errors import Conflict, FieldError, InvalidInput, NotFound, NotSupported
from core.models import Sandbox, Secret
from core.schemas import SandboxRecord
from core.services.auth import Principal
from core.services.sandbox_validation import ENV_KEY
from core.settings import Settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
MAX_VALUE = 64 * 1024
MAX_PER_TENANT = 1000
REFUSED = (
    "secrets in a sandbox: this installation does not hand secrets to sandboxes (Runyard has no proxy that "
    "keeps the value out of the sandbox, as Daytona's does, and its operator has not allowed plain "
    "environment variables: sandboxes.secrets_as_env)"
)


@dataclass(frozen=True)
class SecretView:
    id: uuid.UUID
    name: str
    description: str | None
    hosts: list[str]
    created_at: object
    updated_at: object

    @property
    def placeholder(self) -> str:
        """What stands for the value where Daytona would put a placeholder (Runyard puts the value there)."""
        return f"runyard-secret:{self.name}"

    @classmethod
    def of(cls, row: Secret) -> SecretView:
        return cls(row.id, row.name, row.description, list(row.hosts or []), row.created_at, row.updated_at)


def _check(name: str | None, value: str | None, hosts: list[str] | None) -> None:
    errors: list[FieldError] = []
    if name is not None and not NAME.match(name):
        errors.append(FieldError("name", "pattern", f"must match {NAME.pattern}"))
    if value is not None and (len(value) > MAX_VALUE or "\x00" in value):
        errors.append(FieldError("value", "invalid", f"at most {MAX_VALUE} characters, without NUL"))
    if hosts is not None and (len(hosts) > 100 or any(not h or len(h) > 253 for h in hosts)):
        errors.append(FieldError("hosts", "invalid", "at most 100 host names"))
    if errors:
        raise InvalidInput(errors)


async def create(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    name: str,
    value: str,
    description: str | None,
    hosts: list[str] | None,
) -> SecretView:
    _check(name, value, hosts)
    count = (
        await session.execute(select(func.count()).select_from(Secret).where(Secret.tenant_id == principal.tenant_id))
    ).scalar_one()
    if count >= MAX_PER_TENANT:
        raise Conflict(f"secret quota reached: {count} of {MAX_PER_TENANT}; delete one first", state="quota")
    row = Secret(
        tenant_id=principal.tenant_id,
        name=name,
        description=description,
        hosts=list(hosts or []),
        sealed=secret_box.seal(settings, value),
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a secret named {name!r} already exists", state="exists") from None
    return SecretView.of(row)


async def _row(session: AsyncSession, principal: Principal, ident: str) -> Secret:
    """By id, or by name."""
    stmt = select(Secret).where(Secret.tenant_id == principal.tenant_id)
    try:
        stmt = stmt.where(Secret.id == uuid.UUID(ident))
    except ValueError:
        stmt = stmt.where(Secret.name == ident)
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound("secret", ident)
    return found


async def get(session: AsyncSession, principal: Principal, ident: str) -> SecretView:
    return SecretView.of(await _row(session, principal, ident))


async def listed(
    session: AsyncSession, principal: Principal, name: str | None, offset: int, limit: int
) -> tuple[list[SecretView], int]:
    where = [Secret.tenant_id == principal.tenant_id]
    if name:
        where.append(Secret.name.contains(name, autoescape=True))
    total = (await session.execute(select(func.count()).select_from(Secret).where(*where))).scalar_one()
    rows = (
        await session.execute(select(Secret).where(*where).order_by(Secret.seq).offset(offset).limit(limit))
    ).scalars()
    return [SecretView.of(r) for r in rows], total


async def change(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    ident: str,
    value: str | None,
    description: str | None,
    hosts: list[str] | None,
) -> SecretView:
    """A new value (for sandboxes configured from now on), description or hosts."""
    _check(None, value, hosts)
    row = await _row(session, principal, ident)
    values: dict[str, object] = {"updated_at": func.now()}
    if value is not None:
        values["sealed"] = secret_box.seal(settings, value)
    if description is not None:
        values["description"] = description
    if hosts is not None:
        values["hosts"] = hosts
    await session.execute(update(Secret).where(Secret.id == row.id).values(**values))
    await session.commit()
    return SecretView.of(await _row(session, principal, str(row.id)))


async def remove(session: AsyncSession, principal: Principal, ident: str) -> None:
    row = await _row(session, principal, ident)
    await session.execute(delete(Secret).where(Secret.id == row.id))
    await session.commit()


async def check_attach(session: AsyncSession, settings: Settings, principal: Principal, wanted: dict[str, str]) -> None:
    """The variables are variable names, the secrets are the tenant's, and the installation allows it."""
    if not wanted:
        return
    if not settings.sandboxes.secrets_as_env:
        raise NotSupported(REFUSED)
    errors = [
        FieldError(f"secrets.{k}", "key", f"must match {ENV_KEY.pattern}") for k in wanted if not ENV_KEY.match(k)
    ]
    if errors:
        raise InvalidInput(errors)
    names = set(wanted.values())
    found = set(
        (
            await session.execute(
                select(Secret.name).where(Secret.tenant_id == principal.tenant_id, Secret.name.in_(names))
            )
        ).scalars()
    )
    if missing := sorted(names - found):
        raise InvalidInput.one("secrets", "not_found", f"no secret named {missing[0]!r}")


async def attach(
    session: AsyncSession, settings: Settings, principal: Principal, sandbox: SandboxRecord, wanted: dict[str, str]
) -> None:
    """The sandbox's secrets from now on (its processes get them at its next start)."""
    await check_attach(session, settings, principal, wanted)
    await session.execute(update(Sandbox).where(Sandbox.id == sandbox.id).values(secrets=wanted, updated_at=func.now()))
    await session.commit()


def resolve(session: Session, settings: Settings, tenant_id: uuid.UUID, wanted: dict[str, str]) -> dict[str, str]:
    """For the worker configuring a sandbox: each variable's value (a secret deleted since is left out)."""
    if not wanted or not settings.sandboxes.secrets_as_env:
        return {}
    rows = session.execute(
        select(Secret.name, Secret.sealed).where(Secret.tenant_id == tenant_id, Secret.name.in_(set(wanted.values())))
    ).all()
    values = {name: secret_box.unseal(settings, sealed) for name, sealed in rows}
    return {env: values[name] for env, name in wanted.items() if name in values}
