"""Judge0 1.13's request body, read leniently as Judge0 reads it (unknown keys are ignored)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class SubmissionIn(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    source_code: str | None = None
    language_id: int | None = None
    compiler_options: str | None = None
    command_line_arguments: str | None = None
    number_of_runs: int | None = None
    stdin: str | None = None
    expected_output: str | None = None
    cpu_time_limit: float | None = None
    cpu_extra_time: float | None = None
    wall_time_limit: float | None = None
    memory_limit: float | None = None
    stack_limit: float | None = None
    max_processes_and_or_threads: int | None = None
    enable_per_process_and_thread_time_limit: bool | None = None
    enable_per_process_and_thread_memory_limit: bool | None = None
    max_file_size: float | None = None
    redirect_stderr_to_stdout: bool | None = None
    callback_url: str | None = None
    additional_files: str | None = None
    enable_network: bool | None = None


class BatchIn(BaseModel):
    submissions: list[dict[str, Any]]
