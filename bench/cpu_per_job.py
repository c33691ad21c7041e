"""CPU per job, by process, under a closed loop of clients (needs `make up`).

    python -m bench.cpu_per_job                      # print(1) runs, 16 clients, 20 s
    python -m bench.cpu_per_job --kind exec --clients 8

Throughput on a machine whose cores are all busy is set by the CPU each job costs, wherever it is spent. This
reads, before and after the load, the CPU time of each of Runyard's processes (/proc/<pid>/stat, with their
exited children's; processes that start during the load, such as new PostgreSQL backends, count whole), the
containers' own cgroups (cpuacct, cgroup v1: runs' and sandboxes' alike), and the whole machine's busy time
(/proc/stat), and divides each by the jobs done. What no group claims (the kernel's own work, the benchmark's
client) is the rest. Sampling nothing, it costs nothing: unlike a profiler, it leaves the throughput it reports
alone.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import threading
import time

import httpx

from bench.harness import admin_key

GROUPS = {  # pgrep -f patterns
    "API": "uvicorn --factory",
    "Celery worker": "celery -A workers.celery_app worker",
    "PostgreSQL": "postgres",
    "Redis": "redis-server",
    "dockerd (both engines)": "dockerd",
    "containerd and its shims": "containerd",
    "Celery beat and Flower": "celery -A workers.celery_app (beat|flower)",
}
CONTAINERS = "/sys/fs/cgroup/cpuacct/docker/*/cpuacct.usage"
HZ = os.sysconf("SC_CLK_TCK")


def pids(pattern: str) -> set[str]:
    return set(subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split())


def ticks(processes: set[str]) -> int:
    total = 0
    for pid in processes:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # Its own time, and its exited children's (PostgreSQL's backends that closed during the load).
            total += sum(int(v) for v in fields[11:15])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total


def container_ns() -> int:
    total = 0
    for path in glob.glob(CONTAINERS):
        try:
            with open(path) as f:
                total += int(f.read())
        except (OSError, ValueError):
            continue
    return total


def busy_ticks() -> int:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values) - values[3] - values[4]  # all but idle and iowait


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RUNYARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("RUNYARD_KEY"))
    parser.add_argument("--kind", choices=("run", "exec"), default="run")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    headers = {"X-Auth-Token": args.key or admin_key()}
    sandbox: str | None = None
    with httpx.Client(base_url=args.url, headers=headers, timeout=120) as setup:
        if args.kind == "exec":
            made = setup.post("/v1/sandboxes", json={})
            made.raise_for_status()
            sandbox = made.json()["id"]
        try:
            report(args, headers, sandbox)
        finally:
            if sandbox is not None:
                setup.delete(f"/v1/sandboxes/{sandbox}")


def report(args: argparse.Namespace, headers: dict[str, str], sandbox: str | None) -> None:
    def one(client: httpx.Client) -> None:
        if sandbox is None:
            body = {"source_code": "print(1)", "language_id": 71}
            r = client.post("/submissions", params={"wait": "true"}, json=body)
        else:
            r = client.post(f"/v1/sandboxes/{sandbox}/exec", json={"command": "echo"})
        r.raise_for_status()

    with httpx.Client(base_url=args.url, headers=headers, timeout=120) as warm:
        for _ in range(10):
            one(warm)
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def loop() -> None:
        with httpx.Client(base_url=args.url, headers=headers, timeout=120) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                one(client)
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)

    before = {name: pids(pattern) for name, pattern in GROUPS.items()}
    start_ticks = {name: ticks(group) for name, group in before.items()}
    start_busy, start_containers, began = busy_ticks(), container_ns(), time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    jobs = len(latencies)
    per_job = {}
    for name, pattern in GROUPS.items():
        after = before[name] | pids(pattern)
        per_job[name] = (ticks(after) - start_ticks[name]) * 1000 / HZ / jobs
    per_job["containers, runs and sandboxes (their cgroups)"] = (container_ns() - start_containers) / 1e6 / jobs
    total = (busy_ticks() - start_busy) * 1000 / HZ / jobs
    per_job["the rest (shims' kernel work, the client)"] = total - sum(per_job.values())
    what = "print(1) runs" if sandbox is None else "sandbox echo commands"
    print(f"{jobs} {what}, {args.clients} clients, {jobs / elapsed:.1f}/s, p50 {statistics.median(latencies):.1f} ms")
    print("\n| process | CPU ms per job |\n|---|---:|")
    for name, ms in per_job.items():
        print(f"| {name} | {ms:.2f} |")
    print(f"| **all** | **{total:.2f}** |")


if __name__ == "__main__":
    main()
