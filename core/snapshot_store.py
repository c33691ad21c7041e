"""What a build's progress changes in the database, each in the caller's transaction: the snapshot's
state, and the sandboxes waiting for it (they get their create jobs when it is built)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from core.db import Executor
from core.models import Sandbox, Snapshot
from core.states import AWAITING_BUILD, SandboxState, SnapshotState

UNSETTLED = [SnapshotState.PENDING.value, SnapshotState.BUILDING.value]


@dataclass(frozen=True)
class Waited:
    """A sandbox that waited for its snapshot, now creating: it needs its create job."""

    sandbox_id: uuid.UUID
    tenant_id: uuid.UUID
    host: str


def building(session: Session, snapshot_id: uuid.UUID) -> None:
    """Its build has begun (again, after a lost attempt): the snapshot and its waiting sandboxes say so."""
    changed = session.execute(
        update(Snapshot)
        .where(Snapshot.id == snapshot_id, Snapshot.state.in_(UNSETTLED))
        .values(state=SnapshotState.BUILDING.value, updated_at=func.now())
        .returning(Snapshot.id)
    ).first()
    if changed is not None:
        session.execute(
            update(Sandbox)
            .where(Sandbox.snapshot_id == snapshot_id, Sandbox.state == SandboxState.PENDING_BUILD)
            .values(state=SandboxState.BUILDING_SNAPSHOT.value, updated_at=func.now())
        )


def built(session: Session, snapshot_id: uuid.UUID, image_id: str, size_bytes: int, log: str) -> list[Waited]:
    """The build succeeded: the snapshot is active, and the sandboxes waiting for it are creating.

    The snapshot's row is changed first: a create that reads it under its lock either sees it active, or
    commits its waiting sandbox before this statement may go on, and the next one finds it."""
    changed = session.execute(
        update(Snapshot)
        .where(Snapshot.id == snapshot_id, Snapshot.state.in_(UNSETTLED))
        .values(
            state=SnapshotState.ACTIVE.value,
            image_id=image_id,
            size_bytes=size_bytes,
            build_log=log,
            error=None,
            built_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Snapshot.id)
    ).first()
    if changed is None:
        return []
    waiting = session.execute(
        update(Sandbox)
        .where(Sandbox.snapshot_id == snapshot_id, Sandbox.state.in_(AWAITING_BUILD))
        .values(state=SandboxState.CREATING.value, updated_at=func.now())
        .returning(Sandbox.id, Sandbox.tenant_id, Sandbox.host)
    ).all()
    return [Waited(row.id, row.tenant_id, row.host) for row in waiting]


def build_failed(session: Executor, snapshot_ids: list[uuid.UUID], reason: str, log: str | None = None) -> None:
    """Builds that will not finish: their snapshots failed, and the sandboxes waiting for them are in error."""
    if not snapshot_ids:
        return
    values = {"state": SnapshotState.BUILD_FAILED.value, "error": reason[:4000], "updated_at": func.now()}
    if log is not None:
        values["build_log"] = log
    failed = session.execute(
        update(Snapshot)
        .where(Snapshot.id.in_(snapshot_ids), Snapshot.state.in_(UNSETTLED))
        .values(**values)
        .returning(Snapshot.id, Snapshot.name)
    ).all()
    for row in failed:
        session.execute(
            update(Sandbox)
            .where(Sandbox.snapshot_id == row.id, Sandbox.state.in_(AWAITING_BUILD))
            .values(
                state=SandboxState.ERROR.value,
                error=f"its snapshot {row.name} failed to build: {reason}"[:4000],
                updated_at=func.now(),
            )
        )


def removed(session: Session, snapshot_id: uuid.UUID) -> None:
    session.execute(
        update(Snapshot)
        .where(Snapshot.id == snapshot_id, Snapshot.state == SnapshotState.REMOVING)
        .values(state=SnapshotState.DELETED.value, updated_at=func.now())
    )


def host_lost(session: Session, host: str, reason: str) -> None:
    """A lost host's unfinished builds fail; snapshots being removed there are forgotten."""
    unfinished = session.execute(
        update(Snapshot)
        .where(Snapshot.host == host, Snapshot.state.in_(UNSETTLED))
        .values(updated_at=func.now())
        .returning(Snapshot.id)
    ).scalars()
    build_failed(session, list(unfinished), reason)
    session.execute(
        update(Snapshot)
        .where(Snapshot.host == host, Snapshot.state == SnapshotState.REMOVING)
        .values(state=SnapshotState.DELETED.value, updated_at=func.now())
    )
