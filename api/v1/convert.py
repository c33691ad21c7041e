"""From native request bodies to the core's RunRequest."""

from __future__ import annotations

import base64
import binascii
import shlex

from api.v1.schemas import RunCreate
from core.errors import FieldError, InvalidInput
from core.schemas import LimitsRequest, RunRequest


def _decode(field: str, value: str | None, errors: list[FieldError]) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        errors.append(FieldError(field, "base64", "is not valid base64"))
        return None


def _text_or_b64(name: str, text: str | None, encoded: str | None, errors: list[FieldError]) -> bytes | None:
    if text is not None and encoded is not None:
        errors.append(FieldError(name, "exclusive", f"give {name} or {name}_base64, not both"))
        return None
    if encoded is not None:
        return _decode(f"{name}_base64", encoded, errors)
    return _utf8(name, text, errors)


def _utf8(name: str, text: str | None, errors: list[FieldError]) -> bytes | None:
    if text is None:
        return None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        errors.append(FieldError(name, "utf8", "is not valid UTF-8 text (it holds a lone surrogate)"))
        return None


def _kb(value: int | None) -> int | None:
    return None if value is None else value // 1024


def to_run_request(body: RunCreate, language_id: int) -> RunRequest:
    errors: list[FieldError] = []
    source = _text_or_b64("source", body.source, body.source_base64, errors)
    stdin = _text_or_b64("stdin", body.stdin, body.stdin_base64, errors)
    archive = _decode("archive_base64", body.archive_base64, errors)
    expected = _utf8("expected_output", body.expected_output, errors)
    if errors:
        raise InvalidInput(errors)
    lim = body.limits
    return RunRequest(
        language_id=language_id,
        source=source,
        archive=archive,
        stdin=stdin or b"",
        expected_output=expected,
        compiler_options=shlex.join(body.compiler_options) if body.compiler_options else None,
        command_line_arguments=shlex.join(body.args) if body.args else None,
        redirect_stderr_to_stdout=body.redirect_stderr,
        callback_url=body.callback_url,
        limits=LimitsRequest(
            cpu_time_ms=lim.cpu_time_ms,
            cpu_extra_time_ms=lim.cpu_extra_time_ms,
            wall_time_ms=lim.wall_time_ms,
            memory_kb=_kb(lim.memory_bytes),
            stack_kb=_kb(lim.stack_bytes),
            max_processes=lim.processes,
            max_file_size_kb=_kb(lim.file_size_bytes),
            output_bytes=lim.output_bytes,
            number_of_runs=lim.runs,
        ),
    )
