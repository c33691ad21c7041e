"""Framing between the worker (workers/agent_link.py) and this agent, and the errors a request can end in.

Requests are REQUEST_MAGIC, a 4-byte big-endian length and a JSON body with an
"id"; replies are MAGIC, a length and a JSON body carrying the same id. Both
markers hold a NUL byte, which JSON text never does: a worker that attached in
the middle of a reply skips to the next marker, and the agent drops a request
whose worker died halfway through sending it as soon as the next request's
marker arrives.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
from typing import Any, BinaryIO

MAGIC = b"\x00RY1"
# It starts with a NUL, which JSON text never holds, and holds no other: so it cannot overlap itself, and
# cannot be found in a request's body, nor in its length (a body starts with "{", which it holds nowhere):
# a request torn anywhere, even inside its marker or length, is cut at the next request's marker.
REQUEST_MAGIC = b"\x00RYREQ1\x01"


class OpError(Exception):
    """A request that cannot be done as asked: reported to the caller, never a crash of the agent."""

    def __init__(self, kind: str, message: str, path: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path
        self.field = field


class Replies:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        with self.lock:
            self.stream.write(MAGIC + struct.pack(">I", len(body)) + body)
            self.stream.flush()


# Where events go (stream output, see streams.py): the serve loop sets it to its replies.
OUT: Replies | None = None


def push(message: dict[str, Any]) -> None:
    if OUT is not None:
        with contextlib.suppress(OSError, ValueError):
            OUT.send(message)


class RequestReader:
    """Whole requests out of the worker's byte stream, whatever a dead worker left half-sent in it."""

    HEADER = len(REQUEST_MAGIC) + 4

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.scanned = 0  # how far the current request's body has been searched for a marker

    def next(self) -> dict[str, Any] | None:
        """The next request; None when the stream ends (the container is stopping)."""
        while True:
            request = self._take()
            if request is not None:
                return request
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return None
            self.buf += chunk

    def _take(self) -> dict[str, Any] | None:
        while True:
            start = self.buf.find(REQUEST_MAGIC)
            if start < 0:
                del self.buf[: max(0, len(self.buf) - len(REQUEST_MAGIC) + 1)]
                self.scanned = 0
                return None
            if start:
                del self.buf[:start]  # the tail of a request whose sender died
                self.scanned = 0
            if len(self.buf) < self.HEADER:
                return None
            (size,) = struct.unpack_from(">I", self.buf, len(REQUEST_MAGIC))
            end = self.HEADER + size
            # A marker starting before the body's end means its sender died mid-request: the next request
            # starts there. (A whole request's length and body cannot hold one: see REQUEST_MAGIC.)
            since = max(len(REQUEST_MAGIC), self.scanned - len(REQUEST_MAGIC))
            cut = self.buf.find(REQUEST_MAGIC, since, end + len(REQUEST_MAGIC) - 1)
            if cut >= 0:
                del self.buf[:cut]
                self.scanned = 0
                continue
            if len(self.buf) < end:
                self.scanned = len(self.buf)
                return None
            body = bytes(self.buf[self.HEADER : end])
            nul = body.find(b"\x00")
            if nul >= 0:  # a marker whose rest has not arrived yet: the request before it was torn
                del self.buf[: self.HEADER + nul]
                self.scanned = 0
                continue
            del self.buf[:end]
            self.scanned = 0
            try:
                return dict(json.loads(body))
            except ValueError:
                continue
