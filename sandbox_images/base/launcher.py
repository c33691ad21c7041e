"""The Python side of /opt/runyard/spawn, shared by both in-container agents.

How to call the launcher, how to read the one line it reports, and how to
capture what the launched program writes to its pipes: at most a limit of
bytes each, read without blocking until the program is over and its last
output drained. The run agent (agent.py) imports this file from /opt/runyard;
the sandbox agent carries a copy at the root of its zipapp, which the agent
image's Dockerfile builds from this image's /opt/runyard/launcher.py.

Standard library only: this file runs on the image's own Python.
"""

from __future__ import annotations

import base64
import os
import select
import time
from collections.abc import Callable

SPAWN = "/opt/runyard/spawn"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def launcher_argv(
    argv: list[str],
    *,
    report_fd: int,
    uid: int,
    gid: int,
    cpu_s: int,
    file_size_bytes: int,
    stack_bytes: int,
    open_files: int,
    cwd: str,
    as_root: bool = False,
) -> list[str]:
    """The launcher's command line (see spawn.c): these limits, then uid:gid in cwd, then exec argv.

    as_root (uid and gid 0) is for persistent sandboxes whose image runs as root in a user namespace."""
    return [
        SPAWN,
        *(["--as-root"] if as_root else []),
        str(report_fd),
        str(uid),
        str(gid),
        str(cpu_s),
        str(file_size_bytes),
        str(stack_bytes),
        str(open_files),
        cwd,
        "--",
        *argv,
    ]


def read_all(fd: int) -> bytes:
    """Everything written to a pipe until its last writer is gone; the pipe is closed after."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def read_report(fd: int) -> list[bytes]:
    """The launcher's report: `ok WSTATUS UTIME_US STIME_US MAXRSS_KB` or `spawn_error ERRNO`; [] if it died first."""
    return read_all(fd).split()


class Capture:
    """One pipe, read without blocking, keeping at most `limit` bytes and noting what it dropped."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd, self.limit = fd, limit
        self.buf = bytearray()
        self.truncated = False
        self.open = True
        os.set_blocking(fd, False)

    def read(self) -> None:
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            self.close()
            return
        room = max(self.limit - len(self.buf), 0)
        self.buf += chunk[:room]
        if len(chunk) > room:
            self.truncated = True

    def close(self) -> None:
        if self.open:
            self.open = False
            os.close(self.fd)

    def b64(self) -> str:
        return base64.b64encode(bytes(self.buf)).decode()


def collect(
    captures: list[Capture],
    finished: Callable[[float], bool],
    *,
    pidfd: int | None,
    tick_s: float,
    drain_s: float,
) -> float:
    """Read the captures until the program is over, then until their pipes close or drain_s has passed.

    `finished(now)` is asked after every tick (`now`: when the tick began) and
    may kill what has run too long; it says whether the program is over. The
    pidfd, when there is one, ends a tick as soon as the program exits. Returns
    the monotonic time `finished` first said so. The captures are closed on
    return: a background child that keeps a pipe open cannot hold the reply.
    """
    ended: float | None = None
    while True:
        now = time.monotonic()
        open_fds = [c.fd for c in captures if c.open]
        if ended is not None and (not open_fds or now - ended > drain_s):
            break
        watch = open_fds + ([pidfd] if ended is None and pidfd is not None else [])
        ready, _, _ = select.select(watch, [], [], tick_s)
        for capture in captures:
            if capture.open and capture.fd in ready:
                capture.read()
        if ended is None and finished(now):
            ended = time.monotonic()
    for capture in captures:
        capture.close()
    return ended
