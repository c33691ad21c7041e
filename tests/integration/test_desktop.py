"""The `desktop` template: a display, VNC and noVNC, Chromium and Playwright, started with the sandbox; and
Daytona's computer-use toolbox driving it (tests/clients/daytona_desktop.py, with Daytona's newest SDK)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually, sh
from tests.stack import ROOT, Stack, running_stack

CLIENT = ROOT / "tests" / "clients" / "daytona_desktop.py"


@pytest.fixture(scope="module")
def desktop_stack(database: None) -> Iterator[Stack]:
    with running_stack(1, {"RUNYARD_SANDBOXES__POOL_SIZE": "0"}, workers=("worker",)) as s:
        yield s


def test_computer_use_through_daytonas_sdk(desktop_stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    env.update(DAYTONA_API_URL=f"{desktop_stack.url}/daytona/api", DAYTONA_API_KEY=make_tenant().key)
    done = subprocess.run(
        [sys.executable, str(CLIENT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        cwd="/tmp",
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # The display, VNC, noVNC, the window manager and Chromium run, at the resolution RESOLUTION asked for.
    assert seen["started"] == ["chromium", "novnc", "openbox", "x11vnc", "xvfb"], seen
    assert seen["status"] == "active" and seen["display"] == [1024, 768]
    # Screenshots: a PNG of the whole screen, of a region, and a half-size JPEG.
    assert seen["full"] == [1024, 768] and seen["region"] == [200, 100, True] and seen["compressed"] == [512, 384]
    assert seen["opened"] == 0 and seen["moved"] == [300, 400]
    # The click landed where asked (the page reports it in screen coordinates); typed text reached the page.
    assert seen["clicked"].startswith("clicked 321,345"), seen["clicked"]
    assert seen["typed"].startswith("typed hello runyard") and seen["retyped"].startswith("typed again"), seen
    assert seen["scrolled"] is True and seen["dragged"] == [200, 150] and seen["windows"] is True
    assert seen["xvfb"] is True and seen["x11vnc_restart"] is True and seen["logs"] is True
    assert seen["screen_changed"] is True


def test_the_desktop_serves_novnc_and_playwright_drives_its_chromium(desktop_stack: Stack) -> None:
    with httpx.Client(base_url=desktop_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=180) as api:
        box = api.post("/v1/sandboxes", json={"template": "desktop"}).json()
        assert box["state"] == "started", box
        eventually(lambda: sh(api, box, "curl -sf http://127.0.0.1:9222/json/version")["exit_code"] == 0, 30, 0.5)
        page = sh(api, box, "curl -sf http://127.0.0.1:6080/vnc_lite.html | head -c 2000")
        assert page["exit_code"] == 0 and "noVNC" in page["stdout"], page
        script = (
            "from playwright.sync_api import sync_playwright\n"
            "with sync_playwright() as p:\n"
            "    b = p.chromium.connect_over_cdp('http://127.0.0.1:9222')\n"
            "    pg = b.contexts[0].new_page()\n"
            "    pg.set_content('<title>from playwright</title>')\n"
            "    print(pg.title())\n"
        )
        ran = sh(api, box, f'python3 -c "{script}"', timeout_ms=60_000)
        assert ran["exit_code"] == 0 and ran["stdout"] == "from playwright\n", ran
        node = sh(api, box, "node -e \"require('playwright').chromium; console.log('node ok')\"")
        assert node["stdout"] == "node ok\n", node
        api.delete(f"/v1/sandboxes/{box['id']}")
