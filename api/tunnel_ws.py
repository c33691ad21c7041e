"""WebSocket over a sandbox tunnel: the client's socket relayed, message by message, to a server inside.

The API speaks WebSocket to the client (ASGI) and, through the tunnel, to the
sandbox's server with websockets' sans-I/O client protocol. noVNC's binary
frames, text frames and close codes all pass; fragmented messages are joined.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import WebSocket
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from core.services.streams import LiveStream
from core.stream_frames import StreamClosed


class HandshakeFailed(Exception):
    pass


class UpstreamSocket:
    def __init__(self, stream: LiveStream, port: int, target: str, subprotocols: list[str]) -> None:
        self.stream = stream
        uri = parse_uri(f"ws://localhost:{port}{target or '/'}")
        self.protocol = ClientProtocol(uri, subprotocols=subprotocols or None)  # type: ignore[arg-type]
        self.output = stream.output()
        self.accepted_subprotocol: str | None = None
        self._fragments: list[bytes] = []
        self._fragment_text = False

    async def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await self.stream.send(data)

    async def handshake(self) -> None:
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        while True:
            item = await anext(self.output, StreamClosed(error="stream ended"))
            if isinstance(item, StreamClosed):
                raise HandshakeFailed("the sandbox closed the connection during the WebSocket handshake")
            self.protocol.receive_data(item)
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    if self.protocol.state is not State.OPEN:
                        raise HandshakeFailed(f"the sandbox's server refused the WebSocket: {event.status_code}")
                    self.accepted_subprotocol = self.protocol.subprotocol
                    return

    async def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            self.protocol.send_text(data.encode())
        else:
            self.protocol.send_binary(data)
        await self._flush()

    async def messages(self) -> list[bytes | str]:
        """The next whole messages from the sandbox ([] once it closed)."""
        while True:
            item = await anext(self.output, StreamClosed(error="stream ended"))
            if isinstance(item, StreamClosed):
                self.protocol.receive_eof()
            else:
                self.protocol.receive_data(item)
            out: list[bytes | str] = []
            for event in self.protocol.events_received():
                if isinstance(event, Frame):
                    out.extend(self._assemble(event))
            await self._flush()  # pongs, close replies
            if out or isinstance(item, StreamClosed) or self.protocol.state is State.CLOSED:
                return out

    def _assemble(self, frame: Frame) -> list[bytes | str]:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragments, self._fragment_text = [bytes(frame.data)], frame.opcode is Opcode.TEXT
        elif frame.opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
        else:
            return []
        if not frame.fin:
            return []
        whole = b"".join(self._fragments)
        self._fragments = []
        return [whole.decode("utf-8", errors="replace") if self._fragment_text else whole]


async def relay(client: WebSocket, upstream: UpstreamSocket) -> None:
    async def down() -> None:
        while messages := await upstream.messages():
            for message in messages:
                if isinstance(message, str):
                    await client.send_text(message)
                else:
                    await client.send_bytes(message)

    async def up() -> None:
        while True:
            message = await client.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await upstream.send(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send(message["text"])

    tasks = {asyncio.create_task(down()), asyncio.create_task(up())}
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def serve(client: WebSocket, stream: LiveStream, port: int, target: str) -> None:
    """Handshake with the sandbox's server, accept the client with the subprotocol it chose, relay, close."""
    offered = [p.strip() for p in client.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    upstream = UpstreamSocket(stream, port, target, offered)
    try:
        try:
            await upstream.handshake()
        except HandshakeFailed as exc:
            await client.close(code=4502, reason=str(exc)[:120])
            return
        await client.accept(subprotocol=upstream.accepted_subprotocol)
        await relay(client, upstream)
    finally:
        await stream.close()
        with contextlib.suppress(RuntimeError):
            await client.close()
