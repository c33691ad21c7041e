"""The sandbox's Python kernels (/opt/runyard/kernel.py): child interpreters whose variables outlive cells.

The default kernel serves cells that name no context; each context (Daytona's code interpreter
contexts) has a kernel of its own, with its own working directory. A kernel runs as the sandbox
user; requests go to it on its fd 3 and messages come back on its fd 4, each a 4-byte big-endian
length and a JSON body (output chunks as the cell writes them, then the cell's end), so what cells
and their subprocesses print on fds 1 and 2 stays apart.
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
import uuid
from collections.abc import Callable
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
    def __init__(self, cwd: str | None = None) -> None:
        req_r, self._req_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        # Numbers clear of 3 and 4, so the shell's moves below cannot clobber one another.
        req_r, rep_w = _high_fd(req_r), _high_fd(rep_w)
        out_r, out_w = os.pipe()
        report_r, report_w = os.pipe()
        # The kernel expects requests on fd 3 and replies on fd 4: a small shell moves them there.
        argv = [CONFIG.sh, "-c", f"exec 3<&{req_r} 4>&{rep_w} {req_r}<&- {rep_w}>&-; exec python3 -u {KERNEL}"]
        env = CONFIG.environment()
        if cwd:
            env["RUNYARD_KERNEL_CWD"] = cwd
        self.cwd = cwd or CONFIG.workdir
        self.created_at = time.time()
        self.proc = spawn(
            argv,
            CONFIG.workdir,
            report_w,
            pass_fds=(req_r, rep_w),
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=out_w,
            env=env,
        )
        for fd in (req_r, rep_w, out_w, report_w, report_r):
            os.close(fd)
        self._out = out_r
        os.set_blocking(out_r, False)
        self.lock = threading.Lock()
        hello = self._receive(60.0)
        if hello is None or not hello.get("ready"):
            self.close()
            why = str((hello or {}).get("error") or self._drain().decode(errors="replace")[-2000:])
            raise OpError("kernel_failed", "the Python kernel did not start: " + why)
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

    def _cell_end(self, deadline: float | None, chunks: list[tuple[str, str]], on_chunk: OnChunk | None) -> Any:
        """Chunks as the cell writes them (kept, and handed to on_chunk), until its end; None if the deadline
        passes or the kernel dies first."""
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            message = self._receive(left if left is None else max(0.0, left))
            if message is None or "chunk" not in message:
                return message
            stream, text = (str(x) for x in message["chunk"])
            chunks.append((stream, text))
            if on_chunk is not None:
                on_chunk(stream, text)

    def run(
        self, code: str, timeout_s: float | None, env: dict[str, str] | None = None, on_chunk: OnChunk | None = None
    ) -> dict[str, Any]:
        with self.lock:
            self._drain()
            body = json.dumps({"code": code, "env": env or {}}).encode()
            os.write(self._req_w, struct.pack(">I", len(body)) + body)
            chunks: list[tuple[str, str]] = []
            reply = self._cell_end(None if timeout_s is None else time.monotonic() + timeout_s, chunks, on_chunk)
            timed_out = False
            if reply is None and self.proc.poll() is None:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGINT)
                reply = self._cell_end(time.monotonic() + 3.0, chunks, on_chunk)
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
            if raw:
                chunks.append(("stdout", raw))
                if on_chunk is not None:
                    on_chunk("stdout", raw)
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


OnChunk = Callable[[str, str], None]
KERNEL_LOCK = threading.Lock()
DEFAULT = ""  # the kernel of cells that name no context
_kernels: dict[str, Kernel] = {}


def _kernel(context: str) -> Kernel:
    with KERNEL_LOCK:
        kernel = _kernels.get(context)
        if kernel is None or not kernel.alive():
            if context != DEFAULT and kernel is None:
                raise OpError("not_found", f"no code interpreter context {context!r}")
            kernel = _kernels[context] = Kernel(kernel.cwd if kernel else None)
        return kernel


def _run(req: dict[str, Any], on_chunk: OnChunk | None = None) -> dict[str, Any]:
    context = str(req.get("context") or DEFAULT)
    kernel = _kernel(context)
    timeout_s = float(req.get("timeout_ms") or 0) / 1000 or None
    result = kernel.run(str(req.get("code", "")), timeout_s, req.get("env"), on_chunk)
    if result.get("restarted"):
        with KERNEL_LOCK:
            if _kernels.get(context) is kernel and context == DEFAULT:
                del _kernels[context]
    return result


def op_kernel_run(req: dict[str, Any]) -> dict[str, Any]:
    return _run(req)


def op_kernel_restart(req: dict[str, Any]) -> dict[str, Any]:
    with KERNEL_LOCK:
        kernel = _kernels.pop(DEFAULT, None)
    if kernel is not None:
        kernel.close()
    return {"restarted": True}


# ------------------------------------------------------------------ contexts


def _context_view(ident: str, kernel: Kernel) -> dict[str, Any]:
    return {"id": ident, "cwd": kernel.cwd, "created_at": kernel.created_at, "active": kernel.alive()}


def op_context_create(req: dict[str, Any]) -> dict[str, Any]:
    ident = uuid.uuid4().hex
    kernel = Kernel(str(req.get("cwd") or "") or None)
    with KERNEL_LOCK:
        _kernels[ident] = kernel
    return _context_view(ident, kernel)


def op_context_list(req: dict[str, Any]) -> dict[str, Any]:
    with KERNEL_LOCK:
        found = [_context_view(k, v) for k, v in _kernels.items() if k != DEFAULT]
    return {"contexts": found}


def op_context_delete(req: dict[str, Any]) -> dict[str, Any]:
    with KERNEL_LOCK:
        kernel = _kernels.pop(str(req["context"]), None) if req.get("context") else None
    if kernel is None:
        raise OpError("not_found", f"no code interpreter context {req.get('context')!r}")
    kernel.close()
    return {"deleted": True}


# ------------------------------------------------------------------ cells followed as they run


class Cell:
    """A cell run in the background, its output read in pieces (kernel.poll) while it runs."""

    def __init__(self, req: dict[str, Any]) -> None:
        self.chunks: list[tuple[str, str]] = []
        self.result: dict[str, Any] | None = None
        self.changed = threading.Condition()
        threading.Thread(target=self._run, args=(req,), daemon=True, name="cell").start()

    def _add(self, stream: str, text: str) -> None:
        with self.changed:
            self.chunks.append((stream, text))
            self.changed.notify_all()

    def _run(self, req: dict[str, Any]) -> None:
        try:
            result = _run(req, self._add)
        except OpError as exc:
            result = {"failed": {"kind": exc.kind, "message": str(exc)}}
        with self.changed:
            self.result = result
            self.changed.notify_all()

    def read(self, offset: int, wait_s: float) -> dict[str, Any]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.chunks) > offset or self.result is not None, wait_s)
            return {"chunks": self.chunks[offset:], "result": self.result}


CELLS: dict[str, Cell] = {}


def op_kernel_begin(req: dict[str, Any]) -> dict[str, Any]:
    ident = uuid.uuid4().hex
    CELLS[ident] = Cell(req)
    return {"cell": ident}


def op_kernel_poll(req: dict[str, Any]) -> dict[str, Any]:
    """Output past `offset` (waiting up to wait_ms for some); with the result once the cell has ended."""
    cell = CELLS.get(str(req["cell"]))
    if cell is None:
        raise OpError("not_found", f"no running cell {req['cell']!r}")
    answer = cell.read(int(req.get("offset") or 0), float(req.get("wait_ms") or 0) / 1000)
    if answer["result"] is not None:
        CELLS.pop(str(req["cell"]), None)
        if failed := answer["result"].get("failed"):
            raise OpError(str(failed["kind"]), str(failed["message"]))
    return answer
