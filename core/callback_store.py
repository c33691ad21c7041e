"""What a callback delivery reads and records: the job, its tenant's signing secret, and each attempt."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Job, Run, Tenant
from core.records import run_record
from core.schemas import JobView, RunRecord
from core.states import CallbackState


def tenant_secret(session: Session, tenant_id: uuid.UUID) -> str:
    return session.execute(select(Tenant.callback_secret).where(Tenant.id == tenant_id)).scalar_one()


def load_job(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.execute(select(Job).where(Job.id == job_id)).scalar_one_or_none()


def load_run(session: Session, job_id: uuid.UUID) -> RunRecord | None:
    row = session.execute(select(Job, Run).join(Run, Run.job_id == Job.id).where(Job.id == job_id)).first()
    return None if row is None else run_record(row[0], row[1])


def sandbox_job_body(job: Job) -> bytes:
    """A sandbox job's callback body: the job as /v1/jobs shows it."""
    return JobView.model_validate(job).model_dump_json().encode()


def record_callback(session: Session, job_id: uuid.UUID, state: CallbackState, error: str | None) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(callback_state=state.value, callback_attempts=Job.callback_attempts + 1, callback_last_error=error)
    )
