"""Small helpers shared by integration tests."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from core import constants as c


def submit(client: httpx.Client, body: dict[str, Any], **params: str) -> httpx.Response:
    return client.post("/submissions", json=body, params=params)


def wait_finished(client: httpx.Client, token: str, timeout: float = 60, fields: str = "*") -> dict[str, Any]:
    """Poll a Judge0 token until it leaves In Queue / Processing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/submissions/{token}", params={"fields": fields}).json()
        if body["status"]["id"] not in (1, 2):
            return body
        time.sleep(0.2)
    raise TimeoutError(f"submission {token} did not finish within {timeout}s")


def eventually(check: Callable[[], Any], timeout: float = 30, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s (last value: {last!r})")


def create_sandbox(api: httpx.Client, **body: object) -> dict[str, object]:
    """A started sandbox, through the native API."""
    response = api.post("/v1/sandboxes", json=body)
    assert response.status_code == 201, response.text
    sandbox = response.json()
    assert sandbox["state"] == "started", sandbox
    return dict(sandbox)


def sh(api: httpx.Client, sandbox: dict[str, object], command: str, **extra: object) -> dict[str, object]:
    """A command run to completion in the sandbox: exit code and output."""
    response = api.post(f"/v1/sandboxes/{sandbox['id']}/exec", json={"command": command, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def after_sweeps(redis_url: str, count: int = 2, timeout: float = 60) -> None:
    """Wait, bounded, until the stack's sweep has finished `count` more times: the window in which anything
    the sweep would re-send (a job, a callback) has had its chance to show up."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        start = int(client.get(c.KEY_SWEEPS) or 0)
        eventually(lambda: int(client.get(c.KEY_SWEEPS) or 0) >= start + count, timeout=timeout)
    finally:
        client.close()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CallbackReceiver:
    """A real HTTP server on loopback that records every request and answers from a script."""

    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# A WebSocket echo server on 127.0.0.1:9100 (reversing each message), standard library only: sandboxes are offline.
WS_ECHO_SERVER = textwrap.dedent(
    """
    import base64, hashlib, socket, struct, threading
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    def exact(c, n):
        b = b""
        while len(b) < n:
            chunk = c.recv(n - len(b))
            if not chunk:
                raise EOFError
            b += chunk
        return b
    def serve(c):
        head = b""
        while b"\\r\\n\\r\\n" not in head:
            head += c.recv(1)
        lines = head.decode().split("\\r\\n")
        h = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
        accept = base64.b64encode(hashlib.sha1((h["sec-websocket-key"] + GUID).encode()).digest()).decode()
        offered = h.get("sec-websocket-protocol", "")
        chosen = "Sec-WebSocket-Protocol: binary\\r\\n" if "binary" in offered else ""
        c.sendall(("HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                   "Sec-WebSocket-Accept: %s\\r\\n%s\\r\\n" % (accept, chosen)).encode())
        while True:
            b0, b1 = exact(c, 2)
            n = b1 & 127
            if n == 126: n = struct.unpack(">H", exact(c, 2))[0]
            elif n == 127: n = struct.unpack(">Q", exact(c, 8))[0]
            mask = exact(c, 4)
            data = bytes(x ^ mask[i % 4] for i, x in enumerate(exact(c, n)))[::-1]
            if b0 & 15 == 8: return
            n = len(data)
            if n < 126: size = bytes([n])
            elif n < 65536: size = bytes([126]) + struct.pack(">H", n)
            else: size = bytes([127]) + struct.pack(">Q", n)
            c.sendall(bytes([b0]) + size + data)
    s = socket.create_server(("127.0.0.1", 9100))
    while True:
        threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
    """
)
