"""Computer use through Daytona's SDK against a `desktop` sandbox; prints JSON of what it saw.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> python daytona_desktop.py

A page served inside the sandbox (one text area over the whole page), opened in the desktop's Chromium,
reports the clicks it gets (in screen coordinates) and the text typed into it in its title, which the window
list shows. Screenshots are returned as base64 and checked by their headers. Used by tests/integration/test_desktop.py.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys
import tempfile
import time
from typing import Any

from daytona import CreateSandboxFromSnapshotParams, Daytona, DaytonaConfig, SessionExecuteRequest
from daytona.common.computer_use import ScreenshotOptions, ScreenshotRegion

PAGE = """<!doctype html><title>ready</title>
<body style="margin:0"><textarea id="t" style="position:fixed;inset:0;width:100vw;height:100vh"></textarea>
<script>
document.addEventListener('mousedown', e => { document.title = 'clicked ' + e.screenX + ',' + e.screenY; });
document.getElementById('t').addEventListener('input', e => { document.title = 'typed ' + e.target.value; });
</script></body>"""


def png_size(data: bytes) -> list[int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    return list(struct.unpack(">II", data[16:24]))


def jpeg_size(data: bytes) -> list[int]:
    assert data[:2] == b"\xff\xd8", data[:4]
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return [width, height]
        i += 2 + length
    raise AssertionError("no frame header")


def titles(sandbox: Any) -> list[str]:
    return [w.title for w in sandbox.computer_use.display.get_windows().windows or []]


def wait_title(sandbox: Any, prefix: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [t for t in titles(sandbox) if t.startswith(prefix)]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no window titled {prefix!r}: {titles(sandbox)}")


def main() -> None:
    daytona = Daytona(DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"]))
    seen: dict[str, Any] = {}
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(snapshot="desktop", env_vars={"RESOLUTION": "1024x768x24"}), timeout=180
    )
    cu = sandbox.computer_use
    started = cu.start()
    seen["started"] = sorted(name for name, p in (started.status or {}).items() if p.running)
    seen["status"] = cu.get_status().status
    info = cu.display.get_info().displays[0]
    seen["display"] = [info.width, info.height]

    full = base64.b64decode(cu.screenshot.take_full_screen().screenshot)
    seen["full"] = png_size(full)
    region = cu.screenshot.take_region(ScreenshotRegion(x=10, y=20, width=200, height=100))
    seen["region"] = [*png_size(base64.b64decode(region.screenshot)), region.size_bytes > 0]
    small = cu.screenshot.take_compressed(ScreenshotOptions(fmt="jpeg", quality=60, scale=0.5, show_cursor=True))
    seen["compressed"] = jpeg_size(base64.b64decode(small.screenshot))
    region_small = cu.screenshot.take_compressed_region(
        ScreenshotRegion(x=0, y=0, width=400, height=300), ScreenshotOptions(fmt="png", scale=0.5)
    )
    seen["compressed_region"] = png_size(base64.b64decode(region_small.screenshot))

    sandbox.fs.upload_file(PAGE.encode(), "/tmp/page/index.html")
    sandbox.process.create_session("web")
    sandbox.process.execute_session_command(
        "web", SessionExecuteRequest(command="python3 -m http.server 8123 --directory /tmp/page", run_async=True)
    )
    time.sleep(1)
    opened = sandbox.process.exec(
        "chromium --no-sandbox --user-data-dir=/root/.config/chromium-desktop http://127.0.0.1:8123/ >/dev/null 2>&1"
    )
    seen["opened"] = opened.exit_code
    wait_title(sandbox, "ready")
    time.sleep(1.5)  # a page just parsed may not take input yet (Chromium waits for its first frame)

    seen["moved"] = [cu.mouse.move(300, 400).x, cu.mouse.get_position().y]
    cu.mouse.click(321, 345)
    seen["clicked"] = wait_title(sandbox, "clicked")
    cu.keyboard.type("hello runyard")
    seen["typed"] = wait_title(sandbox, "typed")
    cu.keyboard.hotkey("ctrl+a")
    cu.keyboard.press("BackSpace")
    cu.keyboard.type("again")
    seen["retyped"] = wait_title(sandbox, "typed again")
    recording = cu.recording.start("demo")
    cu.keyboard.type(" recorded")
    time.sleep(2)
    stopped = cu.recording.stop(recording.id)
    seen["recording"] = [recording.status, stopped.status, (stopped.duration_seconds or 0) > 1]
    seen["recordings"] = [r.id for r in cu.recording.list().recordings] == [recording.id]
    with tempfile.TemporaryDirectory() as tmp:
        cu.recording.download(recording.id, f"{tmp}/demo.mp4")
        with open(f"{tmp}/demo.mp4", "rb") as video:
            data = video.read()
    seen["video"] = [data[4:8] == b"ftyp", len(data) == cu.recording.get(recording.id).size_bytes]
    cu.recording.delete(recording.id)
    seen["recordings_after"] = len(cu.recording.list().recordings)
    # A selection by hand: shift held with keyboard.down, the button pressed and released with mouse.down/up.
    cu.keyboard.down("shift")
    seen["pressed"] = [cu.mouse.down(200, 200).x, cu.mouse.up(260, 210).x]
    cu.keyboard.up("shift")
    seen["errors"] = isinstance(cu.get_process_errors("xvfb").errors, str)
    seen["scrolled"] = cu.mouse.scroll(500, 500, "down", 2)
    drag = cu.mouse.drag(100, 100, 200, 150)
    seen["dragged"] = [drag.x, drag.y]
    seen["windows"] = len(cu.display.get_windows().windows or []) >= 1
    seen["xvfb"] = cu.get_process_status("xvfb").running
    seen["x11vnc_restart"] = bool(cu.restart_process("x11vnc").message)
    seen["logs"] = isinstance(cu.get_process_logs("novnc").logs, str)
    after = base64.b64decode(cu.screenshot.take_full_screen().screenshot)
    seen["screen_changed"] = after != full
    seen["screenshot"] = base64.b64encode(after).decode()  # docs/desktop.md shows it
    daytona.delete(sandbox)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
    sys.exit(0)
