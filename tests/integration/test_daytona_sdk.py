"""The rest of Daytona's SDK, one area per client script (tests/clients/daytona_*.py), each knowing nothing of
Runyard and run in its own interpreter with the newest `daytona` release."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import String, cast, select

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
    with running_stack(14, {"RUNYARD_SANDBOXES__POOL_SIZE": "1"}, workers=("worker",)) as s:
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
    seen = run_client(sdk_stack, "daytona_lifecycle.py", INTERNET_URL=internet)
    # The cgroup's own limits changed (memory bytes, CPU quota per 100 ms period), with nothing restarted.
    assert seen["limits_before"] == [str(1 << 30), "100000"], seen["limits_before"]
    assert seen["limits_after"] == [str(2 << 30), "200000"], seen["limits_after"]
    assert seen["resized"] == [2, 2, "started"]
    assert "grow" in str(seen["shrink_disk"]), seen["shrink_disk"]
    assert seen["paused"] == "paused" and "paused" in str(seen["exec_while_paused"]), seen
    # Nothing ticked while it was paused (2 s), and the same loop ticks on after the start.
    assert float(seen["longest_gap"]) >= 1.5 and seen["ticking_again"] is True, seen  # type: ignore[arg-type]
    assert seen["env"] == "yes/unset"
    # on, blocked, an allow-list without it, one with it, no allow-list
    assert seen["network"] == [True, False, False, True, True], seen["network"]


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
