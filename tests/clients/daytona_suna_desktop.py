"""SUNA's sandbox flow, as SUNA's backend and frontend make it, through Daytona's SDK; prints JSON of what it saw.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> SUNA_IMAGE=<image> python daytona_suna_desktop.py

Create from SUNA's snapshot, public, with its env vars and resources; start supervisord as root in an async
session command; drive the browser with `curl` to the browser API on 8004; read the health and file server
through the 8080 preview link with no token; load noVNC's page through the 6080 preview link and open its
websockify WebSocket, which must speak VNC. Used by tests/integration/test_desktop.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import httpx
from daytona import CreateSandboxFromSnapshotParams, Daytona, DaytonaConfig, Resources, SessionExecuteRequest


def rfb_banner(url: str) -> str:
    """The first message of the VNC server behind noVNC's websockify, through the preview WebSocket."""
    import websockets

    async def read() -> str:
        ws_url = "ws" + url.removeprefix("http") + "/websockify"
        async with websockets.connect(ws_url, subprotocols=["binary"], open_timeout=20) as ws:
            return bytes(await asyncio.wait_for(ws.recv(), 20))[:12].decode()

    return asyncio.run(read())


def main() -> None:
    daytona = Daytona(DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"]))
    password = "vnc-secret"
    seen: dict[str, Any] = {}
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(
            snapshot=os.environ["SUNA_IMAGE"],
            public=True,
            labels={"id": "standin"},
            env_vars={
                "CHROME_PERSISTENT_SESSION": "true",
                "RESOLUTION": "1024x768x24",
                "RESOLUTION_WIDTH": "1024",
                "RESOLUTION_HEIGHT": "768",
                "VNC_PASSWORD": password,
                "ANONYMIZED_TELEMETRY": "false",
            },
            resources=Resources(cpu=2, memory=4, disk=5),
            auto_stop_interval=15,
            auto_archive_interval=2 * 60,
        ),
        timeout=180,
    )
    seen["user"] = sandbox.process.exec("id -u").result.strip()
    sandbox.process.create_session("supervisord-session")
    sandbox.process.execute_session_command(
        "supervisord-session",
        SessionExecuteRequest(
            command="exec /usr/bin/supervisord -n -c /etc/supervisor/conf.d/supervisord.conf", var_async=True
        ),
    )
    sandbox.fs.upload_file(b"<title>from the workspace</title>hello", "/workspace/page.html")

    link = sandbox.get_preview_link(8080)
    with httpx.Client(timeout=30) as web:
        deadline = time.monotonic() + 60
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                response = web.get(f"{link.url}/health", headers={"Origin": "https://suna.example"})
                health = response.json()
                if health.get("status") == "healthy":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        seen["health"] = health.get("status")
        seen["services"] = sorted(health.get("services") or {})
        seen["cors"] = response.headers.get("access-control-allow-origin")
        preflight = web.options(
            f"{link.url}/health",
            headers={"Origin": "https://suna.example", "Access-Control-Request-Method": "GET"},
        )
        seen["preflight"] = [preflight.status_code, preflight.headers.get("access-control-allow-origin")]
        seen["file"] = web.get(f"{link.url}/page.html").text
        bare = web.get(link.url)  # the link as it is: the root page, not a redirect
        seen["bare"] = [bare.status_code, "page.html" in bare.text]

        for _ in range(30):  # the browser API answers once its browser is up
            navigate = sandbox.process.exec(
                "curl -s -X POST http://localhost:8004/api/navigate -H 'Content-Type: application/json' "
                '-d \'{"url": "http://127.0.0.1:8080/page.html"}\'',
                timeout=60,
            )
            if navigate.result.strip():
                break
            time.sleep(1)
        seen["navigate"] = json.loads(navigate.result)

        vnc = sandbox.get_preview_link(6080)
        page = web.get(
            f"{vnc.url}/vnc_lite.html", params={"password": password, "autoconnect": "true"}, follow_redirects=True
        )
        # Sent on to the same page told where its WebSocket is (behind the preview's path).
        seen["novnc"] = [page.status_code, "noVNC" in page.text, page.url.params.get("path")]
    seen["rfb"] = rfb_banner(vnc.url)
    daytona.delete(sandbox)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
    sys.exit(0)
