"""computer_use: the sandbox's X display seen and driven, as the sandbox user, with the image's own tools.

xdotool moves the mouse and types, ffmpeg's x11grab takes screenshots (a region, scaled, PNG, JPEG or
WebP, with or without the cursor), wmctrl lists windows; the desktop's programs (desktop_programs.py),
recordings (recordings.py) and browser (desktop_browser.py) have modules of their own, and all run the
tools through x11.py. An image without a tool gets a clear `desktop_unavailable` error naming it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from .desktop_browser import browser
from .desktop_programs import process_log, process_restart, process_status, start, status, stop
from .protocol import OpError
from .recordings import record_delete, record_get, record_list, record_start, record_stop
from .x11 import SHOT_BYTES, display, int_field, position, run, screen_size

BUTTONS = {"left": 1, "middle": 2, "right": 3}
WHEEL = {"up": 4, "down": 5, "left": 6, "right": 7}
MODIFIERS = {"ctrl": "ctrl", "control": "ctrl", "alt": "alt", "shift": "shift", "meta": "super", "cmd": "super",
             "super": "super", "win": "super"}  # fmt: skip  # reason: a table


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


def _move(req: dict[str, Any]) -> dict[str, Any]:
    run(["xdotool", "mousemove", "--sync", str(int_field(req, "x")), str(int_field(req, "y"))])
    return position()


def _press(down: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def press(req: dict[str, Any]) -> dict[str, Any]:
        chain = ["mousemove", str(int_field(req, "x")), str(int_field(req, "y"))] if req.get("x") is not None else []
        run(["xdotool", *chain, "mousedown" if down else "mouseup", _button(req)])
        return position()

    return press


def _click(req: dict[str, Any]) -> dict[str, Any]:
    clicks = 2 if req.get("double") else max(1, min(10, int_field(req, "clicks", 1)))
    at = [str(int_field(req, "x")), str(int_field(req, "y"))]
    chain = ["mousemove", "--sync", *at, "click", "--repeat", str(clicks)]
    run(_with_modifiers(_modifiers(req), [*chain, _button(req)]))
    return position()


def _drag(req: dict[str, Any]) -> dict[str, Any]:
    button = _button(req)
    start = [str(int_field(req, "start_x")), str(int_field(req, "start_y"))]
    end = [str(int_field(req, "end_x")), str(int_field(req, "end_y"))]
    chain = ["mousemove", "--sync", *start, "mousedown", button, "sleep", "0.05",
             "mousemove", "--sync", *end, "sleep", "0.05", "mouseup", button]  # fmt: skip  # reason: one gesture
    run(_with_modifiers(_modifiers(req), chain))
    return position()


def _scroll(req: dict[str, Any]) -> dict[str, Any]:
    direction = str(req.get("direction") or "down").lower()
    if direction not in WHEEL:
        raise OpError("invalid", "direction must be up, down, left or right", field="direction")
    amount = max(0, min(100, int_field(req, "amount", 1)))
    chain = ["mousemove", "--sync", str(int_field(req, "x")), str(int_field(req, "y"))]
    if amount:
        chain += ["click", "--repeat", str(amount), str(WHEEL[direction])]
    run(_with_modifiers(_modifiers(req), chain))
    return {"success": True}


def _type(req: dict[str, Any]) -> dict[str, Any]:
    text = str(req.get("text") or "")
    if len(text) > 100_000:
        raise OpError("invalid", "text: at most 100000 characters", field="text")
    delay = max(0, min(1000, int_field(req, "delay", 12)))
    run(["xdotool", "type", "--delay", str(delay), "--", text])
    return {}


def _key(req: dict[str, Any]) -> dict[str, Any]:
    key = _keysym(str(req.get("key") or ""))
    mods = _modifiers(req)
    run(["xdotool", "key", "--", "+".join([*mods, key])])
    return {}


def _hotkey(req: dict[str, Any]) -> dict[str, Any]:
    run(["xdotool", "key", "--", _keysym(str(req.get("keys") or ""))])
    return {}


def _key_updown(down: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def act(req: dict[str, Any]) -> dict[str, Any]:
        run(["xdotool", "keydown" if down else "keyup", "--", _keysym(str(req.get("key") or ""))])
        return {}

    return act


FORMATS = {"png": ("png", "png"), "jpeg": ("mjpeg", "mjpeg"), "jpg": ("mjpeg", "mjpeg"), "webp": ("libwebp", "webp")}


def _screenshot(req: dict[str, Any]) -> dict[str, Any]:
    """A frame of the display by ffmpeg's x11grab: the whole screen or a region, scaled, encoded."""
    width, height = screen_size()
    x, y = int_field(req, "x", 0), int_field(req, "y", 0)
    w, h = int_field(req, "width", width - x), int_field(req, "height", height - y)
    if not (0 <= x < width and 0 <= y < height and 0 < w <= width - x and 0 < h <= height - y):
        raise OpError("invalid", f"the region must lie within the {width}x{height} screen", field="region")
    fmt = str(req.get("format") or "png").lower()
    if fmt not in FORMATS:
        raise OpError("invalid", "format must be png, jpeg or webp", field="format")
    codec, container = FORMATS[fmt]
    argv = ["ffmpeg", "-loglevel", "error", "-f", "x11grab", "-draw_mouse", "1" if req.get("show_cursor") else "0",
            "-video_size", f"{w}x{h}", "-i", f"{display()}+{x},{y}", "-frames:v", "1"]  # fmt: skip  # reason: argv
    scale = float(req.get("scale") or 1.0)
    if not 0.01 <= scale <= 4:
        raise OpError("invalid", "scale must be between 0.01 and 4", field="scale")
    if scale != 1.0:
        argv += ["-vf", f"scale=max(1\\,trunc(iw*{scale:g})):max(1\\,trunc(ih*{scale:g}))"]
    quality = max(1, min(100, int_field(req, "quality", 85)))
    if codec == "mjpeg":
        argv += ["-q:v", str(round(2 + (100 - quality) * 29 / 100)), "-pix_fmt", "yuvj444p"]
    elif codec == "libwebp":
        argv += ["-quality", str(quality)]
    argv += ["-c:v", codec, "-f", "image2pipe" if container != "png" else "image2", "-update", "1", "pipe:1"]
    _, image, _ = run(argv, output_bytes=SHOT_BYTES)
    if not image:
        raise OpError("desktop_failed", "ffmpeg gave no image")
    return {"screenshot": base64.b64encode(image).decode(), "size_bytes": len(image), "format": fmt,
            "cursor": position(), "width": w, "height": h}  # fmt: skip  # reason: one result


def _display_info(req: dict[str, Any]) -> dict[str, Any]:
    width, height = screen_size()
    return {"displays": [{"id": 0, "x": 0, "y": 0, "width": width, "height": height, "is_active": True}]}


def _windows(req: dict[str, Any]) -> dict[str, Any]:
    _, out, _ = run(["wmctrl", "-lG"])
    code, active_out, _ = run(["xdotool", "getactivewindow"], check=False)
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
    "desktop.start": start,
    "desktop.stop": stop,
    "desktop.status": status,
    "process.status": process_status,
    "process.restart": process_restart,
    "process.logs": process_log("logs"),
    "process.errors": process_log("errors"),
    "browser": browser,
    "recording.start": record_start,
    "recording.stop": record_stop,
    "recording.list": record_list,
    "recording.get": record_get,
    "recording.delete": record_delete,
}


def op_computer_use(req: dict[str, Any]) -> dict[str, Any]:
    action = ACTIONS.get(str(req.get("action")))
    if action is None:
        raise OpError("invalid", f"unknown computer-use action {str(req.get('action'))[:60]!r}", field="action")
    return action(dict(req.get("params") or {}))
