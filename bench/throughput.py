"""Sustained throughput: N clients submit print(1) with wait=true in a loop, against raw Docker ceilings.

usage: python bench/throughput.py [--url URL] [--key KEY] [--clients 16] [--seconds 30]

Measured in the same run, with the same image and client count:
  Runyard       POST /submissions?wait=true, Judge0 API, through API, Redis, Celery, Postgres
  raw one-use   `docker run --rm`-equivalent per request: create, start, wait, remove
Prints runs per second, p50/p95/p99 latency, errors, and the ratio between them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx

IMAGE = "runyard/runner:latest"


@dataclass
class Result:
    name: str
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(len(data) * q))] if data else float("nan")

    def line(self) -> str:
        return (
            f"  {self.name:<24} {self.rate:7.1f} runs/s   p50 {self.pct(0.5):7.1f} ms   p95 {self.pct(0.95):7.1f} ms"
            f"   p99 {self.pct(0.99):7.1f} ms   n={len(self.latencies_ms)} errors={self.errors}"
        )


async def runyard(url: str, key: str, clients: int, seconds: float) -> Result:
    result = Result("Runyard wait=true", seconds)
    body = {"source_code": "print(1)", "language_id": 71}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"X-Auth-Token": key}, timeout=60, limits=limits) as client:
        for _ in range(clients):  # warm-up
            await client.post("/submissions", params={"wait": "true"}, json=body)
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    r = await client.post("/submissions", params={"wait": "true"}, json=body)
                    ok = r.status_code == 201 and r.json()["status"]["id"] == 3
                except httpx.HTTPError:
                    ok = False
                if ok:
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    result.errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        result.seconds = time.perf_counter() - began
    return result


def one_use(clients: int, seconds: float) -> Result:
    result = Result("raw one-use container", seconds)
    engine = docker.from_env(max_pool_size=clients * 2)
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()

    def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                container = engine.containers.create(IMAGE, ["python3", "-c", "print(1)"], network_mode="none")
                container.start()
                container.wait()
                container.remove(force=True)
                ok = True
            except docker.errors.DockerException:
                ok = False
            with lock:
                if ok:
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    result.errors += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - began
    engine.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RUNYARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("RUNYARD_KEY"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--baseline-seconds", type=float, default=15)
    args = parser.parse_args()
    key = args.key or Path(".runyard/admin.key").read_text().strip()

    ours = asyncio.run(runyard(args.url, key, args.clients, args.seconds))
    raw = one_use(args.clients, args.baseline_seconds)
    print(f"print(1), Python, {args.clients} concurrent clients")
    print(ours.line())
    print(raw.line())
    print(f"  throughput ratio Runyard/one-use: {ours.rate / raw.rate:.1f}x;  Runyard p95/p50: {ours.pct(0.95) / ours.pct(0.5):.2f}")


if __name__ == "__main__":
    main()
