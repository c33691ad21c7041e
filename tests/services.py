"""The real services the integration tests use, and checks that they are there.

The suite never touches the machine's own Redis, PostgreSQL or Docker engine state that a `make up`
installation may be using: it starts a Redis and a PostgreSQL of its own (own ports, own data
directories, removed at the end), and a test that restarts a service starts one more instance of
that service just for itself, a Docker engine included (own socket, data root and containerd).

Locally, a missing service skips the tests that need it, saying why; in CI (CI=true) it fails
them, because nothing on the main path may be skipped there.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_USER = "runyard"


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(f"needs a real service: {reason} (run `make test`, which starts them)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: object, what: str, timeout_s: float = 60) -> None:
    """A bounded wait for a condition (never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not reached within {timeout_s}s")


class OwnProcess:
    """A server process of the suite's own: stopped (politely for `grace_s`, then killed) and started again."""

    proc: subprocess.Popen[bytes] | None
    grace_s: float = 0

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if self.grace_s:
                self.proc.terminate()
            else:
                self.proc.kill()
            try:
                self.proc.wait(timeout=self.grace_s or 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again, on the same port or socket: whatever the server kept in memory is gone."""
        self.stop()
        self.start()


@dataclass
class PrivateRedis(OwnProcess):
    """A redis-server of the suite's own: nothing persisted, killed and gone at the end."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ping, f"Redis on port {self.port}", 20)

    def ping(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()


def _pg_bin(name: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise FileNotFoundError("PostgreSQL's server binaries are not installed (/usr/lib/postgresql)")
    return str(versions[-1] / name)


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of the suite's own, in a temporary directory, owned by the `postgres` user when
    run as root (PostgreSQL refuses to run as root). Durability is off: nothing here outlives the suite."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="runyard-test-pg-")))

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def start(self, *databases: str) -> None:
        if not self.data.exists():
            if os.geteuid() == 0:
                postgres = pwd.getpwnam("postgres")
                os.chown(self.root, postgres.pw_uid, postgres.pw_gid)
            self._run([_pg_bin("initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8"])
            self.pg_ctl("start")
            for database in databases:
                self._run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, database])
        else:
            self.pg_ctl("start")

    def pg_ctl(self, action: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        argv = [_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-l", str(self.root / "log")]
        if action == "start":
            argv += ["-o", options]
        if action == "stop":
            argv += ["-m", "fast"]
        self._run([*argv, action])

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self.pg_ctl("stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateDockerEngine(OwnProcess):
    """A second dockerd with its own socket, data root, exec root (so its own containerd), cgroup parent and network
    namespace: starting, restarting and removing it disturbs nothing of the machine's engine."""

    images: tuple[str, ...]
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="runyard-test-docker-")))
    proc: subprocess.Popen[bytes] | None = None
    grace_s: float = 60  # stopping the engine stops every one of its containers
    netns: str | None = None
    exec_root: Path | None = None
    # Like scripts/sandbox-engine.sh: root remapped, containers on btrfs (a loop-mounted file) with quotas.
    sandboxes: bool = False

    @property
    def url(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def start(self) -> None:
        # Its own network namespace: an engine sharing the host's would take the host's docker0 for its own
        # (with --bridge=none it even deletes it). Inside, it has a bridge and rules of its own, seen by nobody.
        if self.netns is None:
            self.netns = f"ry-docker-{self.root.name[-8:]}"
            subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        # The exec root holds containerd's socket, whose path must stay short (a unix socket path is ≤ 108 bytes).
        self.exec_root = self.exec_root or Path(tempfile.mkdtemp(prefix="ry-x-", dir="/run"))
        argv = [
            "nsenter", f"--net=/run/netns/{self.netns}",  # only the network: ip netns exec would hide the cgroups
            "dockerd",
            "--host", self.url,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.root / "docker.pid"),
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--cgroup-parent", f"runyard-test-{self.root.name}",
        ]  # reason: one flag and its value per line  # fmt: skip
        if self.sandboxes:
            self._btrfs_data_root()
            argv += ["--userns-remap", "default", "--storage-driver", "btrfs"]
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - kept by the child
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until(self.answers, "the suite's own Docker engine", 60)

    def _btrfs_data_root(self) -> None:
        data, disk = self.root / "data", self.root / "disk.btrfs"
        self.root.chmod(0o711)  # the remapped root must pass through to its data root (mkdtemp made it 0700)
        if subprocess.run(["mountpoint", "-q", str(data)]).returncode == 0:
            return  # a restart
        data.mkdir(exist_ok=True)
        subprocess.run(["truncate", "-s", "8G", str(disk)], check=True)
        subprocess.run(["mkfs.btrfs", "-q", str(disk)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(disk), str(data)], check=True, capture_output=True)
        subprocess.run(["btrfs", "quota", "enable", str(data)], check=True, capture_output=True)

    def answers(self) -> bool:
        return subprocess.run(["docker", "-H", self.url, "info"], capture_output=True, timeout=10).returncode == 0

    def load_images(self) -> None:
        """The machine engine's images, copied in (no registry is needed, nor reachable)."""
        with subprocess.Popen(["docker", "save", *self.images], stdout=subprocess.PIPE) as save:
            load = ["docker", "-H", self.url, "load", "-q"]
            subprocess.run(load, stdin=save.stdout, check=True, capture_output=True, timeout=600)
        if save.returncode != 0:
            raise RuntimeError(f"docker save {' '.join(self.images)} failed")

    def remove(self) -> None:
        if self.proc is not None and self.answers():
            ids = subprocess.run(["docker", "-H", self.url, "ps", "-aq"], capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(["docker", "-H", self.url, "rm", "-f", "-v", *ids], capture_output=True)
        self.stop()
        if self.exec_root is not None:
            subprocess.run(["umount", "-R", str(self.exec_root)], capture_output=True)
            shutil.rmtree(self.exec_root, ignore_errors=True)
        if self.netns is not None:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        if self.sandboxes:
            subprocess.run(["umount", "-R", str(self.root / "data")], capture_output=True)
        subprocess.run(["rm", "-rf", str(self.root)], capture_output=True)


@contextlib.contextmanager
def own_docker_engine(images: tuple[str, ...], sandboxes: bool = False) -> Iterator[PrivateDockerEngine]:
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        missing("root and dockerd, to start a Docker engine of the test's own")
    engine = PrivateDockerEngine(images, sandboxes=sandboxes)
    try:
        engine.start()
        engine.load_images()
        yield engine
    finally:
        engine.remove()


# ------------------------------------------------------------------ the suite's own Redis and PostgreSQL

SUITE_REDIS = PrivateRedis()
SUITE_POSTGRES = PrivatePostgres()
SUITE_DATABASE = "runyard_test"


@functools.cache
def _start_suite_postgres() -> str | None:
    if os.environ.get("RUNYARD_TEST_DATABASE_URL"):
        return None  # the developer named a database of their own
    try:
        SUITE_POSTGRES.start(SUITE_DATABASE)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"a PostgreSQL of the suite's own: {exc} {detail.decode(errors='replace')[-500:]}"
    atexit.register(SUITE_POSTGRES.remove)
    return None


@functools.cache
def _start_suite_redis() -> str | None:
    try:
        SUITE_REDIS.start()
    except (OSError, subprocess.SubprocessError, TimeoutError) as exc:
        return f"a Redis of the suite's own: {exc}"
    atexit.register(SUITE_REDIS.stop)
    return None


@functools.cache
def postgres_problem() -> str | None:
    import psycopg

    from tests.conftest import TEST_DB_URL

    if problem := _start_suite_postgres():
        return problem
    try:
        psycopg.connect(TEST_DB_URL.replace("+psycopg", ""), connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {TEST_DB_URL}: {exc}"
    return None


@functools.cache
def redis_problem() -> str | None:
    return _start_suite_redis()


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


@contextlib.contextmanager
def local_registry() -> Iterator[str]:
    """Debian's docker-registry (fetched by scripts/bootstrap.sh) on a free port of 127.0.0.1, storing into a
    temporary directory; yields its address. Docker engines treat 127.0.0.0/8 as a plain-HTTP registry."""
    binary = Path(__file__).resolve().parents[1] / ".runyard" / "bin" / "docker-registry"
    if not binary.exists():
        missing(f"{binary} is missing (scripts/bootstrap.sh fetches it)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="runyard-registry-") as root:
        config = Path(root) / "config.yml"
        config.write_text(
            f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        log = open(Path(root) / "registry.log", "wb")  # noqa: SIM115 - closed below, after the process
        proc = subprocess.Popen([str(binary), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"docker-registry did not start: {(Path(root) / 'registry.log').read_text()}")
                time.sleep(0.1)
            yield f"127.0.0.1:{port}"
        finally:
            proc.kill()
            proc.wait()
            log.close()
