"""The SSH gateway (`runyard-ssh`): `ssh -p 2222 <token>@host` puts the holder of a live SSH access token
(core/ssh_access.py) into that sandbox's shell, or runs the command given, and ends with its exit code.

No host account is involved: the gateway is an asyncssh server of its own, the token is the user name
and the only credential, and the session is the same terminal stream the API's terminals use (a job on
the sandbox's host, bridged through Redis), so it runs as the sandbox's user, inside the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import asyncssh
from sqlalchemy.ext.asyncio import AsyncSession

from core import logs, redis_client, ssh_access
from core.db import async_session_factory, dispose_async_engines
from core.errors import RunyardError
from core.notify import CompletionHub
from core.schemas import SandboxRecord
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import Principal
from core.services.streams import LiveStream, open_stream
from core.settings import Settings, get_settings
from core.states import SandboxState
from core.stream_frames import StreamClosed

log = logging.getLogger(__name__)
EOT = b"\x04"  # the end of input, to a terminal


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = redis_client.async_client(settings)
        self.sessions = async_session_factory(settings)
        self.hub = CompletionHub(settings.redis.url)

    def server(self) -> asyncssh.SSHServer:
        gateway = self

        class Server(asyncssh.SSHServer):
            async def begin_auth(self, username: str) -> bool:
                # No authentication beyond the token: a live one needs none, anything else gets nowhere.
                return await ssh_access.check(gateway.redis, username) is None

        return Server()

    async def serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        token = str(process.get_extra_info("username") or "")
        access = await ssh_access.check(self.redis, token)
        if access is None:  # revoked between the login and the session
            process.stderr.write(b"this SSH access token has expired or was revoked\r\n")
            process.exit(255)
            return
        principal = Principal.of_tenant(access.tenant_id)
        try:
            async with self.sessions() as session:
                sandbox = await svc.get_sandbox(session, principal, str(access.sandbox_id))
                if sandbox.state != SandboxState.STARTED:
                    raise RunyardError(f"sandbox {sandbox.name} is {sandbox.state}; start it first")
                stream = await self._open(session, principal, sandbox, process)
        except RunyardError as exc:
            process.stderr.write(f"runyard: {exc.message}\r\n".encode())
            process.exit(255)
            return
        log.info("ssh session", extra={"sandbox_id": str(access.sandbox_id), "command": process.command is not None})
        try:
            process.exit(await self._bridge(process, stream))
        finally:
            await stream.close()

    async def _open(
        self,
        session: AsyncSession,
        principal: Principal,
        sandbox: SandboxRecord,
        process: asyncssh.SSHServerProcess[bytes],
    ) -> LiveStream:
        cols, rows, _, _ = process.get_terminal_size()
        params: dict[str, object] = {"kind": "pty", "cols": cols or 80, "rows": rows or 24}
        if process.command is not None:  # as sshd runs it: by a shell (sh: every image has one)
            params["command"] = ["/bin/sh", "-c", process.command]
        params["env"] = {"TERM": process.get_terminal_type() or "xterm-256color"}
        caller = ops.Caller(session, self.sessions, self.hub, principal, self.settings, "ssh", self.redis)
        return await open_stream(caller, self.redis, sandbox, params)

    async def _bridge(self, process: asyncssh.SSHServerProcess[bytes], stream: LiveStream) -> int:
        """Input to the sandbox and its output back, until the program ends; its exit code."""

        async def pump_input() -> None:
            while True:
                try:
                    data = await process.stdin.read(1 << 14)
                except asyncssh.TerminalSizeChanged as change:
                    await stream.resize(change.width, change.height)
                    continue
                except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                    await stream.send(b"\x03")
                    continue
                if not data:  # the client's end of input: the terminal's own
                    await stream.send(EOT)
                    return
                await stream.send(data)

        feeding = asyncio.create_task(pump_input())
        code = 255
        try:
            async for item in stream.output():
                if isinstance(item, StreamClosed):
                    code = item.exit_code if item.exit_code is not None else 255
                    break
                process.stdout.write(item)
        finally:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeding
        return code

    async def close(self) -> None:
        await self.hub.stop()
        await self.redis.aclose()
        await dispose_async_engines()


def host_key(settings: Settings) -> asyncssh.SSHKey:
    """The gateway's key, made on its first start (and kept, so clients can trust it)."""
    path = settings.ssh.host_key if settings.ssh.host_key.is_absolute() else settings.state_dir / settings.ssh.host_key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(path))
        Path(path).chmod(0o600)
    return asyncssh.read_private_key(str(path))


async def run(settings: Settings) -> None:
    gateway = Gateway(settings)
    gateway.hub.start()
    server = await asyncssh.create_server(
        gateway.server,
        settings.ssh.host,
        settings.ssh.port,
        server_host_keys=[host_key(settings)],
        process_factory=gateway.serve,
        encoding=None,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
    )
    log.info("ssh gateway listening", extra={"host": settings.ssh.host, "port": settings.ssh.port})
    try:
        await server.wait_closed()
    finally:
        server.close()
        await gateway.close()


def main() -> None:
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_json)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
