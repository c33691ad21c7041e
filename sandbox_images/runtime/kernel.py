"""A sandbox's Python kernel: one long-lived interpreter whose variables survive between cells.

Started by the sandbox agent as the sandbox user. Requests arrive on fd 3 and
replies leave on fd 4, each a 4-byte big-endian length and a JSON body, so the
program's own stdout and stderr (fds 1 and 2) stay free for whatever cells and
their subprocesses print. IPython runs the cells when it is installed (magics,
`!shell`, rich tracebacks); plain `exec` with the last expression echoed otherwise.

Standard library only, apart from the optional IPython.
"""

from __future__ import annotations

import ast
import json
import os
import struct
import sys
import threading
import traceback
from typing import Any

REQUESTS, REPLIES = 3, 4


class Recorder:
    """Stands in for sys.stdout or sys.stderr during a cell: each write goes out at once, as a chunk message
    ahead of the cell's reply, so a caller can follow the output while the cell runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.encoding = "utf-8"
        self.errors = "replace"
        self._partial = ""  # line-buffered, as a terminal's stdout is: print's text and newline go out as one

    def write(self, text: str) -> int:
        self._partial += text
        if "\n" in text:
            self.flush()
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._partial:
            text, self._partial = self._partial, ""
            send({"chunk": [self.name, text]})

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1 if self.name == "stdout" else 2


def _read_exact(fd: int, size: int) -> bytes | None:
    buf = b""
    while len(buf) < size:
        chunk = os.read(fd, size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def receive() -> dict[str, Any] | None:
    header = _read_exact(REQUESTS, 4)
    if header is None:
        return None
    body = _read_exact(REQUESTS, struct.unpack(">I", header)[0])
    return None if body is None else dict(json.loads(body))


_SEND = threading.Lock()  # a cell's threads may print at once; each message leaves whole


def send(message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    data = struct.pack(">I", len(body)) + body
    with _SEND:
        while data:
            data = data[os.write(REPLIES, data) :]


class PlainShell:
    """What runs cells when IPython is missing: exec, echoing the value of a trailing expression."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__"}

    def run(self, code: str) -> dict[str, Any] | None:
        try:
            tree = ast.parse(code, "<cell>", "exec")
            last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            if last is not None:
                tree.body.pop()
            exec(compile(tree, "<cell>", "exec"), self.namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), self.namespace)
                if value is not None:
                    print(repr(value))
        except BaseException as exc:
            if isinstance(exc, SystemExit):
                raise
            traceback.print_exc()
            return {"ename": type(exc).__name__, "evalue": str(exc), "traceback": traceback.format_exc()}
        return None


class IPythonShell:
    def __init__(self) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance(colors="NoColor")

    def run(self, code: str) -> dict[str, Any] | None:
        result = self.shell.run_cell(code, store_history=True)
        error = result.error_before_exec or result.error_in_exec
        if error is None:
            return None
        return {"ename": type(error).__name__, "evalue": str(error), "traceback": ""}


def main() -> int:
    cwd = os.environ.pop("RUNYARD_KERNEL_CWD", None) or os.environ.get("HOME", "/")
    try:
        os.chdir(cwd)
    except OSError as exc:
        send({"ready": False, "error": f"cannot work in {cwd}: {exc.strerror}"})
        return 1
    try:
        shell: PlainShell | IPythonShell = IPythonShell()
        flavour = "ipython"
    except ImportError:
        shell, flavour = PlainShell(), "python"
    send({"ready": True, "pid": os.getpid(), "flavour": flavour})
    real_out, real_err = sys.stdout, sys.stderr
    while (request := receive()) is not None:
        sys.stdout, sys.stderr = Recorder("stdout"), Recorder("stderr")
        # This cell's environment variables, as they were before it, to put back after it.
        env = {str(k): str(v) for k, v in (request.get("env") or {}).items()}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        interrupted = False
        try:
            error = shell.run(str(request.get("code", "")))
        except KeyboardInterrupt:
            interrupted = True
            error = {"ename": "KeyboardInterrupt", "evalue": "", "traceback": ""}
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = real_out, real_err
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        real_out.flush()
        real_err.flush()
        send({"done": True, "error": error, "interrupted": interrupted})
    return 0


if __name__ == "__main__":
    sys.exit(main())
