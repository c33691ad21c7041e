"""The requests both clients make, as plain data: one place knows the API's paths and bodies."""

from __future__ import annotations

import uuid
from typing import Any

from runyard.models import b64

Call = tuple[str, str, dict[str, Any]]
WAIT_MARGIN_S = 30.0


def _mode(mode: str | int | None) -> str | None:
    if mode is None:
        return None
    return format(mode, "o") if isinstance(mode, int) else str(mode)


def run_body(
    code: str | bytes,
    language: str | int,
    stdin: str | bytes | None,
    args: list[str] | None,
    expected_output: str | None,
    limits: dict[str, Any] | None,
    callback_url: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"language": language}
    if isinstance(code, bytes):
        body["source_base64"] = b64(code)
    else:
        body["source"] = code
    if stdin is not None:
        body["stdin_base64" if isinstance(stdin, bytes) else "stdin"] = (
            b64(stdin) if isinstance(stdin, bytes) else stdin
        )
    if args:
        body["args"] = list(args)
    if expected_output is not None:
        body["expected_output"] = expected_output
    if limits:
        body["limits"] = dict(limits)
    if callback_url:
        body["callback_url"] = callback_url
    return body


def idempotent() -> dict[str, str]:
    """A fresh key for one creating request: the transport may then send it again without creating twice."""
    return {"Idempotency-Key": str(uuid.uuid4())}


def create_run(body: dict[str, Any], wait: bool) -> Call:
    return "POST", "/v1/runs", {"json": body, "params": {"wait": "true" if wait else "false"}, "headers": idempotent()}


def get_run(run_id: str, wait_s: float = 0) -> Call:
    params = {"wait": str(int(min(60, wait_s)))} if wait_s > 0 else {}
    return "GET", f"/v1/runs/{run_id}", {"params": params, "timeout": wait_s + WAIT_MARGIN_S}


def exec_body(
    command: str | list[str], cwd: str | None, env: dict[str, str] | None, timeout: float | None, stdin: str | None
) -> tuple[dict[str, Any], float]:
    body: dict[str, Any] = {"argv": command} if isinstance(command, list) else {"command": command}
    if cwd:
        body["cwd"] = cwd
    if env:
        body["env"] = env
    if stdin is not None:
        body["stdin"] = stdin
    if timeout is not None:
        body["timeout_ms"] = int(timeout * 1000)
    return body, (timeout or 60.0) + WAIT_MARGIN_S


def sandbox_body(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def write_file(sandbox_id: str, path: str, data: bytes | str, mode: str | int | None) -> Call:
    params = {"path": path}
    if (m := _mode(mode)) is not None:
        params["mode"] = m
    content = data.encode() if isinstance(data, str) else data
    return "PUT", f"/v1/sandboxes/{sandbox_id}/files/content", {"params": params, "content": content, "timeout": 600}


def mode_text(mode: str | int) -> str:
    return _mode(mode) or "755"
