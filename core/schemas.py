"""Job schemas shared by adapters and workers: what a run asks for, and what it became."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.statuses import RunStatus


class LimitsRequest(BaseModel):
    """Limits as a client asked for them, in the core's units; None means the default."""

    cpu_time_ms: int | None = None
    cpu_extra_time_ms: int | None = None
    wall_time_ms: int | None = None
    memory_kb: int | None = None
    stack_kb: int | None = None
    max_processes: int | None = None
    max_file_size_kb: int | None = None
    output_bytes: int | None = None
    number_of_runs: int | None = None


class RunLimits(BaseModel):
    """Limits after defaults were applied and maxima checked."""

    model_config = ConfigDict(frozen=True)

    cpu_time_ms: int
    cpu_extra_time_ms: int
    wall_time_ms: int
    memory_kb: int
    stack_kb: int
    max_processes: int
    max_file_size_kb: int
    output_bytes: int
    number_of_runs: int


class RunRequest(BaseModel):
    """The one internal shape every adapter turns a run request into."""

    language_id: int
    source: bytes | None = None
    archive: bytes | None = None
    stdin: bytes = b""
    expected_output: bytes | None = None
    compiler_options: str | None = None
    command_line_arguments: str | None = None
    redirect_stderr_to_stdout: bool = False
    enable_network: bool = False
    enable_per_process_time_limit: bool = False
    enable_per_process_memory_limit: bool = False
    callback_url: str | None = None
    limits: LimitsRequest = Field(default_factory=LimitsRequest)


class LanguageInfo(BaseModel):
    id: int
    name: str
    aliases: list[str] = []
    is_archived: bool = False
    source_file: str | None = None
    compile_cmd: list[str] | None = None
    run_cmd: list[str] | None = None
    is_project: bool = False
    executable: bool = False
    image: str
    # RunLimits field -> its least value for this language: a run asking for less gets this much.
    floors: dict[str, int] = {}


class CallbackInfo(BaseModel):
    url: str
    state: str | None
    attempts: int
    last_error: str | None


class RunRecord(BaseModel):
    """A run with its job, read from the database: the source every view is rendered from."""

    # In JSON (a completion notice carries the finished record) bytes travel as base64: they need not be text.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    id: uuid.UUID
    tenant_id: uuid.UUID
    protocol: str
    status: RunStatus
    language_id: int
    created_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    attempts: int
    worker: str | None
    error: str | None

    source_code: bytes | None
    additional_files: bytes | None
    stdin: bytes
    expected_output: bytes | None
    compiler_options: str | None
    command_line_arguments: str | None
    redirect_stderr_to_stdout: bool
    enable_network: bool
    limits: RunLimits
    callback: CallbackInfo | None

    stdout: bytes | None
    stderr: bytes | None
    compile_output: bytes | None
    stdout_truncated: bool
    stderr_truncated: bool
    exit_code: int | None
    exit_signal: int | None
    message: str | None
    time_ms: float | None
    wall_time_ms: float | None
    memory_kb: int | None


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


class RunOutcome(BaseModel):
    """What a worker stores when it completes a run."""

    status: RunStatus
    stdout: bytes | None = None
    stderr: bytes | None = None
    compile_output: bytes | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    exit_code: int | None = None
    exit_signal: int | None = None
    message: str | None = None
    time_ms: float | None = None
    wall_time_ms: float | None = None
    memory_kb: int | None = None


class JobView(BaseModel):
    """A sandbox job as services hand it out: /v1/jobs, callbacks, and a wait that ran out all show this."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    state: str
    sandbox_id: uuid.UUID | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class SnapshotRecord(BaseModel):
    """A snapshot as services hand it to adapters (its Dockerfile and build output are read separately)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    state: str
    named: bool
    dockerfile: str
    image_ref: str
    host: str
    pushed: bool
    entrypoint: list[str] | None
    cpus: float | None
    memory_bytes: int | None
    disk_bytes: int | None
    image_id: str | None
    size_bytes: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    built_at: datetime | None
    last_used_at: datetime | None


class SandboxRecord(BaseModel):
    """A sandbox as services hand it to adapters: every column, read once; never an ORM row."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    protocol: str
    template: str
    image: str
    state: str
    host: str
    container_id: str | None
    volume: str | None
    snapshot_id: uuid.UUID | None = None
    env: dict[str, str]
    secrets: dict[str, str] = {}  # variable -> secret name
    labels: dict[str, str]
    cpus: float
    memory_bytes: int
    disk_bytes: int
    network: bool
    egress_allow: list[str] | None = None
    public: bool
    auto_stop_s: int
    auto_delete_s: int
    archived: bool
    auto_archive_s: int
    auto_pause_s: int = 0
    ttl_s: int = 0
    preview_token: str | None
    signing_key: str | None = None
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    last_activity_at: datetime
