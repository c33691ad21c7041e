"""Changing a sandbox after its create: its size, its network, its environment, pausing it, marking activity.

A started sandbox changes live, by a job on its host (workers/sandbox_changes.py); a stopped one has its
record changed, and its next start applies it (CPU and memory; the environment is handed over at every
start). The same rules as a create's bound every value.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from core.errors import Conflict, FieldError, InvalidInput
from core.job_payloads import EnvPayload
from core.jobkinds import JobKind
from core.models import Sandbox, Tenant
from core.schemas import SandboxRecord
from core.services import operations as ops
from core.services.sandbox_validation import ENV_KEY, bounded, check_map, egress_allow
from core.states import SandboxState


async def _reread(caller: ops.Caller, sandbox: SandboxRecord) -> SandboxRecord:
    found = await caller.session.get(Sandbox, sandbox.id, populate_existing=True)
    return SandboxRecord.model_validate(found)


async def resize(
    caller: ops.Caller, sandbox: SandboxRecord, cpus: float | None, memory_bytes: int | None, disk_bytes: int | None
) -> SandboxRecord:
    """CPU and memory, live if it runs; disk only grows, as on Daytona, and only on a stopped sandbox: its
    filesystem moves to a new container with the larger quota (a job on its host)."""
    s = caller.settings.sandboxes
    errors: list[FieldError] = []
    new_cpus = bounded("cpus", cpus, sandbox.cpus, 0.1, s.max_cpus, errors)
    new_memory = int(bounded("memory_bytes", memory_bytes, sandbox.memory_bytes, 64 << 20, s.max_memory_bytes, errors))
    grow = disk_bytes is not None and disk_bytes > sandbox.disk_bytes
    if disk_bytes is not None and disk_bytes < sandbox.disk_bytes:
        errors.append(FieldError("disk_bytes", "grow_only", f"a disk only grows: it is {sandbox.disk_bytes} bytes"))
    elif grow:
        bounded("disk_bytes", disk_bytes, sandbox.disk_bytes, 16 << 20, s.max_disk_bytes, errors)
    if errors:
        raise InvalidInput(errors)
    state = SandboxState(sandbox.state)
    if grow:
        if state != SandboxState.STOPPED:
            raise Conflict(f"sandbox {sandbox.name} is {state.value}; stop it to grow its disk", state.value)
        await _set(caller, sandbox, SandboxState.STOPPED, cpus=new_cpus, memory_bytes=new_memory)
        await _grow_disk(caller, sandbox, int(disk_bytes or 0))
        return await _reread(caller, sandbox)
    if state == SandboxState.STARTED:
        await ops.run_op(caller, sandbox, JobKind.RESIZE, {"cpus": new_cpus, "memory_bytes": new_memory})
    elif state == SandboxState.STOPPED:
        await _set(caller, sandbox, SandboxState.STOPPED, cpus=new_cpus, memory_bytes=new_memory)
    else:
        raise Conflict(f"sandbox {sandbox.name} is {state.value}; resize it when started or stopped", state.value)
    return await _reread(caller, sandbox)


async def _grow_disk(caller: ops.Caller, sandbox: SandboxRecord, disk_bytes: int) -> None:
    """Resizing (a compare-and-set from stopped), and the job that moves its filesystem to a larger disk, in one
    transaction."""
    await _compare_and_set(caller, sandbox, SandboxState.STOPPED, state=SandboxState.RESIZING.value)
    principal, settings = caller.principal, caller.settings
    payload = {"disk_bytes": disk_bytes}
    job_id = await ops.insert_job(
        caller.session, principal, sandbox.id, sandbox.host, JobKind.GROW_DISK, payload, caller.protocol, None, None
    )
    await caller.session.commit()
    await ops.enqueue(settings, job_id, sandbox.host)
    await ops.settle(caller, job_id)


async def _compare_and_set(caller: ops.Caller, sandbox: SandboxRecord, only_if: SandboxState, **values: object) -> None:
    """Change the row only if the sandbox is still in that state (uncommitted); Conflict if it is not."""
    changed = await caller.session.execute(
        update(Sandbox)
        .where(Sandbox.id == sandbox.id, Sandbox.state == only_if.value)
        .values(updated_at=func.now(), **values)
        .returning(Sandbox.id)
    )
    if changed.first() is None:
        await caller.session.rollback()
        raise Conflict(f"sandbox {sandbox.name} changed state meanwhile; retry", sandbox.state)


async def _set(caller: ops.Caller, sandbox: SandboxRecord, only_if: SandboxState, **values: object) -> None:
    await _compare_and_set(caller, sandbox, only_if, **values)
    await caller.session.commit()


async def pause(caller: ops.Caller, sandbox: SandboxRecord) -> SandboxRecord:
    """Freeze every process (a start resumes them); a paused sandbox takes no operations until then."""
    if sandbox.state != SandboxState.PAUSED:
        await ops.run_op(caller, sandbox, JobKind.PAUSE, {})
    return await _reread(caller, sandbox)


async def set_network(
    caller: ops.Caller, sandbox: SandboxRecord, block_all: bool | None, allow: list[str] | None
) -> SandboxRecord:
    """Block all (off the network) or on it, narrowed to an allow-list (or the whole fenced internet)."""
    errors: list[FieldError] = []
    networks = egress_allow(allow, errors)
    if errors:
        raise InvalidInput(errors)
    network = sandbox.network if block_all is None else not block_all
    if allow is not None and block_all is None:
        network = True  # an allow-list is a network to allow
    if network and not await _network_allowed(caller):
        raise InvalidInput.one("network", "not_allowed", "this tenant's sandboxes have no network")
    keep = sandbox.egress_allow if allow is None else (networks or None)  # an empty list: no narrowing
    await ops.run_op(caller, sandbox, JobKind.NETWORK, {"network": network, "egress_allow": keep if network else None})
    return await _reread(caller, sandbox)


async def _network_allowed(caller: ops.Caller) -> bool:
    own = (
        await caller.session.execute(select(Tenant.sandbox_network).where(Tenant.id == caller.principal.tenant_id))
    ).scalar_one()
    return bool(caller.settings.sandboxes.network if own is None else own)


async def update_env(
    caller: ops.Caller, sandbox: SandboxRecord, values: dict[str, str], unset: list[str]
) -> dict[str, str]:
    """Variables for the processes started from now on (and at every later start); the whole set after."""
    errors: list[FieldError] = []
    check_map("env", values, ENV_KEY, errors)
    for key in unset:
        if not ENV_KEY.match(key):
            errors.append(FieldError("unset", "key", f"key must match {ENV_KEY.pattern}"))
    if errors:
        raise InvalidInput(errors)
    if sandbox.state == SandboxState.STARTED:
        result = await ops.run_op(caller, sandbox, JobKind.ENV, {"set": values, "unset": unset})
        return dict(result["env"])
    env = EnvPayload(set=values, unset=unset).applied_to(sandbox.env)
    await _set(caller, sandbox, SandboxState(sandbox.state), env=env)
    return env


async def touch(caller: ops.Caller, sandbox: SandboxRecord) -> None:
    """Activity now: the auto-stop timer starts again."""
    await caller.session.execute(update(Sandbox).where(Sandbox.id == sandbox.id).values(last_activity_at=func.now()))
    await caller.session.commit()
