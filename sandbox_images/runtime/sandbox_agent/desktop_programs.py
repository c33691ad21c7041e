"""The desktop's programs (Xvfb, VNC, noVNC, ...) under its supervisord: start, stop, status, restart, logs."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

from .protocol import OpError
from .x11 import run

SUPERVISOR_CONF = "/opt/desktop/supervisord.conf"
START_COMMAND = "/usr/local/bin/runyard-desktop"


def _supervisor(*args: str, check: bool = True) -> str:
    if not os.path.exists(SUPERVISOR_CONF):
        raise OpError("desktop_unavailable", "this image has no desktop to start (the desktop template has one)")
    _, out, _ = run(["supervisorctl", "-c", SUPERVISOR_CONF, *args], check=check)
    return out.decode(errors="replace")


def _programs() -> dict[str, dict[str, Any]]:
    """supervisorctl status, program by program: running, pid."""
    text = _supervisor("status", check=False)
    programs = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and re.fullmatch(r"[\w-]+", parts[0]):
            pid = re.search(r"pid (\d+)", line)
            programs[parts[0]] = {"running": parts[1] == "RUNNING", "pid": int(pid.group(1)) if pid else None}
    return programs


def status(req: dict[str, Any]) -> dict[str, Any]:
    programs = _programs()
    running = bool(programs) and all(p["running"] for p in programs.values())
    return {"status": "active" if running else "inactive", "programs": programs}


def start(req: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(START_COMMAND):
        raise OpError("desktop_unavailable", "this image has no desktop to start (the desktop template has one)")
    if not _programs():
        # Started in the background: the desktop outlives this call, as with the sandbox's own autostart.
        run(["/bin/sh", "-c", f"setsid {START_COMMAND} >/dev/null 2>&1 &"], timeout_ms=5000, check=False)
    return _wait_running()


def _wait_running() -> dict[str, Any]:
    deadline = time.monotonic() + 20
    current = status({})
    while current["status"] != "active" and time.monotonic() < deadline:
        time.sleep(0.2)
        current = status({})
    return current


def stop(req: dict[str, Any]) -> dict[str, Any]:
    _supervisor("shutdown", check=False)
    return {"status": "inactive", "programs": {}}


def _program(req: dict[str, Any]) -> str:
    name = str(req.get("process") or "")
    if not re.fullmatch(r"[\w-]{1,64}", name):
        raise OpError("invalid", "process: a program name like xvfb or x11vnc", field="process")
    if name not in _programs():
        raise OpError("not_found", f"no desktop program named {name!r}")
    return name


def process_status(req: dict[str, Any]) -> dict[str, Any]:
    name = _program(req)
    return {"process": name, **_programs()[name]}


def process_restart(req: dict[str, Any]) -> dict[str, Any]:
    name = _program(req)
    _supervisor("restart", name)
    return {"process": name, "message": f"{name} restarted"}


def process_log(stream: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def read(req: dict[str, Any]) -> dict[str, Any]:
        name = _program(req)
        text = _supervisor("tail", "-65536", name, *(["stderr"] if stream == "errors" else []), check=False)
        return {"process": name, stream: text}

    return read
