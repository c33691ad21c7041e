"""The `desktop` template: a display, VNC and noVNC, Chromium and Playwright, started with the sandbox; and
Daytona's computer-use toolbox driving it (tests/clients/daytona_desktop.py, with Daytona's newest SDK)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually, sh
from tests.sandbox_images import sandbox_engine
from tests.services import missing
from tests.stack import ROOT, Stack, running_stack

CLIENT = ROOT / "tests" / "clients" / "daytona_desktop.py"
SUNA_CLIENT = ROOT / "tests" / "clients" / "daytona_suna_desktop.py"
SUNA_IMAGE = "kortix/suna:0.1.3.30"


def ensure_suna_standin() -> str:
    """SUNA's image stand-in (tests/suna_standin), built on the sandbox engine under SUNA's own name."""
    engine = sandbox_engine()
    try:
        engine.images.build(path=str(ROOT / "tests" / "suna_standin"), tag=SUNA_IMAGE, rm=True)
    finally:
        engine.close()
    return SUNA_IMAGE


def run_client(stack: Stack, script: Path, **extra: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    env.update(DAYTONA_API_URL=f"{stack.url}/daytona/api", DAYTONA_API_KEY=make_tenant().key, **extra)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def desktop_stack(database: None) -> Iterator[Stack]:
    with running_stack(1, {"RUNYARD_SANDBOXES__POOL_SIZE": "0"}, workers=("worker",)) as s:
        yield s


def test_computer_use_through_daytonas_sdk(desktop_stack: Stack) -> None:
    seen: dict[str, Any] = run_client(desktop_stack, CLIENT)
    # The display, VNC, noVNC, the window manager and Chromium run, at the resolution RESOLUTION asked for.
    assert seen["started"] == ["chromium", "novnc", "openbox", "x11vnc", "xvfb"], seen
    assert seen["status"] == "active" and seen["display"] == [1024, 768]
    # Screenshots: a PNG of the whole screen, of a region, and a half-size JPEG.
    assert seen["full"] == [1024, 768] and seen["region"] == [200, 100, True] and seen["compressed"] == [512, 384]
    assert seen["compressed_region"] == [200, 150]
    assert seen["opened"] == 0 and seen["moved"] == [300, 400]
    assert seen["pressed"] == [200, 260] and seen["errors"] is True
    # The click landed where asked (the page reports it in screen coordinates); typed text reached the page.
    assert seen["clicked"].startswith("clicked 321,345"), seen["clicked"]
    assert seen["typed"].startswith("typed hello runyard") and seen["retyped"].startswith("typed again"), seen
    assert seen["scrolled"] is True and seen["dragged"] == [200, 150] and seen["windows"] is True
    assert seen["xvfb"] is True and seen["x11vnc_restart"] is True and seen["logs"] is True
    assert seen["screen_changed"] is True
    # A recording: ffmpeg's MP4 of the screen, listed, downloaded whole, deleted.
    assert seen["recording"] == ["recording", "completed", True] and seen["recordings"] is True, seen
    assert seen["video"] == [True, True] and seen["recordings_after"] == 0, seen
    if os.environ.get("RUNYARD_DOCS_SCREENSHOT"):  # refresh the picture docs/desktop.md shows
        (ROOT / "docs" / "images" / "desktop.png").write_bytes(base64.b64decode(str(seen["screenshot"])))


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


PAGE = (
    "<!doctype html><title>inside</title><body><a href='/next.html'>next page</a>"
    "<input id='q'><button id='go' onclick=\"document.title='went '+document.getElementById('q').value\">go</button>"
)


def test_playwright_outside_and_the_native_browser_drive_the_desktop(desktop_stack: Stack) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    key = make_tenant().key
    with httpx.Client(base_url=desktop_stack.url, headers={"X-Auth-Token": key}, timeout=180) as api:
        box = api.post("/v1/sandboxes", json={"template": "desktop"}).json()
        write = api.put(
            f"/v1/sandboxes/{box['id']}/files/content", params={"path": "/tmp/site/index.html"}, content=PAGE
        )
        assert write.status_code in (200, 204), write.text
        sh(api, box, "cd /tmp/site && (python3 -m http.server 8124 >/dev/null 2>&1 &)")
        eventually(lambda: sh(api, box, "curl -sf http://127.0.0.1:9222/json/version")["exit_code"] == 0, 30, 0.5)

        # Playwright on this host, over CDP through the authenticated port proxy, to a page served inside.
        cdp = api.get(f"/v1/sandboxes/{box['id']}/browser/cdp").json()
        assert cdp["ws_url"].startswith("ws://") and "/ports/9222/devtools/browser/" in cdp["ws_url"], cdp
        with sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(cdp["ws_url"], headers={"X-Auth-Token": key})
            page = browser.contexts[0].new_page()
            page.goto("http://127.0.0.1:8124/")
            assert page.title() == "inside"
            page.close()
            with pytest.raises(PlaywrightError):  # no key: refused
                p.chromium.connect_over_cdp(cdp["ws_url"], timeout=10_000)

        # The native browser: the same page, without writing Playwright.
        def act(**body: object) -> dict[str, object]:
            response = api.post(f"/v1/sandboxes/{box['id']}/browser", json=body)
            assert response.status_code == 200, response.text
            return dict(response.json())

        assert act(action="navigate", url="http://127.0.0.1:8124/")["title"] == "inside"
        content = act(action="content")
        assert "next page" in str(content["text"]) and content["links"] == [
            {"text": "next page", "href": "http://127.0.0.1:8124/next.html"}
        ], content
        act(action="type", selector="#q", text="runyard")
        assert act(action="click", selector="#go")["title"] == "went runyard"
        assert act(action="evaluate", expression="1 + document.title.length")["value"] == 13
        shot = base64.b64decode(str(act(action="screenshot")["png"]))
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
        missing = api.post(f"/v1/sandboxes/{box['id']}/browser", json={"action": "navigate"})
        assert missing.status_code == 422 and "url" in missing.text
        # The same through the Python client's sandbox.browser.
        from runyard import Runyard

        with Runyard(desktop_stack.url, key) as client:
            browser = client.sandboxes.get(box["id"]).browser
            assert browser.navigate("http://127.0.0.1:8124/")["title"] == "inside"
            browser.type("client", "#q")
            assert browser.click("#go")["title"] == "went client"
            assert browser.evaluate("document.title") == "went client"
            assert browser.screenshot()[:4] == b"\x89PNG" and browser.cdp_url() == cdp["ws_url"]
            assert [link["text"] for link in browser.content()["links"]] == ["next page"]
        api.delete(f"/v1/sandboxes/{box['id']}")


def test_sunas_image_flow_on_a_stand_in(desktop_stack: Stack) -> None:
    seen: dict[str, Any] = run_client(desktop_stack, SUNA_CLIENT, SUNA_IMAGE=ensure_suna_standin())
    assert seen["user"] == "0"  # the image's root
    # supervisord, started by the caller, runs SUNA's programs; health read through the public 8080 preview.
    assert seen["health"] == "healthy", seen
    assert seen["services"] == ["browserApi", "http_server", "novnc", "x11vnc", "xvfb"], seen
    # Public previews: any origin may read them, and a preflight is answered.
    assert seen["cors"] == "*" and seen["preflight"] == [204, "*"], seen
    assert seen["file"] == "<title>from the workspace</title>hello"
    assert seen["bare"] == [200, True], seen  # the bare link is the root page, not a redirect
    assert seen["navigate"]["success"] is True and seen["navigate"]["title"] == "from the workspace", seen
    # noVNC's page through the 6080 preview, and its WebSocket reaching the VNC server behind it.
    assert seen["novnc"][:2] == [200, True] and seen["rfb"].startswith("RFB 003."), seen
    assert str(seen["novnc"][2]).startswith("daytona/preview/") and str(seen["novnc"][2]).endswith("/6080/websockify")


# How much of noVNC's canvas is (about) pure red, read in the page: the screen it shows, not a blank.
CANVAS_STATS = """() => {
  const canvas = document.querySelector('canvas');
  if (!canvas || !canvas.width) return null;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let red = 0, colours = new Set();
  for (let i = 0; i < data.length; i += 4 * 97) {
    colours.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2]);
    if (data[i] > 200 && data[i + 1] < 60 && data[i + 2] < 60) red++;
  }
  return {width: canvas.width, colours: colours.size, red: red};
}"""


def test_novnc_renders_in_a_real_browser_through_both_proxies(desktop_stack: Stack) -> None:
    """Headless Chromium on this host opens noVNC's page through Daytona's preview link and through the
    native port proxy; each connects, shows the desktop's screen, and follows a change drawn on it."""
    chromium = shutil.which("chromium")
    if chromium is None:
        missing("Debian's chromium is not installed on this host (make test installs it)")
    from playwright.sync_api import sync_playwright

    key = make_tenant().key
    with httpx.Client(base_url=desktop_stack.url, headers={"X-Auth-Token": key}, timeout=180) as api:
        box = api.post("/v1/sandboxes", json={"template": "desktop", "env": {"VNC_PASSWORD": "s3cret"}}).json()
        eventually(lambda: sh(api, box, "curl -sf -o /dev/null http://127.0.0.1:6080/vnc_lite.html")["exit_code"] == 0)
        daytona = httpx.get(
            f"{desktop_stack.url}/daytona/api/sandbox/{box['id']}/ports/6080/preview-url",
            headers={"Authorization": f"Bearer {key}"},
        ).json()
        links = {
            "daytona": f"{daytona['url']}/vnc_lite.html?password=s3cret&autoconnect=true&token={daytona['token']}",
            "native": api.get(f"/v1/sandboxes/{box['id']}/vnc").json()["url"],
        }
        seen: dict[str, list[dict[str, int]]] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                for name, link in links.items():
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(link)
                    page.wait_for_function(f"({CANVAS_STATS})() && ({CANVAS_STATS})().colours > 3", timeout=30_000)
                    before = page.evaluate(CANVAS_STATS)
                    colour = "rgb(255,0,0)" if name == "daytona" else "rgb(250,0,0)"  # no "#": a data URL ends there
                    act = {"action": "navigate", "url": f"data:text/html,<body style='background:{colour}'>"}
                    assert api.post(f"/v1/sandboxes/{box['id']}/browser", json=act).status_code == 200
                    page.wait_for_function(f"({CANVAS_STATS})().red > {before['red']} + 100", timeout=30_000)
                    seen[name] = [before, page.evaluate(CANVAS_STATS)]
                    act = {"action": "navigate", "url": "about:blank"}
                    api.post(f"/v1/sandboxes/{box['id']}/browser", json=act)
                    page.close()
            finally:
                browser.close()
        api.delete(f"/v1/sandboxes/{box['id']}")
    for name in links:
        before, after = seen[name]
        assert before["width"] == 1280 and before["colours"] > 3, (name, before)  # the desktop, not a blank
        assert after["red"] > before["red"] + 100, (name, before, after)  # and it follows the screen
