"""Sandboxes from images that are not ours, through whichever `daytona` SDK this interpreter has; prints JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> USER_IMAGE=<image> python daytona_images.py

A bare Debian (no Python, root) named with `image=`, an image whose USER is an ordinary user named with
`snapshot=`, and a bare one with `network_block_all=True`. Each runs a command, a session, a PTY and a file
round trip; files written under /usr/local (where the user may) and in the workdir survive stop/start and
archive/start. Used by tests/integration/test_sandbox_images.py with the newest SDK and with 0.115.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from daytona import (
    AsyncDaytona,
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    DaytonaConfig,
    SessionExecuteRequest,
)

try:
    from daytona import PtySize
except ImportError:  # older SDKs
    from daytona.common.pty import PtySize  # type: ignore[no-redef]


def value(x: Any) -> Any:
    return getattr(x, "value", x)


async def pty_id(sandbox: Any) -> str:
    data: list[bytes] = []
    terminal = await sandbox.process.create_pty_session(
        id="term", on_data=lambda b: data.append(bytes(b)), pty_size=PtySize(rows=24, cols=80)
    )
    await terminal.wait_for_connection()
    await terminal.send_input("echo pty-uid-$(id -u)-end\n")
    for _ in range(100):
        if b"-end\r\n" in b"".join(data).split(b"echo pty-uid")[-1]:
            break
        await asyncio.sleep(0.1)
    await terminal.send_input("exit\n")
    await terminal.wait()
    text = b"".join(data).decode(errors="replace")
    return text.split("pty-uid-")[-1].split("-end")[0]


async def exercise(daytona: Any, sandbox: Any, writable: str) -> dict[str, Any]:
    seen: dict[str, Any] = {"state": value(sandbox.state)}
    facts = await sandbox.process.exec(
        "id -u; pwd; echo $HOME; echo ${GREETING:-none}; command -v python3 || echo none"
    )
    seen["exec"] = [facts.exit_code, facts.result.split("\n")[:5]]
    await sandbox.process.create_session("s")
    await sandbox.process.execute_session_command("s", SessionExecuteRequest(command="cd /tmp && export Y=7"))
    again = await sandbox.process.execute_session_command("s", SessionExecuteRequest(command="echo $Y $(pwd)"))
    seen["session"] = (getattr(again, "stdout", None) or again.output or "").strip()
    seen["pty_uid"] = await pty_id(sandbox)
    blob = os.urandom(1 << 20)
    await sandbox.fs.upload_file(blob, f"{writable}/blob.bin")
    seen["round_trip"] = (await sandbox.fs.download_file(f"{writable}/blob.bin")) == blob
    seen["owner"] = (await sandbox.process.exec(f"stat -c %u {writable}/blob.bin")).result.strip()
    marks = "echo local > /usr/local/bin/mark 2>/dev/null; echo work > mark.txt"
    await sandbox.process.exec(marks)
    check = "cat /usr/local/bin/mark 2>/dev/null || echo no-local; cat mark.txt"
    seen["marks"] = (await sandbox.process.exec(check)).result.split()
    await sandbox.stop()
    await sandbox.start()
    seen["after_stop"] = (await sandbox.process.exec(check)).result.split()
    await sandbox.archive()
    seen["archived"] = value((await daytona.get(sandbox.id)).state)
    await sandbox.start()
    seen["after_archive"] = (await sandbox.process.exec(check)).result.split()
    seen["interfaces"] = (await sandbox.process.exec("ls /sys/class/net")).result.split()
    await daytona.delete(sandbox)
    return seen


async def main() -> dict[str, Any]:
    daytona = AsyncDaytona(DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"]))
    seen: dict[str, Any] = {}
    bare = await daytona.create(CreateSandboxFromImageParams(image="debian:bookworm-slim"), timeout=120)
    seen["bare"] = await exercise(daytona, bare, "/root")
    user = await daytona.create(CreateSandboxFromSnapshotParams(snapshot=os.environ["USER_IMAGE"]), timeout=120)
    seen["user"] = await exercise(daytona, user, "/home/alice/project")
    blocked = await daytona.create(
        CreateSandboxFromImageParams(image="debian:bookworm-slim", network_block_all=True), timeout=120
    )
    seen["blocked_interfaces"] = (await blocked.process.exec("ls /sys/class/net")).result.split()
    await daytona.delete(blocked)
    await daytona.close()
    return seen


if __name__ == "__main__":
    json.dump(asyncio.run(main()), sys.stdout, default=str)
