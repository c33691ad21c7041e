"""Named sessions: a bash process each, running its commands one after another, with their logs kept."""

from __future__ import annotations

import base64
import contextlib
import os
import select
import shutil
import signal
import subprocess
import threading
import time
import uuid
from typing import Any

from .config import CONFIG, DRAIN_AFTER_EXIT_S, RUN_DIR
from .processes import child_pgid, group_members, kill_group, spawn
from .protocol import OpError


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
        # The write end of its stdin (an async command's; a synchronous one reads /dev/null), open while it runs.
        self.stdin: int | None = None
        self.stdin_lock = threading.Lock()

    def finish(self, exit_code: int | None) -> None:
        if self.done.is_set():
            return
        self.exit_code = exit_code
        for fd in self.holds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.holds = []
        with self.stdin_lock:
            if self.stdin is not None:
                with contextlib.suppress(OSError):
                    os.close(self.stdin)
                self.stdin = None
        self.done.set()

    def send_input(self, data: bytes, timeout_s: float) -> None:
        """Write to the command's stdin; refused once it has finished, or if it reads nothing for timeout_s."""
        deadline = time.monotonic() + timeout_s
        with self.stdin_lock:
            if self.stdin is None:
                why = "has finished" if self.done.is_set() else "was not run with async, so its stdin is /dev/null"
                raise OpError("conflict", f"command {self.id} {why}")
            view = memoryview(data)
            while view:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [self.stdin], [], left)[1]:
                    raise OpError("input_blocked", f"command {self.id} did not read its input within {timeout_s:g}s")
                try:
                    view = view[os.write(self.stdin, view) :]
                except BlockingIOError:
                    continue

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
            [CONFIG.sh, "--noprofile", "--norc"] if CONFIG.sh.endswith("bash") else [CONFIG.sh],
            CONFIG.workdir,
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
        self.shell_pgid = child_pgid(self.shell.pid)

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

    def execute(self, command_text: str, limit: int, interactive: bool = False) -> Command:
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
        stdin = "/dev/null"
        if interactive:
            stdin = os.path.join(d, f"{cmd_id}.in")
            os.mkfifo(stdin)
            os.chmod(stdin, 0o644)
            # Read-write, so the shell's open never waits for a writer and the command sees no end while it runs.
            command.stdin = os.open(stdin, os.O_RDWR | os.O_NONBLOCK)
        with self.lock:
            self.commands[cmd_id] = command
            self._write(
                f". {d}/{cmd_id}.sh < {stdin} > {d}/{cmd_id}.out 2> {d}/{cmd_id}.err; "
                f"printf '%s %s\\n' {cmd_id} $? >&3\n"
            )
        return command

    def cancel(self, cmd_id: str) -> None:
        command = self.get(cmd_id)
        if command.done.is_set():
            return
        for pid in group_members(self.shell_pgid):
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
    interactive = bool(req.get("async"))
    command = session.execute(str(req["command"]), int(req.get("log_bytes") or CONFIG.log_bytes), interactive)
    if interactive:
        return command.view(with_logs=False)
    timeout_s = float(req.get("timeout_ms") or 0) / 1000 or None
    if not command.done.wait(timeout_s):
        session.cancel(command.id)
    command.done.wait(5)
    time.sleep(DRAIN_AFTER_EXIT_S)  # the FIFOs' last bytes
    return command.view()


def op_session_command(req: dict[str, Any]) -> dict[str, Any]:
    return _session(str(req["session"])).get(str(req["command_id"])).view()


def op_session_input(req: dict[str, Any]) -> dict[str, Any]:
    command = _session(str(req["session"])).get(str(req["command_id"]))
    command.send_input(base64.b64decode(str(req["data"])), float(req.get("timeout_ms") or 10_000) / 1000)
    return command.view(with_logs=False)


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
