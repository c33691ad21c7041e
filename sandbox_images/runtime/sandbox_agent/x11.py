"""The sandbox's X display and the tools that see and drive it, run as the sandbox user (shared by the
computer-use actions: desktop.py, desktop_programs.py, recordings.py, desktop_browser.py)."""

from __future__ import annotations

import base64
import shutil
import time
from typing import Any

from .commands import op_exec
from .config import CONFIG
from .protocol import OpError

TIMEOUT_MS = 30_000
SHOT_BYTES = 32 << 20


def display() -> str:
    return CONFIG.environment(None).get("DISPLAY") or ":99"


def run(
    argv: list[str],
    *,
    output_bytes: int = 1 << 20,
    check: bool = True,
    stdin: bytes = b"",
    timeout_ms: int = TIMEOUT_MS,
) -> tuple[int, bytes, str]:
    """Run one tool as the sandbox user on the display; its exit code, stdout and stderr."""
    tool = argv[0]
    path = CONFIG.environment(None).get("PATH", "/usr/local/bin:/usr/bin:/bin")
    if shutil.which(tool, path=path) is None:
        raise OpError(
            "desktop_unavailable", f"computer use needs {tool} in the sandbox's image (the desktop template has it)"
        )
    request = {"argv": argv, "env": {"DISPLAY": display()}, "timeout_ms": timeout_ms, "output_bytes": output_bytes}
    result = op_exec({**request, "stdin": base64.b64encode(stdin).decode()})
    stdout = base64.b64decode(result["stdout"])
    stderr = base64.b64decode(result["stderr"]).decode(errors="replace")
    code = result["exit_code"] if result["exit_code"] is not None else -1
    if check and code != 0:
        detail = stderr.strip().splitlines()[-1:] or [f"exit code {code}"]
        raise OpError("desktop_failed", f"{tool}: {detail[0][:500]}")
    return code, stdout, stderr


def int_field(req: dict[str, Any], key: str, default: int | None = None) -> int:
    value = req.get(key, default)
    if value is None:
        raise OpError("invalid", f"{key} is required", field=key)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise OpError("invalid", f"{key} must be an integer", field=key) from exc


def position() -> dict[str, int]:
    _, out, _ = run(["xdotool", "getmouselocation", "--shell"])
    fields = dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
    return {"x": int(fields.get("X", 0)), "y": int(fields.get("Y", 0))}


_SIZE: dict[str, tuple[float, tuple[int, int]]] = {}
SIZE_TTL_S = 5.0


def screen_size() -> tuple[int, int]:
    """The display's size, looked up at most every few seconds (a screenshot needs it, and it rarely changes)."""
    screen, now = display(), time.monotonic()
    cached = _SIZE.get(screen)
    if cached is not None and now - cached[0] < SIZE_TTL_S:
        return cached[1]
    _, out, _ = run(["xdotool", "getdisplaygeometry"])
    width, height = out.decode().split()[:2]
    _SIZE[screen] = (now, (int(width), int(height)))
    return int(width), int(height)
