"""docker-compose.yml, proven on this machine with Debian's docker-compose and locally built images: the stack
comes up, runs work, scales to three workers that all take work, and scales back down without losing a job."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.helpers import eventually
from tests.services import missing
from tests.stack import ROOT, SANDBOX_ENGINE, free_port

pytestmark = pytest.mark.slow
PROJECT = "rycomposetest"


class Compose:
    def __init__(self) -> None:
        self.port, self.flower_port, self.ssh_port = free_port(), free_port(), free_port()
        self.key = "ry_" + secrets.token_urlsafe(32)
        self.flower_password = secrets.token_urlsafe(12)
        self.env = {
            **os.environ,
            "COMPOSE_PROJECT_NAME": PROJECT,
            "RUNYARD_API_PORT": str(self.port),
            "RUNYARD_FLOWER_PORT": str(self.flower_port),
            "RUNYARD_SSH_PORT": str(self.ssh_port),
            "RUNYARD_FLOWER_PASSWORD": self.flower_password,
            "RUNYARD_API_KEY": self.key,
            "RUNYARD_CLUSTER": PROJECT,
            "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        }

    def __call__(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run(
            ["docker-compose", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return done.stdout

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def compose() -> Iterator[Compose]:
    if shutil.which("docker-compose") is None:
        missing("docker-compose (Debian's package), which make test installs")
    stack = Compose()
    build = subprocess.run(
        ["bash", "deploy/build.sh"],
        cwd=ROOT,
        env={**stack.env, "COMPOSE": "docker-compose"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert build.returncode == 0, build.stderr[-5000:]
    try:
        stack("up", "-d")
        eventually(lambda: _ready(stack), timeout=180, interval=1)
        yield stack
    finally:
        subprocess.run(
            ["docker-compose", "down", "-v", "--remove-orphans"],
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            timeout=300,
        )
        for engine in ("unix:///var/run/docker.sock", SANDBOX_ENGINE):  # runs' containers, and the sandbox pool's
            leftovers = f"docker ps -aq --filter label=org.runyard.cluster={PROJECT} | xargs -r docker rm -f"
            on_engine = {**os.environ, "DOCKER_HOST": engine}
            subprocess.run(["bash", "-c", leftovers], env=on_engine, capture_output=True, timeout=120)


def _ready(stack: Compose) -> bool:
    try:
        return httpx.get(f"{stack.url}/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _workers(stack: Compose) -> list[dict[str, object]]:
    answer: list[dict[str, object]] = httpx.get(f"{stack.url}/v1/workers", headers={"X-Auth-Token": stack.key}).json()
    return answer


def _hits(stack: Compose) -> dict[str, int]:
    """Runs each worker executed so far (each takes a sandbox from its pool: found warm, or waited for)."""
    hits = {}
    for worker in _workers(stack):
        pools = worker.get("pools") or {}
        assert isinstance(pools, dict)
        hits[str(worker["name"])] = sum(int(p.get("hits", 0)) + int(p.get("misses", 0)) for p in pools.values())
    return hits


def _runs(stack: Compose, n: int) -> list[str]:
    def submit(i: int) -> str:
        body = {"language": "python", "source": f"import time; time.sleep(0.3); print({i})"}
        r = httpx.post(f"{stack.url}/v1/runs", json=body, headers={"X-Auth-Token": stack.key}, timeout=60)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(submit, range(n)))


def _finished(stack: Compose, ids: list[str]) -> bool:
    with httpx.Client(base_url=stack.url, headers={"X-Auth-Token": stack.key}, timeout=30) as c:
        return all(c.get(f"/v1/runs/{i}").json()["status"] not in ("queued", "running") for i in ids)


def test_compose_runs_work_and_scales_without_losing_any(compose: Compose) -> None:
    first = _runs(compose, 5)
    eventually(lambda: _finished(compose, first), timeout=120, interval=1)

    compose("up", "-d", "--scale", "worker=3", "--no-recreate")
    eventually(lambda: len(_workers(compose)) == 3, timeout=180, interval=1)
    before = _hits(compose)
    batch = _runs(compose, 60)
    eventually(lambda: _finished(compose, batch), timeout=300, interval=1)

    def took_work() -> list[str]:
        after = _hits(compose)  # from heartbeats, a few seconds behind
        return [name for name in after if after[name] > before.get(name, 0)]

    try:
        eventually(lambda: len(took_work()) == 3, timeout=30, interval=1)  # every one of the three ran some
    except TimeoutError:
        raise AssertionError(f"not every worker took work: before {before}, after {_hits(compose)}") from None

    # Flower, behind its password, sees the same three workers.
    flower = f"http://127.0.0.1:{compose.flower_port}/api/workers"
    assert httpx.get(flower, timeout=10).status_code == 401

    def flower_workers() -> dict[str, object]:
        answer = httpx.get(flower, params={"refresh": "1"}, auth=("admin", compose.flower_password), timeout=30)
        return dict(answer.json()) if answer.status_code == 200 else {}

    eventually(lambda: len(flower_workers()) >= 3, timeout=60, interval=2)

    # The SSH gateway answers as an SSH server does.
    def ssh_banner() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", compose.ssh_port), timeout=5) as conn:
                return conn.recv(4) == b"SSH-"
        except OSError:
            return False

    eventually(ssh_banner, timeout=60, interval=1)

    # Scale back down while work is in flight: nothing accepted is lost.
    inflight = _runs(compose, 30)
    compose("up", "-d", "--scale", "worker=1", "--no-recreate")
    eventually(lambda: _finished(compose, inflight), timeout=600, interval=2)
    with httpx.Client(base_url=compose.url, headers={"X-Auth-Token": compose.key}) as c:
        statuses = [c.get(f"/v1/runs/{i}").json()["status"] for i in inflight]
    assert statuses == ["accepted"] * 30, statuses
    eventually(lambda: len(_workers(compose)) == 1, timeout=120, interval=1)
