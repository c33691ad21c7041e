"""Programs started as the sandbox user through the launcher, and finding their processes in /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any

import launcher

from .config import CONFIG
from .protocol import OpError

FOREVER_S = 10**9  # RLIMIT_CPU: none to speak of; a sandbox's programs may run as long as it does


def spawn(
    argv: list[str], cwd: str, report_w: int, pass_fds: tuple[int, ...] = (), **popen: Any
) -> subprocess.Popen[bytes]:
    c = CONFIG
    command = launcher.launcher_argv(
        argv,
        report_fd=report_w,
        uid=c.uid,
        gid=c.gid,
        cpu_s=FOREVER_S,
        file_size_bytes=c.disk_bytes,
        stack_bytes=c.stack_bytes,
        open_files=c.nofile,
        cwd=cwd,
        as_root=c.root,
    )
    try:
        return subprocess.Popen(command, cwd="/", close_fds=True, pass_fds=(report_w, *pass_fds), **popen)
    except BlockingIOError as exc:  # EAGAIN from fork: the pids cgroup is full (a fork bomb, say)
        raise OpError(
            "process_limit", "the sandbox is at its process limit: kill some of its processes, or stop and start it"
        ) from exc


def read_report(fd: int) -> tuple[str, int]:
    """The launcher's verdict: ("ok", wait status), ("spawn_error", errno), or ("lost", 0) if it died first."""
    words = launcher.read_report(fd)
    if not words:
        return "lost", 0
    return words[0].decode(), int(words[1])


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def child_pgid(launcher_pid: int) -> int:
    """The launcher's child leads its own process group (spawn calls setpgid); find it."""
    for _ in range(100):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    _, ppid, pgrp = stat_fields(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == launcher_pid and pgrp == int(entry):
                    return pgrp
        time.sleep(0.01)
    return launcher_pid


def stat_fields(pid: int) -> tuple[str, int, int]:
    """(state, ppid, pgrp) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rpartition(b")")[2].split()
    return rest[0].decode(), int(rest[1]), int(rest[2])


def group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if stat_fields(int(entry))[2] == pgid:
                    found.append(int(entry))
    return found


def all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def session_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rpartition(b")")[2].split()[3])
    except (OSError, IndexError, ValueError):
        return -1
