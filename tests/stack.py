"""Real Runyard processes for integration tests: an API (uvicorn), workers and beat (Celery).

Each Stack has its own database in the suite's Redis, so stacks never steal each other's
jobs; they share the suite's PostgreSQL database (a test may give a stack other services in env).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx
import redis

from core.settings import SandboxSettings
from tests.conftest import STATE_DIR, TEST_DB_URL, redis_url
from tests.services import free_port, require

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
QUEUES = "runyard.runs,runyard.callbacks,runyard.maintenance"


@dataclass
class Stack:
    redis_db: int
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    ssh_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return self.env()["RUNYARD_REDIS__URL"]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "RUNYARD_ENV": "test",
                "RUNYARD_DATABASE__URL": TEST_DB_URL,
                "RUNYARD_REDIS__URL": redis_url(self.redis_db),
                "RUNYARD_STATE_DIR": STATE_DIR,
                "RUNYARD_WORKER__CONCURRENCY": "2",
                "RUNYARD_QUEUE__SWEEP_INTERVAL_S": "1",
                "RUNYARD_CALLBACKS__BACKOFF_BASE_S": "0.5",
                "RUNYARD_API__AUTH_CACHE_S": "0",
                "RUNYARD_LOG_LEVEL": "INFO",
                "RUNYARD_SSH__PORT": str(self.ssh_port),
                "RUNYARD_CLUSTER": f"test-{self.tag}",
                # Warm persistent sandboxes only where a test asks for them: they cost memory and start time.
                "RUNYARD_SANDBOXES__POOL_SIZE": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env_extra)
        env.update(extra)
        return env

    def _spawn(self, name: str, argv: list[str], **extra: str) -> subprocess.Popen[bytes]:
        log = open(Path(STATE_DIR) / f"{self.tag}-{name}.log", "ab")  # noqa: SIM115 - closed by the child
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env(**extra), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = Path(STATE_DIR) / f"{self.tag}-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_api(self, fresh: bool = True, **extra: str) -> None:
        """Start the API; `fresh` first empties this stack's Redis database (not for a restart)."""
        require("redis")
        if fresh and "RUNYARD_REDIS__URL" not in self.env_extra:  # no stale jobs or heartbeats
            client = redis.Redis.from_url(redis_url(self.redis_db))
            client.flushdb()
            client.close()
        self._spawn(
            "api",
            [
                str(VENV_BIN / "uvicorn"),
                "--factory",
                "api.main:app_factory",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            **extra,
        )
        self.wait_for(lambda: httpx.get(f"{self.url}/health/live", timeout=2).status_code == 200, "the API", "api")

    def worker_name(self, name: str) -> str:
        return f"test-{self.tag}-{name}"

    def start_worker(self, name: str = "worker", **extra: str) -> subprocess.Popen[bytes]:
        argv = [str(VENV_BIN / "celery"), "-A", "workers.celery_app", "worker", "-Q", QUEUES]
        argv += ["-n", f"{self.worker_name(name)}@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
        return self._spawn(name, argv, RUNYARD_WORKER__NAME=self.worker_name(name), **extra)

    def start_beat(self, **extra: str) -> None:
        schedule = Path(STATE_DIR) / f"{self.tag}-beat-schedule"
        self._spawn(
            "beat", [str(VENV_BIN / "celery"), "-A", "workers.celery_app", "beat", "--schedule", str(schedule)], **extra
        )

    def start_ssh(self) -> None:
        """The SSH gateway, on ssh_port."""
        self._spawn("ssh", [str(VENV_BIN / "runyard-ssh")])

        def listening() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.ssh_port), timeout=1) as conn:
                    return conn.recv(4).startswith(b"SSH-")
            except OSError:
                return False

        self.wait_for(listening, "the SSH gateway", "ssh")

    def wait_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            return httpx.get(f"{self.url}/health", timeout=3).status_code == 200

        self.wait_for(ready, "readiness (/health)", *self.procs, timeout=timeout)

    def wait_for(self, check: object, what: str, *logs: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if check():  # type: ignore[operator]
                    return
            for name, proc in self.procs.items():
                if proc.poll() is not None and name in logs:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode} while waiting for {what}:\n{self.log(name)[-4000:]}"
                    )
            time.sleep(0.2)
        tails = "\n".join(f"--- {n}\n{self.log(n)[-3000:]}" for n in logs)
        raise TimeoutError(f"{what} not reached within {timeout}s\n{tails}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process and its whole group (Celery's pool children included)."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for _name, proc in list(self.procs.items()):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in list(self.procs.items()):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()
        remove_test_containers(self.tag, self.env().get("RUNYARD_WORKER__DOCKER_URL"))
        remove_test_containers(self.tag, self.env().get("RUNYARD_SANDBOXES__DOCKER_URL", SANDBOX_ENGINE))


@contextlib.contextmanager
def running_stack(
    redis_db: int, env: dict[str, str] | None = None, workers: tuple[str, ...] = ("worker",), beat: bool = True
) -> Iterator[Stack]:
    """An API, the named workers and beat, ready (when it has workers); stopped and cleaned up after."""
    stack = Stack(redis_db=redis_db, env_extra=env or {})
    try:
        stack.start_api()
        for name in workers:
            stack.start_worker(name)
        if beat:
            stack.start_beat()
        if workers:
            stack.wait_ready()
        yield stack
    finally:
        stack.stop()


SANDBOX_ENGINE = SandboxSettings().docker_url


def remove_test_containers(tag: str, docker_url: str | None = None) -> None:
    """Like docker-py's own tests: force-remove everything this stack's workers created, volumes too."""
    client = docker.DockerClient(base_url=docker_url) if docker_url else docker.from_env()
    ours = {"label": f"org.runyard.cluster=test-{tag}"}
    for container in client.containers.list(all=True, filters=ours, sparse=True):
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True, v=True)
    for volume in client.volumes.list(filters=ours):
        with contextlib.suppress(docker.errors.APIError):
            volume.remove(force=True)
    for image in client.images.list(filters=ours):  # snapshots the stack built
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(image.id, force=True)
    client.close()
