"""What each kind of sandbox job asks for, defined once. Adapters build these (or the same keys); `submit_op` checks a
payload against its kind's model before the job is stored, so a misspelt or missing field is refused at the door, not
found by the worker later. Workers read the stored JSON through the same models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.jobkinds import JobKind


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Empty(Payload):
    pass


class ExecPayload(Payload):
    command: str | None = None  # run by bash -c; or argv
    argv: list[str] | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    timeout_ms: int
    merge_output: bool = False
    stdin: str | None = None  # base64
    secret_env: list[str] | None = None  # names of variables whose values are the job's secrets (job_secrets.py)


class CellPayload(Payload):
    code: str
    timeout_ms: int
    context: str | None = None  # a code interpreter context's kernel; the default kernel without one
    env: dict[str, str] | None = None  # for this cell only
    stream: bool = False  # its output also goes to a Redis stream as it comes (core/job_output.py)


class ResizePayload(Payload):
    cpus: float
    memory_bytes: int


class NetworkPayload(Payload):
    network: bool
    egress_allow: list[str] | None = None


class EnvPayload(Payload):
    set: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)

    def applied_to(self, env: dict[str, str]) -> dict[str, str]:
        """The sandbox's variables after this change."""
        return {k: v for k, v in {**env, **self.set}.items() if k not in self.unset}


class GrowDiskPayload(Payload):
    disk_bytes: int


class CommitPayload(Payload):
    """The sandbox's filesystem into the snapshot's image (made building by the API, in the job's transaction)."""

    snapshot_id: str
    image_ref: str
    push: bool = False


class ContextPayload(Payload):
    cwd: str | None = None


class ContextRefPayload(Payload):
    context: str


class SessionPayload(Payload):
    session: str


class SessionExecPayload(Payload):
    session: str
    command: str
    run_async: bool | None = Field(None, alias="async")
    timeout_ms: int


class SessionCommandPayload(Payload):
    session: str
    command_id: str


class SessionInputPayload(Payload):
    session: str
    command_id: str
    data: str  # base64


class PathPayload(Payload):
    path: str


class MkdirPayload(Payload):
    path: str
    mode: int
    parents: bool = True


class DeletePayload(Payload):
    path: str
    recursive: bool = False


class MovePayload(Payload):
    source: str
    destination: str
    overwrite: bool = False


class ChmodPayload(Payload):
    path: str
    mode: int


class PatternPayload(Payload):
    path: str
    pattern: str


class ReplacePayload(Payload):
    path: str
    pattern: str
    new: str


class UploadPayload(Payload):
    """The body is in Postgres (blob_id), owned by the job; the worker writes it only if it is whole."""

    path: str
    mode: int
    blob_id: str
    size: int
    sha256: str
    parents: bool = True


class StreamPayload(Payload):
    kind: Literal["pty", "tcp"]
    channel: str
    cols: int | None = None
    rows: int | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    command: list[str] | None = None  # a terminal's program and its arguments; the user's login shell without
    port: int | None = None


ComputerUseAction = Literal[
    "mouse.position", "mouse.move", "mouse.down", "mouse.up", "mouse.click", "mouse.drag", "mouse.scroll",
    "keyboard.type", "keyboard.key", "keyboard.hotkey", "keyboard.down", "keyboard.up",
    "screenshot", "display.info", "display.windows",
    "desktop.start", "desktop.stop", "desktop.status",
    "process.status", "process.restart", "process.logs", "process.errors",
    "browser",
    "recording.start", "recording.stop", "recording.list", "recording.get", "recording.delete",
]  # fmt: skip  # reason: the agent's actions, grouped by device


class ComputerUsePayload(Payload):
    """One action on the sandbox's display (sandbox_agent/desktop.py); its parameters are the agent's to check."""

    action: ComputerUseAction
    params: dict[str, Any] = Field(default_factory=dict)


PAYLOADS: dict[JobKind, type[Payload]] = {
    JobKind.CREATE: Empty,
    JobKind.START: Empty,
    JobKind.STOP: Empty,
    JobKind.DELETE: Empty,
    JobKind.RESIZE: ResizePayload,
    JobKind.PAUSE: Empty,
    JobKind.NETWORK: NetworkPayload,
    JobKind.ENV: EnvPayload,
    JobKind.COMMIT: CommitPayload,
    JobKind.GROW_DISK: GrowDiskPayload,
    JobKind.METRICS: Empty,
    JobKind.EXEC: ExecPayload,
    JobKind.KERNEL_RUN: CellPayload,
    JobKind.KERNEL_RESTART: Empty,
    JobKind.KERNEL_CONTEXT_CREATE: ContextPayload,
    JobKind.KERNEL_CONTEXT_LIST: Empty,
    JobKind.KERNEL_CONTEXT_DELETE: ContextRefPayload,
    JobKind.SESSION_CREATE: SessionPayload,
    JobKind.SESSION_EXEC: SessionExecPayload,
    JobKind.SESSION_COMMAND: SessionCommandPayload,
    JobKind.SESSION_CANCEL: SessionCommandPayload,
    JobKind.SESSION_INPUT: SessionInputPayload,
    JobKind.SESSION_DELETE: SessionPayload,
    JobKind.SESSION_LIST: Empty,
    JobKind.FILES_LIST: PathPayload,
    JobKind.FILES_STAT: PathPayload,
    JobKind.FILES_MKDIR: MkdirPayload,
    JobKind.FILES_DELETE: DeletePayload,
    JobKind.FILES_MOVE: MovePayload,
    JobKind.FILES_CHMOD: ChmodPayload,
    JobKind.FILES_FIND: PatternPayload,
    JobKind.FILES_GREP: PatternPayload,
    JobKind.FILES_REPLACE: ReplacePayload,
    JobKind.FILES_UPLOAD: UploadPayload,
    JobKind.FILES_DOWNLOAD: PathPayload,
    JobKind.STREAM_OPEN: StreamPayload,
    JobKind.COMPUTER_USE: ComputerUsePayload,
    JobKind.SNAPSHOT_BUILD: Empty,  # the Dockerfile is the snapshot's own
    JobKind.SNAPSHOT_DELETE: Empty,
}


class PayloadMismatch(TypeError):
    """An adapter built a payload its job kind does not take: a bug in Runyard, not the caller's input."""


def checked(kind: JobKind, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as its kind's model reads it, in the keys the agent expects."""
    try:
        model = PAYLOADS[kind].model_validate(payload)
    except ValidationError as exc:
        raise PayloadMismatch(f"a {kind.value} payload: {exc}") from exc
    return model.model_dump(by_alias=True, exclude_unset=True)
