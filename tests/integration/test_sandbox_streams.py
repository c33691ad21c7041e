"""Live streams into a persistent sandbox, end to end: a terminal over a WebSocket, and servers inside the
sandbox reached through the port proxy (HTTP and WebSocket), on the suite's shared stack."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import WS_ECHO_SERVER, eventually, sh
from tests.integration.helpers import create_sandbox as create
from tests.stack import Stack


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=120) as c:
        yield c


def test_terminal_over_websocket(api: httpx.Client, stack: Stack) -> None:
    import asyncio

    import websockets

    box = create(api, env={"WHO": "terminal"})
    key = api.headers["X-Auth-Token"]
    url = stack.url.replace("http://", "ws://") + f"/v1/sandboxes/{box['id']}/terminal?cols=101&rows=33"

    async def session() -> tuple[bytes, dict[str, object]]:
        async with websockets.connect(url, additional_headers={"X-Auth-Token": key}) as ws:
            await ws.send(b"echo hi-$WHO; stty size; whoami\n")
            seen = b""
            while b"33 101\r\nroot" not in seen:
                seen += await ws.recv()  # type: ignore[operator]
            await ws.send(json.dumps({"resize": [120, 40]}))
            await ws.send(b"stty size; exit 5\n")
            async for message in ws:
                if isinstance(message, str):
                    return seen, json.loads(message)
                seen += message
        raise AssertionError("the terminal closed without an exit code")

    seen, end = asyncio.run(asyncio.wait_for(session(), 30))
    assert b"hi-terminal" in seen and b"33 101" in seen and b"40 120" in seen and b"root" in seen
    assert end["exit_code"] == 5

    async def refused() -> int:
        try:
            async with websockets.connect(url, additional_headers={"X-Auth-Token": "wrong"}) as ws:
                await ws.recv()
        except websockets.exceptions.InvalidStatus as exc:
            return exc.response.status_code
        except websockets.exceptions.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else 0
        return 0

    assert asyncio.run(refused()) in (403, 4401)
    api.delete(f"/v1/sandboxes/{box['id']}")


def test_a_server_inside_the_sandbox_through_the_port_proxy(api: httpx.Client) -> None:
    box = create(api)
    app = (
        "import http.server as h\n"
        "class H(h.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = repr((self.path, self.headers.get('X-Auth-Token'), self.headers.get('Authorization'),"
        " self.headers.get('X-Custom'))).encode()\n"
        "        self.send_response(201)\n"
        "        self.send_header('Set-Cookie', 'a=1'); self.send_header('Set-Cookie', 'b=2')\n"
        "        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)\n"
        "    def do_POST(self):\n"
        "        data = self.rfile.read(int(self.headers['Content-Length']))\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(data[::-1])\n"
        "h.HTTPServer(('127.0.0.1', 9000), H).serve_forever()\n"
    )
    api.put(f"/v1/sandboxes/{box['id']}/files/content", params={"path": "app.py"}, content=app.encode())
    sh(api, box, "nohup python3 app.py >/dev/null 2>&1 &")
    base = f"/v1/sandboxes/{box['id']}/ports/9000"

    def up() -> httpx.Response | None:
        r = api.get(f"{base}/hello", params={"q": "1"}, headers={"X-Custom": "yes"})
        return r if r.status_code == 201 else None

    got = eventually(up, timeout=20)
    assert got.text == "('/hello?q=1', None, None, 'yes')"  # the Runyard key never reaches the sandbox
    assert got.headers.get_list("set-cookie") == ["a=1", "b=2"]
    posted = api.post(f"{base}/echo", content=os.urandom(2000) + b"end")
    assert posted.status_code == 200 and posted.content.startswith(b"dne")
    closed_port = api.get(f"/v1/sandboxes/{box['id']}/ports/9001/")
    assert closed_port.status_code in (502, 503) and "port 9001" in closed_port.text
    assert api.get(f"/v1/sandboxes/{box['id']}/ports/70000/").status_code == 422
    api.delete(f"/v1/sandboxes/{box['id']}")


def test_a_websocket_server_inside_the_sandbox_through_the_port_proxy(api: httpx.Client, stack: Stack) -> None:
    import asyncio

    import websockets

    box = create(api)
    api.put(f"/v1/sandboxes/{box['id']}/files/content", params={"path": "ws.py"}, content=WS_ECHO_SERVER.encode())
    sh(api, box, "nohup python3 ws.py >ws.log 2>&1 &")
    url = stack.url.replace("http://", "ws://") + f"/v1/sandboxes/{box['id']}/ports/9100/?x=1"
    key = api.headers["X-Auth-Token"]

    async def talk() -> tuple[object, object, str | None]:
        async with websockets.connect(url, additional_headers={"X-Auth-Token": key}, subprotocols=["binary"]) as ws:
            await ws.send(b"\x00\x01binary")
            first = await ws.recv()
            await ws.send("text" * 5000)  # larger than one frame of the tunnel
            second = await ws.recv()
            return first, second, ws.subprotocol

    def attempt() -> tuple[object, object, str | None] | None:
        try:
            return asyncio.run(asyncio.wait_for(talk(), 20))
        except (OSError, websockets.exceptions.WebSocketException):
            return None

    first, second, subprotocol = eventually(attempt, timeout=60, interval=1)
    assert first == b"yranib\x01\x00" and second == "txet" * 5000 and subprotocol == "binary"
    api.delete(f"/v1/sandboxes/{box['id']}")
