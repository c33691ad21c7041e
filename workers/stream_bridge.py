"""Bridging a sandbox stream (a terminal, a TCP tunnel) to the API through Redis.

The API never reaches a sandbox and the worker never speaks to clients, so a
live stream crosses Redis: the worker publishes what the agent pushes on
`runyard:stream:<channel>:out` and relays what arrives on `...:in` to the
agent. Each bridge lives on its own thread, outside Celery's task slots. A
bridge whose client has been silent past the idle timeout (the API pings every
few seconds) closes the stream, so a vanished API never leaves one open.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from typing import Any

import redis

from core.stream_frames import Channels, Frame, StreamClosed, closed, frame, split
from workers.agent_link import AgentError, AgentLink
from workers.runtime.base import RuntimeFailure

log = logging.getLogger(__name__)
IDLE_TIMEOUT_S = 60.0


class StreamBridge:
    def __init__(self, client: redis.Redis, link: AgentLink, stream: str, channel: str) -> None:
        self.client, self.link, self.stream = client, link, stream
        names = Channels.of(channel)
        self.inbound, self.outbound = names.inbound, names.outbound
        self.done = threading.Event()
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        # Subscribed before the job that opened the stream completes: nothing the client sends is missed.
        self.pubsub.subscribe(self.inbound)
        self.thread = threading.Thread(target=self._relay_input, name=f"bridge-{channel[:8]}", daemon=True)

    def start(self) -> None:
        self.link.listen(self.stream, self._on_event)
        self.thread.start()

    def _on_event(self, event: dict[str, Any]) -> None:
        """Called on the link's reader thread, in the order the agent sent them."""
        try:
            if event.get("closed"):
                info = StreamClosed(exit_code=event.get("exit_code"), error=event.get("error"))
                self.client.publish(self.outbound, closed(info))
                self.done.set()
            else:
                self.client.publish(self.outbound, frame(Frame.DATA, base64.b64decode(event.get("data") or "")))
        except redis.RedisError as exc:
            log.warning("stream output lost", extra={"stream": self.stream, "error": repr(exc)})

    def _relay_input(self) -> None:
        last_heard = time.monotonic()
        try:
            while not self.done.is_set():
                message = self.pubsub.get_message(timeout=1.0)
                if message is None:
                    if time.monotonic() - last_heard > IDLE_TIMEOUT_S:
                        log.info("stream client silent; closing", extra={"stream": self.stream})
                        break
                    continue
                last_heard = time.monotonic()
                kind, body = split(message["data"])
                if kind is Frame.DATA:
                    self.link.call("stream.write", stream=self.stream, data=base64.b64encode(body).decode())
                elif kind is Frame.RESIZE:
                    cols, rows = json.loads(body)
                    self.link.call("stream.resize", stream=self.stream, cols=int(cols), rows=int(rows))
                elif kind is Frame.CLOSE:
                    break
                # Frame.PING: only proof of life
        except (AgentError, RuntimeFailure, redis.RedisError, ValueError) as exc:
            log.info("stream bridge ends", extra={"stream": self.stream, "reason": repr(exc)})
        finally:
            with contextlib.suppress(AgentError, RuntimeFailure):
                self.link.call("stream.close", stream=self.stream, timeout_s=10)
            self.done.wait(5)
            self.link.unlisten(self.stream)
            with contextlib.suppress(redis.RedisError):
                self.pubsub.close()
