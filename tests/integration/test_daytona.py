"""Daytona's own SDK drives Runyard through SUNA's call set, by configuration alone: with the newest `daytona`
release and with the oldest SUNA allows (0.115). Each runs in its own interpreter (tests/clients/daytona_suna.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import STATE_DIR
from tests.integration.conftest import make_tenant
from tests.integration.helpers import WS_ECHO_SERVER, eventually
from tests.stack import ROOT, Stack, running_stack

CLIENT = ROOT / "tests" / "clients" / "daytona_suna.py"
OLDEST = "0.115.0"


@pytest.fixture(scope="module")
def daytona_stack(database: None) -> Iterator[Stack]:
    env = {
        "RUNYARD_SANDBOXES__POOL_SIZE": "1",
        # An operator's alias: SUNA's snapshot name, served by our agent image.
        "RUNYARD_SANDBOXES__ALIASES": json.dumps({"default": "agent", "kortix/suna:0.1.3": "agent"}),
    }
    with running_stack(14, env, workers=("worker",)) as s:
        yield s


def python_with(version: str) -> str:
    """An interpreter with that daytona release: ours for the pinned newest, a cached venv for the others."""
    from importlib.metadata import version as installed

    if installed("daytona") == version:
        return sys.executable
    venv = Path(STATE_DIR) / "venvs" / f"daytona-{version}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"daytona=={version}"], check=True, timeout=600)
        marker.write_text(version)
    return str(python)


def run_suna_calls(stack: Stack, python: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    env.update(
        DAYTONA_API_URL=f"{stack.url}/daytona/api",
        DAYTONA_API_KEY=make_tenant().key,
    )
    done = subprocess.run([python, str(CLIENT)], env=env, capture_output=True, text=True, timeout=600, cwd="/tmp")
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def check(seen: dict[str, object]) -> None:
    assert seen["created_state"] == "started"
    assert seen["labels"] == {"project": "p1", "owner": "suna"} or seen["labels"] == {
        "project": "p1",
        "owner": "suna",
        "code-toolbox-language": "python",
    }
    assert seen["auto_stop"] == 15 and seen["auto_stop_after"] == 30
    assert seen["get_id"] is True and seen["listed"] is True
    assert seen["labels_after"] == {"project": "p1", "stage": "two"}
    # older SDKs drop the trailing newline of a result
    exit_code, result = seen["exec"]  # type: ignore[misc]
    assert exit_code == 0 and str(result).rstrip("\n") == "hello from root in /tmp"
    exit_code, result = seen["exec_fail"]  # type: ignore[misc]
    assert exit_code == 3 and str(result).rstrip("\n") == "oops"
    first, second, output = seen["session_sync"]  # type: ignore[misc]
    assert first == 0 and second == 0 and "x=42" in str(output)
    assert seen["async_exit"] == 0
    stdout, stderr = seen["async_logs"]  # type: ignore[misc]
    assert "tick 1\ntick 2\ntick 3\n" in str(stdout) and (stderr is None or stderr == "err\n")
    assert seen["sessions"] == ["dev"]
    assert seen["download_equal"] is True and seen["list"] == ["blob.bin"] and seen["info"] == [3 << 20, False]
    assert str(seen["folder_mode"]).endswith("700") and str(seen["chmod"]).endswith("600")
    assert seen["deleted"] is True
    assert seen["find"] == [["/workspace/data/moved.txt", 1, "alpha needle"]]
    assert "/workspace/data/moved.txt" in seen["search"]  # type: ignore[operator]
    assert seen["replace"] == [True] and seen["replaced_text"] == "alpha thread\nbeta\n"
    assert seen["preview"] == [200, "<h1>hello from the sandbox</h1>"]
    assert seen["preview_without_token"] == 403
    assert seen["pty"] == [True, 4] and seen["pty_resized"] is True and seen["pty_killed"] is True
    assert seen["stopped_state"] == "stopped" and seen["restarted_state"] == "started" and seen["kept"] is True
    assert "kortix/suna:0.1.3" in seen["snapshots"] and seen["snapshot_get"] == "kortix/suna:0.1.3"  # type: ignore[operator]
    assert seen["archived_state"] == "archived" and seen["unarchived"] == ["started", True]


def test_suna_call_set_with_the_newest_sdk(daytona_stack: Stack) -> None:
    from importlib.metadata import version

    check(run_suna_calls(daytona_stack, python_with(version("daytona"))))


def test_suna_call_set_with_the_oldest_sdk_suna_allows(daytona_stack: Stack) -> None:
    check(run_suna_calls(daytona_stack, python_with(OLDEST)))


def test_unsupported_calls_are_a_deliberate_501(daytona_stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {make_tenant().key}"}
    with httpx.Client(base_url=f"{daytona_stack.url}/daytona", headers=headers) as client:
        for method, path, why in [
            ("POST", "/api/volumes", "disk quota"),
            ("POST", "/api/snapshots/x/deactivate", "Daytona layer"),
            ("POST", "/toolbox/x/lsp/start", "language servers"),
            ("GET", "/toolbox/x/computeruse/a11y/tree", "accessibility"),
        ]:
            response = client.request(method, path)
            assert response.status_code == 501, (path, response.status_code, response.text)
            message = response.json()["message"]
            assert "not implemented" in message and why in message, (path, message)
        assert client.get("/api/sandbox/no-such-sandbox").status_code == 404
        # Secrets are kept, but handed to sandboxes only where the operator allows plain variables.
        client.post("/api/secret", json={"name": "kept", "value": "v"}).raise_for_status()
        refused = client.post("/api/sandbox", json={"secrets": [{"TOKEN": "kept"}]})
        assert refused.status_code == 501 and "secrets_as_env" in refused.json()["message"], refused.text


def test_preview_proxy_needs_the_token_unless_public_and_carries_websockets(daytona_stack: Stack) -> None:
    import asyncio

    import websockets

    key = make_tenant().key
    with httpx.Client(base_url=daytona_stack.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        box = api.post("/daytona/api/sandbox", json={"snapshot": "agent"}).json()
        toolbox = f"{box['toolboxProxyUrl']}/{box['id']}"
        upload = {"files[0].path": (None, "/workspace/ws.py"), "files[0].file": ("ws.py", WS_ECHO_SERVER.encode())}
        assert api.post(f"{toolbox}/files/bulk-upload", files=upload).status_code == 200
        started = api.post(
            f"{toolbox}/process/execute", json={"command": "nohup python3 /workspace/ws.py >/dev/null 2>&1 &"}
        )
        assert started.json()["exitCode"] == 0
        link = api.get(f"/daytona/api/sandbox/{box['id']}/ports/9100/preview-url").json()
        ws_url = link["url"].replace("http://", "ws://") + "/"

        async def echo(headers: dict[str, str]) -> object:
            async with websockets.connect(ws_url, additional_headers=headers) as ws:
                await ws.send(b"novnc")
                return await ws.recv()

        def attempt() -> object:
            try:
                return asyncio.run(asyncio.wait_for(echo({"x-daytona-preview-token": link["token"]}), 20))
            except (OSError, websockets.exceptions.WebSocketException):
                return None

        assert eventually(attempt, timeout=30, interval=1) == b"cnvon"
        with pytest.raises(websockets.exceptions.WebSocketException):
            asyncio.run(asyncio.wait_for(echo({}), 20))  # no token, not public
        plain = httpx.get(link["url"] + "/", timeout=10)
        assert plain.status_code == 403 and "token" in plain.json()["message"]

        # What the sandbox's server sees of a request: never the token, as header, query or cookie.
        header_echo = (
            "import http.server as h\n"
            "class H(h.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        body = (self.path + '|' + str(sorted(self.headers.items()))).encode()\n"
            "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
            "        self.wfile.write(body)\n"
            "h.HTTPServer(('127.0.0.1', 9200), H).serve_forever()\n"
        )
        upload = {"files[0].path": (None, "/workspace/echo.py"), "files[0].file": ("echo.py", header_echo.encode())}
        api.post(f"{toolbox}/files/bulk-upload", files=upload)
        api.post(f"{toolbox}/process/execute", json={"command": "nohup python3 /workspace/echo.py >/dev/null 2>&1 &"})
        echo_link = api.get(f"/daytona/api/sandbox/{box['id']}/ports/9200/preview-url").json()
        with httpx.Client(timeout=10) as browser:

            def first() -> httpx.Response | None:
                r = browser.get(echo_link["url"] + "/page", params={"token": echo_link["token"], "q": "1"})
                return r if r.status_code == 200 else None

            seen_first = eventually(first, timeout=20)
            again = browser.get(echo_link["url"] + "/asset.js")  # the cookie alone is enough now
        token = echo_link["token"]
        assert seen_first.text.startswith("/page?q=1|") and token not in seen_first.text
        assert again.status_code == 200 and again.text.startswith("/asset.js|") and token not in again.text
        assert api.post(f"/daytona/api/sandbox/{box['id']}/public/true").json()["public"] is True
        assert asyncio.run(asyncio.wait_for(echo({}), 20)) == b"cnvon"  # public: anyone with the URL
        api.delete(f"/daytona/api/sandbox/{box['id']}")


CODE_RUN = """
import json, os
from daytona import CodeRunParams, CreateSandboxFromSnapshotParams, Daytona, DaytonaConfig
d = Daytona(DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"]))
seen = {}
py = d.create(CreateSandboxFromSnapshotParams(language="python"))
code = "import os, sys; print('py', sys.argv[1:], os.environ['X'])"
r = py.process.code_run(code, CodeRunParams(argv=["a"], env={"X": "1"}))
seen["python"] = [r.exit_code, r.result, r.artifacts.stdout == r.result]
seen["exit"] = py.process.code_run("import sys; print('bye'); sys.exit(3)").exit_code
seen["timeout"] = py.process.code_run("import time; time.sleep(30)", timeout=2).exit_code
js = d.create(CreateSandboxFromSnapshotParams(language="javascript"))
r = js.process.code_run("console.log('js', process.argv.slice(1).join(','))", CodeRunParams(argv=["b", "c"]))
seen["javascript"] = [r.exit_code, r.result]
d.delete(py)
d.delete(js)
print(json.dumps(seen))
"""


def test_code_run_runs_the_sandboxs_language(daytona_stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    env.update(DAYTONA_API_URL=f"{daytona_stack.url}/daytona/api", DAYTONA_API_KEY=make_tenant().key)
    done = subprocess.run([sys.executable, "-c", CODE_RUN], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["python"] == [0, "py ['a'] 1\n", True], seen
    assert seen["exit"] == 3 and seen["timeout"] == 124, seen
    assert seen["javascript"] == [0, "js b,c\n"], seen
