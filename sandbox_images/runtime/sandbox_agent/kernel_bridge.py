"""The sandbox's Python kernel (/opt/runyard/kernel.py): one child interpreter whose variables outlive cells.

The kernel runs as the sandbox user; requests go to it on its fd 3 and replies
come back on its fd 4, each a 4-byte big-endian length and a JSON body, so what
cells and their subprocesses print on fds 1 and 2 stays apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import threading
import time
from typing import Any

from .config import CONFIG
from .processes import child_pgid, kill_group, spawn
from .protocol import OpError

KERNEL = "/opt/runyard/kernel.py"


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
        argv = [CONFIG.sh, "-c", f"exec 3<&{req_r} 4>&{rep_w} {req_r}<&- {rep_w}>&-; exec python3 -u {KERNEL}"]
        self.proc = spawn(
            argv,
            CONFIG.workdir,
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
        kill_group(child_pgid(self.proc.pid))
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
