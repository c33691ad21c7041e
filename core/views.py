"""How a run looks on the wire, in each protocol: used by the adapters and by callbacks.

Judge0's attribute set is exactly 1.13.1's: its official SDK refuses attributes it does not know.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.schemas import RunRecord
from core.statuses import RunStatus, judge0_status

# ------------------------------------------------------------------ Judge0

JUDGE0_FIELDS: tuple[str, ...] = (
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
)
JUDGE0_DEFAULT_FIELDS: tuple[str, ...] = (
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
)
_ENCODABLE = {"source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output", "message"}


class InvalidFields(ValueError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


class NotUtf8(ValueError):
    """Some output is not UTF-8 and the client did not ask for base64."""


def judge0_fields(raw: str | None) -> tuple[str, ...]:
    """Judge0's `fields` parameter: a comma list, `*` for all, the defaults when empty."""
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    unknown = [n for n in names if n != "*" and n not in JUDGE0_FIELDS]
    if unknown:
        raise InvalidFields(unknown)
    if "*" in names:
        return JUDGE0_FIELDS
    return tuple(dict.fromkeys(names)) or JUDGE0_DEFAULT_FIELDS


def judge0_time(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _seconds(ms: float | None) -> str | None:
    return None if ms is None else f"{ms / 1000:.3f}"


def _limit_seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}" if ms % 100 == 0 else f"{ms / 1000:.3f}"


def judge0_submission(
    record: RunRecord, language_name: str | None, fields: tuple[str, ...], base64_encoded: bool
) -> dict[str, Any]:
    """Render a run as Judge0 1.13 renders a submission. Raises NotUtf8 when text fields must be text."""
    status = judge0_status(record.status, record.exit_signal)
    lim = record.limits
    message = record.message.encode() if record.message is not None else None
    values: dict[str, Any] = {
        "source_code": record.source_code,
        "language_id": record.language_id,
        "stdin": record.stdin,
        "expected_output": record.expected_output,
        "stdout": record.stdout,
        "status_id": status.id,
        "created_at": judge0_time(record.created_at),
        "finished_at": judge0_time(record.finished_at),
        "time": _seconds(record.time_ms),
        "memory": record.memory_kb,
        "stderr": record.stderr,
        "token": str(record.id),
        "number_of_runs": lim.number_of_runs,
        "cpu_time_limit": _limit_seconds(lim.cpu_time_ms),
        "cpu_extra_time": _limit_seconds(lim.cpu_extra_time_ms),
        "wall_time_limit": _limit_seconds(lim.wall_time_ms),
        "memory_limit": lim.memory_kb,
        "stack_limit": lim.stack_kb,
        "max_processes_and_or_threads": lim.max_processes,
        "enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "max_file_size": lim.max_file_size_kb,
        "compile_output": record.compile_output,
        "exit_code": record.exit_code,
        "exit_signal": record.exit_signal,
        "message": message,
        "wall_time": _seconds(record.wall_time_ms),
        "compiler_options": record.compiler_options,
        "command_line_arguments": record.command_line_arguments,
        "redirect_stderr_to_stdout": record.redirect_stderr_to_stdout,
        "callback_url": record.callback.url if record.callback else None,
        "additional_files": base64.b64encode(record.additional_files).decode() if record.additional_files else None,
        "enable_network": record.enable_network,
        "status": {"id": status.id, "description": status.description},
        "language": {"id": record.language_id, "name": language_name},
    }
    out: dict[str, Any] = {}
    for name in fields:
        value = values[name]
        if name in _ENCODABLE and isinstance(value, bytes):
            if base64_encoded:
                value = base64.b64encode(value).decode()
            else:
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise NotUtf8(name) from exc
        out[name] = value
    return out


# ------------------------------------------------------------------ native (/v1)


class LanguageRef(BaseModel):
    id: int
    name: str | None


class CallbackView(BaseModel):
    url: str
    state: str | None = Field(description="pending, delivered or failed")
    attempts: int
    last_error: str | None


class RunLimitsView(BaseModel):
    cpu_time_ms: int
    cpu_extra_time_ms: int
    wall_time_ms: int
    memory_bytes: int
    stack_bytes: int
    processes: int
    file_size_bytes: int
    output_bytes: int
    runs: int


class RunView(BaseModel):
    """A run as the native API shows it: milliseconds, bytes and status names."""

    id: uuid.UUID
    status: RunStatus
    language: LanguageRef
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    encoding: Literal["utf-8", "base64"] = Field(
        description="How stdout, stderr and compile_output are given; utf-8 replaces undecodable bytes"
    )
    stdout: str | None
    stderr: str | None
    compile_output: str | None
    stdout_truncated: bool
    stderr_truncated: bool
    exit_code: int | None
    exit_signal: int | None
    message: str | None
    time_ms: float | None = Field(description="CPU time, averaged over the runs")
    wall_time_ms: float | None
    memory_bytes: int | None = Field(description="Peak resident memory, averaged over the runs")
    limits: RunLimitsView
    attempts: int
    callback: CallbackView | None


def _text(data: bytes | None, as_base64: bool) -> str | None:
    if data is None:
        return None
    return base64.b64encode(data).decode() if as_base64 else data.decode("utf-8", errors="replace")


def run_view(record: RunRecord, language_name: str | None, as_base64: bool = False) -> RunView:
    lim = record.limits
    return RunView(
        id=record.id,
        status=record.status,
        language=LanguageRef(id=record.language_id, name=language_name),
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        encoding="base64" if as_base64 else "utf-8",
        stdout=_text(record.stdout, as_base64),
        stderr=_text(record.stderr, as_base64),
        compile_output=_text(record.compile_output, as_base64),
        stdout_truncated=record.stdout_truncated,
        stderr_truncated=record.stderr_truncated,
        exit_code=record.exit_code,
        exit_signal=record.exit_signal,
        message=record.message,
        time_ms=record.time_ms,
        wall_time_ms=record.wall_time_ms,
        memory_bytes=record.memory_kb * 1024 if record.memory_kb is not None else None,
        limits=RunLimitsView(
            cpu_time_ms=lim.cpu_time_ms,
            cpu_extra_time_ms=lim.cpu_extra_time_ms,
            wall_time_ms=lim.wall_time_ms,
            memory_bytes=lim.memory_kb * 1024,
            stack_bytes=lim.stack_kb * 1024,
            processes=lim.max_processes,
            file_size_bytes=lim.max_file_size_kb * 1024,
            output_bytes=lim.output_bytes,
            runs=lim.number_of_runs,
        ),
        attempts=record.attempts,
        callback=CallbackView(**record.callback.model_dump()) if record.callback else None,
    )


def b64_text(encoded: str | None) -> str:
    """Base64 from the agent (command output) as text; bytes that are not UTF-8 become U+FFFD."""
    return base64.b64decode(encoded or "").decode("utf-8", errors="replace")
