"""The serve loop: read requests, run each on its own thread, reply with its id."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import commands, desktop, egress, files, kernel_bridge, protocol, sessions, streams, transfers
from .config import CONFIG, RUN_DIR
from .protocol import OpError, Replies, RequestReader


def op_configure(req: dict[str, Any]) -> dict[str, Any]:
    egress.apply(req.get("egress_allow"))  # first: a sandbox whose allow-list failed runs nothing
    CONFIG.update(req)
    return {"configured": True}


def op_env_update(req: dict[str, Any]) -> dict[str, Any]:
    """Variables for every process started from now on (those running keep theirs)."""
    for key in req.get("unset") or []:
        CONFIG.env.pop(str(key), None)
        CONFIG.image_env.pop(str(key), None)
    CONFIG.env.update({str(k): str(v) for k, v in (req.get("set") or {}).items()})
    return {"env": dict(CONFIG.env)}


def op_egress(req: dict[str, Any]) -> dict[str, Any]:
    """A new allow-list in place of the old; none: the whole fenced internet again."""
    allow = req.get("allow")
    if allow is None:
        egress.clear()
    else:
        egress.apply(list(allow))
    return {"egress_allow": allow}


OPERATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ping": lambda req: {"pong": True, "nonce": req.get("nonce")},
    "configure": op_configure,
    "env.update": op_env_update,
    "network.egress": op_egress,
    "exec": commands.op_exec,
    "session.create": sessions.op_session_create,
    "session.exec": sessions.op_session_exec,
    "session.command": sessions.op_session_command,
    "session.cancel": sessions.op_session_cancel,
    "session.input": sessions.op_session_input,
    "session.delete": sessions.op_session_delete,
    "session.list": sessions.op_session_list,
    "kernel.run": kernel_bridge.op_kernel_run,
    "kernel.restart": kernel_bridge.op_kernel_restart,
    "kernel.begin": kernel_bridge.op_kernel_begin,
    "kernel.poll": kernel_bridge.op_kernel_poll,
    "kernel.context.create": kernel_bridge.op_context_create,
    "kernel.context.list": kernel_bridge.op_context_list,
    "kernel.context.delete": kernel_bridge.op_context_delete,
    "file.write_open": transfers.op_write_open,
    "file.write_chunk": transfers.op_write_chunk,
    "file.write_close": transfers.op_write_close,
    "file.read_open": transfers.op_read_open,
    "file.read_chunk": transfers.op_read_chunk,
    "file.read_close": transfers.op_read_close,
    "file.abort_transfers": transfers.op_abort_transfers,
    "file.list": files.op_list,
    "file.stat": files.op_stat,
    "file.mkdir": files.op_mkdir,
    "file.delete": files.op_delete,
    "file.move": files.op_move,
    "file.chmod": files.op_chmod,
    "file.find": files.op_find,
    "file.grep": files.op_grep,
    "file.usage": files.op_usage,
    "file.replace": files.op_replace,
    "pty.open": streams.op_pty_open,
    "tcp.open": streams.op_tcp_open,
    "stream.write": streams.op_stream_write,
    "stream.resize": streams.op_stream_resize,
    "stream.close": streams.op_stream_close,
    "computer_use": desktop.op_computer_use,
}


def handle(req: dict[str, Any], replies: Replies) -> None:
    op = OPERATIONS.get(str(req.get("op")))
    try:
        if op is None:
            raise OpError("invalid", f"unknown op {req.get('op')!r}")
        reply: dict[str, Any] = {"ok": True, "result": op(req)}
    except OpError as exc:
        reply = {"ok": False, "error": {"kind": exc.kind, "message": str(exc), "path": exc.path, "field": exc.field}}
    except (KeyError, TypeError, ValueError) as exc:
        reply = {"ok": False, "error": {"kind": "invalid", "message": f"bad request: {exc!r}"}}
    except Exception:  # noqa: BLE001 - reported; the agent keeps serving
        reply = {"ok": False, "error": {"kind": "agent_error", "message": traceback.format_exc()[-3000:]}}
    reply["id"] = req.get("id")
    with contextlib.suppress(OSError, ValueError):
        replies.send(reply)


def main(argv: list[str]) -> int:
    if argv[1:] == ["selftest"]:  # the runtime image's build: every module imported, on the bundled Python
        sys.stdout.write(f"sandbox agent ready on Python {sys.version.split()[0]}, {len(OPERATIONS)} operations\n")
        return 0
    if argv[1:] != ["serve"]:
        sys.stderr.write("usage: sandbox_agent.pyz serve|selftest   (messages on stdin and stdout)\n")
        return 2
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.setgroups([])
    os.umask(0o022)
    os.chdir("/")
    os.makedirs(os.path.join(RUN_DIR, "sessions"), mode=0o755, exist_ok=True)
    replies = Replies(sys.stdout.buffer)
    protocol.OUT = replies
    pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="op")
    requests = RequestReader(sys.stdin.fileno())
    while True:
        req = requests.next()
        if req is None:
            # stdin is kept open by Docker between attachments; an end means the container is stopping.
            break
        pool.submit(handle, req, replies)
    return 0


def run() -> None:
    """The zipapp's entry point: `python3 -I -S sandbox_agent.pyz serve`."""
    sys.exit(main(sys.argv))
