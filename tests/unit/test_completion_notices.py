"""Completion notices carry the finished job, so a woken wait answers without reading it back: the notice's
encoding, its size cap, wait_finished's use of what it carries, and the first read a wait on a job it just queued
can skip (the hub is driven directly, without Redis)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from core.notify import NOTICE_MAX_BYTES, CompletionHub, JobNotice, wait_finished
from core.schemas import JobView


def job(job_id: uuid.UUID, state: str, stdout: str = "hi\n") -> JobView:
    now = datetime.now(UTC)
    return JobView(
        id=job_id,
        kind="sandbox.exec",
        state=state,
        sandbox_id=None,
        result={"stdout": stdout},
        error=None,
        created_at=now,
        finished_at=now if state != "queued" else None,
    )


def test_a_notice_round_trips_and_a_large_one_carries_the_state_alone() -> None:
    done = job(uuid.uuid4(), "succeeded")
    assert JobNotice.decoded(JobNotice(state="succeeded", job=done).encoded()) == JobNotice(state="succeeded", job=done)
    big = JobNotice(state="succeeded", job=job(done.id, "succeeded", "x" * NOTICE_MAX_BYTES))
    assert JobNotice.decoded(big.encoded()) == JobNotice(state="succeeded")
    assert JobNotice.decoded(b"succeeded") == JobNotice(state="unknown")  # unreadable: still wakes, then read


def wait(
    hub: CompletionHub,
    job_id: uuid.UUID,
    notice: JobNotice,
    rows: dict[str, JobView],
    queued_after: float | None = None,
) -> tuple[JobView, int]:
    """Wait on one queued job while the hub hears `notice`; the job found, and how often the database was read."""
    reads = 0

    async def read() -> dict[uuid.UUID, JobView]:
        nonlocal reads
        reads += 1
        return {job_id: rows["now"]}

    async def scenario() -> JobView:
        waiting = asyncio.create_task(
            wait_finished(
                hub, [job_id], read, lambda j: j.state == "succeeded", 5, "job", lambda n: n.job, queued_after
            )
        )
        await asyncio.sleep(0.01)  # registered (and read, unless the job was just queued)
        rows["now"] = rows["later"]
        hub._wake(str(job_id), notice.encoded())
        return (await waiting)[job_id]

    return asyncio.run(scenario()), reads


def test_a_woken_wait_answers_from_the_notice_without_reading_again() -> None:
    job_id = uuid.uuid4()
    carried = job(job_id, "succeeded", "from the notice\n")
    rows = {"now": job(job_id, "queued"), "later": job(job_id, "succeeded", "from the database\n")}
    found, reads = wait(CompletionHub("redis://unused"), job_id, JobNotice(state="succeeded", job=carried), rows)
    assert (found, reads) == (carried, 1)


def test_a_notice_without_the_job_is_followed_by_a_read() -> None:
    job_id = uuid.uuid4()
    rows = {"now": job(job_id, "queued"), "later": job(job_id, "succeeded", "from the database\n")}
    found, reads = wait(CompletionHub("redis://unused"), job_id, JobNotice(state="succeeded"), rows)
    assert (found, reads) == (rows["later"], 2)


def subscribed_hub() -> CompletionHub:
    hub = CompletionHub("redis://unused")
    hub._subscribed_since = time.monotonic() - 1  # as the listener sets it once Redis confirms the subscription
    return hub


def test_a_job_queued_while_the_hub_listened_is_not_read_at_all() -> None:
    job_id = uuid.uuid4()
    carried = job(job_id, "succeeded", "from the notice\n")
    rows = {"now": job(job_id, "queued"), "later": job(job_id, "succeeded", "from the database\n")}
    notice = JobNotice(state="succeeded", job=carried)
    found, reads = wait(subscribed_hub(), job_id, notice, rows, queued_after=time.monotonic())
    assert (found, reads) == (carried, 0)


def test_a_job_that_finished_before_its_wait_began_is_read_at_once() -> None:
    job_id = uuid.uuid4()
    hub = subscribed_hub()
    queued = time.monotonic()
    hub._wake(str(job_id), JobNotice(state="succeeded").encoded())  # nobody waits yet: remembered
    done = job(job_id, "succeeded")

    async def read() -> dict[uuid.UUID, JobView]:
        return {job_id: done}

    started = time.monotonic()
    found = asyncio.run(
        wait_finished(hub, [job_id], read, lambda j: j.state == "succeeded", 5, "job", queued_after=queued)
    )
    assert found == {job_id: done} and time.monotonic() - started < 1  # not the whole timeout


def test_a_hub_that_reconnected_since_the_job_was_queued_reads_first() -> None:
    job_id = uuid.uuid4()
    hub = subscribed_hub()
    queued = hub._subscribed_since - 1  # queued before this subscription began: its notice may be lost
    carried = job(job_id, "succeeded", "from the notice\n")
    rows = {"now": job(job_id, "queued"), "later": carried}
    found, reads = wait(hub, job_id, JobNotice(state="succeeded", job=carried), rows, queued_after=queued)
    assert (found, reads) == (carried, 1)
