"""The job state machine's compare-and-set statements, straight against PostgreSQL: two claimers, a completion
that comes too late, a release after the lease was lost, and the same rules for runs and sandbox jobs.

The suite's shared stack sweeps the same database meanwhile: these jobs are enqueued "in the future" so it never
re-sends them, and a lease is ended in the same transaction as the claim that follows (the sweep skips locked rows).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import job_machine
from core.db import transaction
from core.job_machine import Exhausted, RunClaim, SandboxClaim
from core.jobkinds import JobKind
from core.models import Job, Run, Sandbox, Tenant
from core.records import run_record
from core.schemas import JobView, RunOutcome, RunRecord
from core.settings import Settings, get_settings
from core.states import JobState, SandboxState
from core.statuses import RunStatus


@pytest.fixture
def settings(database: None) -> Settings:
    return get_settings()


@pytest.fixture
def tenant_id(settings: Settings) -> Iterator[uuid.UUID]:
    with transaction(settings) as session:
        tenant = Tenant(name=f"machine-{uuid.uuid4().hex[:8]}", callback_secret="s")
        session.add(tenant)
        session.flush()
        tid = tenant.id
    yield tid
    with transaction(settings) as session:
        session.delete(session.get(Tenant, tid))


def new_run(settings: Settings, tenant_id: uuid.UUID) -> uuid.UUID:
    with transaction(settings) as session:
        job = Job(
            tenant_id=tenant_id, kind=JobKind.RUN.value, queue="runyard.runs", state=JobState.QUEUED.value,
            enqueued_at=func.now() + timedelta(hours=1),
        )  # reason: one keyword per column of the row  # fmt: skip
        job.run = Run(
            language_id=71, source_code=b"print(1)", cpu_time_limit_ms=1000, cpu_extra_time_ms=0,
            wall_time_limit_ms=2000, memory_limit_kb=128000, stack_limit_kb=64000, max_processes=60,
            max_file_size_kb=1024, output_limit_bytes=1 << 20,
        )  # reason: one keyword per column of the row  # fmt: skip
        session.add(job)
        session.flush()
        return job.id


def new_sandbox_job(settings: Settings, tenant_id: uuid.UUID, kind: JobKind) -> uuid.UUID:
    with transaction(settings) as session:
        sandbox = Sandbox(
            tenant_id=tenant_id, name=f"sb-{uuid.uuid4().hex[:8]}", protocol="v1", template="agent",
            image="runyard/agent:latest", state=SandboxState.STARTED.value, host="h1", env={}, labels={},
            cpus=1.0, memory_bytes=1 << 28, disk_bytes=1 << 28, network=False, public=False, auto_stop_s=0,
            auto_delete_s=0, auto_archive_s=0, preview_token=uuid.uuid4().hex,
        )  # reason: one keyword per column of the row  # fmt: skip
        session.add(sandbox)
        session.flush()
        job = Job(
            tenant_id=tenant_id, kind=kind.value, queue="host.h1", state=JobState.QUEUED.value, sandbox_id=sandbox.id,
            payload={"command": "true"}, timeout_ms=5000, enqueued_at=func.now() + timedelta(hours=1),
        )  # reason: one keyword per column of the row  # fmt: skip
        session.add(job)
        session.flush()
        return job.id


def claim_run(
    settings: Settings, job_id: uuid.UUID, worker: str, expire_first: bool = False
) -> RunClaim | Exhausted | None:
    """Claim; with expire_first, after ending the holder's lease (as if its worker had stopped answering)."""
    with transaction(settings) as session:
        if expire_first:
            expire_lease(session, job_id)
        return job_machine.claim_run(session, job_id, worker, settings)


def claim_sandbox_job(
    settings: Settings, job_id: uuid.UUID, worker: str, expire_first: bool = False
) -> SandboxClaim | Exhausted | None:
    with transaction(settings) as session:
        if expire_first:
            expire_lease(session, job_id)
        return job_machine.claim_sandbox_job(session, job_id, worker, settings)


def state_of(settings: Settings, job_id: uuid.UUID) -> Job:
    with transaction(settings) as session:
        job = session.execute(select(Job).where(Job.id == job_id)).scalar_one()
        session.expunge(job)
        return job


def expire_lease(session: Session, job_id: uuid.UUID) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=Job.started_at))


def outcome(stdout: bytes) -> RunOutcome:
    return RunOutcome(status=RunStatus.ACCEPTED, stdout=stdout, exit_code=0)


def race(settings: Settings, job_id: uuid.UUID) -> list[object]:
    """Two workers claim the same job at the same moment."""
    results: list[object] = []
    barrier = threading.Barrier(2)

    def claim(worker: str) -> None:
        barrier.wait()
        results.append(claim_run(settings, job_id, worker))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_claimers_at_once_exactly_one_wins(settings: Settings, tenant_id: uuid.UUID) -> None:
    for _ in range(10):
        job_id = new_run(settings, tenant_id)
        results = race(settings, job_id)
        winners = [r for r in results if isinstance(r, RunClaim)]
        assert len(winners) == 1 and results.count(None) == 1, results
        job = state_of(settings, job_id)
        assert job.state == JobState.RUNNING and job.attempts == 1 and job.attempt_id == winners[0].attempt_id


def test_a_late_completion_loses_to_the_attempt_that_took_over(settings: Settings, tenant_id: uuid.UUID) -> None:
    job_id = new_run(settings, tenant_id)
    first = claim_run(settings, job_id, "slow")
    assert isinstance(first, RunClaim)
    assert claim_run(settings, job_id, "other") is None  # held: nobody else gets it
    second = claim_run(settings, job_id, "fast", expire_first=True)  # the slow worker's lease ran out
    assert isinstance(second, RunClaim) and second.attempt == 2 and second.attempt_id != first.attempt_id
    with transaction(settings) as session:
        stored = job_machine.complete_run(session, second, outcome(b"\xffsecond\n"))
    with transaction(settings) as session:  # the first attempt comes back: its result is refused
        assert job_machine.complete_run(session, first, outcome(b"first\n")) is None
    with transaction(settings) as session:
        job_row, run_row = session.execute(select(Job, Run).join(Run).where(Job.id == job_id)).one()
        # What completion hands back (and a completion notice carries) is the run exactly as a read gives it.
        assert stored == run_record(job_row, run_row)
        assert stored.stdout == b"\xffsecond\n" and stored.status is RunStatus.ACCEPTED
    assert RunRecord.model_validate_json(stored.model_dump_json()) == stored  # bytes that are not text survive JSON
    job = state_of(settings, job_id)
    assert job.state == JobState.SUCCEEDED and job.attempts == 2
    with transaction(settings) as session:  # finished: a redelivered message claims nothing
        assert job_machine.claim_run(session, job_id, "late", settings) is None


def test_release_after_the_lease_was_lost_does_nothing(settings: Settings, tenant_id: uuid.UUID) -> None:
    job_id = new_run(settings, tenant_id)
    first = claim_run(settings, job_id, "a")
    assert isinstance(first, RunClaim)
    second = claim_run(settings, job_id, "b", expire_first=True)
    assert isinstance(second, RunClaim)
    with transaction(settings) as session:
        assert not job_machine.release(session, first, "engine gone")  # not the holder any more
    job = state_of(settings, job_id)
    assert job.state == JobState.RUNNING and job.attempt_id == second.attempt_id
    with transaction(settings) as session:  # the holder may give it back
        assert job_machine.release(session, second, "engine gone")
    job = state_of(settings, job_id)
    assert job.state == JobState.QUEUED and job.attempt_id is None and job.error == "engine gone"


def test_out_of_attempts_fails_the_run_once(settings: Settings, tenant_id: uuid.UUID) -> None:
    job_id = new_run(settings, tenant_id)
    for attempt in range(settings.queue.max_attempts):
        assert isinstance(claim_run(settings, job_id, "w", expire_first=attempt > 0), RunClaim)
    exhausted = claim_run(settings, job_id, "w", expire_first=True)
    assert isinstance(exhausted, Exhausted) and exhausted.job_id == job_id
    job = state_of(settings, job_id)
    assert job.state == JobState.FAILED
    with transaction(settings) as session:
        run = session.execute(select(Run).where(Run.job_id == job_id)).scalar_one()
        assert run.verdict == RunStatus.INTERNAL_ERROR.value
    assert claim_run(settings, job_id, "w") is None  # failed once, announced once


def test_sandbox_jobs_follow_the_same_machine(settings: Settings, tenant_id: uuid.UUID) -> None:
    job_id = new_sandbox_job(settings, tenant_id, JobKind.FILES_LIST)
    first = claim_sandbox_job(settings, job_id, "a")
    assert isinstance(first, SandboxClaim)
    assert first.kind is JobKind.FILES_LIST and first.sandbox.host == "h1" and first.payload == {"command": "true"}
    assert claim_sandbox_job(settings, job_id, "b") is None
    second = claim_sandbox_job(settings, job_id, "b", expire_first=True)
    assert isinstance(second, SandboxClaim) and second.attempt == 2
    with transaction(settings) as session:
        assert job_machine.complete_host_job(session, first, JobState.SUCCEEDED, {"x": 1}, None) is None
        stored = job_machine.complete_host_job(session, second, JobState.SUCCEEDED, {"x": 2}, None)
    job = state_of(settings, job_id)
    assert job.state == JobState.SUCCEEDED and job.result == {"x": 2}
    assert stored == JobView.model_validate(job)  # what a notice carries is the job as a read gives it


def test_a_sandbox_job_with_side_effects_is_never_run_twice(settings: Settings, tenant_id: uuid.UUID) -> None:
    job_id = new_sandbox_job(settings, tenant_id, JobKind.EXEC)
    assert isinstance(claim_sandbox_job(settings, job_id, "a"), SandboxClaim)
    again = claim_sandbox_job(settings, job_id, "b", expire_first=True)  # its worker died mid-command
    assert isinstance(again, Exhausted)
    job = state_of(settings, job_id)
    assert job.state == JobState.FAILED and job.result is not None
    assert job.result["error"]["kind"] == "worker_lost" and "not repeated" in job.result["error"]["message"]
