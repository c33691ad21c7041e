"""Sandbox benchmark: exec latency and throughput, and create latency, against raw `docker exec` in the same run.

    make bench-sandboxes            (needs `make up`)

Series, all with the agent image:
  raw docker exec `echo`             the engine's own exec into a running container
  agent link `echo`                  our in-container agent, straight over the attach stream (no API, no queue)
  Runyard /v1 exec `echo`            the whole path: HTTP, Postgres, Redis, Celery, worker, agent, and back
  Runyard Daytona process/execute    the same, through Daytona's toolbox route (what its SDK and SUNA call)
  Runyard create                     POST /v1/sandboxes with the warm pool refilled between creates: the
                                     default template, a tenant's image (Debian, root, networked; the
                                     pool keeps one of each image in demand), and the desktop template
  screenshot                         Daytona's computer-use full screenshot of a desktop sandbox, and raw
                                     `docker exec` of the same ffmpeg x11grab frame in its container
and throughput with N clients, each on its own sandbox, for Runyard (both routes) and for raw docker exec.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import httpx

from bench.harness import Series, admin_key, closed_loop, in_turn
from core.settings import SandboxSettings
from workers.agent_link import AgentLink
from workers.runtime import ContainerLimits, DockerEngine, DockerWorkspaceRuntime, WorkspaceSpec

IMAGE = "runyard/agent:latest"
CUSTOM_IMAGE = "debian:bookworm-slim"  # no Python, runs as root: nothing of ours in it
SANDBOXES = SandboxSettings()


@contextlib.contextmanager
def raw_exec(engine: docker.DockerClient) -> Iterator[Callable[[], object]]:
    """`docker exec echo` in a running container of the same image, on the sandboxes' engine."""
    box = engine.containers.run(IMAGE, ["sleep", "infinity"], detach=True, network_mode="none", user="64000")
    try:
        yield lambda: box.exec_run(["echo"])
    finally:
        box.remove(force=True)


def raw_exec_load(engine: docker.DockerClient, clients: int, seconds: float) -> Series:
    boxes = [
        engine.containers.run(IMAGE, ["sleep", "infinity"], detach=True, network_mode="none", user="64000")
        for _ in range(clients)
    ]
    series = Series(f"raw docker exec, {clients} clients")
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop(box: object) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            box.exec_run(["echo"])  # type: ignore[attr-defined]
            with lock:
                series.latencies_ms.append((time.perf_counter() - started) * 1000)

    try:
        began = time.perf_counter()
        threads = [threading.Thread(target=loop, args=(b,)) for b in boxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        series.seconds = time.perf_counter() - began
    finally:
        for box in boxes:
            box.remove(force=True)
    return series


@contextlib.contextmanager
def agent_exec() -> Iterator[Callable[[], object]]:
    """`echo` through our agent's own link to a sandbox: no API, no queue."""
    docker_engine = DockerEngine(SANDBOXES.docker_url)
    runtime = DockerWorkspaceRuntime(docker_engine, SANDBOXES.runtime_image)
    spec = WorkspaceSpec(image=IMAGE, limits=ContainerLimits(1 << 30, 256, 1.0), disk_bytes=1 << 30, network=False)
    container = runtime.create(spec, runtime.image_config(IMAGE))
    link = AgentLink(runtime.attach(container), container)
    try:
        link.call("ping")
        yield lambda: link.call("exec", command="echo")
    finally:
        link.close()
        runtime.remove_container(container)
        docker_engine.close()


def exec_once(client: httpx.Client, sandbox_id: str) -> None:
    r = client.post(f"/v1/sandboxes/{sandbox_id}/exec", json={"command": "echo"})
    if r.status_code != 200 or r.json()["exit_code"] != 0:
        raise RuntimeError(r.text)


def daytona_exec_once(client: httpx.Client, sandbox_id: str) -> None:
    """The same command through Daytona's toolbox, as its SDK's `process.exec` sends it (SUNA's path)."""
    r = client.post(f"/daytona/toolbox/{sandbox_id}/process/execute", json={"command": "echo"})
    if r.status_code != 200 or r.json()["exitCode"] != 0:
        raise RuntimeError(r.text)


def create_series(
    client: httpx.Client, n: int, refill_s: float, image: str | None = None, template: str | None = None
) -> Series:
    what = f"root, networked, image {image}" if image else f"{template or 'default'} template, networked"
    series = Series(f"Runyard create ({what}; warm pool)")
    body = {"image": image} if image else {"template": template} if template else {}
    for _ in range(n):
        time.sleep(refill_s)  # let the pool refill: this measures a create that finds a ready sandbox
        started = time.perf_counter()
        r = client.post("/v1/sandboxes", json=body)
        series.latencies_ms.append((time.perf_counter() - started) * 1000)
        if r.status_code != 201:
            raise RuntimeError(r.text)
        client.delete(f"/v1/sandboxes/{r.json()['id']}")
    series.seconds = sum(series.latencies_ms) / 1000
    return series


SHOT = ["ffmpeg", "-loglevel", "error", "-f", "x11grab", "-draw_mouse", "0", "-video_size", "1280x800",
        "-i", ":99+0,0", "-frames:v", "1", "-c:v", "png", "-f", "image2", "-update", "1", "pipe:1"]  # fmt: skip


def screenshot_series(client: httpx.Client, engine: docker.DockerClient, key: str, n: int) -> list[Series]:
    """A desktop sandbox's full screenshot through Daytona's toolbox, and the same frame by raw docker exec."""
    box = client.post("/v1/sandboxes", json={"template": "desktop"}).json()
    try:
        url = f"/daytona/toolbox/{box['id']}/computeruse/screenshot"
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(100):  # the display comes up with the sandbox
            if client.get(url, headers=headers).status_code == 200:
                break
            time.sleep(0.2)
        desktops = engine.containers.list(filters={"label": "org.runyard.image=runyard/desktop:latest"})
        container = desktops[0]
        return in_turn(
            {
                "raw docker exec ffmpeg x11grab (PNG)": lambda: container.exec_run(SHOT),
                "Runyard screenshot (Daytona computer use, PNG)": lambda: _ok(client.get(url, headers=headers)),
            },
            n,
        )
    finally:
        client.delete(f"/v1/sandboxes/{box['id']}")


def _ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(response.text)


async def _exec_load(url: str, key: str, ids: list[str], seconds: float, daytona: bool = False) -> Series:
    series = Series(f"Runyard {'Daytona process/execute' if daytona else '/v1 exec'}, {len(ids)} clients")
    limits = httpx.Limits(max_connections=len(ids), max_keepalive_connections=len(ids))
    async with httpx.AsyncClient(base_url=url, headers={"X-Auth-Token": key}, timeout=120, limits=limits) as client:

        def echo_in(sandbox_id: str) -> Callable[[], Awaitable[bool]]:
            async def echo() -> bool:
                if daytona:
                    r = await client.post(f"/daytona/toolbox/{sandbox_id}/process/execute", json={"command": "echo"})
                    return r.status_code == 200 and r.json()["exitCode"] == 0
                r = await client.post(f"/v1/sandboxes/{sandbox_id}/exec", json={"command": "echo"})
                return r.status_code == 200 and r.json()["exit_code"] == 0

            return echo

        return await closed_loop(series, [echo_in(i) for i in ids], seconds)


def table(rows: list[Series], with_rate: bool) -> str:
    head = "| measurement | p50 ms | p95 ms | p99 ms |" + (" per s | errors |" if with_rate else "")
    rule = "|---|---:|---:|---:|" + ("---:|---:|" if with_rate else "")
    lines = [head, rule]
    for s in rows:
        line = f"| {s.name} | {s.pct(0.5):.2f} | {s.pct(0.95):.2f} | {s.pct(0.99):.2f} |"
        if with_rate:
            line += f" {s.rate:.1f} | {s.errors} |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RUNYARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("RUNYARD_KEY"))
    parser.add_argument("-n", type=int, default=200, help="sequential commands per latency series")
    parser.add_argument("--creates", type=int, default=20)
    parser.add_argument("--refill-s", type=float, default=1.5, help="pause between creates, for the pool to refill")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    key = args.key or admin_key()

    # The raw baseline on the same engine Runyard's sandboxes run on (user namespaces, btrfs).
    engine = docker.DockerClient(base_url=SANDBOXES.docker_url, max_pool_size=args.clients * 2)
    with httpx.Client(base_url=args.url, headers={"X-Auth-Token": key}, timeout=120) as client:
        creates = create_series(client, args.creates, args.refill_s)
        custom = create_series(client, args.creates, args.refill_s, CUSTOM_IMAGE)
        desktop = create_series(client, args.creates, args.refill_s, template="desktop")
        shots = screenshot_series(client, engine, key, max(10, args.n // 10))
        ids = [client.post("/v1/sandboxes", json={}).json()["id"] for _ in range(args.clients)]
        try:
            for sandbox_id in ids:
                exec_once(client, sandbox_id)
            with raw_exec(engine) as raw, agent_exec() as agent:
                echoes = in_turn(
                    {
                        "raw docker exec echo": raw,
                        "agent link echo (no API, no queue)": agent,
                        "Runyard /v1 exec echo": lambda: exec_once(client, ids[0]),
                        "Runyard Daytona process/execute echo": lambda: daytona_exec_once(client, ids[0]),
                    },
                    args.n,
                )
            latency = [
                *echoes,
                creates,
                custom,
                desktop,
                *shots,
            ]
            load = [
                asyncio.run(_exec_load(args.url, key, ids, args.seconds)),
                asyncio.run(_exec_load(args.url, key, ids, args.seconds, daytona=True)),
                raw_exec_load(engine, args.clients, args.seconds),
            ]
        finally:
            for sandbox_id in ids:
                client.delete(f"/v1/sandboxes/{sandbox_id}")
    engine.close()

    raw, agent, ours, daytona, create, custom_create, desktop_create, raw_shot, shot = latency
    native_load, daytona_load, raw_load = load
    summary = [
        f"- exec p50: Runyard {ours.pct(0.5):.2f} ms = {ours.pct(0.5) / raw.pct(0.5):.2f}x raw `docker exec` "
        f"({raw.pct(0.5):.2f} ms); the agent alone {agent.pct(0.5):.2f} ms",
        f"- create p50 from the warm pool: {create.pct(0.5):.1f} ms; from a tenant's image (root, networked): "
        f"{custom_create.pct(0.5):.1f} ms ({custom_create.pct(0.5) / create.pct(0.5):.2f}x)",
        f"- desktop: create p50 from the warm pool {desktop_create.pct(0.5):.1f} ms; screenshot p50 "
        f"{shot.pct(0.5):.1f} ms = {shot.pct(0.5) / raw_shot.pct(0.5):.2f}x raw `docker exec` of the same ffmpeg frame "
        f"({raw_shot.pct(0.5):.1f} ms)",
        f"- Daytona's process/execute: p50 {daytona.pct(0.5):.2f} ms = {daytona.pct(0.5) / ours.pct(0.5):.2f}x "
        f"the native exec; {daytona_load.rate:.1f} commands/s with {args.clients} clients = "
        f"{daytona_load.rate / native_load.rate:.2f}x the native",
        f"- throughput, {args.clients} clients: Runyard {native_load.rate:.1f} commands/s, raw docker exec "
        f"{raw_load.rate:.1f}/s ({native_load.rate / raw_load.rate:.2f}x)",
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = "\n\n".join(
        [
            f"# Sandbox benchmark, {stamp}",
            f"Machine: {os.cpu_count()} CPUs, {platform.platform()}. `echo` in image {IMAGE}.",
            "## Latency, one request at a time\n\n" + table(latency, with_rate=False),
            f"## Throughput, {args.clients} concurrent clients\n\n" + table(load, with_rate=True),
            "## Ratios\n\n" + "\n".join(summary),
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sandboxes.md").write_text(report + "\n")
    print(report)
    print(f"\nwritten: {args.out / 'sandboxes.md'}")


if __name__ == "__main__":
    main()
