"""Executing one sandbox job: lifecycle changes, commands, sessions, kernel cells and file operations.

Each function takes the claim and returns the job's JSON result. An AgentError
(a missing file, a bad path) is the caller's outcome and is stored as such; a
RuntimeFailure is an infrastructure problem and propagates.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import redis
from sqlalchemy import func

from core import job_output, job_secrets
from core.db import transaction
from core.job_machine import SandboxClaim
from core.job_payloads import UploadPayload
from core.job_rows import SandboxSnapshot
from core.jobkinds import JobKind
from core.sandbox_store import (
    add_blob_chunk,
    blob_chunk,
    blob_chunks,
    new_blob,
    sandbox_state,
    seal_blob,
    set_sandbox,
)
from core.settings import Settings
from core.states import SandboxState
from workers.agent_link import AgentError, AgentLink
from workers.sandbox_changes import Changes
from workers.sandbox_host import Placed, SandboxHost
from workers.stream_bridge import StreamBridge

log = logging.getLogger(__name__)
Result = dict[str, Any]
DEFAULT_TIMEOUT_S = 60.0
POLL_MS = 250  # how long a followed cell's poll waits in the sandbox for output


class Ops:
    def __init__(self, host: SandboxHost, settings: Settings, client: redis.Redis) -> None:
        self.host = host
        self.settings = settings
        self.redis = client
        self.table: dict[JobKind, Callable[[SandboxClaim], Result]] = {
            JobKind.CREATE: self.create,
            JobKind.START: self.start,
            JobKind.STOP: self.stop,
            JobKind.DELETE: self.delete,
            JobKind.EXEC: self.exec,
            JobKind.KERNEL_RUN: self.kernel_run,
            JobKind.KERNEL_RESTART: self.agent_op("kernel.restart"),
            JobKind.KERNEL_CONTEXT_CREATE: self.agent_op("kernel.context.create"),
            JobKind.KERNEL_CONTEXT_LIST: self.agent_op("kernel.context.list"),
            JobKind.KERNEL_CONTEXT_DELETE: self.agent_op("kernel.context.delete"),
            JobKind.SESSION_CREATE: self.agent_op("session.create"),
            JobKind.SESSION_EXEC: self.agent_op("session.exec"),
            JobKind.SESSION_COMMAND: self.agent_op("session.command"),
            JobKind.SESSION_CANCEL: self.agent_op("session.cancel"),
            JobKind.SESSION_INPUT: self.agent_op("session.input"),
            JobKind.SESSION_DELETE: self.agent_op("session.delete"),
            JobKind.SESSION_LIST: self.agent_op("session.list"),
            JobKind.FILES_LIST: self.agent_op("file.list"),
            JobKind.FILES_STAT: self.agent_op("file.stat"),
            JobKind.FILES_MKDIR: self.agent_op("file.mkdir"),
            JobKind.FILES_DELETE: self.agent_op("file.delete"),
            JobKind.FILES_MOVE: self.agent_op("file.move"),
            JobKind.FILES_CHMOD: self.agent_op("file.chmod"),
            JobKind.FILES_FIND: self.agent_op("file.find"),
            JobKind.FILES_GREP: self.agent_op("file.grep"),
            JobKind.FILES_REPLACE: self.agent_op("file.replace"),
            JobKind.FILES_UPLOAD: self.upload,
            JobKind.FILES_DOWNLOAD: self.download,
            JobKind.STREAM_OPEN: self.open_stream,
            JobKind.COMPUTER_USE: self.agent_op("computer_use"),
        }
        self.table.update(Changes(host, settings).table)

    def execute(self, claim: SandboxClaim) -> Result:
        op = self.table.get(claim.kind)
        if op is None:
            raise ValueError(f"unknown sandbox job kind {claim.kind!r}")
        return op(claim)

    def _timeout_s(self, claim: SandboxClaim) -> float:
        return (claim.timeout_ms or 0) / 1000 + 30.0 if claim.timeout_ms else DEFAULT_TIMEOUT_S + 30.0

    def _update(self, sandbox: SandboxSnapshot, **values: Any) -> None:
        with transaction(self.settings) as session:
            set_sandbox(session, sandbox.id, **values)

    # ------------------------------------------------------------ lifecycle

    def create(self, claim: SandboxClaim) -> Result:
        sandbox = claim.sandbox
        if sandbox.state != SandboxState.CREATING:
            return {"state": sandbox.state}  # a redelivered create that already happened
        placed = self.host.create(sandbox)
        return {**self._started(sandbox, placed, SandboxState.CREATING), "from_pool": placed.from_pool}

    def start(self, claim: SandboxClaim) -> Result:
        sandbox = claim.sandbox
        if sandbox.state != SandboxState.STARTING:
            return {"state": sandbox.state}
        return self._started(sandbox, self.host.start_sandbox(sandbox), SandboxState.STARTING)

    def _started(self, sandbox: SandboxSnapshot, placed: Placed, was: SandboxState) -> Result:
        """Record the running container, unless the sandbox left state `was` meanwhile. Deleted while it was
        being made, its delete found no container to remove: this one is nobody's, and goes."""
        with transaction(self.settings) as session:
            values = {"container_id": placed.container_id, "started_at": _now(), "error": None}
            if set_sandbox(session, sandbox.id, only_if=was, state=SandboxState.STARTED.value, **values):
                return {"state": SandboxState.STARTED.value}
            now = sandbox_state(session, sandbox.id)
        if now in (None, SandboxState.DELETING, SandboxState.DELETED):
            self.host.delete_sandbox(replace(sandbox, container_id=placed.container_id))
        return {"state": now or SandboxState.DELETED.value}

    def stop(self, claim: SandboxClaim) -> Result:
        sandbox = claim.sandbox
        if sandbox.state != SandboxState.STOPPING:
            return {"state": sandbox.state}
        self.host.stop_sandbox(sandbox)
        self._update(sandbox, state=SandboxState.STOPPED.value, stopped_at=_now())
        return {"state": SandboxState.STOPPED.value}

    def delete(self, claim: SandboxClaim) -> Result:
        sandbox = claim.sandbox
        self.host.delete_sandbox(sandbox)
        self._update(sandbox, container_id=None, state=SandboxState.DELETED.value, stopped_at=_now())
        return {"state": SandboxState.DELETED.value}

    # ------------------------------------------------------------ in the sandbox

    def link(self, claim: SandboxClaim) -> AgentLink:
        return self.host.link(claim.sandbox)

    def agent_op(self, op: str) -> Callable[[SandboxClaim], Result]:
        def run(claim: SandboxClaim) -> Result:
            fields = dict(claim.payload)
            return self.link(claim).call(op, timeout_s=self._timeout_s(claim), **fields)

        return run

    def exec(self, claim: SandboxClaim) -> Result:
        fields = dict(claim.payload)
        fields.setdefault("timeout_ms", claim.timeout_ms)
        if names := fields.pop("secret_env", None):
            secrets = job_secrets.take(self.redis, claim.job_id)
            if secrets is None:
                raise AgentError("conflict", f"the credentials of this command ({', '.join(names)}) expired unused")
            fields["env"] = {**(fields.get("env") or {}), **secrets}
        return self.link(claim).call("exec", timeout_s=self._timeout_s(claim), **fields)

    def kernel_run(self, claim: SandboxClaim) -> Result:
        """A cell; one that is followed has its output written to the job's output stream as it comes."""
        fields = dict(claim.payload)
        if not fields.pop("stream", False):
            return self.link(claim).call("kernel.run", timeout_s=self._timeout_s(claim), **fields)
        link = self.link(claim)
        cell = link.call("kernel.begin", **fields)["cell"]
        offset = 0
        try:
            while True:
                answer = link.call(
                    "kernel.poll", cell=cell, offset=offset, wait_ms=POLL_MS, timeout_s=POLL_MS / 1000 + 30
                )
                offset += len(answer["chunks"])
                if pieces := _coalesced(answer["chunks"]):
                    job_output.append(self.redis, claim.job_id, pieces)
                if answer["result"] is not None:
                    return dict(answer["result"])
        finally:
            job_output.end(self.redis, claim.job_id)

    def open_stream(self, claim: SandboxClaim) -> Result:
        """Open a terminal or a tunnel in the sandbox and bridge it to Redis; the bridge outlives the job."""
        payload = dict(claim.payload)
        kind, channel = payload.pop("kind"), str(payload.pop("channel"))
        link = self.link(claim)
        opened = link.call("pty.open" if kind == "pty" else "tcp.open", **payload)
        bridge = StreamBridge(self.redis, link, opened["stream"], channel)
        bridge.start()
        return {"stream": opened["stream"], "channel": channel}

    def upload(self, claim: SandboxClaim) -> Result:
        """Stream a blob from Postgres into a temporary file, then rename it into place.

        Only a body that is whole (the size and SHA-256 the API stored it with) replaces the target:
        a missing, short or altered body is refused and the old file stays as it was."""
        payload = UploadPayload.model_validate(claim.payload)
        blob_id = uuid.UUID(payload.blob_id)
        with transaction(self.settings) as session:
            seqs = blob_chunks(session, blob_id)
        if not seqs:
            gone = f"the body of this upload ({blob_id}) is gone; send the file again"
            raise AgentError("invalid", gone, field="body")
        link = self.link(claim)
        opened = link.call(
            "file.write_open",
            path=payload.path,
            mode=payload.mode,
            parents=payload.parents,
            limit=claim.sandbox.disk_bytes,
        )
        handle = opened["handle"]
        committed = False
        digest, size = hashlib.sha256(), 0
        try:
            for seq in seqs:
                with transaction(self.settings) as session:
                    data = blob_chunk(session, blob_id, seq)
                digest.update(data)
                size += len(data)
                link.call("file.write_chunk", handle=handle, data=base64.b64encode(data).decode())
            if size != payload.size or digest.hexdigest() != payload.sha256:
                raise AgentError(
                    "invalid",
                    f"the body of this upload is {size} bytes with SHA-256 {digest.hexdigest()}, not the "
                    f"{payload.size} bytes stored; the file was left as it was",
                    field="body",
                )
            result = link.call("file.write_close", handle=handle, commit=True)
            committed = True
            return result
        finally:
            if not committed:
                try:
                    link.call("file.write_close", handle=handle, commit=False, timeout_s=30)
                except Exception:  # noqa: BLE001 - the temporary file is ours to forget either way
                    log.info("could not abort an upload", extra={"job_id": str(claim.job_id)})

    def download(self, claim: SandboxClaim) -> Result:
        """Copy a file out of the sandbox into a new blob, chunk by chunk."""
        link = self.link(claim)
        limit = self.settings.sandboxes.max_file_bytes
        opened = link.call("file.read_open", path=claim.payload["path"])
        if int(opened["size"]) > limit:
            link.call("file.read_close", handle=opened["handle"])
            raise AgentError("too_large", f"the file is {opened['size']} bytes; at most {limit} can be downloaded")
        with transaction(self.settings) as session:
            blob_id = new_blob(session, claim.sandbox.tenant_id)
        size = 0
        try:
            seq = 0
            while True:
                chunk = link.call("file.read_chunk", handle=opened["handle"], size=self.settings.sandboxes.chunk_bytes)
                data = base64.b64decode(chunk["data"])
                if not data:
                    break
                size += len(data)
                if size > limit:
                    raise AgentError("too_large", f"the file grew past {limit} bytes while it was read")
                with transaction(self.settings) as session:
                    add_blob_chunk(session, blob_id, seq, data)
                seq += 1
            with transaction(self.settings) as session:
                seal_blob(session, blob_id)
        finally:
            link.call("file.read_close", handle=opened["handle"])
        return {"blob_id": str(blob_id), "size": size, "info": opened.get("info")}


def _coalesced(chunks: list[list[str]]) -> list[tuple[str, str]]:
    """Neighbouring pieces of one stream as one (print writes its text and its newline apart)."""
    pieces: list[tuple[str, str]] = []
    for stream, text in chunks:
        if pieces and pieces[-1][0] == stream:
            pieces[-1] = (stream, pieces[-1][1] + text)
        else:
            pieces.append((str(stream), str(text)))
    return pieces


def _now() -> Any:
    return func.now()
