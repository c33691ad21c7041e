"""Latency of one `print(1)` run answered with wait=true, against raw Docker baselines measured in the same run.

usage: python bench/latency.py [--url http://127.0.0.1:8000] [--key KEY] [-n 30]

Baselines, all with the same image:
  raw exec      `docker exec` of python3 -c 'print(1)' in an already running container
  raw one-use   create + start + exec + remove a container (what an unpooled run must pay)
Runyard adds the queue, Postgres, the agent and the verdict on top of a one-use container.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx

IMAGE = "runyard/runner:latest"


def timed(fn: Callable[[], object], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(name: str, samples: list[float]) -> float:
    p50 = statistics.median(samples)
    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
    print(f"  {name:<28} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   (n={len(samples)})")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RUNYARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("RUNYARD_KEY"))
    parser.add_argument("-n", type=int, default=30)
    args = parser.parse_args()
    key = args.key or Path(".runyard/admin.key").read_text().strip()

    engine = docker.from_env()
    warm = engine.containers.run(IMAGE, ["sleep", "infinity"], detach=True, network_mode="none", remove=True)
    try:
        raw_exec = timed(lambda: warm.exec_run(["python3", "-c", "print(1)"]), args.n)
    finally:
        warm.remove(force=True)

    def one_use() -> None:
        c = engine.containers.create(IMAGE, ["sleep", "infinity"], network_mode="none")
        c.start()
        c.exec_run(["python3", "-c", "print(1)"])
        c.remove(force=True)

    raw_one_use = timed(one_use, args.n)

    with httpx.Client(base_url=args.url, headers={"X-Auth-Token": key}, timeout=60) as client:

        def judge0_wait() -> None:
            r = client.post(
                "/submissions", params={"wait": "true"}, json={"source_code": "print(1)", "language_id": 71}
            )
            assert r.json()["status"]["id"] == 3, r.text

        def native_wait() -> None:
            r = client.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print(1)"})
            assert r.json()["status"] == "accepted", r.text

        judge0 = timed(judge0_wait, args.n)
        native = timed(native_wait, args.n)

    print(f"print(1), Python, {args.n} sequential requests each (after 2 warm-up requests)")
    base = summary("raw docker exec", raw_exec)
    one = summary("raw one-use container", raw_one_use)
    j0 = summary("Runyard Judge0 wait=true", judge0)
    nv = summary("Runyard /v1 wait=true", native)
    print(f"  ratio Runyard/raw exec: {j0 / base:.1f}x (Judge0 API), {nv / base:.1f}x (native)")
    print(f"  ratio Runyard/raw one-use container: {j0 / one:.2f}x (Judge0 API), {nv / one:.2f}x (native)")


if __name__ == "__main__":
    main()
