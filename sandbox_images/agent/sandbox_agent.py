"""The agent of a persistent sandbox: commands, sessions, a Python kernel and file operations.

The container's main process (under tini) is `python3 -I -S sandbox_agent.py
serve`, root with only SETUID, SETGID, SETPCAP and KILL. It outlives any one
worker: the worker attaches to the container's stdin and stdout, and a
restarted worker attaches again, so sessions, kernels and background servers
keep running. Requests are REQUEST_MAGIC, a 4-byte big-endian length and a
JSON body with an "id"; replies are MAGIC, a length and a JSON body carrying
the same id. Both markers hold a NUL byte, which JSON text never does:
a worker that attached in the middle of a reply skips to the next marker, and
the agent drops a request whose worker died halfway through sending it as
soon as the next request's marker arrives. Requests run concurrently, each on
its own thread.

Everything sandboxed runs as the sandbox user through /opt/runyard/spawn (empty
capability bounding set, no privileges to regain). File operations run on a
thread whose filesystem identity (setfsuid/setfsgid) is the sandbox user's,
inside the container's own mount namespace: a symlink planted by sandboxed
code leads nowhere the sandbox user could not already go.

Standard library only: this file runs on the image's own Python.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import fnmatch
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

MAGIC = b"\x00RY1"
# It starts with a NUL, which JSON text never holds, and holds no other: so it cannot overlap itself, and
# cannot be found in a request's body, nor in its length (a body starts with "{", which it holds nowhere):
# a request torn anywhere, even inside its marker or length, is cut at the next request's marker.
REQUEST_MAGIC = b"\x00RYREQ1\x01"
SPAWN = "/opt/runyard/spawn"
KERNEL = "/opt/runyard/kernel.py"
RUN_DIR = "/run/runyard"  # a root-owned tmpfs: session scripts and pipes the sandbox user cannot replace
WORKSPACE = "/workspace"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FOREVER_S = 10**9
DRAIN_AFTER_EXIT_S = 0.1
TIOCGSID = 0x5429  # Linux; the termios module does not export it

_libc = ctypes.CDLL(None, use_errno=True)


class Config:
    """What the worker told this sandbox at create or start; a restarted worker need not repeat it."""

    def __init__(self) -> None:
        self.uid = 64000
        self.gid = 64000
        self.env: dict[str, str] = {}
        self.disk_bytes = 1 << 30
        self.output_bytes = 1 << 20
        self.log_bytes = 1 << 20
        self.nofile = 1024
        self.stack_bytes = 8 << 20

    def update(self, req: dict[str, Any]) -> None:
        for key in ("uid", "gid", "disk_bytes", "output_bytes", "log_bytes", "nofile", "stack_bytes"):
            if req.get(key) is not None:
                setattr(self, key, int(req[key]))
        if req.get("env") is not None:
            self.env = {str(k): str(v) for k, v in dict(req["env"]).items()}

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": SAFE_PATH,
            "HOME": WORKSPACE,
            "USER": "sandbox",
            "LOGNAME": "sandbox",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TERM": "xterm-256color",
            "TMPDIR": "/tmp",
        }
        env.update(self.env)
        env.update({str(k): str(v) for k, v in (extra or {}).items()})
        return env


CONFIG = Config()


class OpError(Exception):
    """A request that cannot be done as asked: reported to the caller, never a crash of the agent."""

    def __init__(self, kind: str, message: str, path: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path
        self.field = field


# ---------------------------------------------------------------- running programs as the sandbox user


def spawn(
    argv: list[str], cwd: str, report_w: int, pass_fds: tuple[int, ...] = (), **popen: Any
) -> subprocess.Popen[bytes]:
    c = CONFIG
    launcher = [
        SPAWN,
        str(report_w),
        str(c.uid),
        str(c.gid),
        str(FOREVER_S),
        str(c.disk_bytes),
        str(c.stack_bytes),
        str(c.nofile),
        cwd,
        "--",
        *argv,
    ]
    return subprocess.Popen(launcher, cwd="/", close_fds=True, pass_fds=(report_w, *pass_fds), **popen)


def read_report(fd: int) -> tuple[str, int]:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    os.close(fd)
    words = data.split()
    if not words:
        return "lost", 0
    return words[0].decode(), int(words[1])


class Capture:
    """One pipe, read without blocking, keeping at most `limit` bytes."""

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
        room = self.limit - len(self.buf)
        self.buf += chunk[: max(room, 0)]
        if len(chunk) > max(room, 0):
            self.truncated = True

    def close(self) -> None:
        if self.open:
            self.open = False
            os.close(self.fd)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exec_argv(req: dict[str, Any]) -> list[str]:
    if req.get("argv"):
        argv = [str(a) for a in req["argv"]]
        if "/" not in argv[0]:  # the launcher execs a path, as execv does; look the name up as a shell would
            path = CONFIG.environment(req.get("env")).get("PATH", SAFE_PATH)
            argv[0] = shutil.which(argv[0], path=path) or argv[0]
        return argv
    return ["/bin/bash", "-c", str(req.get("command", ""))]


def op_exec(req: dict[str, Any]) -> dict[str, Any]:
    """Run one command to completion (or its timeout); its background children may live on."""
    cwd = resolve(str(req.get("cwd") or WORKSPACE))
    with as_sandbox_user():
        if not os.path.isdir(cwd):
            raise OpError("invalid", f"cwd: {cwd} is not a directory the sandbox user can enter", cwd, "cwd")
    timeout_s = float(req.get("timeout_ms") or 0) / 1000 or None
    limit = int(req.get("output_bytes") or CONFIG.output_bytes)
    merge = bool(req.get("merge_output"))
    stdin_data = base64.b64decode(req.get("stdin") or "")
    stdin_fd = os.memfd_create("stdin", 0)
    os.write(stdin_fd, stdin_data)
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = (out_r, out_w) if merge else os.pipe()
    report_r, report_w = os.pipe()
    started = time.monotonic()
    try:
        proc = spawn(
            _exec_argv(req),
            cwd,
            report_w,
            stdin=stdin_fd,
            stdout=out_w,
            stderr=err_w,
            env=CONFIG.environment(req.get("env")),
        )
    finally:
        for fd in {stdin_fd, out_w, err_w, report_w}:
            os.close(fd)
    captures = [Capture(out_r, limit)] + ([] if merge else [Capture(err_r, limit)])
    pidfd = os.pidfd_open(proc.pid)
    timed_out = False
    exited_at: float | None = None
    while True:
        open_fds = [c.fd for c in captures if c.open]
        now = time.monotonic()
        if exited_at is not None and (not open_fds or now - exited_at > DRAIN_AFTER_EXIT_S):
            break
        watch = open_fds + ([pidfd] if exited_at is None else [])
        ready, _, _ = select.select(watch, [], [], 0.05)
        for capture in captures:
            if capture.open and capture.fd in ready:
                capture.read()
        if exited_at is None and proc.poll() is not None:
            exited_at = time.monotonic()
        elif exited_at is None and timeout_s is not None and now - started > timeout_s:
            timed_out = True
            kill_group(_child_pgid(proc.pid))
            proc.kill()  # the launcher's child dies with it (PR_SET_PDEATHSIG)
            proc.wait()
            exited_at = time.monotonic()
    os.close(pidfd)
    for capture in captures:
        capture.close()
    wall_ms = round((exited_at - started) * 1000, 3)
    kind, status = read_report(report_r)
    result: dict[str, Any] = {
        "exit_code": None,
        "signal": None,
        "timed_out": timed_out,
        "wall_ms": wall_ms,
        "stdout": base64.b64encode(bytes(captures[0].buf)).decode(),
        "stdout_truncated": captures[0].truncated,
        "stderr": "" if merge else base64.b64encode(bytes(captures[1].buf)).decode(),
        "stderr_truncated": False if merge else captures[1].truncated,
    }
    if kind == "spawn_error":  # as a shell reports it: 127 not found, 126 not executable
        result["exit_code"] = 127 if status == 2 else 126
        message = f"{_exec_argv(req)[0]}: {os.strerror(status)}\n".encode()
        result["stderr" if not merge else "stdout"] = base64.b64encode(message).decode()
    if kind == "ok":
        if os.WIFEXITED(status):
            result["exit_code"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            result["signal"] = os.WTERMSIG(status)
            result["exit_code"] = 128 + os.WTERMSIG(status)
    return result


def _child_pgid(launcher_pid: int) -> int:
    """The launcher's child leads its own process group (spawn calls setpgid); find it."""
    for _ in range(100):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    _, ppid, pgrp = _stat_fields(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == launcher_pid and pgrp == int(entry):
                    return pgrp
        time.sleep(0.01)
    return launcher_pid


def _stat_fields(pid: int) -> tuple[str, int, int]:
    """(state, ppid, pgrp) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rpartition(b")")[2].split()
    return rest[0].decode(), int(rest[1]), int(rest[2])


# ---------------------------------------------------------------- sessions


class Command:
    def __init__(self, cmd_id: str, command: str, limit: int) -> None:
        self.id, self.command = cmd_id, command
        self.out = RingLog(limit)
        self.err = RingLog(limit)
        self.exit_code: int | None = None
        self.done = threading.Event()
        self.started_at = time.time()
        # Our own write ends of its FIFOs: no reader sees an end before the command has even opened them.
        self.holds: list[int] = []

    def finish(self, exit_code: int | None) -> None:
        if self.done.is_set():
            return
        self.exit_code = exit_code
        for fd in self.holds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.holds = []
        self.done.set()

    def view(self, with_logs: bool = True) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": self.id,
            "command": self.command,
            "exit_code": self.exit_code,
            "running": not self.done.is_set(),
            "started_at": self.started_at,
        }
        if with_logs:
            view.update(
                stdout=self.out.b64(),
                stderr=self.err.b64(),
                stdout_truncated=self.out.dropped > 0,
                stderr_truncated=self.err.dropped > 0,
            )
        return view


class RingLog:
    """The newest `limit` bytes of a stream: for a long-running server, the recent lines are the useful ones."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buf = bytearray()
        self.dropped = 0
        self.lock = threading.Lock()

    def add(self, data: bytes) -> None:
        with self.lock:
            self.buf += data
            if len(self.buf) > self.limit:
                cut = len(self.buf) - self.limit
                del self.buf[:cut]
                self.dropped += cut

    def b64(self) -> str:
        with self.lock:
            return base64.b64encode(bytes(self.buf)).decode()


class Session:
    """A bash process that runs its commands one after another, keeping cwd and variables between them.

    Each command is a root-owned script that the shell sources with its output
    sent into two FIFOs the agent reads; its status comes back on fd 3.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.dir = os.path.join(RUN_DIR, "sessions", uuid.uuid4().hex)
        os.makedirs(self.dir, mode=0o755)
        self.commands: dict[str, Command] = {}
        self.lock = threading.Lock()
        self._start_shell()

    def _start_shell(self) -> None:
        status_r, status_w = os.pipe()
        report_r, report_w = os.pipe()
        env = CONFIG.environment()
        self.shell = spawn(
            ["/bin/bash", "--noprofile", "--norc"],
            WORKSPACE,
            report_w,
            pass_fds=(status_w,),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(status_w)
        os.close(report_w)
        os.close(report_r)
        # The shell must see the status pipe as fd 3 whatever number it got here.
        assert self.shell.stdin is not None
        self._write(f"exec 3>&{status_w}; exec {status_w}>&-\n" if status_w != 3 else "")
        self._status = os.fdopen(status_r, "rb", buffering=0)
        threading.Thread(target=self._statuses, daemon=True, name=f"session-{self.name}").start()
        self.shell_pgid = _child_pgid(self.shell.pid)

    def _write(self, text: str) -> None:
        if not text:
            return
        assert self.shell.stdin is not None
        self.shell.stdin.write(text.encode())
        self.shell.stdin.flush()

    def _statuses(self) -> None:
        for line in self._status:
            cmd_id, _, code = line.decode(errors="replace").strip().partition(" ")
            command = self.commands.get(cmd_id)
            if command is not None:
                command.finish(int(code) if code.strip().isdigit() else None)
        for command in list(self.commands.values()):  # the shell is gone: nothing more will finish
            command.finish(137)

    def execute(self, command_text: str, limit: int) -> Command:
        cmd_id = uuid.uuid4().hex[:16]
        command = Command(cmd_id, command_text, limit)
        script = os.path.join(self.dir, f"{cmd_id}.sh")
        with open(script, "w", encoding="utf-8") as f:
            f.write(command_text + "\n")
        os.chmod(script, 0o644)
        fifos = []
        for stream, log in (("out", command.out), ("err", command.err)):
            path = os.path.join(self.dir, f"{cmd_id}.{stream}")
            os.mkfifo(path)
            os.chmod(path, 0o622)  # the shell (the sandbox user) writes; the root-owned directory keeps it in place
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            command.holds.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            fifos.append((fd, log))
        threading.Thread(target=_pump, args=(fifos,), daemon=True, name=f"logs-{cmd_id}").start()
        d = self.dir
        with self.lock:
            self.commands[cmd_id] = command
            self._write(
                f". {d}/{cmd_id}.sh < /dev/null > {d}/{cmd_id}.out 2> {d}/{cmd_id}.err; "
                f"printf '%s %s\\n' {cmd_id} $? >&3\n"
            )
        return command

    def cancel(self, cmd_id: str) -> None:
        command = self.get(cmd_id)
        if command.done.is_set():
            return
        for pid in _group_members(self.shell_pgid):
            if pid != self.shell_pgid:  # everything the shell started, not the shell
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if not command.done.wait(1.0):  # a loop inside the shell itself: only a new shell stops it
            self.close()
            command.finish(137)
            with self.lock:
                self._start_shell()

    def get(self, cmd_id: str) -> Command:
        command = self.commands.get(cmd_id)
        if command is None:
            raise OpError("not_found", f"session {self.name!r} has no command {cmd_id!r}")
        return command

    def close(self) -> None:
        kill_group(self.shell_pgid)
        with contextlib.suppress(Exception):
            self.shell.kill()
            self.shell.wait(5)


def _group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if _stat_fields(int(entry))[2] == pgid:
                    found.append(int(entry))
    return found


def _pump(fifos: list[tuple[int, RingLog]]) -> None:
    """Copy FIFOs into their logs until every writer (the command and anything it left running) is gone."""
    logs = dict(fifos)
    while logs:
        ready, _, _ = select.select(list(logs), [], [], 1.0)
        for fd in ready:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if chunk:
                logs[fd].add(chunk)
            else:
                os.close(fd)
                del logs[fd]


SESSIONS: dict[str, Session] = {}
SESSIONS_LOCK = threading.Lock()


def _session(name: str) -> Session:
    session = SESSIONS.get(name)
    if session is None:
        raise OpError("not_found", f"no session named {name!r}")
    return session


def op_session_create(req: dict[str, Any]) -> dict[str, Any]:
    name = str(req["session"])
    with SESSIONS_LOCK:
        if name in SESSIONS:
            raise OpError("conflict", f"a session named {name!r} already exists")
        SESSIONS[name] = Session(name)
    return {"session": name}


def op_session_exec(req: dict[str, Any]) -> dict[str, Any]:
    session = _session(str(req["session"]))
    command = session.execute(str(req["command"]), int(req.get("log_bytes") or CONFIG.log_bytes))
    if req.get("async"):
        return command.view(with_logs=False)
    timeout_s = float(req.get("timeout_ms") or 0) / 1000 or None
    if not command.done.wait(timeout_s):
        session.cancel(command.id)
    command.done.wait(5)
    time.sleep(DRAIN_AFTER_EXIT_S)  # the FIFOs' last bytes
    return command.view()


def op_session_command(req: dict[str, Any]) -> dict[str, Any]:
    return _session(str(req["session"])).get(str(req["command_id"])).view()


def op_session_cancel(req: dict[str, Any]) -> dict[str, Any]:
    session = _session(str(req["session"]))
    session.cancel(str(req["command_id"]))
    return session.get(str(req["command_id"])).view(with_logs=False)


def op_session_delete(req: dict[str, Any]) -> dict[str, Any]:
    with SESSIONS_LOCK:
        session = SESSIONS.pop(str(req["session"]), None)
    if session is None:
        raise OpError("not_found", f"no session named {req['session']!r}")
    session.close()
    shutil.rmtree(session.dir, ignore_errors=True)
    return {"deleted": True}


def op_session_list(req: dict[str, Any]) -> dict[str, Any]:
    with SESSIONS_LOCK:
        sessions = list(SESSIONS.values())
    return {
        "sessions": [
            {"session": s.name, "commands": [c.view(with_logs=False) for c in s.commands.values()]} for s in sessions
        ]
    }


# ---------------------------------------------------------------- the Python kernel


def _high_fd(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Kernel:
    def __init__(self) -> None:
        req_r, self._req_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        # Numbers clear of 3 and 4, so the shell's moves below cannot clobber one another.
        req_r, rep_w = _high_fd(req_r), _high_fd(rep_w)
        out_r, out_w = os.pipe()
        report_r, report_w = os.pipe()
        # The kernel expects requests on fd 3 and replies on fd 4: a small shell moves them there.
        argv = ["/bin/bash", "-c", f"exec 3<&{req_r} 4>&{rep_w} {req_r}<&- {rep_w}>&-; exec python3 -u {KERNEL}"]
        self.proc = spawn(
            argv,
            WORKSPACE,
            report_w,
            pass_fds=(req_r, rep_w),
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=out_w,
            env=CONFIG.environment(),
        )
        for fd in (req_r, rep_w, out_w, report_w, report_r):
            os.close(fd)
        self._out = out_r
        os.set_blocking(out_r, False)
        self.lock = threading.Lock()
        hello = self._receive(60.0)
        if hello is None or not hello.get("ready"):
            self.close()
            raise OpError(
                "kernel_failed", "the Python kernel did not start: " + self._drain().decode(errors="replace")[-2000:]
            )
        self.pid = int(hello["pid"])
        self.flavour = str(hello.get("flavour"))

    def _receive(self, timeout_s: float | None) -> dict[str, Any] | None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        buf = b""
        need = 4
        size: int | None = None
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._rep_r], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._rep_r, need - len(buf))
            if not chunk:
                return None
            buf += chunk
            if len(buf) < need:
                continue
            if size is None:
                size = struct.unpack(">I", buf)[0]
                buf, need = b"", size
                if size == 0:
                    return {}
                continue
            return dict(json.loads(buf))

    def _drain(self) -> bytes:
        out = b""
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self._out, 1 << 16):
                out += chunk
        return out

    def run(self, code: str, timeout_s: float | None) -> dict[str, Any]:
        with self.lock:
            self._drain()
            body = json.dumps({"code": code}).encode()
            os.write(self._req_w, struct.pack(">I", len(body)) + body)
            reply = self._receive(timeout_s)
            timed_out = False
            if reply is None and self.proc.poll() is None:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGINT)
                reply = self._receive(3.0)
            if reply is None:
                raw = self._drain()
                self.close()
                return {
                    "stdout": raw.decode(errors="replace"),
                    "stderr": "",
                    "output": raw.decode(errors="replace"),
                    "error": {
                        "ename": "KernelDied" if not timed_out else "TimeoutError",
                        "evalue": "the kernel was restarted",
                        "traceback": "",
                    },
                    "timed_out": timed_out,
                    "restarted": True,
                }
            time.sleep(0.01)
            raw = self._drain().decode(errors="replace")  # what subprocesses of the cell wrote to fds 1 and 2
            chunks = [(str(s), str(t)) for s, t in reply.get("chunks", [])]
            if raw:
                chunks.append(("stdout", raw))
            return {
                "stdout": "".join(t for s, t in chunks if s == "stdout"),
                "stderr": "".join(t for s, t in chunks if s == "stderr"),
                "output": "".join(t for _, t in chunks),
                "error": reply.get("error"),
                "timed_out": timed_out,
                "restarted": False,
            }

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        kill_group(_child_pgid(self.proc.pid))
        with contextlib.suppress(Exception):
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self._req_w, self._rep_r, self._out):
            with contextlib.suppress(OSError):
                os.close(fd)


KERNEL_LOCK = threading.Lock()
_kernel: Kernel | None = None


def op_kernel_run(req: dict[str, Any]) -> dict[str, Any]:
    global _kernel
    with KERNEL_LOCK:
        if _kernel is None or not _kernel.alive():
            _kernel = Kernel()
        kernel = _kernel
    result = kernel.run(str(req.get("code", "")), float(req.get("timeout_ms") or 0) / 1000 or None)
    if result.get("restarted"):
        with KERNEL_LOCK:
            if _kernel is kernel:
                _kernel = None
    return result


def op_kernel_restart(req: dict[str, Any]) -> dict[str, Any]:
    global _kernel
    with KERNEL_LOCK:
        if _kernel is not None:
            _kernel.close()
        _kernel = None
    return {"restarted": True}


# ---------------------------------------------------------------- files, as the sandbox user


@contextlib.contextmanager
def as_sandbox_user() -> Iterator[None]:
    """Make this thread's filesystem identity the sandbox user's (setfsuid is per thread)."""
    c = CONFIG
    _libc.setfsgid(c.gid)
    _libc.setfsuid(c.uid)
    if _libc.setfsuid(c.uid) != c.uid or _libc.setfsgid(c.gid) != c.gid:
        _libc.setfsuid(0)
        _libc.setfsgid(0)
        raise OpError("internal", "could not take the sandbox user's filesystem identity")
    try:
        yield
    finally:
        _libc.setfsuid(0)
        _libc.setfsgid(0)


def resolve(path: str) -> str:
    """An absolute, normalised path inside the container; relative paths start at /workspace."""
    if "\x00" in path:
        raise OpError("invalid", "path contains a NUL byte")
    # normpath keeps a leading "//" (POSIX leaves its meaning open); on Linux it is "/"
    return "/" + os.path.normpath(os.path.join(WORKSPACE, path)).lstrip("/")


def _info(path: str, st: os.stat_result) -> dict[str, Any]:
    return {
        "path": path,
        "name": os.path.basename(path) or "/",
        "size": st.st_size,
        "mode": stat.S_IMODE(st.st_mode),
        "is_dir": stat.S_ISDIR(st.st_mode),
        "is_symlink": stat.S_ISLNK(st.st_mode),
        "mtime": st.st_mtime,
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def _os_error(exc: OSError, path: str) -> OpError:
    kinds = {
        2: "not_found",
        30: "permission_denied",
        36: "invalid",
        22: "invalid",
        13: "permission_denied",
        1: "permission_denied",
        17: "exists",
        20: "not_a_directory",
        21: "is_a_directory",
        39: "not_empty",
        28: "no_space",
        27: "too_large",
        40: "symlink_loop",
    }
    return OpError(kinds.get(exc.errno or 0, "os_error"), f"{path}: {exc.strerror}", path=path)


def file_op(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def wrapped(req: dict[str, Any]) -> dict[str, Any]:
        with as_sandbox_user():
            try:
                return fn(req)
            except OSError as exc:
                raise _os_error(exc, str(req.get("path") or req.get("source") or "")) from exc
            except NotImplementedError as exc:  # lchmod: the path became a symlink meanwhile
                raise OpError("invalid", f"{req.get('path')} is a symlink", req.get("path")) from exc

    return wrapped


class Upload:
    def __init__(self, path: str, mode: int, limit: int) -> None:
        self.path, self.mode, self.limit = path, mode, limit
        self.temp = os.path.join(os.path.dirname(path), f".runyard-upload-{uuid.uuid4().hex}")
        self.fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self.size = 0
        self.lock = threading.Lock()


UPLOADS: dict[str, Upload] = {}
DOWNLOADS: dict[str, tuple[int, threading.Lock]] = {}


@file_op
def op_write_open(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    if req.get("parents", True):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    upload = Upload(path, int(req.get("mode") or 0o644), int(req.get("limit") or CONFIG.disk_bytes))
    handle = uuid.uuid4().hex
    UPLOADS[handle] = upload
    return {"handle": handle, "path": path}


@file_op
def op_write_chunk(req: dict[str, Any]) -> dict[str, Any]:
    upload = UPLOADS.get(str(req["handle"]))
    if upload is None:
        raise OpError("not_found", "no such upload")
    data = base64.b64decode(req["data"])
    with upload.lock:
        if upload.size + len(data) > upload.limit:
            raise OpError("too_large", f"the file would exceed the sandbox's disk limit of {upload.limit} bytes")
        view = memoryview(data)
        while view:
            view = view[os.write(upload.fd, view) :]
        upload.size += len(data)
    return {"size": upload.size}


@file_op
def op_write_close(req: dict[str, Any]) -> dict[str, Any]:
    """Commit (fsync, chmod, rename over the target) or abort; a half-written file is never visible."""
    upload = UPLOADS.pop(str(req["handle"]), None)
    if upload is None:
        raise OpError("not_found", "no such upload")
    try:
        if req.get("commit", True):
            os.fsync(upload.fd)
            os.fchmod(upload.fd, upload.mode)
            os.close(upload.fd)
            upload.fd = -1
            if os.path.isdir(upload.path) and not os.path.islink(upload.path):
                raise OpError("is_a_directory", f"{upload.path} is a directory")
            os.rename(upload.temp, upload.path)
            return {"path": upload.path, "size": upload.size}
        return {"aborted": True}
    finally:
        if upload.fd >= 0:
            os.close(upload.fd)
        with contextlib.suppress(OSError):
            os.unlink(upload.temp)


@file_op
def op_read_open(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OpError("is_a_directory" if stat.S_ISDIR(st.st_mode) else "not_a_file", f"{path} is not a regular file")
    os.set_blocking(fd, True)
    handle = uuid.uuid4().hex
    DOWNLOADS[handle] = (fd, threading.Lock())
    return {"handle": handle, "size": st.st_size, "info": _info(path, st)}


def op_read_chunk(req: dict[str, Any]) -> dict[str, Any]:
    entry = DOWNLOADS.get(str(req["handle"]))
    if entry is None:
        raise OpError("not_found", "no such download")
    fd, lock = entry
    with lock:
        data = os.read(fd, min(int(req.get("size") or 1 << 20), 8 << 20))
    return {"data": base64.b64encode(data).decode(), "eof": not data}


def op_read_close(req: dict[str, Any]) -> dict[str, Any]:
    entry = DOWNLOADS.pop(str(req["handle"]), None)
    if entry is not None:
        os.close(entry[0])
    return {"closed": True}


@file_op  # unlink as the sandbox user: the temporary file's directory is theirs to have replaced
def op_abort_transfers(req: dict[str, Any]) -> dict[str, Any]:
    """Forget every open upload and download: a new attachment means whoever opened them is gone."""
    uploads = 0
    for handle in list(UPLOADS):
        upload = UPLOADS.pop(handle, None)
        if upload is None:
            continue
        with upload.lock:
            if upload.fd >= 0:
                os.close(upload.fd)
                upload.fd = -1
            with contextlib.suppress(OSError):
                os.unlink(upload.temp)
        uploads += 1
    downloads = 0
    for handle in list(DOWNLOADS):
        entry = DOWNLOADS.pop(handle, None)
        if entry is not None:
            os.close(entry[0])
            downloads += 1
    return {"uploads": uploads, "downloads": downloads}


@file_op
def op_list(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req.get("path") or WORKSPACE))
    entries = []
    with os.scandir(path) as it:
        for entry in it:
            with contextlib.suppress(OSError):
                entries.append(_info(entry.path, entry.stat(follow_symlinks=False)))
    entries.sort(key=lambda e: e["name"])
    return {"path": path, "entries": entries}


@file_op
def op_stat(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    return _info(path, os.stat(path, follow_symlinks=False))


@file_op
def op_mkdir(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    mode = int(req.get("mode") or 0o755)
    if req.get("parents", True):
        os.makedirs(path, mode=mode, exist_ok=True)
    else:
        os.mkdir(path, mode)
    if os.path.islink(path):
        raise OpError("exists", f"{path} exists and is a symlink", path)
    os.chmod(path, mode, follow_symlinks=False)  # umask never narrows what was asked for
    return _info(path, os.stat(path, follow_symlinks=False))


@file_op
def op_delete(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    if path in ("/", WORKSPACE):
        raise OpError("invalid", f"refusing to delete {path}")
    st = os.stat(path, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        if req.get("recursive"):
            shutil.rmtree(path)  # fd-based: never follows a symlink out of the tree
        else:
            os.rmdir(path)
    else:
        os.unlink(path)
    return {"deleted": path}


@file_op
def op_move(req: dict[str, Any]) -> dict[str, Any]:
    source, destination = resolve(str(req["source"])), resolve(str(req["destination"]))
    if not req.get("overwrite", False) and os.path.lexists(destination):
        raise OpError("exists", f"{destination} already exists")
    os.rename(source, destination)
    return _info(destination, os.stat(destination, follow_symlinks=False))


@file_op
def op_chmod(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    if os.path.islink(path):
        raise OpError("invalid", f"{path} is a symlink; change its target instead")
    os.chmod(path, int(req["mode"]) & 0o7777, follow_symlinks=False)
    return _info(path, os.stat(path, follow_symlinks=False))


def _walk(root: str) -> Iterator[str]:
    """Every path below root, depth first, never descending through a symlink."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames]):
            yield os.path.join(dirpath, name)


@file_op
def op_find(req: dict[str, Any]) -> dict[str, Any]:
    root, pattern = resolve(str(req.get("path") or WORKSPACE)), str(req["pattern"])
    limit = int(req.get("limit") or 1000)
    found = []
    for path in _walk(root):
        if fnmatch.fnmatch(os.path.basename(path), pattern):
            found.append(path)
            if len(found) >= limit:
                return {"paths": found, "truncated": True}
    return {"paths": found, "truncated": False}


@file_op
def op_grep(req: dict[str, Any]) -> dict[str, Any]:
    root = resolve(str(req.get("path") or WORKSPACE))
    try:
        pattern = re.compile(str(req["pattern"]).encode())
    except re.error as exc:
        raise OpError("invalid", f"pattern: {exc}") from exc
    limit = int(req.get("limit") or 1000)
    max_file = int(req.get("max_file_bytes") or 10 << 20)
    matches = []
    for path in _walk(root):
        with contextlib.suppress(OSError):
            st = os.stat(path, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_size > max_file:
                continue
            with open(path, "rb") as f:
                for number, line in enumerate(f, 1):
                    if b"\x00" in line:
                        break  # binary
                    if pattern.search(line):
                        matches.append(
                            {
                                "path": path,
                                "line": number,
                                "content": line.rstrip(b"\r\n").decode(errors="replace")[:1000],
                            }
                        )
                        if len(matches) >= limit:
                            return {"matches": matches, "truncated": True}
    return {"matches": matches, "truncated": False}


@file_op
def op_replace(req: dict[str, Any]) -> dict[str, Any]:
    """Replace every occurrence of a literal string in one file, written aside and renamed into place."""
    path = resolve(str(req["path"]))
    old, new = str(req["pattern"]).encode(), str(req.get("new") or "").encode()
    if not old:
        raise OpError("invalid", "pattern must not be empty", field="pattern")
    with open(path, "rb") as f:
        data = f.read()
        mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
    count = data.count(old)
    if count:
        temp = os.path.join(os.path.dirname(path), f".runyard-replace-{uuid.uuid4().hex}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data.replace(old, new))
            os.rename(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    return {"path": path, "replaced": count}


@file_op
def op_usage(req: dict[str, Any]) -> dict[str, Any]:
    total = 0
    for path in _walk(WORKSPACE):
        with contextlib.suppress(OSError):
            total += os.stat(path, follow_symlinks=False).st_blocks * 512
    return {"bytes": total}


# ---------------------------------------------------------------- streams: terminals and TCP tunnels
#
# A stream's output is pushed to the worker as it comes, in event frames
# ({"event": "stream", "stream": id, "data": ...}), and its end as one last
# frame with "closed". Tunnels only ever reach 127.0.0.1 inside this container.

OUT: Replies | None = None


def push(message: dict[str, Any]) -> None:
    if OUT is not None:
        with contextlib.suppress(OSError, ValueError):
            OUT.send(message)


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
        return [pid for pid in _all_pids() if _session_of(pid) == self.session]

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


def _all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _session_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rpartition(b")")[2].split()[3])
    except (OSError, IndexError, ValueError):
        return -1


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
    cwd = resolve(str(req.get("cwd") or WORKSPACE))
    command = [str(a) for a in (req.get("command") or ["/bin/bash", "-l"])]
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


# ---------------------------------------------------------------- the server


def op_configure(req: dict[str, Any]) -> dict[str, Any]:
    CONFIG.update(req)
    return {"configured": True}


OPERATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ping": lambda req: {"pong": True, "nonce": req.get("nonce")},
    "configure": op_configure,
    "exec": op_exec,
    "session.create": op_session_create,
    "session.exec": op_session_exec,
    "session.command": op_session_command,
    "session.cancel": op_session_cancel,
    "session.delete": op_session_delete,
    "session.list": op_session_list,
    "kernel.run": op_kernel_run,
    "kernel.restart": op_kernel_restart,
    "file.write_open": op_write_open,
    "file.write_chunk": op_write_chunk,
    "file.write_close": op_write_close,
    "file.read_open": op_read_open,
    "file.read_chunk": op_read_chunk,
    "file.read_close": op_read_close,
    "file.abort_transfers": op_abort_transfers,
    "file.list": op_list,
    "file.stat": op_stat,
    "file.mkdir": op_mkdir,
    "file.delete": op_delete,
    "file.move": op_move,
    "file.chmod": op_chmod,
    "file.find": op_find,
    "file.grep": op_grep,
    "file.usage": op_usage,
    "file.replace": op_replace,
    "pty.open": op_pty_open,
    "tcp.open": op_tcp_open,
    "stream.write": op_stream_write,
    "stream.resize": op_stream_resize,
    "stream.close": op_stream_close,
}


class Replies:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        with self.lock:
            self.stream.write(MAGIC + struct.pack(">I", len(body)) + body)
            self.stream.flush()


def handle(req: dict[str, Any], replies: Replies) -> None:
    op = OPERATIONS.get(str(req.get("op")))
    try:
        if op is None:
            raise OpError("invalid", f"unknown op {req.get('op')!r}")
        reply: dict[str, Any] = {"ok": True, "result": op(req)}
    except OpError as exc:
        reply = {"ok": False, "error": {"kind": exc.kind, "message": str(exc), "path": exc.path, "field": exc.field}}
    except (KeyError, TypeError, ValueError) as exc:
        reply = {"ok": False, "error": {"kind": "invalid", "message": f"bad request: {exc!r}"}}
    except Exception:  # noqa: BLE001 - reported; the agent keeps serving
        reply = {"ok": False, "error": {"kind": "agent_error", "message": traceback.format_exc()[-3000:]}}
    reply["id"] = req.get("id")
    with contextlib.suppress(OSError, ValueError):
        replies.send(reply)


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


def main(argv: list[str]) -> int:
    if argv[1:] != ["serve"]:
        sys.stderr.write("usage: sandbox_agent.py serve   (messages on stdin and stdout)\n")
        return 2
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.setgroups([])
    os.umask(0o022)
    os.chdir("/")
    os.makedirs(os.path.join(RUN_DIR, "sessions"), mode=0o755, exist_ok=True)
    global OUT
    replies = Replies(sys.stdout.buffer)
    OUT = replies
    pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="op")
    requests = RequestReader(sys.stdin.fileno())
    while True:
        req = requests.next()
        if req is None:
            # stdin is kept open by Docker between attachments; an end means the container is stopping.
            break
        pool.submit(handle, req, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
