"""A run container started with exactly the worker's Docker settings and driven as the worker drives it, for
scripts/cgroup2/check.py (standard library only: it runs on the check VM's own Python)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
from typing import Any

UID = GID = 64000
AGENT_CMD = ["python3", "-I", "-S", "/opt/runyard/agent.py", "serve"]
# The worker's container settings, flag for flag (see the brief / workers' sandbox pool).
DOCKER_RUN_FLAGS = [
    "--init",
    "--user",
    "0",
    "--hostname",
    "sandbox",
    "--network",
    "none",
    "--read-only",
    "--tmpfs",
    "/box:rw,exec,nosuid,nodev,size=67108864,nr_inodes=16384,uid=64000,gid=64000,mode=0700",
    "--tmpfs",
    "/tmp:rw,noexec,nosuid,nodev,size=67108864,nr_inodes=16384,mode=1777",  # noqa: S108 - the sandbox's own
    "--shm-size",
    "16m",
    "--memory",
    "160m",
    "--memory-swap",
    "160m",
    "--pids-limit",
    "68",
    "--cpus",
    "1",
    "--cap-drop",
    "ALL",
    "--cap-add",
    "SETUID",
    "--cap-add",
    "SETGID",
    "--cap-add",
    "SETPCAP",
    "--cap-add",
    "KILL",
    "--security-opt",
    "no-new-privileges",
    "--log-driver",
    "none",
]
DEFAULT_LIMITS = {
    "cpu_ms": 2000,
    "wall_ms": 5000,
    "file_size_bytes": 1 << 20,
    "stack_bytes": 64 << 20,
    "open_files": 256,
    "output_bytes": 1 << 20,
}
# Headroom on top of a step's own wall limit before we call the agent hung:
# a TCG-emulated VM can be an order of magnitude slower than KVM.
REPLY_SLACK_S = 90.0


class AgentGone(Exception):
    """The agent stopped answering: the sandbox is unusable from here on."""


class Sandbox:
    """One long-lived sandbox container, spoken to like the worker does."""

    def __init__(self, image: str) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="runyard-cg2-")
        self.cidfile = os.path.join(self.tmpdir, "cid")  # docker refuses an existing cidfile
        self.errlog = open(os.path.join(self.tmpdir, "stderr"), "w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["docker", "run", "-i", "--rm", "--cidfile", self.cidfile, *DOCKER_RUN_FLAGS, image, *AGENT_CMD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errlog,
            bufsize=0,
        )
        self._id: str | None = None

    def container_id(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while self._id is None:
            try:
                with open(self.cidfile, encoding="ascii") as f:
                    self._id = f.read().strip() or None
            except FileNotFoundError:
                pass
            if self._id is None:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AgentGone(f"no container id in {self.cidfile}; {self.stderr_tail()}")
                time.sleep(0.1)
        return self._id

    def stderr_tail(self) -> str:
        self.errlog.seek(0)
        text = self.errlog.read().decode(errors="replace").strip()
        return f"docker/agent stderr: {text[-1500:]!r}" if text else "no stderr"

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        body = json.dumps(message).encode()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(struct.pack(">I", len(body)) + body)
        except (BrokenPipeError, OSError) as exc:
            raise AgentGone(f"cannot write to the agent ({exc}); {self.stderr_tail()}") from exc
        deadline = time.monotonic() + timeout
        (size,) = struct.unpack(">I", self._read_exact(4, deadline))
        reply: dict[str, Any] = json.loads(self._read_exact(size, deadline))
        return reply

    def _read_exact(self, n: int, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentGone(f"no reply from the agent in time; {self.stderr_tail()}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise AgentGone(f"the agent closed its stdout; {self.stderr_tail()}")
            buf += chunk
        return buf

    def close(self) -> None:
        """End it the worker's way (stdin EOF, the agent exits, --rm removes it); kill if that hangs.

        Whatever docker or the agent said on stderr (e.g. "kernel does not support swap limit")
        is printed as INFO: such warnings mean a limit was silently not applied."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if self._id:
                subprocess.run(["docker", "kill", self._id], capture_output=True, check=False)
            self.proc.kill()
            self.proc.wait()
        tail = self.stderr_tail()
        if tail != "no stderr":
            print(f"INFO sandbox {self._id and self._id[:12]}: {tail}")
        self.errlog.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


# ---------------------------------------------------------------- helpers for the checks


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text or "").decode(errors="replace")


def run_step(
    box: Sandbox,
    argv: list[str],
    files: dict[str, str] | None = None,
    **limits: int,
) -> dict[str, Any]:
    """One run request with one step; returns its single result (setup/spawn/agent errors raise)."""
    step_limits = {**DEFAULT_LIMITS, **limits}
    req = {
        "op": "run",
        "uid": UID,
        "gid": GID,
        "workdir": "/box",
        "files": [{"path": p, "data": b64(d), "mode": 0o644} for p, d in (files or {}).items()],
        "archive": None,
        "archive_limit_bytes": 10 << 20,
        "archive_max_entries": 2000,
        "step": {"argv": argv, "stdin": "", "limits": step_limits, "merge_stderr": False, "repeat": 1},
    }
    reply = box.request(req, timeout=step_limits["wall_ms"] / 1000 + REPLY_SLACK_S)
    if "agent_error" in reply:
        raise CheckFailed(f"agent_error: {reply['agent_error']}")
    if reply.get("setup_error"):
        raise CheckFailed(f"setup_error: {reply['setup_error']}")
    result: dict[str, Any] = reply["results"][0]
    if "spawn_error" in result:
        raise CheckFailed(f"spawn_error: {result['spawn_error']}")
    return result


def reset(box: Sandbox) -> dict[str, Any]:
    return box.request({"op": "reset", "uid": UID, "gid": GID}, timeout=REPLY_SLACK_S)


def summary(r: dict[str, Any]) -> str:
    """The facts of a result worth showing on a PASS/FAIL line."""
    keys = ("exit_code", "signal", "limit_hit", "oom_killed", "cpu_ms", "wall_ms", "maxrss_kb")
    text = ", ".join(f"{k}={r.get(k)}" for k in keys)
    err = unb64(r.get("stderr", "")).strip()
    return text + (f", stderr={err[-200:]!r}" if err else "")


def docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise CheckFailed(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def read_first_line(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()
