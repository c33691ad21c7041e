"""A cap on request bodies, enforced while they stream in (Content-Length can be absent or lie)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """File uploads (paths ending in one of `file_suffixes`) may be as large as `file_max_bytes`."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, file_max_bytes: int = 0, file_suffixes: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.file_max_bytes = max(file_max_bytes, max_bytes)
        self.file_suffixes = file_suffixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_file = str(scope.get("path", "")).endswith(self.file_suffixes) if self.file_suffixes else False
        max_bytes = self.file_max_bytes if is_file else self.default_max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._reject(send, max_bytes)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, max_bytes)

    async def _reject(self, send: Send, max_bytes: int) -> None:
        body = json.dumps({"error": f"request body is larger than {max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
