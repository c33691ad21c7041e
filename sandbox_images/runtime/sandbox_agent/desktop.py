"""computer_use: the sandbox's X display seen and driven, as the sandbox user, with the image's own tools.

xdotool moves the mouse and types, ffmpeg's x11grab takes screenshots (a region, scaled, PNG, JPEG or
WebP, with or without the cursor), wmctrl lists windows, and the desktop's supervisord (the desktop
template's /opt/desktop/supervisord.conf) starts and stops its programs. An image without them gets a
clear `unavailable` error naming the tool.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from typing import Any

from .commands import op_exec
from .config import CONFIG
from .protocol import OpError

SUPERVISOR_CONF = "/opt/desktop/supervisord.conf"
BROWSER_SCRIPT = "/opt/desktop/browser.py"
BROWSER_ACTIONS = {"navigate", "click", "type", "screenshot", "content", "evaluate"}
START_COMMAND = "/usr/local/bin/runyard-desktop"
BUTTONS = {"left": 1, "middle": 2, "right": 3}
WHEEL = {"up": 4, "down": 5, "left": 6, "right": 7}
MODIFIERS = {"ctrl": "ctrl", "control": "ctrl", "alt": "alt", "shift": "shift", "meta": "super", "cmd": "super",
             "super": "super", "win": "super"}  # fmt: skip  # reason: a table
TIMEOUT_MS = 30_000
SHOT_BYTES = 32 << 20


def _display() -> str:
    return CONFIG.environment(None).get("DISPLAY") or ":99"


def _run(argv: list[str], *, output_bytes: int = 1 << 20, check: bool = True) -> tuple[int, bytes, str]:
    """Run one tool as the sandbox user on the display; its exit code, stdout and stderr."""
    tool = argv[0]
    path = CONFIG.environment(None).get("PATH", "/usr/local/bin:/usr/bin:/bin")
    if shutil.which(tool, path=path) is None:
        raise OpError(
            "desktop_unavailable", f"computer use needs {tool} in the sandbox's image (the desktop template has it)"
        )
    result = op_exec(
        {"argv": argv, "env": {"DISPLAY": _display()}, "timeout_ms": TIMEOUT_MS, "output_bytes": output_bytes}
    )
    stdout = base64.b64decode(result["stdout"])
    stderr = base64.b64decode(result["stderr"]).decode(errors="replace")
    code = result["exit_code"] if result["exit_code"] is not None else -1
    if check and code != 0:
        detail = stderr.strip().splitlines()[-1:] or [f"exit code {code}"]
        raise OpError("desktop_failed", f"{tool}: {detail[0][:500]}")
    return code, stdout, stderr


def _int(req: dict[str, Any], key: str, default: int | None = None) -> int:
    value = req.get(key, default)
    if value is None:
        raise OpError("invalid", f"{key} is required", field=key)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise OpError("invalid", f"{key} must be an integer", field=key) from exc


def _button(req: dict[str, Any]) -> str:
    name = str(req.get("button") or "left").lower()
    if name not in BUTTONS:
        raise OpError("invalid", f"button must be one of {', '.join(BUTTONS)}", field="button")
    return str(BUTTONS[name])


def _keysym(key: str) -> str:
    """A key as xdotool names it: "ctrl+shift+t", "Return", "a"."""
    if not key or len(key) > 100 or not re.fullmatch(r"[\w+\-.,;:/'\[\]=`\\#]+", key):
        raise OpError("invalid", f"{key[:40]!r} is not a key name like a, Return, ctrl+c", field="key")
    return "+".join(MODIFIERS.get(part.lower(), part) for part in key.split("+"))


def _modifiers(req: dict[str, Any]) -> list[str]:
    mods = [str(m).lower() for m in req.get("modifiers") or []]
    unknown = [m for m in mods if m not in MODIFIERS]
    if unknown:
        raise OpError("invalid", f"unknown modifier {unknown[0]!r}: use ctrl, alt, shift or meta", field="modifiers")
    return [MODIFIERS[m] for m in mods]


def _with_modifiers(mods: list[str], chain: list[str]) -> list[str]:
    down = [a for m in mods for a in ("keydown", m)]
    up = [a for m in reversed(mods) for a in ("keyup", m)]
    return ["xdotool", *down, *chain, *up]


def position() -> dict[str, int]:
    _, out, _ = _run(["xdotool", "getmouselocation", "--shell"])
    fields = dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
    return {"x": int(fields.get("X", 0)), "y": int(fields.get("Y", 0))}


_SIZE: dict[str, tuple[float, tuple[int, int]]] = {}
SIZE_TTL_S = 5.0


def screen_size() -> tuple[int, int]:
    """The display's size, looked up at most every few seconds (a screenshot needs it, and it rarely changes)."""
    display, now = _display(), time.monotonic()
    cached = _SIZE.get(display)
    if cached is not None and now - cached[0] < SIZE_TTL_S:
        return cached[1]
    _, out, _ = _run(["xdotool", "getdisplaygeometry"])
    width, height = out.decode().split()[:2]
    _SIZE[display] = (now, (int(width), int(height)))
    return int(width), int(height)


def _move(req: dict[str, Any]) -> dict[str, Any]:
    _run(["xdotool", "mousemove", "--sync", str(_int(req, "x")), str(_int(req, "y"))])
    return position()


def _press(down: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def press(req: dict[str, Any]) -> dict[str, Any]:
        chain = ["mousemove", str(_int(req, "x")), str(_int(req, "y"))] if req.get("x") is not None else []
        _run(["xdotool", *chain, "mousedown" if down else "mouseup", _button(req)])
        return position()

    return press


def _click(req: dict[str, Any]) -> dict[str, Any]:
    clicks = 2 if req.get("double") else max(1, min(10, _int(req, "clicks", 1)))
    chain = ["mousemove", "--sync", str(_int(req, "x")), str(_int(req, "y")), "click", "--repeat", str(clicks)]
    _run(_with_modifiers(_modifiers(req), [*chain, _button(req)]))
    return position()


def _drag(req: dict[str, Any]) -> dict[str, Any]:
    button = _button(req)
    start = [str(_int(req, "start_x")), str(_int(req, "start_y"))]
    end = [str(_int(req, "end_x")), str(_int(req, "end_y"))]
    chain = ["mousemove", "--sync", *start, "mousedown", button, "sleep", "0.05",
             "mousemove", "--sync", *end, "sleep", "0.05", "mouseup", button]  # fmt: skip  # reason: one gesture
    _run(_with_modifiers(_modifiers(req), chain))
    return position()


def _scroll(req: dict[str, Any]) -> dict[str, Any]:
    direction = str(req.get("direction") or "down").lower()
    if direction not in WHEEL:
        raise OpError("invalid", "direction must be up, down, left or right", field="direction")
    amount = max(0, min(100, _int(req, "amount", 1)))
    chain = ["mousemove", "--sync", str(_int(req, "x")), str(_int(req, "y"))]
    if amount:
        chain += ["click", "--repeat", str(amount), str(WHEEL[direction])]
    _run(_with_modifiers(_modifiers(req), chain))
    return {"success": True}


def _type(req: dict[str, Any]) -> dict[str, Any]:
    text = str(req.get("text") or "")
    if len(text) > 100_000:
        raise OpError("invalid", "text: at most 100000 characters", field="text")
    delay = max(0, min(1000, _int(req, "delay", 12)))
    _run(["xdotool", "type", "--delay", str(delay), "--", text])
    return {}


def _key(req: dict[str, Any]) -> dict[str, Any]:
    key = _keysym(str(req.get("key") or ""))
    mods = _modifiers(req)
    _run(["xdotool", "key", "--", "+".join([*mods, key])])
    return {}


def _hotkey(req: dict[str, Any]) -> dict[str, Any]:
    _run(["xdotool", "key", "--", _keysym(str(req.get("keys") or ""))])
    return {}


def _key_updown(down: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def act(req: dict[str, Any]) -> dict[str, Any]:
        _run(["xdotool", "keydown" if down else "keyup", "--", _keysym(str(req.get("key") or ""))])
        return {}

    return act


FORMATS = {"png": ("png", "png"), "jpeg": ("mjpeg", "mjpeg"), "jpg": ("mjpeg", "mjpeg"), "webp": ("libwebp", "webp")}


def _screenshot(req: dict[str, Any]) -> dict[str, Any]:
    """A frame of the display by ffmpeg's x11grab: the whole screen or a region, scaled, encoded."""
    width, height = screen_size()
    x, y = _int(req, "x", 0), _int(req, "y", 0)
    w, h = _int(req, "width", width - x), _int(req, "height", height - y)
    if not (0 <= x < width and 0 <= y < height and 0 < w <= width - x and 0 < h <= height - y):
        raise OpError("invalid", f"the region must lie within the {width}x{height} screen", field="region")
    fmt = str(req.get("format") or "png").lower()
    if fmt not in FORMATS:
        raise OpError("invalid", "format must be png, jpeg or webp", field="format")
    codec, container = FORMATS[fmt]
    argv = ["ffmpeg", "-loglevel", "error", "-f", "x11grab", "-draw_mouse", "1" if req.get("show_cursor") else "0",
            "-video_size", f"{w}x{h}", "-i", f"{_display()}+{x},{y}", "-frames:v", "1"]  # fmt: skip  # reason: argv
    scale = float(req.get("scale") or 1.0)
    if not 0.01 <= scale <= 4:
        raise OpError("invalid", "scale must be between 0.01 and 4", field="scale")
    if scale != 1.0:
        argv += ["-vf", f"scale=max(1\\,trunc(iw*{scale:g})):max(1\\,trunc(ih*{scale:g}))"]
    quality = max(1, min(100, _int(req, "quality", 85)))
    if codec == "mjpeg":
        argv += ["-q:v", str(round(2 + (100 - quality) * 29 / 100)), "-pix_fmt", "yuvj444p"]
    elif codec == "libwebp":
        argv += ["-quality", str(quality)]
    argv += ["-c:v", codec, "-f", "image2pipe" if container != "png" else "image2", "-update", "1", "pipe:1"]
    _, image, _ = _run(argv, output_bytes=SHOT_BYTES)
    if not image:
        raise OpError("desktop_failed", "ffmpeg gave no image")
    return {"screenshot": base64.b64encode(image).decode(), "size_bytes": len(image), "format": fmt,
            "cursor": position(), "width": w, "height": h}  # fmt: skip  # reason: one result


def _display_info(req: dict[str, Any]) -> dict[str, Any]:
    width, height = screen_size()
    return {"displays": [{"id": 0, "x": 0, "y": 0, "width": width, "height": height, "is_active": True}]}


def _windows(req: dict[str, Any]) -> dict[str, Any]:
    _, out, _ = _run(["wmctrl", "-lG"])
    code, active_out, _ = _run(["xdotool", "getactivewindow"], check=False)
    active = int(active_out.decode().strip() or 0) if code == 0 else 0
    windows = []
    for line in out.decode(errors="replace").splitlines():
        parts = line.split(None, 7)
        if len(parts) < 7:
            continue
        ident = int(parts[0], 16)
        windows.append(
            {
                "id": ident,
                "x": int(parts[2]),
                "y": int(parts[3]),
                "width": int(parts[4]),
                "height": int(parts[5]),
                "title": parts[7] if len(parts) > 7 else "",
                "is_active": ident == active,
            }
        )
    return {"windows": windows}


# ------------------------------------------------------------ the desktop's programs


def _supervisor(*args: str, check: bool = True) -> str:
    if not os.path.exists(SUPERVISOR_CONF):
        raise OpError("desktop_unavailable", "this image has no desktop to start (the desktop template has one)")
    _, out, _ = _run(["supervisorctl", "-c", SUPERVISOR_CONF, *args], check=check)
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


def _status(req: dict[str, Any]) -> dict[str, Any]:
    programs = _programs()
    running = bool(programs) and all(p["running"] for p in programs.values())
    return {"status": "active" if running else "inactive", "programs": programs}


def _start(req: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(START_COMMAND):
        raise OpError("desktop_unavailable", "this image has no desktop to start (the desktop template has one)")
    if not _programs():
        # Started in the background: the desktop outlives this call, as with the sandbox's own autostart.
        op_exec({"argv": ["/bin/sh", "-c", f"setsid {START_COMMAND} >/dev/null 2>&1 &"], "timeout_ms": 5000})
    return _wait_running()


def _wait_running() -> dict[str, Any]:
    deadline = time.monotonic() + 20
    status = _status({})
    while status["status"] != "active" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = _status({})
    return status


def _stop(req: dict[str, Any]) -> dict[str, Any]:
    _supervisor("shutdown", check=False)
    return {"status": "inactive", "programs": {}}


def _program(req: dict[str, Any]) -> str:
    name = str(req.get("process") or "")
    if not re.fullmatch(r"[\w-]{1,64}", name):
        raise OpError("invalid", "process: a program name like xvfb or x11vnc", field="process")
    if name not in _programs():
        raise OpError("not_found", f"no desktop program named {name!r}")
    return name


def _process_status(req: dict[str, Any]) -> dict[str, Any]:
    name = _program(req)
    return {"process": name, **_programs()[name]}


def _process_restart(req: dict[str, Any]) -> dict[str, Any]:
    name = _program(req)
    _supervisor("restart", name)
    return {"process": name, "message": f"{name} restarted"}


def _process_log(stream: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def read(req: dict[str, Any]) -> dict[str, Any]:
        name = _program(req)
        text = _supervisor("tail", "-65536", name, *(["stderr"] if stream == "errors" else []), check=False)
        return {"process": name, stream: text}

    return read


# ------------------------------------------------------------ recordings (ffmpeg's x11grab into an MP4)

RECORDINGS = "/var/tmp/runyard-recordings"
RECORDING_ID = re.compile(r"[0-9a-f]{32}")


def _sh(script: str, check: bool = True) -> str:
    result = op_exec({"argv": ["/bin/sh", "-c", script], "timeout_ms": TIMEOUT_MS, "env": {"DISPLAY": _display()}})
    if check and result["exit_code"] != 0:
        err = base64.b64decode(result["stderr"]).decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise OpError("desktop_failed", err[0][:500])
    return base64.b64decode(result["stdout"]).decode(errors="replace")


def _recording(ident: str) -> dict[str, Any]:
    if not RECORDING_ID.fullmatch(ident):
        raise OpError("not_found", f"no recording {ident[:40]!r}")
    text = _sh(f"cat {RECORDINGS}/{ident}.json 2>/dev/null || true", check=False)
    if not text.strip():
        raise OpError("not_found", f"no recording {ident}")
    record: dict[str, Any] = json.loads(text)
    if record["status"] == "recording" and not _sh(f"kill -0 $(cat {RECORDINGS}/{ident}.pid) 2>/dev/null && echo y",
                                                    check=False).strip():  # fmt: skip  # reason: one condition
        record["status"] = "failed"  # ffmpeg ended by itself (the display went away)
    size = _sh(f"stat -c %s {RECORDINGS}/{ident}.mp4 2>/dev/null || true", check=False).strip()
    record["size_bytes"] = int(size) if size.isdigit() else None
    return record


def _save(record: dict[str, Any]) -> None:
    body = json.dumps({k: v for k, v in record.items() if k != "size_bytes"})
    _sh(f"cat > {RECORDINGS}/{record['id']}.json <<'EOF'\n{body}\nEOF")


def _record_start(req: dict[str, Any]) -> dict[str, Any]:
    width, height = screen_size()
    ident = os.urandom(16).hex()
    label = re.sub(r"[^\w.-]", "_", str(req.get("label") or "recording"))[:60]
    path = f"{RECORDINGS}/{ident}.mp4"
    _sh(
        f"mkdir -p {RECORDINGS} || exit 1; ffmpeg -loglevel error -f x11grab -framerate 10 "
        f"-video_size {width}x{height} -i {_display()} -c:v libx264 -preset ultrafast -pix_fmt yuv420p "
        f"-movflags +faststart -y {path} "
        f"</dev/null >{RECORDINGS}/{ident}.log 2>&1 & echo $! > {RECORDINGS}/{ident}.pid"
    )
    record = {"id": ident, "label": label, "file_name": f"{label}-{ident[:8]}.mp4", "file_path": path,
              "start_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "started": time.time(),
              "status": "recording"}  # fmt: skip  # reason: one record
    _save(record)
    return _recording(ident)


def _record_stop(req: dict[str, Any]) -> dict[str, Any]:
    record = _recording(str(req.get("id") or ""))
    if record["status"] == "recording":
        # SIGINT: ffmpeg finishes the file (its index) before it exits.
        script = (
            f"pid=$(cat {RECORDINGS}/{record['id']}.pid); kill -INT $pid; "
            "for i in $(seq 100); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL $pid"
        )
        _sh(script, check=False)
        record["status"] = "completed"
        record["end_time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record["duration_seconds"] = round(time.time() - float(record["started"]), 3)
        _save(record)
    return _recording(record["id"])


def _record_list(req: dict[str, Any]) -> dict[str, Any]:
    names = _sh(f"ls {RECORDINGS} 2>/dev/null || true", check=False).split()
    idents = sorted(n.removesuffix(".json") for n in names if n.endswith(".json"))
    return {"recordings": [_recording(i) for i in idents if RECORDING_ID.fullmatch(i)]}


def _record_get(req: dict[str, Any]) -> dict[str, Any]:
    return _recording(str(req.get("id") or ""))


def _record_delete(req: dict[str, Any]) -> dict[str, Any]:
    record = _recording(str(req.get("id") or ""))
    if record["status"] == "recording":
        raise OpError("conflict", "the recording is still going: stop it first")
    _sh(f"rm -f {RECORDINGS}/{record['id']}.mp4 {RECORDINGS}/{record['id']}.json {RECORDINGS}/{record['id']}.pid "
        f"{RECORDINGS}/{record['id']}.log")  # fmt: skip  # reason: one command
    return {"deleted": True}


# ------------------------------------------------------------ the desktop's browser


def _browser(req: dict[str, Any]) -> dict[str, Any]:
    """One action on the desktop's Chromium by the image's own Playwright (BROWSER_SCRIPT), over CDP."""
    if req.get("action") not in BROWSER_ACTIONS:
        raise OpError("invalid", f"action must be one of {', '.join(sorted(BROWSER_ACTIONS))}", field="action")
    if not os.path.exists(BROWSER_SCRIPT):
        raise OpError("desktop_unavailable", "this image has no desktop browser (the desktop template has one)")
    stdin = base64.b64encode(json.dumps(req).encode()).decode()
    result = op_exec(
        {"argv": ["python3", BROWSER_SCRIPT], "stdin": stdin, "timeout_ms": 60_000, "output_bytes": SHOT_BYTES}
    )
    out = base64.b64decode(result["stdout"]).decode(errors="replace").strip().splitlines()
    try:
        answer = json.loads(out[-1]) if out else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        err = base64.b64decode(result["stderr"]).decode(errors="replace").strip().splitlines()[-1:] or ["no answer"]
        raise OpError("desktop_failed", f"the browser did not answer: {err[0][:500]}")
    if not answer.pop("ok", False):
        raise OpError("desktop_failed", str(answer.get("error") or "the browser action failed"))
    return answer


ACTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "mouse.position": lambda req: position(),
    "mouse.move": _move,
    "mouse.down": _press(True),
    "mouse.up": _press(False),
    "mouse.click": _click,
    "mouse.drag": _drag,
    "mouse.scroll": _scroll,
    "keyboard.type": _type,
    "keyboard.key": _key,
    "keyboard.hotkey": _hotkey,
    "keyboard.down": _key_updown(True),
    "keyboard.up": _key_updown(False),
    "screenshot": _screenshot,
    "display.info": _display_info,
    "display.windows": _windows,
    "desktop.start": _start,
    "desktop.stop": _stop,
    "desktop.status": _status,
    "process.status": _process_status,
    "process.restart": _process_restart,
    "process.logs": _process_log("logs"),
    "process.errors": _process_log("errors"),
    "browser": _browser,
    "recording.start": _record_start,
    "recording.stop": _record_stop,
    "recording.list": _record_list,
    "recording.get": _record_get,
    "recording.delete": _record_delete,
}


def op_computer_use(req: dict[str, Any]) -> dict[str, Any]:
    action = ACTIONS.get(str(req.get("action")))
    if action is None:
        raise OpError("invalid", f"unknown computer-use action {str(req.get('action'))[:60]!r}", field="action")
    return action(dict(req.get("params") or {}))
