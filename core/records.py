"""Turning ORM rows into RunRecord, the one shape every view is rendered from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from core.models import Job, Run
from core.schemas import CallbackInfo, RunLimits, RunRecord
from core.states import JobState
from core.statuses import RunStatus


def run_status(job: Job | Row[Any], run: Run | Row[Any]) -> RunStatus:
    state = JobState(job.state)
    if state is JobState.QUEUED:
        return RunStatus.QUEUED
    if state is JobState.RUNNING:
        return RunStatus.RUNNING
    if state is JobState.CANCELLED:
        return RunStatus.CANCELLED
    if state is JobState.FAILED or run.verdict is None:
        return RunStatus.INTERNAL_ERROR
    return RunStatus(run.verdict)


def run_record(job: Job | Row[Any], run: Run | Row[Any]) -> RunRecord:
    """From ORM objects, or from one result row holding both tables' columns (job and run alike)."""
    return RunRecord(
        id=job.id,
        tenant_id=job.tenant_id,
        protocol=job.protocol,
        status=run_status(job, run),
        language_id=run.language_id,
        created_at=job.created_at,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        updated_at=job.updated_at,
        attempts=job.attempts,
        worker=job.worker,
        error=job.error,
        source_code=run.source_code,
        additional_files=run.additional_files,
        stdin=run.stdin,
        expected_output=run.expected_output,
        compiler_options=run.compiler_options,
        command_line_arguments=run.command_line_arguments,
        redirect_stderr_to_stdout=run.redirect_stderr_to_stdout,
        enable_network=run.enable_network,
        limits=RunLimits(
            cpu_time_ms=run.cpu_time_limit_ms,
            cpu_extra_time_ms=run.cpu_extra_time_ms,
            wall_time_ms=run.wall_time_limit_ms,
            memory_kb=run.memory_limit_kb,
            stack_kb=run.stack_limit_kb,
            max_processes=run.max_processes,
            max_file_size_kb=run.max_file_size_kb,
            output_bytes=run.output_limit_bytes,
            number_of_runs=run.number_of_runs,
        ),
        callback=(
            CallbackInfo(
                url=job.callback_url,
                state=job.callback_state,
                attempts=job.callback_attempts,
                last_error=job.callback_last_error,
            )
            if job.callback_url
            else None
        ),
        stdout=run.stdout,
        stderr=run.stderr,
        compile_output=run.compile_output,
        stdout_truncated=run.stdout_truncated,
        stderr_truncated=run.stderr_truncated,
        exit_code=run.exit_code,
        exit_signal=run.exit_signal,
        message=run.message if run.message is not None else (job.error if job.state == JobState.FAILED else None),
        time_ms=run.time_ms,
        wall_time_ms=run.wall_time_ms,
        memory_kb=run.memory_kb,
    )
