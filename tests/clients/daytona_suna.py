"""SUNA's Daytona call set, run with whichever `daytona` SDK this interpreter has; prints what it saw as JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> python daytona_suna.py

Used by tests/integration/test_daytona.py with the newest SDK and with the oldest SUNA allows. Nothing
here knows it talks to Runyard: it is configuration only, as for SUNA.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
from typing import Any

from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, DaytonaConfig, SessionExecuteRequest

try:
    from daytona import PtySize
except ImportError:  # older SDKs
    from daytona.common.pty import PtySize  # type: ignore[no-redef]

SNAPSHOT = os.environ.get("SNAPSHOT", "kortix/suna:0.1.3")
SERVER = """
import http.server, socketserver
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
socketserver.TCPServer(("127.0.0.1", 8080), H).serve_forever()
"""


def value(x: Any) -> Any:
    return getattr(x, "value", x)


def fetch(url: str, token: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"x-daytona-preview-token": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""


async def main() -> dict[str, Any]:
    seen: dict[str, Any] = {}
    daytona = AsyncDaytona(DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"]))
    sandbox = await daytona.create(
        CreateSandboxFromSnapshotParams(
            snapshot=SNAPSHOT,
            labels={"project": "p1", "owner": "suna"},
            env_vars={"GREETING": "hello"},
            auto_stop_interval=15,
            public=False,
        ),
        timeout=60,
    )
    seen["created_state"] = value(sandbox.state)
    seen["labels"] = dict(sandbox.labels or {})
    seen["auto_stop"] = sandbox.auto_stop_interval

    found = await daytona.get(sandbox.id)
    seen["get_id"] = found.id == sandbox.id
    try:
        from daytona import ListSandboxesQuery  # newer SDKs page with a cursor

        listed = [s.id async for s in daytona.list(ListSandboxesQuery(labels={"project": "p1"}))]  # type: ignore[attr-defined]
    except ImportError:
        page = await daytona.list(labels={"project": "p1"})
        listed = [s.id for s in getattr(page, "items", page)]
    seen["listed"] = sandbox.id in listed

    await sandbox.set_labels({"project": "p1", "stage": "two"})
    await sandbox.set_autostop_interval(30)
    refreshed = await daytona.get(sandbox.id)
    seen["labels_after"] = dict(refreshed.labels or {})
    seen["auto_stop_after"] = refreshed.auto_stop_interval

    ok = await sandbox.process.exec("echo $GREETING from $(whoami) in $(pwd)", cwd="/tmp", timeout=20)
    seen["exec"] = [ok.exit_code, ok.result]
    bad = await sandbox.process.exec("echo oops >&2; exit 3", timeout=20)
    seen["exec_fail"] = [bad.exit_code, bad.result]

    await sandbox.process.create_session("dev")
    first = await sandbox.process.execute_session_command("dev", SessionExecuteRequest(command="export X=42"))
    second = await sandbox.process.execute_session_command("dev", SessionExecuteRequest(command="echo x=$X"))
    seen["session_sync"] = [first.exit_code, second.exit_code, getattr(second, "stdout", None) or second.output]
    started = await sandbox.process.execute_session_command(
        "dev",
        SessionExecuteRequest(command="for i in 1 2 3; do echo tick $i; sleep 0.3; done; echo err >&2", run_async=True),
    )
    for _ in range(100):
        command = await sandbox.process.get_session_command("dev", started.cmd_id)
        if command.exit_code is not None:
            break
        await asyncio.sleep(0.2)
    logs = await sandbox.process.get_session_command_logs("dev", started.cmd_id)
    seen["async_exit"] = command.exit_code
    seen["async_logs"] = [
        getattr(logs, "stdout", None) if not isinstance(logs, str) else logs,
        getattr(logs, "stderr", None) if not isinstance(logs, str) else None,
    ]
    seen["sessions"] = [s.session_id for s in await sandbox.process.list_sessions()]
    await sandbox.process.delete_session("dev")

    blob = os.urandom(3 << 20)
    await sandbox.fs.upload_file(blob, "/workspace/data/blob.bin")
    seen["download_equal"] = (await sandbox.fs.download_file("/workspace/data/blob.bin")) == blob
    seen["list"] = sorted(f.name for f in await sandbox.fs.list_files("/workspace/data"))
    info = await sandbox.fs.get_file_info("/workspace/data/blob.bin")
    seen["info"] = [info.size, info.is_dir]
    await sandbox.fs.create_folder("/workspace/secret", "700")
    seen["folder_mode"] = (await sandbox.fs.get_file_info("/workspace/secret")).mode
    await sandbox.fs.set_file_permissions("/workspace/data/blob.bin", mode="600")
    seen["chmod"] = (await sandbox.fs.get_file_info("/workspace/data/blob.bin")).mode
    await sandbox.fs.upload_file(b"alpha needle\nbeta\n", "/workspace/data/notes.txt")
    await sandbox.fs.move_files("/workspace/data/notes.txt", "/workspace/data/moved.txt")
    seen["find"] = [(m.file, m.line, m.content) for m in await sandbox.fs.find_files("/workspace/data", "needle")]
    seen["search"] = list((await sandbox.fs.search_files("/workspace", "*.txt")).files)
    replaced = await sandbox.fs.replace_in_files(["/workspace/data/moved.txt"], "needle", "thread")
    seen["replace"] = [bool(r.success) for r in replaced]
    seen["replaced_text"] = (await sandbox.fs.download_file("/workspace/data/moved.txt")).decode()
    await sandbox.fs.delete_file("/workspace/data", recursive=True)
    seen["deleted"] = "data" not in [f.name for f in await sandbox.fs.list_files("/workspace")]

    await sandbox.fs.upload_file(b"<h1>hello from the sandbox</h1>", "/workspace/site/index.html")
    await sandbox.fs.upload_file(SERVER.encode(), "/workspace/serve.py")
    await sandbox.process.exec("cd /workspace/site && nohup python3 /workspace/serve.py >/dev/null 2>&1 &", timeout=10)
    link = await sandbox.get_preview_link(8080)
    for _ in range(50):
        status, body = await asyncio.to_thread(fetch, link.url + "/index.html", link.token)
        if status == 200:
            break
        await asyncio.sleep(0.2)
    seen["preview"] = [status, body.decode(errors="replace")]
    seen["preview_without_token"] = (await asyncio.to_thread(fetch, link.url + "/index.html", None))[0]

    data: list[bytes] = []
    terminal = await sandbox.process.create_pty_session(
        id="term", on_data=lambda b: data.append(bytes(b)), pty_size=PtySize(rows=24, cols=80)
    )
    await terminal.send_input("echo pty-$GREETING\n")
    for _ in range(50):
        if b"pty-hello" in b"".join(data).split(b"echo pty-")[-1]:
            break
        await asyncio.sleep(0.1)
    await terminal.resize(PtySize(rows=40, cols=120))
    await terminal.send_input("stty size\n")
    for _ in range(50):
        if b"40 120" in b"".join(data):
            break
        await asyncio.sleep(0.1)
    await terminal.send_input("exit 4\n")
    result = await terminal.wait()
    seen["pty"] = [b"pty-hello" in b"".join(data), getattr(result, "exit_code", None)]
    seen["pty_resized"] = b"40 120" in b"".join(data)
    other = await sandbox.process.create_pty_session(
        id="other", on_data=lambda b: None, pty_size=PtySize(rows=24, cols=80)
    )
    await sandbox.process.kill_pty_session("other")
    killed = await other.wait()
    seen["pty_killed"] = getattr(killed, "exit_code", None) is not None or getattr(killed, "error", None) is not None

    await sandbox.fs.upload_file(b"kept", "/workspace/keep.txt")
    await sandbox.stop()
    seen["stopped_state"] = value((await daytona.get(sandbox.id)).state)
    await sandbox.start()
    seen["restarted_state"] = value((await daytona.get(sandbox.id)).state)
    seen["kept"] = await sandbox.fs.download_file("/workspace/keep.txt") == b"kept"

    snapshots = await daytona.snapshot.list()
    seen["snapshots"] = sorted(s.name for s in getattr(snapshots, "items", snapshots))
    seen["snapshot_get"] = (await daytona.snapshot.get(SNAPSHOT)).name

    await sandbox.archive()
    seen["archived_state"] = value((await daytona.get(sandbox.id)).state)
    await sandbox.start()
    seen["unarchived"] = [
        value((await daytona.get(sandbox.id)).state),
        await sandbox.fs.download_file("/workspace/keep.txt") == b"kept",
    ]

    await daytona.delete(sandbox)
    try:
        await daytona.get(sandbox.id)
        seen["deleted_state"] = "still there"
    except Exception as exc:  # noqa: BLE001 - the SDK's not-found error, whatever its class in this version
        seen["deleted_state"] = type(exc).__name__
    await daytona.close()
    return seen


if __name__ == "__main__":
    json.dump(asyncio.run(main()), sys.stdout, default=str)
