"""What a sandbox job's result holds, by kind, defined once: the worker stores the agent's answer as JSON, and every
adapter reads it through these models instead of parsing a dict its own way. Output travels base64-encoded (the
bytes exactly); `.text()` gives it as text the way every protocol shows it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from core.views import b64_text


class _Result(BaseModel):
    # The agent may add fields; an adapter that does not know them is not broken by them.
    model_config = ConfigDict(extra="ignore")


class ExecResult(_Result):
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    stdout: str | None = None  # base64
    stderr: str | None = None  # base64
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_ms: float = 0.0

    def stdout_text(self) -> str:
        return b64_text(self.stdout)

    def stderr_text(self) -> str:
        return b64_text(self.stderr)


class SessionCommand(_Result):
    """A command in a named session; its logs only when they were asked for."""

    id: str
    command: str
    exit_code: int | None = None
    running: bool = False
    stdout: str | None = None  # base64, when asked for
    stderr: str | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None

    @property
    def has_logs(self) -> bool:
        return self.stdout is not None

    def stdout_text(self) -> str:
        return b64_text(self.stdout)

    def stderr_text(self) -> str:
        return b64_text(self.stderr)


class SessionInfo(_Result):
    session: str
    commands: list[SessionCommand] = []


class SessionListing(_Result):
    sessions: list[SessionInfo]


class CellResult(_Result):
    output: str = ""
    stdout: str = ""
    stderr: str = ""
    error: Any = None
    timed_out: bool = False


class FileEntry(_Result):
    path: str
    name: str
    size: int
    mode: int  # permission bits
    is_dir: bool
    is_symlink: bool
    mtime: float
    uid: int | None = None
    gid: int | None = None


class FileListing(_Result):
    path: str
    entries: list[FileEntry]


class UsageSample(_Result):
    """A sandbox's use of its limits at one moment, from the engine (workers/sandbox_metrics.py)."""

    at: float  # unix time
    cpu_pct: float  # of its CPU limit, as Daytona counts it (100: every core it may use, busy throughout)
    cpus: float
    mem_used: int
    mem_limit: int
    mem_cache: int
    disk_used: int
    disk_limit: int
