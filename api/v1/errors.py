"""Native error bodies: {"error": {"type", "message", "fields": [{"field", "rule", "message"}]}}."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.errors import retry_headers, status_of
from core.errors import FieldError, Interrupted, InvalidInput, RunyardError

# Core field names and units -> this API's (name, multiplier applied to the core's limit value).
FIELD_MAP: dict[str, tuple[str, float]] = {
    "language_id": ("language", 1),
    "source": ("source", 1),
    "archive": ("archive_base64", 1),
    "command_line_arguments": ("args", 1),
    "limits.memory_kb": ("limits.memory_bytes", 1024),
    "limits.stack_kb": ("limits.stack_bytes", 1024),
    "limits.max_file_size_kb": ("limits.file_size_bytes", 1024),
    "limits.max_processes": ("limits.processes", 1),
    "limits.number_of_runs": ("limits.runs", 1),
}
RULE_TEXT = {
    "ge": "must be greater than or equal to",
    "gt": "must be greater than",
    "le": "must be less than or equal to",
}


def field_entry(error: FieldError) -> dict[str, Any]:
    prefix, rest = "", error.field
    batch = re.match(r"^(runs\.\d+\.)(.*)$", error.field)
    if batch:
        prefix, rest = batch.group(1), batch.group(2)
    name, scale = FIELD_MAP.get(rest, (rest, 1))
    name = prefix + name
    entry: dict[str, Any] = {"field": name, "rule": error.rule, "message": error.message}
    if error.limit is not None:
        limit = error.limit * scale
        entry["limit"] = int(limit) if float(limit).is_integer() else limit
        if error.rule in RULE_TEXT:
            entry["message"] = f"{RULE_TEXT[error.rule]} {entry['limit']}"
    return entry


def body(kind: str, message: str, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


class NativeRenderer:
    def domain(self, request: Request, exc: RunyardError) -> Response:
        fields = [field_entry(e) for e in exc.errors] if isinstance(exc, InvalidInput) else None
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) if fields else exc.message
        kind = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
        content, headers = body(kind, message, fields), retry_headers(exc)
        if isinstance(exc, Interrupted):  # the work goes on: say where to read it
            content["error"]["id"] = exc.ident
            headers["Location"] = f"/v1/{'runs' if exc.what == 'run' else 'jobs'}/{exc.ident}"
        return JSONResponse(content, status_code=status_of(exc), headers=headers)

    def validation(self, request: Request, exc: RequestValidationError) -> Response:
        fields = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
            fields.append(
                {"field": ".".join(loc) or "body", "rule": err.get("type", "invalid"), "message": err.get("msg", "")}
            )
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse(body("invalid_input", message, fields), status_code=422)
