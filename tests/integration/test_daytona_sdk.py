"""The rest of Daytona's SDK, one area per client script (tests/clients/daytona_*.py), each knowing nothing of
Runyard and run in its own interpreter with the newest `daytona` release."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import String, cast, select, text

from core.db import transaction
from core.models import Job
from core.settings import get_settings
from tests.conftest import STATE_DIR
from tests.integration.conftest import make_tenant
from tests.integration.test_network import internet  # noqa: F401 - a fixture: "the internet", on this machine
from tests.sandbox_images import BARE
from tests.stack import ROOT, Stack, running_stack

CLIENTS = ROOT / "tests" / "clients"


@pytest.fixture(scope="module")
def sdk_stack(database: None) -> Iterator[Stack]:
    env = {
        "RUNYARD_SANDBOXES__POOL_SIZE": "1",
        "RUNYARD_SANDBOXES__METRICS_INTERVAL_S": "1",
        "RUNYARD_SANDBOXES__SECRETS_AS_ENV": "true",
        "RUNYARD_SANDBOXES__WATCH_INTERVAL_S": "1",
    }
    with running_stack(14, env, workers=("worker",)) as s:
        s.start_ssh()
        yield s


def run_client(stack: Stack, script: str, **extra: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    env.update(DAYTONA_API_URL=f"{stack.url}/daytona/api", DAYTONA_API_KEY=make_tenant().key, **extra)
    done = subprocess.run(
        [sys.executable, str(CLIENTS / script)], env=env, capture_output=True, text=True, timeout=600, cwd="/tmp"
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_code_and_processes_through_daytonas_sdk(sdk_stack: Stack) -> None:
    seen = run_client(sdk_stack, "daytona_code.py", BASE_IMAGE=BARE, TAG=uuid.uuid4().hex[:8])
    assert seen["default_context"] == "42\n"
    assert seen["context"] == ["/tmp", "python", True]
    assert seen["isolated"] == ["in-context /tmp\n", "False\n"] and seen["listed"] is True
    # Each tick came on its own, while the cell slept between them; stderr is its own stream.
    ticks = [t for t, text in seen["streamed"] if "tick" in text]  # type: ignore[union-attr]
    assert len(ticks) == 3 and ticks[2] - ticks[0] > 1.0, seen["streamed"]
    assert seen["streamed_result"] == ["tick 0\ntick 1\ntick 2\n", "to stderr\n"]
    assert seen["error"] == ["ZeroDivisionError", "division by zero", ["ZeroDivisionError"]]
    assert seen["env"] == "set\n" and seen["env_after"] == "None\n"
    assert "DaytonaTimeoutError" in str(seen["timeout"]), seen["timeout"]
    assert seen["after_timeout"] == "alive\n"
    contexts, gone = seen["deleted"]  # type: ignore[misc]
    assert contexts == [] and "no code interpreter context" in gone, gone
    assert seen["async"] == ["42\n", ["42\n"]]
    assert seen["stdin"] == [0, "hello agent\ntwice 42\n"]
    assert "has finished" in str(seen["stdin_after_exit"]), seen["stdin_after_exit"]
    assert seen["no_entrypoint"] == ["entrypoint", [], ""]
    session, commands, logs = seen["entrypoint"]  # type: ignore[misc]
    assert session == "entrypoint" and commands == 1 and "entrypoint says hi" in logs


def test_lifecycle_through_daytonas_sdk(sdk_stack: Stack, internet: str) -> None:  # noqa: F811 - the fixture
    seen = run_client(sdk_stack, "daytona_lifecycle.py", INTERNET_URL=internet, TAG=uuid.uuid4().hex[:8])
    # The cgroup's own limits changed (memory bytes, CPU quota per 100 ms period), with nothing restarted.
    assert seen["limits_before"] == [str(1 << 30), "100000"], seen["limits_before"]
    assert seen["limits_after"] == [str(2 << 30), "200000"], seen["limits_after"]
    assert seen["resized"] == [2, 2, "started"]
    assert "grow" in str(seen["shrink_disk"]), seen["shrink_disk"]
    assert seen["paused"] == "paused" and "paused" in str(seen["exec_while_paused"]), seen
    # Nothing ticked while it was paused (2 s), and the same loop ticks on after the start.
    assert float(seen["longest_gap"]) >= 1.5 and seen["ticking_again"] is True, seen  # type: ignore[arg-type]
    assert seen["metrics_latest"] == [2, 2 << 30, True, True], seen["metrics_latest"]
    assert seen["metrics_history"] == [True, True], seen["metrics_history"]
    assert seen["env"] == "yes/unset"
    assert seen["snapshot"] == "active" and seen["from_snapshot"] == ["kept", "0"], seen
    # The fork has the files (and the environment) as they were; what changes in it stays in it.
    state, name, files, original = seen["fork"]  # type: ignore[misc]
    assert state == "started" and name.startswith("fork-") and files == ["changed-in-fork", "yes"], seen["fork"]
    assert original == "kept"
    # on, blocked, an allow-list without it, one with it, no allow-list
    assert seen["network"] == [True, False, False, True, True], seen["network"]
    assert seen["async"] == ["paused", "started", 1, 1 << 30], seen["async"]
    # 2.5 GB does not fit the 2 GiB default; after the disk grew (stopped) to 3 GiB it does, files kept.
    assert seen["big_before"] == "refused" and "stop it to grow" in str(seen["grow_started"]), seen
    assert seen["grown"] == [3, "kept", "fits"], seen["grown"]


def test_access_through_daytonas_sdk_and_ssh(sdk_stack: Stack) -> None:
    seen = run_client(sdk_stack, "daytona_access.py")
    assert seen["signed"] == [200, "signed-page", 3000]
    assert seen["other_port"] == 403 and seen["expired_early"] == 403
    assert seen["short_lived"] == [200, 403]
    assert seen["unsigned"] == 403  # the plain link still needs the sandbox's token
    assert seen["download_url"] == [200, "signed-page"] and seen["other_path"] == 403
    assert seen["upload_url"] == [200, "through a link"] and seen["get_on_upload_link"] == 403
    assert seen["expired_link"] == 403 and seen["after_rotation"] == 403
    assert seen["valid"] == [True, True]
    assert seen["run"] == [3, "from-ssh 0\n"]  # the sandbox's user (root in the agent template), its exit code
    assert seen["terminal"] == [7, True]
    assert seen["revoked"] == [False, "PermissionDenied"]
    assert seen["wrong_token"] == "PermissionDenied"
    assert seen["async"] == [3, False, 200], seen["async"]


def test_an_ssh_token_that_ran_out_is_refused(sdk_stack: Stack) -> None:
    import asyncio
    import hashlib

    import asyncssh
    import redis
    from daytona import CreateSandboxFromSnapshotParams, Daytona, DaytonaConfig

    daytona = Daytona(DaytonaConfig(api_key=make_tenant().key, api_url=f"{sdk_stack.url}/daytona/api"))
    box = daytona.create(CreateSandboxFromSnapshotParams(language="python"))
    try:
        token = box.create_ssh_access(expires_in_minutes=1).token

        async def login() -> str:
            try:
                async with asyncssh.connect(
                    "127.0.0.1", sdk_stack.ssh_port, username=token, known_hosts=None, client_keys=None
                ) as conn:
                    return str((await conn.run("echo in", check=False)).stdout).strip()
            except asyncssh.PermissionDenied:
                return "refused"

        assert asyncio.run(login()) == "in"
        # A minute is long to wait: the token's record is made to run out now, as it would then.
        client = redis.Redis.from_url(sdk_stack.redis_url)
        assert client.pexpire("runyard:ssh-access:" + hashlib.sha256(token.encode()).hexdigest(), 200)
        time.sleep(0.5)
        assert asyncio.run(login()) == "refused"
        assert box.validate_ssh_access(token).valid is False
    finally:
        daytona.delete(box)


def test_sandbox_events_reach_socketio_clients(sdk_stack: Stack) -> None:
    seen = run_client(sdk_stack, "daytona_events.py")
    assert seen["sdk_connected"] is True
    # Each change, in order (a pooled create is started at once: no creating state is ever written).
    states = [s for s in seen["states"] if s != "creating"]  # type: ignore[union-attr]
    assert states == ["started", "stopping", "stopped", "starting", "started", "destroying", "destroyed"], states
    assert seen["other_fields"] == ["id", "newState", "oldState", "state"]
    assert seen["async"] == ["started", True]
    assert seen["wrong_key"] == "ConnectionError"


def test_secrets_and_volumes_through_daytonas_sdk(sdk_stack: Stack) -> None:
    value = f"sk-{secrets.token_hex(16)}"
    seen = run_client(sdk_stack, "daytona_secrets.py", SECRET_VALUE=value, BASE_IMAGE=BARE, TAG=uuid.uuid4().hex[:8])
    created = seen["created"]
    assert isinstance(created, dict) and created["name"] == "api-token" and created["hosts"] == ["api.example.com"]
    assert value not in json.dumps(seen["created"]) and created["placeholder"]
    assert seen["got"] == "api-token" and seen["listed"] == ["api-token"]
    assert "already exists" in str(seen["duplicate"])
    assert seen["in_sandbox"] == value and seen["before_restart"] == value
    assert seen["after_restart"] == value + "-2" and seen["detached"] == "none"
    assert "no secret named" in str(seen["unknown_secret"])
    assert seen["deleted"] == []
    assert seen["async"] == [["async-one"], []], seen["async"]
    assert "disk quota" in str(seen["volume"]), seen["volume"]
    warm = seen["warm"]
    assert isinstance(warm, dict) and warm["created"][1] == 2, warm
    assert warm["filled"] and warm["sandbox"] == "ok" and warm["refilled"] and warm["emptied"], warm
    assert warm["listed_after"] == [] and "quota" in warm["too_many"], warm
    # Encrypted at rest, and in no log; gone with its deletion.
    with transaction(get_settings()) as session:
        rows = session.execute(text("SELECT sealed FROM secrets")).scalars().all()
    assert all(value not in sealed for sealed in rows)
    logs = list(Path(STATE_DIR).glob(f"{sdk_stack.tag}-*.log"))
    assert not any(value in p.read_text(errors="replace") for p in logs)


def test_git_through_daytonas_sdk(sdk_stack: Stack) -> None:
    password = f"pw-{secrets.token_hex(12)}"
    seen = run_client(sdk_stack, "daytona_git.py", GIT_PASSWORD=password)
    assert "Authentication failed" in str(seen["wrong_password"]), seen["wrong_password"]
    assert seen["cloned"] == ["main", True, 0, 0]
    assert seen["history"] == ["shared file", "first"]
    assert seen["user"] == ["Agent Smith", "agent@example.com", None]
    assert seen["local_config"] == "true"
    assert seen["changes"] == {"added.txt": ["Untracked", "Untracked"], "shared.txt": ["Unmodified", "Modified"]}
    assert seen["commit"] == [40, "Agent Smith/agent@example.com/add a file"]
    assert "nothing to commit" in str(seen["empty_commit"]), seen["empty_commit"]
    assert seen["pushed"] == "add a file" and seen["after_push"] is True
    assert seen["branches"] == [["feature", "main"], "feature"]
    assert seen["after_delete"] == ["feature", "main"]
    assert seen["pulled"] == "v3\n"
    assert seen["restored"] == "v1\n"
    assert seen["reset"] == "shared file"
    url = "http://127.0.0.1:8418/origin.git"
    assert seen["remotes"] == [["mirror", url], ["origin", url]] and seen["remote_get"] == url
    assert seen["init"] == "trunk"
    assert "not a git repository" in str(seen["not_a_repo"]), seen["not_a_repo"]
    assert seen["stored_credentials"] == "v3\n"
    assert seen["async"] == ["main", ["feature", "main"]]

    # The password reached git, and nothing of Runyard's kept it: not a job row, not a log line.
    with transaction(get_settings()) as session:
        stored = session.scalars(select(Job.id).where(cast(Job.payload, String).contains(password))).all()
        results = session.scalars(select(Job.id).where(cast(Job.result, String).contains(password))).all()
    assert stored == [] and results == []
    logs = list(Path(STATE_DIR).glob(f"{sdk_stack.tag}-*.log"))
    assert logs and not any(password in p.read_text(errors="replace") for p in logs)


def test_idle_sandboxes_pause_and_old_ones_go(sdk_stack: Stack) -> None:
    """Auto-pause and time to live, in seconds through the native API (Daytona's minutes are the same fields)."""
    import httpx

    from tests.integration.helpers import eventually

    headers = {"X-Auth-Token": make_tenant().key}
    with httpx.Client(base_url=sdk_stack.url, headers=headers, timeout=120) as api:
        idle = api.post("/v1/sandboxes", json={"auto_pause_s": 2}).json()
        doomed = api.post("/v1/sandboxes", json={"ttl_s": 4}).json()
        assert idle["auto_pause_s"] == 2 and doomed["ttl_s"] == 4
        eventually(lambda: api.get(f"/v1/sandboxes/{idle['id']}").json()["state"] == "paused", timeout=60)
        shown = api.get(f"/daytona/api/sandbox/{doomed['id']}").json()
        assert shown["autoDestroyAt"] and api.get(f"/daytona/api/sandbox/{idle['id']}").json()["state"] == "paused"
        eventually(lambda: api.get(f"/v1/sandboxes/{doomed['id']}").json()["state"] == "deleted", timeout=60)
        # A start resumes the paused one, which then takes work again.
        assert api.post(f"/v1/sandboxes/{idle['id']}/start").json()["state"] == "started"
        assert api.post(f"/v1/sandboxes/{idle['id']}/exec", json={"command": "echo back"}).json()["stdout"] == "back\n"
        api.delete(f"/v1/sandboxes/{idle['id']}")
