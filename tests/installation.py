"""A `make up` installation on the same machine must come through `make test` untouched.

The README's two commands are `make up`, then `make test`. Around the whole suite (a session fixture in
tests/conftest.py), this looks at the installation `make up` started from this checkout: before, it creates a
sandbox there and writes a file into it; after, the installation must still be ready, the sandbox still
started with its file, and eight sandboxes created at once must all be created (a restart of the machine's
Redis under it once left a stale pooled connection that answered 503). CI runs `make up` first, so there the
check always runs; elsewhere, without an installation, it says it was not made.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
URL = os.environ.get("RUNYARD_INSTALLATION_URL", "http://127.0.0.1:8000")
MARK = b"written before the suite\n"


def _key() -> str | None:
    path = ROOT / ".runyard" / "admin.key"
    return path.read_text().strip() if path.exists() else None


def _running(key: str | None) -> bool:
    if key is None:
        return False
    try:
        return httpx.get(f"{URL}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


class NoInstallation(Exception):
    """There is no `make up` installation to look at (CI always has one)."""


class Guard:
    """A sandbox in the installation, made before the suite and looked at after it."""

    def __init__(self) -> None:
        key = _key()
        if not _running(key):
            raise NoInstallation(f"no `make up` installation answers at {URL} with .runyard/admin.key")
        # A tenant of the guard's own (the admin tenant may already hold sandboxes up to its quota), and its key
        # revoked at the end.
        admin = httpx.Client(base_url=URL, headers={"X-Auth-Token": key or ""}, timeout=120)
        issued = admin.post("/v1/admin/keys", json={"tenant": f"make-test-guard-{os.getpid()}", "name": "guard"})
        assert issued.status_code == 201, f"the installation could not issue a key: {issued.text}"
        self.admin, self.key = admin, str(issued.json()["key"])
        self.api = httpx.Client(base_url=URL, headers={"X-Auth-Token": self.key}, timeout=120)
        # It must outlive the suite however long that takes: no auto-stop.
        body = {"name": f"make-test-guard-{os.getpid()}", "auto_stop_s": 0}
        created = self.api.post("/v1/sandboxes", json=body)
        assert created.status_code == 201, f"the installation could not create a sandbox: {created.text}"
        self.base = f"/v1/sandboxes/{created.json()['id']}"
        # A create answers once started, or with the sandbox as it is when the lifecycle wait runs out.
        deadline = time.monotonic() + 180
        while (state := self.api.get(self.base).json()["state"]) == "creating" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert state == "started", f"the installation's new sandbox is {state}"
        written = self.api.put(f"{self.base}/files/content", params={"path": "guard.txt"}, content=MARK)
        assert written.status_code == 200, written.text

    def check(self) -> None:
        """The installation is as it was: ready, its sandbox started with its file, new sandboxes created."""
        try:
            _check_after(self.api, self.base)
        finally:
            self.api.delete(self.base, params={"wait": "false"})
            self.api.close()
            self.admin.delete(f"/v1/admin/keys/{self.key}")
            self.admin.close()


def _check_after(api: httpx.Client, base: str) -> None:
    health = api.get("/health")
    assert health.status_code == 200, f"after the suite, the installation is not ready: {health.text}"
    sandbox = api.get(base).json()
    assert sandbox["state"] == "started", f"after the suite, the installation's sandbox is {sandbox}"
    read = api.get(f"{base}/files/content", params={"path": "guard.txt"})
    assert read.status_code == 200 and read.content == MARK, f"the sandbox lost its file: {read.status_code}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda i: api.post("/v1/sandboxes", params={"wait": "false"}, json={}), range(8)))
    try:
        codes = [r.status_code for r in replies]
        assert all(code in (201, 202) for code in codes), f"creates right after the suite answered {codes}"
    finally:
        for reply in replies:
            if reply.status_code in (201, 202):
                api.delete(f"/v1/sandboxes/{reply.json()['id']}", params={"wait": "false"})
