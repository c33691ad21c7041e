"""The frames a live stream (a terminal, a TCP tunnel) carries through Redis between the API and the worker's
bridge, defined once: one kind byte, then the body. Client to sandbox on `<channel>:in`, back on `<channel>:out`."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from pydantic import BaseModel

from core import constants as c


class Frame(bytes, enum.Enum):
    DATA = b"d"  # both ways: the bytes themselves
    RESIZE = b"r"  # in: a terminal's [cols, rows]
    PING = b"p"  # in: only proof that the client is still there
    CLOSE = b"x"  # in: the client is gone; close the stream
    CLOSED = b"c"  # out: the stream ended (a StreamClosed body)


class StreamClosed(BaseModel):
    exit_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Channels:
    inbound: str
    outbound: str

    @classmethod
    def of(cls, channel: str) -> Channels:
        return cls(f"{c.KEY_STREAM}{channel}:in", f"{c.KEY_STREAM}{channel}:out")

    @property
    def name(self) -> str:
        return self.inbound.removeprefix(c.KEY_STREAM).removesuffix(":in")


def frame(kind: Frame, body: bytes = b"") -> bytes:
    return kind.value + body


def resize(cols: int, rows: int) -> bytes:
    return frame(Frame.RESIZE, json.dumps([cols, rows]).encode())


def closed(info: StreamClosed) -> bytes:
    return frame(Frame.CLOSED, info.model_dump_json().encode())


def split(message: bytes) -> tuple[Frame | None, bytes]:
    """The frame's kind (None for a kind this version does not know) and its body."""
    try:
        return Frame(message[:1]), message[1:]
    except ValueError:
        return None, message[1:]
