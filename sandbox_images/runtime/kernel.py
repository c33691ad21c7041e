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
import traceback
from typing import Any

REQUESTS, REPLIES = 3, 4


class Recorder:
    """Stands in for sys.stdout or sys.stderr during a cell, keeping the order of what each wrote."""

    def __init__(self, name: str, chunks: list[tuple[str, str]]) -> None:
        self.name, self._chunks = name, chunks
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text: str) -> int:
        if text:
            self._chunks.append((self.name, text))
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

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


def send(message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    data = struct.pack(">I", len(body)) + body
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
    os.chdir(os.environ.get("HOME", "/"))
    try:
        shell: PlainShell | IPythonShell = IPythonShell()
        flavour = "ipython"
    except ImportError:
        shell, flavour = PlainShell(), "python"
    send({"ready": True, "pid": os.getpid(), "flavour": flavour})
    real_out, real_err = sys.stdout, sys.stderr
    while (request := receive()) is not None:
        chunks: list[tuple[str, str]] = []
        sys.stdout, sys.stderr = Recorder("stdout", chunks), Recorder("stderr", chunks)
        interrupted = False
        try:
            error = shell.run(str(request.get("code", "")))
        except KeyboardInterrupt:
            interrupted = True
            error = {"ename": "KeyboardInterrupt", "evalue": "", "traceback": ""}
        finally:
            sys.stdout, sys.stderr = real_out, real_err
        real_out.flush()
        real_err.flush()
        send({"chunks": chunks, "error": error, "interrupted": interrupted})
    return 0


if __name__ == "__main__":
    sys.exit(main())
