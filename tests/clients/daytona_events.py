"""Daytona's event channel, as newer SDKs use it; prints JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> python daytona_events.py

A Socket.IO client of its own (python-socketio, as the SDK uses) listens where the SDK does while the SDK
creates, stops, starts and deletes a sandbox: each state change arrives as an event. The SDK's own
dispatcher connects too (`Daytona` and `AsyncDaytona`); a wrong key is refused at CONNECT.
Used by tests/integration/test_daytona_sdk.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import socketio
from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, Daytona, DaytonaConfig


def listener(api_url: str, token: str) -> tuple[socketio.Client, list[dict[str, Any]]]:
    parts = urlsplit(api_url)
    seen: list[dict[str, Any]] = []
    client = socketio.Client(reconnection=False)
    client.on("sandbox.state.updated", lambda data: seen.append(data))
    client.connect(
        f"{parts.scheme}://{parts.netloc}",
        socketio_path=f"{parts.path.rstrip('/')}/socket.io/",
        auth={"token": token},
        transports=["websocket"],
        wait_timeout=10,
    )
    return client, seen


def refused(api_url: str) -> str:
    try:
        client, _ = listener(api_url, "not-a-key")
    except socketio.exceptions.ConnectionError as exc:
        return type(exc).__name__
    client.disconnect()
    return "connected"


async def with_async(config: DaytonaConfig) -> list[Any]:
    async with AsyncDaytona(config) as daytona:
        box = await daytona.create(CreateSandboxFromSnapshotParams(language="python"))
        state = str(getattr(box.state, "value", box.state))
        connected = daytona._event_dispatcher is not None and daytona._event_dispatcher.is_connected
        await daytona.delete(box)
        return [state, connected]


def main() -> None:
    api_url, key = os.environ["DAYTONA_API_URL"], os.environ["DAYTONA_API_KEY"]
    config = DaytonaConfig(api_key=key, api_url=api_url)
    client, events = listener(api_url, key)
    seen: dict[str, Any] = {}
    try:
        daytona = Daytona(config)
        box = daytona.create(CreateSandboxFromSnapshotParams(language="python"))
        seen["sdk_connected"] = daytona._event_dispatcher is not None and daytona._event_dispatcher.is_connected
        box.stop()
        box.start()
        daytona.delete(box)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(e.get("state") == "destroyed" for e in events):
            time.sleep(0.1)
        seen["states"] = [e["state"] for e in events if e.get("id") == box.id]
        seen["other_fields"] = sorted(events[-1]) if events else []
        seen["async"] = asyncio.run(with_async(config))
    finally:
        client.disconnect()
    seen["wrong_key"] = refused(api_url)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
