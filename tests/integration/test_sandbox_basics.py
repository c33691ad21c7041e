"""What every run gets: an unprivileged user, no capabilities, no network, bounded resources."""

from __future__ import annotations

import docker
import httpx

from tests.integration.helpers import eventually

PROBE = r"""
import os, socket
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
print("uid", os.getuid(), os.geteuid())
for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"):
    print(key, status[key].strip())
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    print("network", "open")
except OSError as exc:
    print("network", "closed")
print("interfaces", sorted(os.listdir("/sys/class/net")))
try:
    open("/usr/bin/evil", "w")
    print("rootfs", "writable")
except OSError:
    print("rootfs", "read-only")
"""


def run(client: httpx.Client, source: str, language: str = "python", **limits: int) -> dict:
    body = {"language": language, "source": source, "limits": limits}
    return client.post("/v1/runs", params={"wait": "true"}, json=body).json()


def test_unprivileged_capless_offline(client: httpx.Client) -> None:
    result = run(client, PROBE)
    assert result["status"] == "accepted", result
    facts = dict(line.split(" ", 1) for line in result["stdout"].splitlines())
    assert facts["uid"] == "64000 64000"
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert facts[key] == "0000000000000000", key
    assert facts["NoNewPrivs"] == "1"
    assert facts["network"] == "closed"
    assert facts["interfaces"] == "['lo']"
    assert facts["rootfs"] == "read-only"


def test_file_size_limit_is_sigxfsz(client: httpx.Client) -> None:
    code = (
        '#include <stdio.h>\nint main(void) { FILE *f = fopen("big", "w");\n'
        'for (int i = 0; i < 4096; i++) fputs("0123456789abcdef0123456789abcdef", f); fclose(f); return 0; }'
    )
    result = client.post(
        "/v1/runs",
        params={"wait": "true"},
        json={"language": "c", "source": code, "limits": {"file_size_bytes": 16384}},
    ).json()
    assert result["status"] == "runtime_error", result
    assert result["exit_signal"] == 25
    judge0 = client.get(f"/submissions/{result['id']}").json()
    assert judge0["status"] == {"id": 8, "description": "Runtime Error (SIGXFSZ)"}


def test_process_limit_contains_a_fork_bomb(client: httpx.Client) -> None:
    result = run(client, ":(){ :|:& };:\nsleep 1\necho survived", language="bash", processes=20, wall_time_ms=3000)
    assert result["status"] in ("accepted", "runtime_error", "time_limit_exceeded"), result
    # The process limit is what contained it: bash says its forks were refused.
    assert "Resource temporarily unavailable" in (result["stderr"] or ""), result
    after = run(client, "print('next run fine')")
    assert after["stdout"] == "next run fine\n"


def test_background_processes_do_not_outlive_the_run(client: httpx.Client) -> None:
    result = run(client, "sleep 30 &\necho started", language="bash")
    assert result["status"] == "accepted"
    assert result["wall_time_ms"] < 5000


def test_sandboxes_are_pooled_not_leaked(client: httpx.Client, stack: object) -> None:
    """Many runs, and the worker still holds only its pool: sandboxes are reused, none is left over."""
    from tests.stack import Stack

    assert isinstance(stack, Stack)
    for i in range(12):
        assert run(client, f"print({i})")["stdout"] == f"{i}\n"
    engine = docker.from_env()
    try:
        # Python's family, the runner: other families' pools are made by their own languages' runs.
        image = "runyard/runner:latest"
        labels = [f"org.runyard.worker={stack.worker_name('worker')}", f"org.runyard.image={image}"]
        ours = engine.containers.list(all=True, filters={"label": labels}, sparse=True)

        def pool_figures() -> dict[str, int]:  # as of the worker's last heartbeat, some seconds old at most
            workers = httpx.get(f"{stack.url}/v1/workers", headers=client.headers).json()
            return dict(workers[0]["pools"][image])

        pool = eventually(lambda: (p := pool_figures())["hits"] >= 10 and p, timeout=30)
        assert len(ours) <= pool["target"] + 1  # the pool, plus at most one being replaced
        assert all(c.status == "running" for c in ours)
    finally:
        engine.close()
