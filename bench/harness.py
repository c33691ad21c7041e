"""Measurements: Runyard end to end, and raw Docker baselines with the same image, taken in the same run."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx

ROOT = Path(__file__).resolve().parents[1]


def admin_key() -> str:
    """The admin key `make up` wrote for this checkout."""
    return (ROOT / ".runyard" / "admin.key").read_text().strip()


IMAGE = "runyard/runner:latest"
PRINT_1 = ["python3", "-c", "print(1)"]


@dataclass
class Series:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(len(data) * q))] if data else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else float("nan")


def sequential(name: str, fn: Callable[[], object], n: int, warmup: int = 3) -> Series:
    return in_turn({name: fn}, n, warmup)[0]


def in_turn(calls: dict[str, Callable[[], object]], n: int, warmup: int = 3) -> list[Series]:
    """One request at a time, each call once per round: a busy spell of the machine's falls on every series alike
    (taken one after another, the first series ran while the engine still removed the sandboxes made before)."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    series = {name: Series(name) for name in calls}
    for _ in range(n):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            series[name].latencies_ms.append(elapsed * 1000)
            series[name].seconds += elapsed
    return list(series.values())


def raw_exec(engine: docker.DockerClient, n: int) -> Series:
    """`docker exec python3 -c 'print(1)'` in a container that is already running."""
    warm = engine.containers.run(IMAGE, ["sleep", "infinity"], detach=True, network_mode="none", entrypoint=[])
    try:
        return sequential("raw docker exec", lambda: warm.exec_run(PRINT_1), n)
    finally:
        warm.remove(force=True)


def run_rm_once(engine: docker.DockerClient) -> None:
    """What `docker run --rm` does: create, start, wait, remove."""
    container = engine.containers.create(IMAGE, PRINT_1, network_mode="none", entrypoint=[])
    container.start()
    container.wait()
    container.remove(force=True)


def raw_run_rm(engine: docker.DockerClient, n: int) -> Series:
    return sequential("raw docker run --rm", lambda: run_rm_once(engine), n)


def runyard_program(client: httpx.Client, language_id: int, source: str, n: int, name: str) -> Series:
    """One program through the Judge0 API with wait=true, one request at a time; anything but Accepted fails."""
    body = {"source_code": source, "language_id": language_id}

    def once() -> None:
        r = client.post("/submissions", params={"wait": "true"}, json=body)
        if r.json()["status"]["id"] != 3:
            raise RuntimeError(r.text)

    return sequential(name, once, n)


def runyard_judge0(client: httpx.Client, n: int) -> Series:
    return runyard_program(client, 71, "print(1)", n, "Runyard, Judge0 API, wait=true")


def runyard_native(client: httpx.Client, n: int) -> Series:
    body = {"language": "python", "source": "print(1)"}

    def once() -> None:
        r = client.post("/v1/runs", params={"wait": "true"}, json=body)
        if r.json()["status"] != "accepted":
            raise RuntimeError(r.text)

    return sequential("Runyard, /v1 API, wait=true", once, n)


async def _load(url: str, key: str, clients: int, seconds: float, source: str = "print(1)") -> Series:
    series = Series(f"Runyard, {clients} clients")
    body = {"source_code": source, "language_id": 71}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"X-Auth-Token": key}, timeout=120, limits=limits) as client:
        await asyncio.gather(*(client.post("/submissions", params={"wait": "true"}, json=body) for _ in range(clients)))

        async def submit() -> bool:
            r = await client.post("/submissions", params={"wait": "true"}, json=body)
            return r.status_code == 201 and r.json()["status"]["id"] == 3

        return await closed_loop(series, [submit] * clients, seconds)


async def closed_loop(series: Series, requests: list[Callable[[], Awaitable[bool]]], seconds: float) -> Series:
    """Each request function in its own loop, one call after another, for `seconds`: latencies of the calls that
    answered as expected, a count of those that did not."""
    deadline = time.perf_counter() + seconds

    async def loop(request: Callable[[], Awaitable[bool]]) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                ok = await request()
            except httpx.HTTPError:
                ok = False
            if ok:
                series.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                series.errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(loop(request) for request in requests))
    series.seconds = time.perf_counter() - began
    return series


def runyard_load(url: str, key: str, clients: int, seconds: float, source: str = "print(1)") -> Series:
    return asyncio.run(_load(url, key, clients, seconds, source))


def run_rm_load(engine: docker.DockerClient, clients: int, seconds: float) -> Series:
    series = Series(f"raw docker run --rm, {clients} clients")
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                run_rm_once(engine)
                ok = True
            except docker.errors.DockerException:
                ok = False
            with lock:
                if ok:
                    series.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    series.errors += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    series.seconds = time.perf_counter() - began
    return series
