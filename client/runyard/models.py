"""What the server answers, typed; unknown fields are kept (extra="allow"), so newer servers break no old client."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

FINISHED = {
    "accepted",
    "wrong_answer",
    "time_limit_exceeded",
    "memory_limit_exceeded",
    "compilation_error",
    "runtime_error",
    "internal_error",
    "exec_format_error",
    "cancelled",
}


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Language(Model):
    id: int
    name: str
    aliases: list[str] = []


class Run(Model):
    id: str
    status: str
    stdout: str | None = None
    stderr: str | None = None
    compile_output: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    message: str | None = None
    time_ms: float | None = None
    wall_time_ms: float | None = None
    memory_bytes: int | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    created_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def ok(self) -> bool:
        return self.status == "accepted"


class Sandbox(Model):
    id: str
    name: str
    template: str
    state: str
    host: str | None = None
    labels: dict[str, str] = {}
    env: dict[str, str] = {}
    cpus: float | None = None
    memory_bytes: int | None = None
    disk_bytes: int | None = None
    network: bool = False
    error: str | None = None


class Snapshot(Model):
    """A tenant's image built from a Dockerfile: pending, building, then active or build_failed (see error)."""

    id: str
    name: str
    state: str
    image_ref: str | None = None
    host: str | None = None
    dockerfile: str | None = None
    size_bytes: int | None = None
    error: str | None = None

    @property
    def settled(self) -> bool:
        return self.state in ("active", "build_failed", "removing", "deleted")

    @property
    def ok(self) -> bool:
        return self.state == "active"


class ExecResult(Model):
    exit_code: int | None
    signal: int | None = None
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class CellResult(Model):
    output: str = ""
    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None
    timed_out: bool = False


class Command(Model):
    id: str
    command: str
    exit_code: int | None = None
    running: bool = False
    stdout: str | None = None
    stderr: str | None = None


class FileInfo(Model):
    path: str
    name: str
    size: int
    mode: str
    is_dir: bool
    is_symlink: bool = False
    mtime: float = 0.0


class Job(Model):
    id: str
    kind: str
    state: str
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled")


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()
