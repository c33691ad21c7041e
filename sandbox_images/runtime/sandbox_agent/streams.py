"""Streams: terminals and TCP tunnels.

A stream's output is pushed to the worker as it comes, in event frames
({"event": "stream", "stream": id, "data": ...}), and its end as one last
frame with "closed". Tunnels only ever reach 127.0.0.1 inside this container.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
import uuid
from typing import Any

from .config import CONFIG
from .paths import resolve
from .processes import all_pids, read_report, session_of, spawn
from .protocol import OpError, push

TIOCGSID = 0x5429  # Linux; the termios module does not export it


class AgentStream:
    def __init__(
        self,
        kind: str,
        fd: int | None = None,
        sock: socket.socket | None = None,
        proc: subprocess.Popen[bytes] | None = None,
        report_r: int | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.kind, self.fd, self.sock, self.proc, self.report_r = kind, fd, sock, proc, report_r
        self.closed = threading.Event()
        self.session: int | None = None

    def write(self, data: bytes) -> None:
        if self.sock is not None:
            self.sock.sendall(data)
        elif self.fd is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]

    def read(self) -> bytes:
        try:
            if self.sock is not None:
                return self.sock.recv(1 << 16)
            assert self.fd is not None
            return os.read(self.fd, 1 << 16)
        except OSError:  # EIO: the terminal's last process is gone
            return b""

    def members(self) -> list[int]:
        """Every process in the terminal's session (the shell and whatever it started)."""
        if self.session is None:
            return []
        return [pid for pid in all_pids() if session_of(pid) == self.session]

    def find_session(self) -> None:
        """The terminal's session, as soon as the shell has made it (setsid -c)."""
        if self.fd is None or self.kind != "pty":
            return
        for _ in range(200):
            with contextlib.suppress(OSError):
                raw = fcntl.ioctl(self.fd, TIOCGSID, b"\0\0\0\0")
                self.session = struct.unpack("i", raw)[0]
                return
            time.sleep(0.01)

    def close(self) -> int | None:
        if self.closed.is_set():
            return None
        self.closed.set()
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        code = None
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.wait(5)
            if self.report_r is not None:
                kind, status = read_report(self.report_r)
                if kind == "ok":
                    code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        return code


STREAMS: dict[str, AgentStream] = {}


def _pump_stream(stream: AgentStream) -> None:
    while data := stream.read():
        push({"event": "stream", "stream": stream.id, "data": base64.b64encode(data).decode()})
    code = stream.close()
    STREAMS.pop(stream.id, None)
    push({"event": "stream", "stream": stream.id, "closed": True, "exit_code": code})


def _hang_up_when_the_shell_exits(stream: AgentStream) -> None:
    """Like closing a terminal: when its shell is gone, what it left running goes too, and the stream ends."""
    assert stream.proc is not None
    stream.proc.wait()
    for pid in stream.members():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _start(stream: AgentStream) -> dict[str, Any]:
    stream.find_session()
    STREAMS[stream.id] = stream
    threading.Thread(target=_pump_stream, args=(stream,), daemon=True, name=f"stream-{stream.id[:8]}").start()
    if stream.proc is not None:
        threading.Thread(target=_hang_up_when_the_shell_exits, args=(stream,), daemon=True).start()
    return {"stream": stream.id}


def _winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(1, rows), max(1, cols), 0, 0))


def op_pty_open(req: dict[str, Any]) -> dict[str, Any]:
    """A terminal: a login shell (or the given command) as the sandbox user, its own session and tty."""
    cwd = resolve(str(req.get("cwd") or CONFIG.workdir))
    command = [str(a) for a in (req.get("command") or [CONFIG.shell, "-l"])]
    master, slave = os.openpty()
    _winsize(slave, int(req.get("cols") or 80), int(req.get("rows") or 24))
    report_r, report_w = os.pipe()
    env = CONFIG.environment({"TERM": "xterm-256color", **dict(req.get("env") or {})})
    try:
        # setsid -c -w: a new session whose controlling terminal is this pty, and wait for the shell
        proc = spawn(
            ["/usr/bin/setsid", "-c", "-w", *command], cwd, report_w, stdin=slave, stdout=slave, stderr=slave, env=env
        )
    finally:
        os.close(slave)
        os.close(report_w)
    return _start(AgentStream("pty", fd=master, proc=proc, report_r=report_r))


def op_tcp_open(req: dict[str, Any]) -> dict[str, Any]:
    port = int(req["port"])
    if not 1 <= port <= 65535:
        raise OpError("invalid", f"port {port} is out of range", field="port")
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError as exc:
        raise OpError("unavailable", f"nothing answers on port {port} in the sandbox: {exc.strerror}") from exc
    sock.settimeout(None)
    return _start(AgentStream("tcp", sock=sock))


def _stream(req: dict[str, Any]) -> AgentStream:
    stream = STREAMS.get(str(req.get("stream")))
    if stream is None:
        raise OpError("not_found", f"no open stream {req.get('stream')!r}")
    return stream


def op_stream_write(req: dict[str, Any]) -> dict[str, Any]:
    stream = _stream(req)
    try:
        stream.write(base64.b64decode(req.get("data") or ""))
    except OSError as exc:
        raise OpError("closed", f"the stream is closed: {exc.strerror}") from exc
    return {"written": True}


def op_stream_resize(req: dict[str, Any]) -> dict[str, Any]:
    stream = _stream(req)
    if stream.fd is None or stream.kind != "pty":
        raise OpError("invalid", "only a terminal has a size")
    _winsize(stream.fd, int(req.get("cols") or 80), int(req.get("rows") or 24))
    return {"resized": True}


def op_stream_close(req: dict[str, Any]) -> dict[str, Any]:
    stream = STREAMS.get(str(req.get("stream")))
    if stream is not None:
        if stream.sock is not None:
            with contextlib.suppress(OSError):
                stream.sock.shutdown(socket.SHUT_RDWR)
        for pid in stream.members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return {"closing": stream is not None}
