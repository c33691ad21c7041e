"""runyardctl, the operator's command line, against the test database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.stack import Stack

CTL = str(Path(sys.executable).parent / "runyardctl")


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=60)


def test_keys_create_use_list_revoke(stack: Stack) -> None:
    created = ctl("keys", "create", "--tenant", "cli-tenant", "--name", "from-cli", "--json")
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    assert issued["key"].startswith("ry_")
    assert httpx.get(f"{stack.url}/v1/me", headers={"X-Auth-Token": issued["key"]}).json()["tenant"] == "cli-tenant"

    listed = ctl("keys", "list")
    assert issued["key"][:10] in listed.stdout
    assert issued["key"] not in listed.stdout  # only prefixes are ever shown

    revoked = ctl("keys", "revoke", issued["key"][:10])
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(f"{stack.url}/v1/me", headers={"X-Auth-Token": issued["key"]}).status_code == 401
    assert ctl("keys", "revoke", "ry_nonexistent").returncode == 1


def test_bootstrap_uses_the_environment_key(stack: Stack, tmp_path: Path) -> None:
    import os

    env = dict(os.environ, RUNYARD_API_KEY="ry_bootstrap-test-key-0123456789", RUNYARD_STATE_DIR=str(tmp_path))
    out = subprocess.run([CTL, "bootstrap", "--quiet"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ry_bootstrap-test-key-0123456789"
    assert httpx.get(f"{stack.url}/v1/me", headers={"X-Auth-Token": "ry_bootstrap-test-key-0123456789"}).json()["admin"]


def test_bootstrap_generates_and_stores_a_key(stack: Stack, tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "RUNYARD_API_KEY"} | {"RUNYARD_STATE_DIR": str(tmp_path)}
    first = subprocess.run([CTL, "bootstrap", "--quiet"], capture_output=True, text=True, env=env, timeout=60)
    second = subprocess.run([CTL, "bootstrap", "--quiet"], capture_output=True, text=True, env=env, timeout=60)
    key = first.stdout.strip()
    assert key.startswith("ry_") and second.stdout.strip() == key
    stored = tmp_path / "admin.key"
    assert stored.read_text().strip() == key
    assert stored.stat().st_mode & 0o777 == 0o600


def test_check_reports_readiness(stack: Stack) -> None:
    out = ctl("check", "--url", stack.url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["ready"] is True
