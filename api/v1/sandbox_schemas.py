"""Request and response bodies of the native sandbox API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.job_results import FileEntry
from core.schemas import SandboxRecord


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SandboxCreateBody(Strict):
    template: str | None = Field(None, description="A template name; the default agent image when omitted")
    image: str | None = Field(
        None, description="Any image on the worker's engine or one it can pull (instead of a template), e.g. debian:12"
    )
    name: str | None = Field(None, description="Unique among your live sandboxes; generated when omitted")
    env: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    cpus: float | None = None
    memory_bytes: int | None = None
    disk_bytes: int | None = None
    network: bool | None = Field(None, description="Outbound network (fenced); on unless false or turned off")
    egress_allow: list[str] | None = Field(
        None, description='With network: only these CIDRs (and DNS) may be reached, e.g. ["140.82.112.0/20"]'
    )
    auto_stop_s: int | None = Field(None, description="Seconds idle before it stops; 0 never")
    auto_delete_s: int | None = Field(None, description="Seconds stopped before it is deleted; 0 never")
    auto_pause_s: int | None = Field(None, description="Seconds idle before it is paused; 0 never")
    ttl_s: int | None = Field(None, description="Seconds from its creation until it is deleted; 0 no limit")


class SandboxOut(BaseModel):
    id: uuid.UUID
    name: str
    template: str
    image: str
    state: str
    host: str
    labels: dict[str, str]
    env: dict[str, str]
    cpus: float
    memory_bytes: int
    disk_bytes: int
    network: bool
    egress_allow: list[str] | None
    auto_stop_s: int
    auto_delete_s: int
    auto_pause_s: int = 0
    ttl_s: int = 0
    error: str | None
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    last_activity_at: datetime

    @classmethod
    def of(cls, s: SandboxRecord) -> SandboxOut:
        return cls(
            id=s.id,
            name=s.name,
            template=s.template,
            image=s.image,
            state=s.state,
            host=s.host,
            labels=dict(s.labels or {}),
            env=dict(s.env or {}),
            cpus=s.cpus,
            memory_bytes=s.memory_bytes,
            disk_bytes=s.disk_bytes,
            network=s.network,
            egress_allow=s.egress_allow,
            auto_stop_s=s.auto_stop_s,
            auto_delete_s=s.auto_delete_s,
            auto_pause_s=s.auto_pause_s,
            ttl_s=s.ttl_s,
            error=s.error,
            created_at=s.created_at,
            started_at=s.started_at,
            stopped_at=s.stopped_at,
            last_activity_at=s.last_activity_at,
        )


class SandboxPage(BaseModel):
    sandboxes: list[SandboxOut]
    total: int
    offset: int
    limit: int


class ExecBody(Strict):
    command: str | None = Field(None, description="Run by bash -c; or give argv")
    argv: list[str] | None = Field(None, min_length=1, max_length=4096)
    cwd: str | None = Field(None, max_length=4096)
    env: dict[str, str] | None = None
    timeout_ms: int | None = Field(None, ge=1)
    stdin: str | None = None
    merge_output: bool = Field(False, description="stderr into stdout, in order")


class ExecOut(BaseModel):
    exit_code: int | None
    signal: int | None
    timed_out: bool
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    wall_ms: float


class SessionBody(Strict):
    session: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")


class SessionCommandBody(Strict):
    command: str = Field(min_length=1, max_length=1 << 20)
    run_async: bool = Field(False, alias="async", description="Answer at once with the command id")
    timeout_ms: int | None = Field(None, ge=1)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CommandInputBody(Strict):
    data: str = Field(max_length=1 << 20, description="Text written to the command's stdin, as given (add a newline)")


class CommandOut(BaseModel):
    id: str
    command: str
    exit_code: int | None
    running: bool
    stdout: str | None = None
    stderr: str | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None


class CellBody(Strict):
    code: str = Field(max_length=1 << 20)
    timeout_ms: int | None = Field(None, ge=1)


class CellOut(BaseModel):
    output: str
    stdout: str
    stderr: str
    error: dict[str, Any] | None
    timed_out: bool


class MkdirBody(Strict):
    path: str = Field(min_length=1, max_length=4096)
    mode: str = Field("755", pattern=r"^0?[0-7]{3,4}$", description="Octal, as for chmod")
    parents: bool = True


class MoveBody(Strict):
    source: str = Field(min_length=1, max_length=4096)
    destination: str = Field(min_length=1, max_length=4096)
    overwrite: bool = False


class ChmodBody(Strict):
    path: str = Field(min_length=1, max_length=4096)
    mode: str = Field(pattern=r"^0?[0-7]{3,4}$", description="Octal, as for chmod")


class FileInfo(BaseModel):
    path: str
    name: str
    size: int
    mode: str
    is_dir: bool
    is_symlink: bool
    mtime: float

    @classmethod
    def of(cls, result: dict[str, Any]) -> FileInfo:
        entry = FileEntry.model_validate(result)
        return cls(
            path=entry.path,
            name=entry.name,
            size=entry.size,
            mode=format(entry.mode, "04o"),
            is_dir=entry.is_dir,
            is_symlink=entry.is_symlink,
            mtime=entry.mtime,
        )
