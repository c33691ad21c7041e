"""The Celery task for snapshot jobs: claim on the snapshot's host, build or remove, store the outcome.

A finished build makes the snapshot active and, in the same transaction, gives each sandbox that waited
for it a create job; those are sent once it commits (or by the sweep, if this worker dies first)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session

from core import constants as c
from core import job_machine, queue, sandbox_store, snapshot_store
from core.job_machine import SnapshotClaim
from core.jobkinds import JobKind
from core.metrics_store import Observation
from core.notify import JobNotice
from core.states import JobState, SnapshotState
from workers.celery_app import app
from workers.context import get_context
from workers.job_task import announce, attempt, claim_here, in_transaction, queue_wait
from workers.snapshot_builder import BuildOutcome

log = logging.getLogger(__name__)
Outcome = tuple[JobState, dict[str, Any], str | None]


def _finish_build(
    session: Session, claim: SnapshotClaim, built: BuildOutcome | None, error: str | None
) -> list[tuple[uuid.UUID, str]]:
    """Complete the job and settle the snapshot; returns the create jobs of the sandboxes that waited."""
    if built is not None and built.image is not None:
        result = {"image_ref": claim.snapshot.image_ref, "image_id": built.image.image_id}
        if not job_machine.complete_host_job(session, claim, JobState.SUCCEEDED, result, None):
            return []
        waited = snapshot_store.built(
            session, claim.snapshot.id, built.image.image_id, built.image.size_bytes, built.log
        )
        return [
            (sandbox_store.add_system_job(session, w.tenant_id, w.sandbox_id, w.host, JobKind.CREATE), w.host)
            for w in waited
        ]
    reason = error or (built.error if built else None) or "the build failed"
    failure = {"error": {"kind": "build_failed", "message": reason}}
    if job_machine.complete_host_job(session, claim, JobState.FAILED, failure, reason):
        snapshot_store.build_failed(session, [claim.snapshot.id], reason, built.log if built else None)
    return []


def _finish_remove(session: Session, claim: SnapshotClaim, error: str | None) -> bool:
    state = JobState.FAILED if error else JobState.SUCCEEDED
    result = {"error": {"kind": "internal", "message": error}} if error else {}
    if not job_machine.complete_host_job(session, claim, state, result, error):
        return False
    if error is None:
        snapshot_store.removed(session, claim.snapshot.id)
    return True


@app.task(
    name=c.TASK_SNAPSHOT_JOB,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    time_limit=4 * 3600,
)
def execute_snapshot_job(self: Any, job_id: str) -> None:
    ctx = get_context()
    claim = claim_here(ctx, job_machine.claim_snapshot_job, job_id, lambda held: held.snapshot.host)
    if claim is None:
        return
    observed = queue_wait(claim.kind, claim.queued_since)
    if claim.kind is JobKind.SNAPSHOT_BUILD:
        _build(self, claim, observed)
    else:
        _remove(self, claim, observed)


def _build(task: Any, claim: SnapshotClaim, observed: list[Observation]) -> None:
    ctx = get_context()
    in_transaction(ctx, snapshot_store.building, claim.snapshot.id)
    outcome = attempt(task, ctx, claim, lambda: ctx.snapshot_builder.build(claim), lambda reason: reason)
    if outcome is None:
        return
    built, error = (outcome, None) if isinstance(outcome, BuildOutcome) else (None, outcome)
    creates = in_transaction(ctx, _finish_build, claim, built, error)
    ok = built is not None and built.image is not None
    ctx.snapshot_builder.end_log(claim, SnapshotState.ACTIVE.value if ok else SnapshotState.BUILD_FAILED.value)
    announce(ctx, claim.job_id, JobNotice(state=(JobState.SUCCEEDED if ok else JobState.FAILED).value), False, observed)
    for create_id, host in creates:
        queue.send_sandbox_job(ctx.settings, create_id, host)
    log.info("snapshot built" if ok else "snapshot build failed", extra={"snapshot": str(claim.snapshot.id)})


def _remove(task: Any, claim: SnapshotClaim, observed: list[Observation]) -> None:
    ctx = get_context()

    def work() -> str:
        ctx.snapshot_builder.remove(claim)
        return ""  # no error

    outcome = attempt(task, ctx, claim, work, lambda reason: reason)
    if outcome is None:
        return
    error = outcome or None
    if in_transaction(ctx, _finish_remove, claim, error):
        state = JobState.FAILED if error else JobState.SUCCEEDED
        announce(ctx, claim.job_id, JobNotice(state=state.value), False, observed)
