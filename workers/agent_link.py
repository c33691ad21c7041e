"""A worker's connection to one persistent sandbox's agent (sandbox_images/runtime/sandbox_agent).

Many requests may be in flight at once: each carries an id, and a reader
thread hands every reply to the request that carries the same id. Replies
start with a magic marker, so a link attached in the middle of a reply meant
for a previous worker skips to the next whole one; requests start with one
too, so the agent drops a request a dead worker left half-sent.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from workers.runtime.base import RuntimeFailure, Stream

log = logging.getLogger(__name__)

MAGIC = b"\x00RY1"
# Requests start with their own marker, so the agent can drop one whose sender died halfway through it.
REQUEST_MAGIC = b"\x00RYREQ1\x01"  # why this shape: see the agent
LENGTH = struct.Struct(">I")
MAX_REPLY_BYTES = 64 << 20


class AgentError(Exception):
    """The agent refused or failed one request: a result for the caller, not an infrastructure failure."""

    def __init__(self, kind: str, message: str, path: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.path = path
        self.field = field

    def as_result(self) -> dict[str, Any]:
        return {"error": {"kind": self.kind, "message": self.message, "path": self.path, "field": self.field}}


class AgentLink:
    def __init__(self, stream: Stream, name: str = "") -> None:
        self._stream = stream
        self._pending: dict[str, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._broken: str | None = None
        # Streams (terminals, tunnels) push their output unasked; events for a stream nobody
        # listens to yet are kept until someone does (they may overtake the reply that opened it).
        self._listeners: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._early: dict[str, list[dict[str, Any]]] = {}
        self._reader = threading.Thread(target=self._read, name=f"agent-{name[:12]}", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._broken is None

    def call(self, op: str, timeout_s: float | None = 60.0, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its result; AgentError if the agent refused it."""
        request_id = uuid.uuid4().hex
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._broken is not None:
                raise RuntimeFailure(self._broken)
            self._pending[request_id] = future
        body = json.dumps({"id": request_id, "op": op, **fields}).encode()
        try:
            self._stream.send(REQUEST_MAGIC + LENGTH.pack(len(body)) + body)
            reply = future.result(timeout=timeout_s)
        except FutureTimeout as exc:
            raise RuntimeFailure(f"the sandbox agent did not answer {op} within {timeout_s:.0f}s") from exc
        finally:
            with self._lock:
                self._pending.pop(request_id, None)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise AgentError(
                str(error.get("kind", "agent_error")),
                str(error.get("message", "unknown error")),
                error.get("path"),
                error.get("field"),
            )
        result: dict[str, Any] = reply.get("result") or {}
        return result

    def _read(self) -> None:
        try:
            while True:
                self._buf += self._stream.receive(None)
                while (reply := self._take()) is not None:
                    if reply.get("event") == "stream":
                        self._dispatch(reply)
                        continue
                    future = self._pending.get(str(reply.get("id")))
                    if future is not None and not future.done():
                        future.set_result(reply)
        except (RuntimeFailure, TimeoutError, OSError) as exc:
            self._fail(str(exc) or "the sandbox agent's stream ended")

    def _dispatch(self, event: dict[str, Any]) -> None:
        stream = str(event.get("stream"))
        with self._lock:
            listener = self._listeners.get(stream)
            if listener is None:
                self._early.setdefault(stream, []).append(event)
                if len(self._early) > 1000:  # streams nobody claimed: forget the oldest
                    self._early.pop(next(iter(self._early)))
                return
        listener(event)

    def listen(self, stream: str, listener: Callable[[dict[str, Any]], None]) -> None:
        """Receive a stream's events (data, then one with "closed"), starting with any that came early."""
        with self._lock:
            early = self._early.pop(stream, [])
            self._listeners[stream] = listener
        for event in early:
            listener(event)

    def unlisten(self, stream: str) -> None:
        with self._lock:
            self._listeners.pop(stream, None)
            self._early.pop(stream, None)

    def _take(self) -> dict[str, Any] | None:
        start = self._buf.find(MAGIC)
        if start < 0:
            del self._buf[: max(0, len(self._buf) - len(MAGIC) + 1)]
            return None
        if start > 0:
            log.info("skipped the tail of an earlier reply", extra={"bytes": start})
            del self._buf[:start]
        header = len(MAGIC) + LENGTH.size
        if len(self._buf) < header:
            return None
        (size,) = LENGTH.unpack_from(self._buf, len(MAGIC))
        if size > MAX_REPLY_BYTES:
            del self._buf[: len(MAGIC)]  # not a real header: look for the next marker
            return None
        if len(self._buf) < header + size:
            return None
        body = bytes(self._buf[header : header + size])
        del self._buf[: header + size]
        try:
            reply = json.loads(body)
        except ValueError:
            log.warning("unreadable reply from the sandbox agent", extra={"bytes": size})
            return {}
        return reply if isinstance(reply, dict) else {}

    def _fail(self, reason: str) -> None:
        with self._lock:
            self._broken = reason
            pending = list(self._pending.values())
        for future in pending:
            if not future.done():
                future.set_exception(RuntimeFailure(reason))
        with self._lock:
            listeners = list(self._listeners.items())
        for stream, listener in listeners:
            listener({"event": "stream", "stream": stream, "closed": True, "exit_code": None, "error": reason})

    def close(self) -> None:
        self._stream.close()
        self._reader.join(timeout=5)
