"""exec: one command run to completion (or its timeout) as the sandbox user; its background children may live on."""

from __future__ import annotations

import base64
import os
import shutil
import time
from typing import Any

from launcher import SAFE_PATH, Capture, collect

from .config import CONFIG, DRAIN_AFTER_EXIT_S
from .paths import as_sandbox_user, resolve
from .processes import child_pgid, kill_group, read_report, spawn
from .protocol import OpError

TICK_S = 0.05


def exec_argv(req: dict[str, Any]) -> list[str]:
    if req.get("argv"):
        argv = [str(a) for a in req["argv"]]
        if "/" not in argv[0]:  # the launcher execs a path, as execv does; look the name up as a shell would
            path = CONFIG.environment(req.get("env")).get("PATH", SAFE_PATH)
            argv[0] = shutil.which(argv[0], path=path) or argv[0]
        return argv
    return [CONFIG.sh, "-c", str(req.get("command", ""))]


def op_exec(req: dict[str, Any]) -> dict[str, Any]:
    """Run one command to completion (or its timeout); its background children may live on."""
    cwd = resolve(str(req.get("cwd") or CONFIG.workdir))
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
            exec_argv(req),
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

    def finished(now: float) -> bool:
        nonlocal timed_out
        if proc.poll() is not None:
            return True
        if timeout_s is not None and now - started > timeout_s:
            timed_out = True
            kill_group(child_pgid(proc.pid))
            proc.kill()  # the launcher's child dies with it (PR_SET_PDEATHSIG)
            proc.wait()
            return True
        return False

    exited_at = collect(captures, finished, pidfd=pidfd, tick_s=TICK_S, drain_s=DRAIN_AFTER_EXIT_S)
    os.close(pidfd)
    wall_ms = round((exited_at - started) * 1000, 3)
    kind, status = read_report(report_r)
    result: dict[str, Any] = {
        "exit_code": None,
        "signal": None,
        "timed_out": timed_out,
        "wall_ms": wall_ms,
        "stdout": captures[0].b64(),
        "stdout_truncated": captures[0].truncated,
        "stderr": "" if merge else captures[1].b64(),
        "stderr_truncated": False if merge else captures[1].truncated,
    }
    if kind == "spawn_error":  # as a shell reports it: 127 not found, 126 not executable
        result["exit_code"] = 127 if status == 2 else 126
        message = f"{exec_argv(req)[0]}: {os.strerror(status)}\n".encode()
        result["stderr" if not merge else "stdout"] = base64.b64encode(message).decode()
    if kind == "ok":
        if os.WIFEXITED(status):
            result["exit_code"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            result["signal"] = os.WTERMSIG(status)
            result["exit_code"] = 128 + os.WTERMSIG(status)
    return result
