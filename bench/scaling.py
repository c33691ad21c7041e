"""Throughput with 1 and with 2 worker processes on this machine, in one run (make bench-scaling).

Restarts the local installation (`make up` with RUNYARD_WORKERS=N) for each setting, then drives two loads:
print(1), which costs CPU (on a small machine one worker process already keeps every core busy), and a
program that waits half a second, which costs a worker slot but little CPU: the capacity a replica adds.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import harness

ROOT = harness.ROOT


def restart(workers: int) -> None:
    subprocess.run(["bash", "scripts/down.sh"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        ["bash", "scripts/up.sh"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "RUNYARD_WORKERS": str(workers)},
    )


def wait_for_workers(url: str, key: str, workers: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        live = httpx.get(f"{url}/v1/workers", headers={"X-Auth-Token": key}, timeout=10).json()
        pools = [next(iter((w.get("pools") or {"": {}}).values()), {}) for w in live]
        if len(live) == workers and all(p.get("idle", 0) >= p.get("target", 1) for p in pools):
            return
        time.sleep(1)
    raise TimeoutError(f"{workers} worker(s) with full pools did not appear")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RUNYARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    loads = {"print(1)": "print(1)", "sleep 0.5 s": "import time; time.sleep(0.5)"}
    results: dict[tuple[str, int], harness.Series] = {}
    for workers in (1, 2):
        restart(workers)
        key = harness.admin_key()
        wait_for_workers(args.url, key, workers)
        for name, source in loads.items():
            results[name, workers] = harness.runyard_load(args.url, key, args.clients, args.seconds, source)
    restart(1)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}. {args.clients} clients, {args.seconds:.0f} s each."
    )
    rows = [
        f"| {name} | {n} | {r.rate:.1f} | {r.pct(0.5):.1f} | {r.pct(0.95):.1f} | {r.errors} |"
        for (name, n), r in results.items()
    ]
    ratios = [
        f"- {name}: 2 workers / 1 worker = {results[name, 2].rate / results[name, 1].rate:.2f}x" for name in loads
    ]
    report = "\n".join(
        [
            f"# Scaling, {stamp}",
            "",
            machine,
            "",
            "| program | worker processes | runs/s | p50 ms | p95 ms | errors |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *ratios,
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
