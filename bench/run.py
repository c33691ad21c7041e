"""Runyard's benchmark: latency of one print(1), and sustained throughput, against raw Docker.

usage: python bench/run.py [--url URL] [--key KEY] [-n 50] [--clients 16] [--seconds 30] [--out bench/results]

Needs a running Runyard (`make up`) and its Docker engine. Every figure is
measured in the same run, with the same image, on the same machine: no stored
baseline is compared against. Writes a Markdown table and a PNG chart to --out.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import docker
import httpx

from bench import harness
from bench.harness import Series, runyard_program
from bench.programs import raw_program, warm_container
from tests.language_programs import hello_world

# Compiled languages on a JVM and a native toolchain: Runyard's warm path against the same program compiled and
# run by raw `docker exec` with the toolchain's plain commands, in a warm container of the same image.
COMPILED_BASELINES = [
    (62, "Java", "runyard/jvm:latest", "Main.java", "javac Main.java && java Main"),
    (60, "Go", "runyard/systems:latest", "main.go", "go build main.go && ./main"),
]


def compiled_languages(engine: docker.DockerClient, client: httpx.Client, n: int) -> list[Series]:
    rows = []
    for lang_id, name, image, source_file, commands in COMPILED_BASELINES:
        source = hello_world(lang_id) or ""
        rows.append(runyard_program(client, lang_id, source, n, f"Runyard, {name} hello world"))
        with warm_container(engine, image) as container:
            raw = raw_program(container, source_file, source, commands, n, f"raw docker exec, {name} hello world")
        rows.append(raw)
    return rows


def table(rows: list[Series], with_rate: bool) -> str:
    head = "| measurement | p50 ms | p95 ms | p99 ms |" + (" runs/s | errors |" if with_rate else "")
    sep = "|---|---:|---:|---:|" + ("---:|---:|" if with_rate else "")
    lines = [head, sep]
    for s in rows:
        line = f"| {s.name} | {s.pct(0.5):.1f} | {s.pct(0.95):.1f} | {s.pct(0.99):.1f} |"
        if with_rate:
            line += f" {s.rate:.1f} | {s.errors} |"
        lines.append(line)
    return "\n".join(lines)


def chart(latency: list[Series], load: list[Series], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [s.name.replace(", ", "\n", 1) for s in latency]
    p50 = [s.pct(0.5) for s in latency]
    p95 = [s.pct(0.95) for s in latency]
    x = range(len(latency))
    left.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
    left.bar([i + 0.2 for i in x], p95, width=0.4, label="p95")
    left.set_xticks(list(x), names, fontsize=8)
    left.set_ylabel("ms (lower is better)")
    left.set_title("One print(1), sequential")
    left.legend()
    right.bar([s.name.replace(", ", "\n", 1) for s in load], [s.rate for s in load], color=["tab:green", "tab:gray"])
    right.set_ylabel("runs per second (higher is better)")
    right.set_title("Sustained throughput")
    for i, s in enumerate(load):
        right.annotate(f"{s.rate:.1f}/s\np95 {s.pct(0.95):.0f} ms", (i, s.rate), ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RUNYARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("RUNYARD_KEY"))
    parser.add_argument("-n", type=int, default=50, help="sequential requests per latency series")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30, help="length of the Runyard load phase")
    parser.add_argument("--baseline-seconds", type=float, default=15, help="length of the docker run --rm load phase")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    key = args.key or harness.admin_key()

    engine = docker.from_env(max_pool_size=args.clients * 2)
    with httpx.Client(base_url=args.url, headers={"X-Auth-Token": key}, timeout=60) as client:
        latency = [
            harness.raw_exec(engine, args.n),
            harness.raw_run_rm(engine, max(10, args.n // 3)),
            harness.runyard_judge0(client, args.n),
            harness.runyard_native(client, args.n),
        ]
        compiled = compiled_languages(engine, client, max(10, args.n // 3))
    load = [
        harness.runyard_load(args.url, key, args.clients, args.seconds),
        harness.run_rm_load(engine, args.clients, args.baseline_seconds),
    ]
    engine.close()

    exec_p50 = latency[0].pct(0.5)
    ours, raw = load
    summary = [
        f"- Runyard p50 / raw `docker exec` p50: {latency[2].pct(0.5) / exec_p50:.2f}x (Judge0 API), "
        f"{latency[3].pct(0.5) / exec_p50:.2f}x (/v1)",
        f"- Throughput, {args.clients} clients: {ours.rate:.1f} runs/s, {ours.rate / raw.rate:.1f}x "
        f"`docker run --rm` ({raw.rate:.1f}/s); p95/p50 under load {ours.pct(0.95) / ours.pct(0.5):.2f}",
        *(
            f"- {ry.name.split(', ')[1]}: Runyard p50 / raw `docker exec` p50: {ry.pct(0.5) / rw.pct(0.5):.2f}x"
            for ry, rw in zip(compiled[::2], compiled[1::2], strict=True)
        ),
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = "\n\n".join(
        [
            f"# Benchmark, {stamp}",
            f"Machine: {os.cpu_count()} CPUs, {platform.platform()}. print(1) in Python, image {harness.IMAGE}.",
            "## Latency, one request at a time\n\n" + table(latency, with_rate=False),
            f"## Throughput, {args.clients} concurrent clients\n\n" + table(load, with_rate=True),
            "## Compiled languages: compile and run hello world, one request at a time\n\n"
            + table(compiled, with_rate=False),
            "## Ratios\n\n" + "\n".join(summary),
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(report + "\n")
    chart(latency, load, args.out / "latest.png")
    print(report)
    print(f"\nwritten: {args.out / 'latest.md'}, {args.out / 'latest.png'}")


if __name__ == "__main__":
    main()
