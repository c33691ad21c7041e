"""Runyard's in-container agent: a small server that runs jobs inside one sandbox.

The container starts `python3 -I -S /opt/runyard/agent.py serve` as root with
only SETUID, SETGID, SETPCAP and KILL. The worker talks to it over the
container's attached stdin/stdout: each message is a 4-byte big-endian length
followed by that many bytes of JSON. Operations:

    {"op": "run", ...}    write files, run one step (compile or run) under limits
    {"op": "reset"}       kill every sandbox process, wipe every writable place, verify
    {"op": "ping"}

Sandboxed code runs as the unprivileged sandbox user with an empty capability
bounding set (through /opt/runyard/spawn), so it can neither signal, trace nor
read the agent that judges it. The agent reports facts (exit status, CPU and
wall time, peak memory, output, which limit it enforced); the worker turns them
into a verdict. When the worker's connection closes, stdin ends and the agent
exits, and the container with it.

Standard library only: this file runs on the image's own Python, with launcher.py
(the spawn launcher's Python side, shared with the sandbox agent) and workdir.py
(the run's files, written without following a link) beside it.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's folder out
import sandbox_reset
from launcher import SAFE_PATH, Capture, collect, launcher_argv, read_report
from workdir import as_sandbox_user, fs_identity, setup_workdir

PR_SET_CHILD_SUBREAPER = 36
TICK_S = 0.02
DRAIN_AFTER_EXIT_S = 0.5
TIGHT_KILL_ROUNDS = 200
KILL_DEADLINE_S = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg: int) -> None:
    if _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


# ---------------------------------------------------------------- cgroups


CGROUP = "/sys/fs/cgroup"  # the container's own cgroup: v1 hierarchies below it, or the v2 unified tree


def _read_first(paths: list[str]) -> str | None:
    for path in paths:
        try:
            with open(os.path.join(CGROUP, path), encoding="ascii") as f:
                return f.read()
        except OSError:
            continue
    return None


def cgroup_cpu_ns() -> int | None:
    """CPU time charged to this container's cgroup so far (v1 or v2)."""
    v1 = _read_first(["cpuacct/cpuacct.usage", "cpu,cpuacct/cpuacct.usage"])
    if v1 is not None:
        return int(v1.strip())
    v2 = _read_first(["cpu.stat"])
    if v2 is not None:
        for line in v2.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) * 1000
    return None


def cgroup_oom_kills() -> int:
    """How many processes the kernel has OOM-killed in this container (v1 or v2)."""
    text = _read_first(["memory/memory.oom_control", "memory.events"])
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def self_cpu_ns() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return int((usage.ru_utime + usage.ru_stime) * 1e9)


# ---------------------------------------------------------------- processes


def uid_processes(uid: int) -> list[int]:
    """Live (non-zombie) processes owned by uid in this PID namespace."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            pids.append(int(entry))
    return pids


def kill_all(uid: int, reaper: Reaper) -> None:
    """Stop, then kill, every process of the sandbox user, and reap what was ours.

    Signals are sent one by one from this (root, CAP_KILL) process instead of
    from a forked helper: under a fork bomb the pids limit leaves no room for
    another process. SIGSTOP first keeps the bomb from outrunning the kill;
    reaping as we go gives the pids back.

    Killed is not yet gone: a process whose container used up its CPU quota
    (threads spinning) cannot run its own exit until the next quota period,
    up to 100 ms later. So the rounds go on until a deadline, tight at first
    (a fork bomb), then with short pauses.
    """
    deadline = time.monotonic() + KILL_DEADLINE_S
    rounds = 0
    while time.monotonic() < deadline:
        pids = uid_processes(uid)
        if not pids:
            return
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        reaper.reap(block=False)
        rounds += 1
        if rounds > TIGHT_KILL_ROUNDS:
            time.sleep(0.002)
    raise RuntimeError(f"processes of uid {uid} survived {KILL_DEADLINE_S:.0f} s of kill rounds")


class Reaper:
    """Reaps every child of this (subreaper) agent, summing the orphans' rusage.

    The launcher's own rusage is left out: it contains the program's, which
    the launcher reports exactly.
    """

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.maxrss_kb = 0
        self.launcher: int | None = None
        self.launcher_done = False

    def reap(self, block: bool) -> None:
        while True:
            try:
                pid, _, usage = os.wait4(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.launcher:
                self.launcher_done = True
                continue
            self.cpu_s += usage.ru_utime + usage.ru_stime
            self.maxrss_kb = max(self.maxrss_kb, usage.ru_maxrss)


def execute_once(req: dict[str, Any], step: dict[str, Any], reaper: Reaper) -> dict[str, Any]:
    """Run step['argv'] once under its limits and report what happened."""
    uid, gid = req["uid"], req["gid"]
    limits = step["limits"]
    stdin_data = base64.b64decode(step.get("stdin") or "")
    stdin_fd = os.memfd_create("stdin", 0)
    os.write(stdin_fd, stdin_data)
    os.lseek(stdin_fd, 0, os.SEEK_SET)

    out_r, out_w = os.pipe()
    if step.get("merge_stderr"):
        err_r, err_w = None, out_w
    else:
        err_r, err_w = os.pipe()
    env = {
        "PATH": SAFE_PATH,
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "USER": "sandbox",
    }
    env.update(step.get("env") or {})

    cpu_limit_ns = int(limits["cpu_ms"]) * 1_000_000
    wall_limit_s = int(limits["wall_ms"]) / 1000
    oom_before = cgroup_oom_kills()
    cg_before, self_before = cgroup_cpu_ns(), self_cpu_ns()
    started = time.monotonic()
    report_r, report_w = os.pipe()
    spawn_argv = launcher_argv(
        step["argv"],
        report_fd=report_w,
        uid=uid,
        gid=gid,
        cpu_s=max(1, -(-int(limits["cpu_ms"]) // 1000)),
        file_size_bytes=int(limits["file_size_bytes"]),
        stack_bytes=int(limits["stack_bytes"]),
        open_files=int(limits["open_files"]),
        cwd=req["workdir"],
    )
    try:
        proc = subprocess.Popen(
            spawn_argv,
            stdin=stdin_fd,
            stdout=out_w,
            stderr=err_w,
            cwd="/",
            env=env,
            close_fds=True,
            pass_fds=(report_w,),
        )
    finally:
        for fd in (stdin_fd, out_w, report_w, err_w if err_r is not None else None):
            if fd is not None:
                os.close(fd)

    out = Capture(out_r, int(limits["output_bytes"]))
    err = Capture(err_r, int(limits["output_bytes"])) if err_r is not None else None
    try:
        pidfd: int | None = os.pidfd_open(proc.pid)
    except OSError:  # kernels before 5.3: poll for the exit on every tick instead
        pidfd = None

    reaper.launcher, reaper.launcher_done = proc.pid, False
    proc.returncode = 0  # the reaper collects it; keeps Popen from waiting again
    limit_hit: str | None = None
    deadline = started + wall_limit_s
    wall_s: float | None = None

    def finished(_now: float) -> bool:
        """Whether the program is over: exited, or killed at a limit. Its background processes go too."""
        nonlocal limit_hit, wall_s
        reaper.reap(block=False)
        if not reaper.launcher_done:
            if time.monotonic() >= deadline:
                limit_hit = "wall"
            else:
                # The whole cgroup's CPU, minus the agent's own: catches multi-process programs
                # that each stay under RLIMIT_CPU.
                cg_now = cgroup_cpu_ns()
                used = (
                    None
                    if cg_now is None or cg_before is None
                    else (cg_now - cg_before) - (self_cpu_ns() - self_before)
                )
                if used is not None and used > cpu_limit_ns:
                    limit_hit = "cpu"
            if not limit_hit:
                return False
            kill_all(uid, reaper)
            while not reaper.launcher_done:
                reaper.reap(block=True)
        wall_s = time.monotonic() - started
        kill_all(uid, reaper)  # background processes never outlive the run
        return True

    collect([c for c in (out, err) if c is not None], finished, pidfd=pidfd, tick_s=TICK_S, drain_s=DRAIN_AFTER_EXIT_S)
    if pidfd is not None:
        os.close(pidfd)
    kill_all(uid, reaper)
    reaper.reap(block=True)  # orphans the program left behind: their CPU counts too
    report = read_report(report_r)
    if not report:
        return {"spawn_error": {"errno": None, "message": "sandbox launcher died without a report"}}
    if report[0] == b"spawn_error":
        code = int(report[1])
        return {"spawn_error": {"errno": code, "message": f"{step['argv'][0]}: {os.strerror(code)}"}}
    main_status = int(report[1])
    cpu_ms = round(reaper.cpu_s * 1000 + (int(report[2]) + int(report[3])) / 1000, 3)
    maxrss_kb = max(reaper.maxrss_kb, int(report[4]))
    if limit_hit is None and os.WIFSIGNALED(main_status) and os.WTERMSIG(main_status) == signal.SIGXCPU:
        limit_hit = "cpu"
    return {
        "exit_code": os.WEXITSTATUS(main_status) if os.WIFEXITED(main_status) else None,
        "signal": os.WTERMSIG(main_status) if os.WIFSIGNALED(main_status) else None,
        "cpu_ms": cpu_ms,
        "wall_ms": round((wall_s or 0.0) * 1000, 3),
        "maxrss_kb": maxrss_kb,
        "limit_hit": limit_hit,
        "oom_killed": cgroup_oom_kills() > oom_before,
        "stdout": out.b64(),
        "stdout_truncated": out.truncated,
        "stderr": err.b64() if err else "",
        "stderr_truncated": err.truncated if err else False,
    }


def run(req: dict[str, Any]) -> dict[str, Any]:
    setup_error = setup_workdir(req)
    if setup_error is not None:
        return {"setup_error": setup_error, "results": []}
    step = req.get("step")
    if not step:
        return {"setup_error": None, "results": []}
    results = []
    for _ in range(max(1, int(step.get("repeat", 1)))):
        result = execute_once(req, step, Reaper())
        results.append(result)
        if result.get("spawn_error") or result["limit_hit"] or result["exit_code"] != 0:
            break
    return {"setup_error": None, "results": results}


def reset(req: dict[str, Any]) -> dict[str, Any]:
    """Leave nothing of the last run for the next: processes, files, IPC objects. Then check."""
    uid, gid = req["uid"], req["gid"]
    reaper = Reaper()
    kill_all(uid, reaper)
    reaper.reap(block=False)
    with fs_identity(uid, gid):  # no process of the user is alive now: nothing can race the wipe
        problems = sandbox_reset.wipe_writable(uid)
    if sandbox_reset.owns_sysv(uid):
        problem = as_sandbox_user(uid, gid, lambda: sandbox_reset.remove_sysv(uid))
        problems += [problem] if problem else []
    with fs_identity(uid, gid):
        problems += sandbox_reset.leftovers()
    if uid_processes(uid):
        problems.append("processes of the sandbox user survived")
    return {"clean": not problems, "problems": problems}


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    body = stream.read(size)
    if len(body) < size:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    stream.write(struct.pack(">I", len(body)) + body)
    stream.flush()


OPERATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "run": run,
    "reset": reset,
    "ping": lambda req: {"ok": True},
}


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    while (req := read_message(stdin)) is not None:
        op = OPERATIONS.get(str(req.get("op")))
        try:
            reply = op(req) if op else {"agent_error": f"unknown op {req.get('op')!r}"}
        except Exception:  # noqa: BLE001 - the worker discards a sandbox whose agent failed
            reply = {"agent_error": traceback.format_exc()[-4000:]}
        write_message(stdout, reply)


def main(argv: list[str]) -> int:
    if argv[1:] != ["serve"]:
        sys.stderr.write("usage: agent.py serve   (messages on stdin and stdout)\n")
        return 2
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    os.setgroups([])  # file access as the sandbox user (fs_identity) must not carry root's groups along
    os.umask(0o022)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.chdir("/")  # never hold a directory the sandbox user owns
    serve(sys.stdin.buffer, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
