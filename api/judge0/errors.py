"""Judge0's error shapes: 422 {"field": ["message"]}, and {"error": "..."} for everything else."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.errors import retry_headers, status_of
from core.errors import Conflict, FieldError, Interrupted, InvalidInput, RunyardError

# Core field names -> (Judge0 name, divisor applied to the core's value to get Judge0's unit)
FIELD_MAP: dict[str, tuple[str, float]] = {
    "source": ("source_code", 1),
    "archive": ("additional_files", 1),
    "limits.cpu_time_ms": ("cpu_time_limit", 1000),
    "limits.cpu_extra_time_ms": ("cpu_extra_time", 1000),
    "limits.wall_time_ms": ("wall_time_limit", 1000),
    "limits.memory_kb": ("memory_limit", 1),
    "limits.stack_kb": ("stack_limit", 1),
    "limits.max_processes": ("max_processes_and_or_threads", 1),
    "limits.max_file_size_kb": ("max_file_size", 1),
    "limits.number_of_runs": ("number_of_runs", 1),
    "enable_per_process_time_limit": ("enable_per_process_and_thread_time_limit", 1),
    "enable_per_process_memory_limit": ("enable_per_process_and_thread_memory_limit", 1),
}
RULE_TEXT = {
    "ge": "must be greater than or equal to",
    "gt": "must be greater than",
    "le": "must be less than or equal to",
}
SECONDS_FIELDS = {"cpu_time_limit", "cpu_extra_time", "wall_time_limit"}


def field_messages(errors: list[FieldError]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for error in errors:
        name, divisor = FIELD_MAP.get(error.field, (error.field, 1))
        message = error.message
        if error.limit is not None and error.rule in RULE_TEXT:
            value = error.limit / divisor
            shown: Any = float(value) if name in SECONDS_FIELDS else int(value)
            message = f"{RULE_TEXT[error.rule]} {shown}"
        out.setdefault(name, []).append(message)
    return out


class Judge0Renderer:
    def domain(self, request: Request, exc: RunyardError) -> Response:
        if isinstance(exc, InvalidInput):
            return JSONResponse(field_messages(exc.errors), status_code=422)
        status = 400 if isinstance(exc, Conflict) else status_of(exc)  # Judge0 answers 400 for state conflicts
        content = {"error": exc.message}
        if isinstance(exc, Interrupted):  # the submission goes on: its token reads it
            content["token"] = exc.ident
        return JSONResponse(content, status_code=status, headers=retry_headers(exc))

    def validation(self, request: Request, exc: RequestValidationError) -> Response:
        out: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            out.setdefault(loc[-1] if loc else "body", []).append(err.get("msg", "is invalid"))
        return JSONResponse(out, status_code=422)
