"""HTTP/1.1 over a sandbox tunnel: one request out, one streamed response back.

The tunnel is a TCP stream to 127.0.0.1:<port> inside the sandbox (opened by
the agent, bridged through Redis by the host's worker). h11 writes the request
and parses the response; nothing here trusts the sandbox's framing beyond what
h11 accepts, and a broken response ends the body early rather than hanging.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import h11
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response, StreamingResponse

from api.state import AppState
from core.schemas import SandboxRecord
from core.services.auth import Principal
from core.services.streams import LiveStream, open_stream
from core.stream_frames import StreamClosed

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


async def open_tunnel(
    state: AppState, session: AsyncSession, principal: Principal, sandbox: SandboxRecord, port: int
) -> LiveStream:
    """A TCP stream to 127.0.0.1:`port` inside the sandbox, as `principal`."""
    params = {"kind": "tcp", "port": port}
    return await open_stream(state.caller(session, principal), state.redis, sandbox, params)


def upstream_target(path: str, query: str, credential: Callable[[str], bool]) -> str:
    """The path and query to send into the sandbox, less the query parameters that carried our credential."""
    kept = "&".join(part for part in query.split("&") if part and not credential(part))
    return "/" + path + (f"?{kept}" if kept else "")


class TunnelBroken(Exception):
    """The sandbox closed the connection or answered something that is not HTTP/1.1."""


@dataclass
class UpstreamResponse:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]


def forwardable(headers: Iterable[tuple[str, str]], drop: set[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() not in drop]


async def request(
    stream: LiveStream, method: str, target: str, port: int, headers: list[tuple[str, str]], body: bytes
) -> UpstreamResponse:
    conn = h11.Connection(our_role=h11.CLIENT)
    outgoing = [("Host", f"localhost:{port}"), ("Connection", "close"), *headers]
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        outgoing.append(("Content-Length", str(len(body))))
    data = conn.send(h11.Request(method=method, target=target or "/", headers=outgoing))
    if body:
        data += conn.send(h11.Data(data=body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send(data or b"")
    output = stream.output()

    async def events() -> AsyncIterator[h11.Event]:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise TunnelBroken(f"the sandbox answered something that is not HTTP/1.1: {exc}") from exc
            if event is h11.NEED_DATA:
                item = await anext(output, StreamClosed(error="stream ended"))
                conn.receive_data(b"" if isinstance(item, StreamClosed) else item)
                continue
            if not isinstance(event, h11.Event):  # PAUSED: only after a whole response, which ends us first
                return
            yield event
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return

    stream_events = events()
    async for event in stream_events:
        if isinstance(event, h11.Response):
            response = event
            break
        if isinstance(event, h11.ConnectionClosed):
            raise TunnelBroken("the sandbox closed the connection without answering")
    else:
        raise TunnelBroken("the sandbox closed the connection without answering")

    async def body_chunks() -> AsyncIterator[bytes]:
        try:
            async for event in stream_events:
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
        except TunnelBroken:
            return  # a truncated body: the client sees it end early
        finally:
            await stream.close()

    headers_out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
    return UpstreamResponse(response.status_code, headers_out, body_chunks())


async def forward(
    stream: LiveStream,
    method: str,
    target: str,
    port: int,
    headers: list[tuple[str, str]],
    body: bytes,
    broken: Callable[[str], Response],
) -> Response:
    """The sandbox's answer streamed back with its own headers, or `broken(reason)` if it gave none."""
    try:
        upstream = await request(stream, method, target, port, headers, body)
    except TunnelBroken as exc:
        await stream.close()
        return broken(str(exc))
    response = StreamingResponse(upstream.body, status_code=upstream.status)
    response.raw_headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in forwardable(upstream.headers, set())
    ]
    return response
