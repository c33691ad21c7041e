"""Access to a sandbox from outside, through the `daytona` SDK and an SSH client (asyncssh's); prints JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> python daytona_access.py

- a signed preview link opens its one port without a header, until it is expired early or runs out;
- signed file links read or write their one path without an API key, until they expire or the
  sandbox's signing key is rotated;
- SSH access: a token, validated; `ssh <token>@host` runs a command (its exit code comes back) and a
  terminal (its size is the client's); once revoked, the token is refused at login.
Used by tests/integration/test_daytona_sdk.py, which also lets one token run out.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from typing import Any

import asyncssh
import httpx
from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, Daytona, SessionExecuteRequest
from sdk_helpers import config_from_env


def status(url: str) -> int:
    return httpx.get(url, timeout=10, follow_redirects=False).status_code


async def ssh_session(command: str) -> dict[str, Any]:
    """The SDK's ssh command, run with asyncssh: a command, then an interactive terminal."""
    words = shlex.split(command)
    port = int(words[words.index("-p") + 1])
    user, _, host = words[-1].partition("@")
    seen: dict[str, Any] = {}
    async with asyncssh.connect(host, port, username=user, known_hosts=None, client_keys=None) as conn:
        ran = await conn.run("echo from-ssh $(id -u); exit 3", check=False)
        seen["run"] = [ran.exit_status, str(ran.stdout).replace("\r", "")]
        process = await conn.create_process(term_type="xterm", term_size=(100, 30))
        process.stdin.write("stty size; exit 7\n")
        output = await asyncio.wait_for(process.stdout.read(), 30)
        await process.wait()
        seen["terminal"] = [process.exit_status, "30 100" in str(output)]
    return seen


async def refused(command: str) -> str:
    words = shlex.split(command)
    port = int(words[words.index("-p") + 1])
    user, _, host = words[-1].partition("@")
    try:
        async with asyncssh.connect(host, port, username=user, known_hosts=None, client_keys=None) as conn:
            await conn.run("true")
    except (asyncssh.PermissionDenied, asyncssh.DisconnectError) as exc:
        return type(exc).__name__
    return "logged in"


async def access_async(sandbox_id: str) -> list[Any]:
    """Through AsyncDaytona: an SSH token that works and is revoked, and a signed preview link."""
    config = config_from_env()
    async with AsyncDaytona(config) as daytona:
        box = await daytona.get(sandbox_id)
        access = await box.create_ssh_access(expires_in_minutes=5)
        ran = await ssh_session(access.ssh_command)
        await box.revoke_ssh_access(access.token)
        valid = (await box.validate_ssh_access(access.token)).valid
        link = await box.create_signed_preview_url(3000, expires_in_seconds=30)
        return [ran["run"][0], valid, status(link.url)]


def main() -> None:
    daytona = Daytona(config_from_env())
    seen: dict[str, Any] = {}
    box = daytona.create(CreateSandboxFromSnapshotParams(language="python"))
    try:
        box.process.create_session("web")
        serve = (
            "mkdir -p /tmp/site && echo signed-page > /tmp/site/index.html && python3 -m http.server 3000 -d /tmp/site"
        )
        box.process.execute_session_command("web", SessionExecuteRequest(command=serve, run_async=True))
        for _ in range(100):
            if (
                box.process.exec(
                    "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 3000))\""
                ).exit_code
                == 0
            ):
                break
            time.sleep(0.1)

        signed = box.create_signed_preview_url(3000, expires_in_seconds=60)
        page = httpx.get(signed.url, timeout=10)
        seen["signed"] = [page.status_code, page.text.strip(), signed.port]
        other_port = signed.url.replace("/3000/", "/3001/")
        seen["other_port"] = status(other_port)
        box.expire_signed_preview_url(3000, signed.token)
        seen["expired_early"] = status(signed.url)
        short = box.create_signed_preview_url(3000, expires_in_seconds=1)
        seen["short_lived"] = [status(short.url)]
        time.sleep(2.5)
        seen["short_lived"].append(status(short.url))
        unsigned = box.get_preview_link(3000).url
        seen["unsigned"] = status(unsigned)

        # Signed file links: no API key, one path, one method, until they expire or the key is rotated.
        down = box.download_url("/tmp/site/index.html", ttl_seconds=60)
        got = httpx.get(down, timeout=10)
        seen["download_url"] = [got.status_code, got.text.strip()]
        seen["other_path"] = status(down.replace("index.html", "other.html"))
        up = box.upload_url("/tmp/uploaded.txt", ttl_seconds=60)
        posted = httpx.post(up, files={"file": ("any-name", b"through a link")}, timeout=10)
        seen["upload_url"] = [posted.status_code, box.fs.download_file("/tmp/uploaded.txt").decode()]
        seen["get_on_upload_link"] = status(up.replace("/files/upload-v2", "/files/download"))
        short = box.download_url("/tmp/site/index.html", ttl_seconds=1)
        time.sleep(2.2)
        seen["expired_link"] = status(short)
        box.rotate_signing_key()
        seen["after_rotation"] = status(down)

        access = box.create_ssh_access(expires_in_minutes=30)
        seen["valid"] = [box.validate_ssh_access(access.token).valid, access.ssh_command.startswith("ssh -p ")]
        seen.update(asyncio.run(ssh_session(access.ssh_command)))
        box.revoke_ssh_access(access.token)
        seen["revoked"] = [box.validate_ssh_access(access.token).valid, asyncio.run(refused(access.ssh_command))]
        seen["wrong_token"] = asyncio.run(refused(access.ssh_command.replace(access.token, "not-a-token")))
        seen["async"] = asyncio.run(access_async(box.id))
    finally:
        daytona.delete(box)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
