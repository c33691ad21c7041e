"""Soak: mixed work from many clients for a long time, and whether anything grows (make soak).

Each client loops over a mix: a Python run (wait=true), a command in its own sandbox, and a file written
and read back. Before and after (and each minute) it samples what could leak: containers, the API's and
workers' open files and memory, Postgres rows, Redis memory. Figures go to bench/results/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker
import httpx
import redis

from bench import harness


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"run": [], "exec": [], "file": []})
    errors: dict[str, int] = field(default_factory=lambda: {"run": 0, "exec": 0, "file": 0})

    def pct(self, kind: str, q: float) -> float:
        data = sorted(self.latencies[kind])
        return data[min(len(data) - 1, int(len(data) * q))] * 1000 if data else float("nan")


def _pids(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def _fds_and_rss(pids: list[int]) -> tuple[int, float]:
    fds, rss = 0, 0.0
    for pid in pids:
        try:
            fds += len(os.listdir(f"/proc/{pid}/fd"))
            with open(f"/proc/{pid}/status") as f:
                rss += next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS")) / 1024
        except (OSError, StopIteration):
            continue
    return fds, rss


def sample() -> dict[str, float]:
    engine = docker.from_env()
    containers = len(engine.containers.list(all=True, filters={"label": "org.runyard.managed=1"}, sparse=True))
    engine.close()
    api_fds, api_rss = _fds_and_rss(_pids("uvicorn --factory api.main"))
    worker_fds, worker_rss = _fds_and_rss(_pids("celery -A workers.celery_app worker"))
    rows = subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-d",
            "runyard",
            "-qtAc",
            "select (select count(*) from jobs) + (select count(*) from runs) + (select count(*) from sandboxes)"
            " + (select count(*) from blob_chunks)",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    memory = redis.Redis().info("memory")["used_memory"] / 2**20
    return {
        "containers": containers,
        "api_fds": api_fds,
        "api_rss_mb": api_rss,
        "worker_fds": worker_fds,
        "worker_rss_mb": worker_rss,
        "postgres_rows": float(rows or 0),
        "redis_mb": memory,
    }


async def client(api: httpx.AsyncClient, deadline: float, tally: Tally, n: int) -> None:
    created = await api.post("/v1/sandboxes", json={"labels": {"soak": "1"}}, timeout=120)
    if created.status_code != 201:
        raise RuntimeError(f"client {n} could not create its sandbox: {created.text}")
    box = created.json()["id"]
    try:
        while time.monotonic() < deadline:
            kind = random.choice(["run", "run", "exec", "file"])
            started = time.monotonic()
            try:
                if kind == "run":
                    r = await api.post(
                        "/v1/runs", params={"wait": "true"}, json={"language": "python", "source": f"print({n})"}
                    )
                    ok = r.status_code == 201 and r.json()["status"] == "accepted"
                elif kind == "exec":
                    r = await api.post(f"/v1/sandboxes/{box}/exec", json={"command": f"echo {n}"})
                    ok = r.status_code == 200 and r.json()["exit_code"] == 0
                else:
                    data = os.urandom(64 * 1024)
                    w = await api.put(f"/v1/sandboxes/{box}/files/content", params={"path": "soak.bin"}, content=data)
                    r = await api.get(f"/v1/sandboxes/{box}/files/content", params={"path": "soak.bin"})
                    ok = w.status_code == 200 and r.content == data
            except httpx.HTTPError:
                ok = False
            if ok:
                tally.latencies[kind].append(time.monotonic() - started)
            else:
                tally.errors[kind] += 1
    finally:
        await api.delete(f"/v1/sandboxes/{box}", timeout=120)


async def tenant_keys(url: str, admin_key: str, clients: int) -> list[str]:
    """A tenant per client (soak-0, soak-1, ...), as separate users would be: per-tenant sandbox quotas
    and request budgets then bound each client, not the soak as a whole."""
    async with httpx.AsyncClient(base_url=url, headers={"X-Auth-Token": admin_key}, timeout=60) as admin:
        keys = []
        for i in range(clients):
            issued = await admin.post("/v1/admin/keys", json={"tenant": f"soak-{i}", "name": "soak"})
            issued.raise_for_status()
            keys.append(str(issued.json()["key"]))
        return keys


async def soak(url: str, admin_key: str, clients: int, seconds: float, samples: list[dict[str, float]]) -> Tally:
    tally = Tally()
    keys = await tenant_keys(url, admin_key, clients)
    deadline = time.monotonic() + seconds

    async def sampler() -> None:
        while time.monotonic() < deadline:
            await asyncio.sleep(60)
            samples.append(await asyncio.to_thread(sample))

    async def one(n: int) -> None:
        async with httpx.AsyncClient(base_url=url, headers={"X-Auth-Token": keys[n]}, timeout=120) as api:
            await client(api, deadline, tally, n)

    await asyncio.gather(sampler(), *(one(i) for i in range(clients)))
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RUNYARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    key = harness.admin_key()
    samples = [sample()]
    began = time.monotonic()
    tally = asyncio.run(soak(args.url, key, args.clients, args.minutes * 60, samples))
    elapsed = time.monotonic() - began
    time.sleep(15)  # let sandboxes be deleted and pools settle before the last sample
    samples.append(sample())
    first, last = samples[0], samples[-1]
    total = sum(len(v) for v in tally.latencies.values())
    lines = [
        f"# Soak, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}. {args.clients} clients for {args.minutes:g} minutes;"
        " each loops over a Python run (wait=true), a command in its own sandbox, and a 64 KiB file written and read.",
        "",
        f"Operations: {total} in {elapsed:.0f} s, {total / elapsed:.1f}/s; errors: {sum(tally.errors.values())}",
        "",
        "| operation | count | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {k} | {len(tally.latencies[k])} | {tally.pct(k, 0.5):.1f} | {tally.pct(k, 0.95):.1f} | "
            f"{tally.pct(k, 0.99):.1f} | {tally.errors[k]} |"
            for k in tally.latencies
        ),
        "",
        "| resource | before | after | per minute, in between |",
        "|---|---:|---:|---|",
        *(
            f"| {name} | {first[name]:.1f} | {last[name]:.1f} | {', '.join(f'{s[name]:.0f}' for s in samples[1:-1])} |"
            for name in first
        ),
    ]
    report = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
