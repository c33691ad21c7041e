"""The messages the worker and the in-container agent (sandbox_images/base/agent.py) exchange."""

from __future__ import annotations

import base64
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from workers.runtime.base import RuntimeFailure


class StepLimits(BaseModel):
    cpu_ms: int  # the agent kills at this much CPU time
    wall_ms: int
    file_size_bytes: int
    stack_bytes: int
    open_files: int
    output_bytes: int


class SpawnError(BaseModel):
    errno: int | None
    message: str


class StepResult(BaseModel):
    spawn_error: SpawnError | None = None
    exit_code: int | None = None
    signal: int | None = None
    cpu_ms: float = 0.0
    wall_ms: float = 0.0
    maxrss_kb: int = 0
    limit_hit: str | None = None  # "cpu" or "wall" when the agent stopped the program
    oom_killed: bool = False
    stdout: bytes = b""
    stdout_truncated: bool = False
    stderr: bytes = b""
    stderr_truncated: bool = False


class AgentReply(BaseModel):
    setup_error: str | None = None
    results: list[StepResult] = []


def run_request(
    *,
    uid: int,
    gid: int,
    argv: list[str],
    limits: StepLimits,
    stdin: bytes = b"",
    merge_stderr: bool = False,
    repeat: int = 1,
    files: list[tuple[str, bytes, int]] | None = None,
    archive: bytes | None = None,
    archive_limit_bytes: int = 10 << 20,
    archive_max_entries: int = 2000,
) -> bytes:
    request: dict[str, Any] = {
        "op": "run",
        "uid": uid,
        "gid": gid,
        "workdir": "/box",
        "files": [{"path": p, "data": base64.b64encode(d).decode(), "mode": m} for p, d, m in (files or [])],
        "archive": base64.b64encode(archive).decode() if archive else None,
        "archive_limit_bytes": archive_limit_bytes,
        "archive_max_entries": archive_max_entries,
        "step": {
            "argv": argv,
            "stdin": base64.b64encode(stdin).decode(),
            "limits": limits.model_dump(),
            "merge_stderr": merge_stderr,
            "repeat": repeat,
        },
    }
    return json.dumps(request).encode()


def reset_request(uid: int, gid: int) -> bytes:
    return json.dumps({"op": "reset", "uid": uid, "gid": gid}).encode()


def _load(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RuntimeFailure(f"the agent's reply is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RuntimeFailure("the agent's reply is not an object")
    if "agent_error" in data:
        raise RuntimeFailure(f"the agent failed: {str(data['agent_error'])[-1500:]}")
    return data


def decode_reply(raw: bytes) -> AgentReply:
    data = _load(raw)
    try:
        for result in data.get("results", []):
            for key in ("stdout", "stderr"):
                result[key] = base64.b64decode(result.get(key) or "", validate=True)
        return AgentReply.model_validate(data)
    except (ValueError, TypeError, AttributeError, ValidationError) as exc:
        raise RuntimeFailure(f"the agent's reply is not valid: {str(exc)[:300]}") from exc


def decode_reset(raw: bytes) -> tuple[bool, list[str]]:
    data = _load(raw)
    return bool(data.get("clean")), [str(p) for p in data.get("problems", [])]
