"""From Judge0 request bodies to the core's RunRequest (units: seconds -> ms, KB stays KB)."""

from __future__ import annotations

import base64
import binascii

from api.judge0.schemas import SubmissionIn
from core.errors import FieldError, InvalidInput
from core.schemas import LimitsRequest, RunRequest


def _bytes(field: str, value: str | None, encoded: bool, errors: list[FieldError]) -> bytes | None:
    if value is None:
        return None
    if encoded:
        try:
            return base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            errors.append(FieldError(field, "base64", "is not valid base64"))
            return None
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        errors.append(FieldError(field, "utf8", "is not valid UTF-8 text"))
        return None


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def to_run_request(body: SubmissionIn, base64_encoded: bool) -> RunRequest:
    errors: list[FieldError] = []
    if body.language_id is None:
        errors.append(FieldError("language_id", "required", "can't be blank"))
    source = _bytes("source", body.source_code, base64_encoded, errors)
    stdin = _bytes("stdin", body.stdin, base64_encoded, errors)
    expected = _bytes("expected_output", body.expected_output, base64_encoded, errors)
    archive = _bytes("archive", body.additional_files, True, errors)  # always base64 in Judge0
    if errors:
        raise InvalidInput(errors)
    assert body.language_id is not None
    return RunRequest(
        language_id=body.language_id,
        source=source,
        archive=archive,
        stdin=stdin or b"",
        expected_output=expected,
        compiler_options=body.compiler_options,
        command_line_arguments=body.command_line_arguments,
        redirect_stderr_to_stdout=bool(body.redirect_stderr_to_stdout),
        enable_network=bool(body.enable_network),
        enable_per_process_time_limit=bool(body.enable_per_process_and_thread_time_limit),
        enable_per_process_memory_limit=bool(body.enable_per_process_and_thread_memory_limit),
        callback_url=body.callback_url or None,
        limits=LimitsRequest(
            cpu_time_ms=_ms(body.cpu_time_limit),
            cpu_extra_time_ms=_ms(body.cpu_extra_time),
            wall_time_ms=_ms(body.wall_time_limit),
            memory_kb=_int(body.memory_limit),
            stack_kb=_int(body.stack_limit),
            max_processes=body.max_processes_and_or_threads,
            max_file_size_kb=_int(body.max_file_size),
            number_of_runs=body.number_of_runs,
        ),
    )
