"""Checks that the real services the integration tests need are there.

Locally, a missing service skips the tests that need it, saying why; in CI
(CI=true) it fails them, because nothing on the main path may be skipped there.
"""

from __future__ import annotations

import functools
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(f"needs a real service: {reason} (run `make test`, which starts them)")


@functools.cache
def postgres_problem() -> str | None:
    import psycopg

    from tests.conftest import TEST_DB_URL

    try:
        psycopg.connect(TEST_DB_URL.replace("+psycopg", ""), connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {TEST_DB_URL}: {exc}"
    return None


@functools.cache
def redis_problem() -> str | None:
    import redis

    try:
        redis.Redis(socket_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis on 127.0.0.1:6379: {exc}"
    return None


@functools.cache
def docker_problem() -> str | None:
    import docker

    try:
        client = docker.from_env()
        client.ping()
        client.images.get("runyard/runner:latest")
    except Exception as exc:  # noqa: BLE001
        return f"Docker engine with the runyard/runner image: {exc}"
    return None


def require(*checks: str) -> None:
    problems = {"postgres": postgres_problem, "redis": redis_problem, "docker": docker_problem}
    for name in checks:
        problem = problems[name]()
        if problem:
            missing(problem)


def restart_docker_engine(timeout_s: float = 120) -> None:
    """Stop the Docker engine (it stops every container) and start it again, as bootstrap started it."""
    import subprocess
    import time

    if os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "restart", "docker"], check=True, timeout=timeout_s)
    else:
        pids = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
        subprocess.run(["kill", "-TERM", *pids], check=True)
        deadline = time.monotonic() + timeout_s
        while any(os.path.exists(f"/proc/{pid}") for pid in pids):
            if time.monotonic() > deadline:
                raise TimeoutError("dockerd did not stop")
            time.sleep(0.2)
        subprocess.run(["bash", "-c", "nohup setsid dockerd >>/var/log/runyard-dockerd.log 2>&1 &"], check=True)
    # Waited for with the CLI: docker-py leaves a socket open for each refused connection.
    deadline = time.monotonic() + timeout_s
    while subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the Docker engine did not come back")
        time.sleep(0.5)
