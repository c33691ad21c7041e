"""Sandboxes and the jobs that act on them: validate, place, persist, enqueue, wait.

Every operation is a job: written to Postgres, then sent to the queue of the
host that holds the sandbox. Only the worker on that host executes it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import constants as c
from core.errors import Conflict, FieldError, InvalidInput, NotFound, Unavailable
from core.jobkinds import JobKind
from core.models import Base, Job, Sandbox, Tenant
from core.sandbox_store import host_lost_after_s
from core.schemas import SandboxRecord
from core.services import idempotency, operations
from core.services.auth import Principal
from core.services.operations import storable
from core.services.system import live_workers
from core.settings import Settings
from core.states import SandboxState

JOBS, SANDBOXES = Base.metadata.tables["jobs"], Base.metadata.tables["sandboxes"]
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
# Docker's image reference: [registry[:port]/]path[:tag][@sha256:digest], the path in lower case (a
# registry has a dot or a port, or is localhost).
_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REF = re.compile(
    rf"(?=.{{1,200}}$)(?:(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::[0-9]+)?/|[A-Za-z0-9-]+:[0-9]+/)?{_PART}(?:/{_PART})*(?::\w[\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?"
)
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

# Operations allowed only while the sandbox is started; lifecycle kinds have their own rules.


@dataclass(frozen=True)
class SandboxCreate:
    template: str | None = None
    image: str | None = None
    name: str | None = None
    env: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    cpus: float | None = None
    memory_bytes: int | None = None
    disk_bytes: int | None = None
    network: bool | None = None  # None: the installation's default (on, fenced)
    egress_allow: list[str] | None = None  # CIDRs; None: the whole fenced internet
    public: bool = False
    auto_stop_s: int | None = None
    auto_delete_s: int | None = None
    auto_archive_s: int | None = None


def resolve_template(settings: Settings, name: str | None, field: str = "template") -> tuple[str, str]:
    """A template name (or alias) or an image reference to (template, image).

    A template is one of the installation's own; any other name is an image on the worker's engine
    or one it can pull, if the operator's allow-list admits it (its template is then its own name)."""
    s = settings.sandboxes
    wanted = name or s.default_template
    template = s.aliases.get(wanted, wanted)
    if template in s.templates:
        return template, s.templates[template]
    if not IMAGE_REF.fullmatch(wanted):
        available = ", ".join(sorted(s.templates) + sorted(s.aliases))
        raise InvalidInput.one(
            field, "image", f"{wanted!r} is neither a template ({available}) nor an image reference like debian:12"
        )
    if not any(fnmatch.fnmatchcase(wanted, pattern) for pattern in s.allowed_images):
        raise InvalidInput.one(field, "not_allowed", f"image {wanted!r} is not in this installation's allow-list")
    return wanted, wanted


MAX_EGRESS_RULES = 64


def _egress_allow(cidrs: list[str] | None, errors: list[FieldError]) -> list[str] | None:
    """The allow-list as normalised CIDRs (a bare address is its /32 or /128)."""
    if cidrs is None:
        return None
    if len(cidrs) > MAX_EGRESS_RULES:
        errors.append(FieldError("egress_allow", "max_items", f"at most {MAX_EGRESS_RULES} networks", MAX_EGRESS_RULES))
        return None
    networks = []
    for cidr in cidrs:
        try:
            networks.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            errors.append(FieldError("egress_allow", "cidr", f"{cidr[:60]!r} is not an address or a CIDR block"))
    return networks


def _check_map(field: str, values: dict[str, str] | None, key_rule: re.Pattern[str], errors: list[FieldError]) -> None:
    for key, value in (values or {}).items():
        name = f"{field}.{key}" if storable(key) is None else field
        if not key_rule.match(key):
            errors.append(FieldError(name, "key", f"key must match {key_rule.pattern}"))
        if storable(value) or len(value) > 32768:
            errors.append(FieldError(name, "value", "must be valid text of at most 32768 characters, without NUL"))
    if len(values or {}) > 200:
        errors.append(FieldError(field, "max_items", "at most 200 entries", 200))


def _bounded(
    field: str, value: float | None, default: float, low: float, high: float, errors: list[FieldError]
) -> float:
    if value is None:
        return default
    if value < low:
        errors.append(FieldError(field, "ge", f"must be greater than or equal to {low:g}", low))
    elif value > high:
        errors.append(FieldError(field, "le", f"must be less than or equal to {high:g}", high))
    return value


async def _pick_host(client: aioredis.Redis, session: AsyncSession, image: str) -> str:
    """The live host with the fewest live sandboxes among those whose workers serve sandboxes of this image."""
    workers = [w for w in await live_workers(client) if w.sandbox_images]
    # A template's image only where it is served; any other image wherever sandboxes are (pulled if need be).
    hosts = {w.host for w in workers if image in w.sandbox_images} or {w.host for w in workers}
    if not hosts:
        raise Unavailable("no worker host serving sandboxes is alive; retry later", retry_after=10)
    counts = dict(
        (
            await session.execute(
                select(Sandbox.host, func.count())
                .where(Sandbox.host.in_(hosts), Sandbox.state != SandboxState.DELETED)
                .group_by(Sandbox.host)
            )
        )
        .tuples()
        .all()
    )
    return min(sorted(hosts), key=lambda h: counts.get(h, 0))


async def _take_quota(session: AsyncSession, principal: Principal, settings: Settings) -> bool:
    """Check the live-sandbox quota under the tenant's row lock, held until this create commits: concurrent
    creates of one tenant count one after another, so none sees a count another is about to raise.

    Returns whether this tenant's sandboxes may have network (its own setting, else the installation's)."""
    own, network = (
        await session.execute(
            select(Tenant.max_sandboxes, Tenant.sandbox_network)
            .where(Tenant.id == principal.tenant_id)
            .with_for_update()
        )
    ).one()
    limit = own if own is not None else settings.sandboxes.max_per_tenant
    live = (
        await session.execute(
            select(func.count())
            .select_from(Sandbox)
            .where(Sandbox.tenant_id == principal.tenant_id, Sandbox.state != SandboxState.DELETED)
        )
    ).scalar_one()
    if live >= limit:
        raise Conflict(f"sandbox quota reached: {live} of {limit} live sandboxes; delete one first", state="quota")
    return bool(settings.sandboxes.network if network is None else network)


async def create_sandbox(
    session: AsyncSession,
    client: aioredis.Redis,
    principal: Principal,
    req: SandboxCreate,
    settings: Settings,
    protocol: str = "v1",
    idempotency_key: str | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """Persist the sandbox (creating) and its create job, then enqueue; returns (sandbox id, job id).

    With an idempotency key the tenant used before, the sandbox that request created, not a second one."""
    if idempotency_key is not None:
        earlier = await idempotency.existing_job(session, principal, idempotency_key, JobKind.CREATE)
        if earlier is not None:
            return await _sandbox_created_by(session, earlier), earlier
    s = settings.sandboxes
    errors: list[FieldError] = []
    template = image = ""
    if req.template and req.image:
        errors.append(FieldError("image", "exclusive", "give a template or an image, not both"))
    try:
        template, image = resolve_template(settings, req.template or req.image, "image" if req.image else "template")
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if req.name is not None and not NAME.match(req.name):
        errors.append(FieldError("name", "pattern", f"must match {NAME.pattern}"))
    _check_map("env", req.env, ENV_KEY, errors)
    _check_map("labels", req.labels, LABEL_KEY, errors)
    cpus = _bounded("cpus", req.cpus, s.cpus, 0.1, s.max_cpus, errors)
    memory = _bounded("memory_bytes", req.memory_bytes, s.memory_bytes, 64 << 20, s.max_memory_bytes, errors)
    disk = _bounded("disk_bytes", req.disk_bytes, s.disk_bytes, 16 << 20, s.max_disk_bytes, errors)
    auto_stop = _bounded("auto_stop_s", req.auto_stop_s, s.auto_stop_s, 0, 30 * 86400, errors)
    auto_delete = _bounded("auto_delete_s", req.auto_delete_s, s.auto_delete_s, 0, 365 * 86400, errors)
    if req.network and not s.network:
        errors.append(FieldError("network", "not_allowed", "sandboxes have no network on this installation"))
    network = s.network if req.network is None else req.network
    egress_allow = _egress_allow(req.egress_allow, errors) if network else None
    if errors:
        raise InvalidInput(errors)
    sandbox_id = uuid.uuid4()
    name = req.name or f"sandbox-{sandbox_id.hex[:12]}"
    if not await _take_quota(session, principal, settings):  # first: the name check below is then serialised too
        if req.network:
            raise InvalidInput.one("network", "not_allowed", "this tenant's sandboxes have no network")
        network, egress_allow = False, None
    taken = (
        await session.execute(
            select(Sandbox.id).where(
                Sandbox.tenant_id == principal.tenant_id, Sandbox.name == name, Sandbox.state != SandboxState.DELETED
            )
        )
    ).first()
    if taken is not None:
        raise Conflict(f"a sandbox named {name!r} already exists", state="exists")
    host = await _pick_host(client, session, image)
    try:
        await session.execute(
            insert(SANDBOXES).values(
                id=sandbox_id,
                tenant_id=principal.tenant_id,
                name=name,
                protocol=protocol,
                template=template,
                image=image,
                state=SandboxState.CREATING.value,
                host=host,
                env=dict(req.env or {}),
                labels=dict(req.labels or {}),
                cpus=cpus,
                memory_bytes=int(memory),
                disk_bytes=int(disk),
                network=network,
                egress_allow=egress_allow,
                public=req.public,
                auto_stop_s=int(auto_stop),
                auto_delete_s=int(auto_delete),
                auto_archive_s=max(0, int(req.auto_archive_s or 0)),
                preview_token=secrets.token_urlsafe(24),
            )
        )
        job_id = await operations.insert_job(
            session, principal, sandbox_id, host, JobKind.CREATE, {}, protocol, None, None, idempotency_key
        )
        await session.commit()
    except IntegrityError:  # the same key, sent twice at once: the other request created the sandbox
        earlier = await idempotency.after_conflict(session, principal, idempotency_key, JobKind.CREATE)
        if earlier is None:
            raise
        return await _sandbox_created_by(session, earlier), earlier
    await operations.enqueue(settings, job_id, host)
    return sandbox_id, job_id


async def _sandbox_created_by(session: AsyncSession, job_id: uuid.UUID) -> uuid.UUID:
    sandbox_id = (await session.execute(select(Job.sandbox_id).where(Job.id == job_id))).scalar_one()
    assert sandbox_id is not None  # a create job always names its sandbox (deleting one deletes the other)
    return sandbox_id


# ------------------------------------------------------------------ reading


async def get_sandbox(session: AsyncSession, principal: Principal, ident: str) -> SandboxRecord:
    """By id, or by name; deleted sandboxes only by id. Other tenants' are 404 like missing ones."""
    stmt = select(Sandbox).where(Sandbox.tenant_id == principal.tenant_id)
    try:
        sandbox_id = uuid.UUID(ident)
        stmt = stmt.where(Sandbox.id == sandbox_id)
    except ValueError:
        stmt = stmt.where(Sandbox.name == ident, Sandbox.state != SandboxState.DELETED)
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound("sandbox", ident)
    return SandboxRecord.model_validate(found)


async def sandbox_by_id(session: AsyncSession, sandbox_id: uuid.UUID) -> SandboxRecord | None:
    """Whoever owns it: for a preview link, whose token stands in for the owner's key (the caller checks it)."""
    found = await session.get(Sandbox, sandbox_id, populate_existing=True)
    return None if found is None else SandboxRecord.model_validate(found)


async def list_sandboxes(
    session: AsyncSession,
    principal: Principal,
    labels: dict[str, str],
    include_deleted: bool,
    offset: int,
    limit: int,
) -> tuple[list[SandboxRecord], int]:
    where = [Sandbox.tenant_id == principal.tenant_id]
    if labels:
        where.append(Sandbox.labels.contains(labels))
    if not include_deleted:
        where.append(Sandbox.state != SandboxState.DELETED)
    total = (await session.execute(select(func.count()).select_from(Sandbox).where(*where))).scalar_one()
    rows = (
        await session.execute(select(Sandbox).where(*where).order_by(Sandbox.seq.desc()).offset(offset).limit(limit))
    ).scalars()
    return [SandboxRecord.model_validate(r) for r in rows], total


# ------------------------------------------------------------------ changing state


_FROM = {
    JobKind.START: ({SandboxState.STOPPED, SandboxState.ERROR}, SandboxState.STARTING),
    JobKind.STOP: ({SandboxState.STARTED, SandboxState.ERROR}, SandboxState.STOPPING),
    JobKind.DELETE: (
        {
            SandboxState.STARTED,
            SandboxState.STOPPED,
            SandboxState.ERROR,
            SandboxState.CREATING,
            SandboxState.STARTING,
            SandboxState.STOPPING,
        },
        SandboxState.DELETING,
    ),
}
# Already there (or on the way): answer with the sandbox as it is, no new job.
_ALREADY = {
    JobKind.START: {SandboxState.STARTED, SandboxState.STARTING},
    JobKind.STOP: {SandboxState.STOPPED, SandboxState.STOPPING},
    JobKind.DELETE: {SandboxState.DELETED, SandboxState.DELETING},
}


async def host_lost(client: aioredis.Redis, host: str, settings: Settings) -> bool:
    """Silent past host_lost_after_s (the sweep's rule): never heard of, or last heard of too long ago."""
    seen = await client.hget(c.KEY_HOSTS_SEEN, host)
    return seen is None or time.time() - float(seen) > host_lost_after_s(settings)


async def change_state(
    session: AsyncSession,
    principal: Principal,
    sandbox: SandboxRecord,
    kind: JobKind,
    settings: Settings,
    archive: bool = False,
    client: aioredis.Redis | None = None,
    protocol: str = "v1",
) -> uuid.UUID | None:
    """Start, stop or delete: mark the transition (a compare-and-set) and queue its job; None if nothing to do.

    archive (with a stop) marks the stopped sandbox archived; a start clears the mark.
    """
    allowed, transient = _FROM[kind]
    current = SandboxState(sandbox.state)
    gone = kind == JobKind.DELETE and current is SandboxState.ERROR and client is not None
    if gone and client is not None and await host_lost(client, sandbox.host, settings):
        # Its host is gone: nothing there can run a job; if it returns, it removes what nobody owns.
        await session.execute(
            update(Sandbox)
            .where(Sandbox.id == sandbox.id, Sandbox.state == current.value)
            .values(state=SandboxState.DELETED.value, container_id=None, updated_at=func.now())
        )
        await session.commit()
        return None
    if kind in (JobKind.STOP, JobKind.START):
        marked = archive if kind == JobKind.STOP else False
        if sandbox.archived != marked and current not in (SandboxState.DELETED, SandboxState.DELETING):
            await session.execute(update(Sandbox).where(Sandbox.id == sandbox.id).values(archived=marked))
            if current in _ALREADY[kind]:
                await session.commit()
    if current in _ALREADY[kind]:
        return None
    if current not in allowed:
        raise Conflict(f"sandbox {sandbox.name} is {current.value}; cannot {kind.verb} it now", current.value)
    changed = await session.execute(
        update(Sandbox)
        .where(Sandbox.id == sandbox.id, Sandbox.state == current.value)
        .values(state=transient.value, updated_at=func.now())
        .returning(Sandbox.id)
    )
    if changed.first() is None:
        await session.rollback()
        raise Conflict(f"sandbox {sandbox.name} changed state meanwhile; retry", current.value)
    job_id = await operations.insert_job(session, principal, sandbox.id, sandbox.host, kind, {}, protocol, None, None)
    await session.commit()
    await operations.enqueue(settings, job_id, sandbox.host)
    return job_id


async def update_settings(session: AsyncSession, sandbox: SandboxRecord, **values: Any) -> SandboxRecord:
    """Labels, intervals, public: the sandbox's own record, no job needed (nothing runs)."""
    errors: list[FieldError] = []
    if "labels" in values:
        _check_map("labels", values["labels"], LABEL_KEY, errors)
    for key in ("auto_stop_s", "auto_delete_s", "auto_archive_s"):
        if key in values and not 0 <= int(values[key]) <= 365 * 86400:
            errors.append(FieldError(key, "range", "must be between 0 and 31536000 seconds"))
    if errors:
        raise InvalidInput(errors)
    await session.execute(update(Sandbox).where(Sandbox.id == sandbox.id).values(updated_at=func.now(), **values))
    await session.commit()
    return SandboxRecord.model_validate(await session.get(Sandbox, sandbox.id, populate_existing=True))
