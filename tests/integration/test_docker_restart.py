"""The Docker engine restarts under a live installation (every container stops): the worker's warm
pools rebuild and runs carry on, accepted runs complete, and sandboxes whose container stopped are
marked `error`, keep their whole filesystem, and start again.

The engine restarted is one of this test's own (its own socket, data root and containerd, the images
copied in): the machine's engine, and every container of a `make up` installation, never notice."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.services import PrivateDockerEngine, own_docker_engine
from tests.stack import Stack, running_stack


@pytest.fixture(scope="module")
def own_engine(database: None) -> Iterator[PrivateDockerEngine]:
    # One engine of the test's own for both runs and sandboxes, made like the sandbox engine (user namespaces,
    # btrfs): restarting it is the host reboot a sandbox's whole filesystem must survive.
    images = ("runyard/runner:latest", "runyard/agent:latest", "runyard/runtime:latest")
    with own_docker_engine(images, sandboxes=True) as engine:
        yield engine


@pytest.fixture(scope="module")
def engine_stack(own_engine: PrivateDockerEngine) -> Iterator[Stack]:
    env = {
        "RUNYARD_QUEUE__LEASE_MARGIN_S": "2",
        "RUNYARD_WORKER__DOCKER_URL": own_engine.url,
        "RUNYARD_SANDBOXES__DOCKER_URL": own_engine.url,
        "RUNYARD_WORKER__EGRESS_NETWORK": "",
    }
    with running_stack(10, env, workers=("a",)) as s:
        yield s


def _warm(api: httpx.Client) -> int:
    workers = api.get("/v1/status").json()["workers"]
    return sum(pool["idle"] for worker in workers for pool in worker["pools"].values())


def test_docker_engine_restart(engine_stack: Stack, own_engine: PrivateDockerEngine) -> None:
    machine_engine = docker.from_env()
    sentinel = machine_engine.containers.run(
        "runyard/base:latest", ["sleep", "600"], detach=True, network_mode="none", labels={"org.runyard.test": "1"}
    )
    started_at = machine_engine.containers.get(sentinel.id).attrs["State"]["StartedAt"]
    with httpx.Client(base_url=engine_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=120) as api:
        python = {"language": "python", "source": "print(sum(range(10)))"}
        assert api.post("/v1/runs", params={"wait": "true"}, json=python).json()["stdout"] == "45\n"
        warm = eventually(lambda: _warm(api), timeout=60)
        box = api.post("/v1/sandboxes", json={}).json()
        base = f"/v1/sandboxes/{box['id']}"
        assert api.put(f"{base}/files/content", params={"path": "keep.txt"}, content=b"kept\n").status_code == 200
        assert api.post(f"{base}/exec", json={"command": "echo tool > /usr/local/bin/mine"}).json()["exit_code"] == 0

        slow = {"language": "python", "source": "import time; time.sleep(2); print('done')"}
        accepted = [api.post("/v1/runs", json=slow).json()["id"] for _ in range(3)]
        own_engine.restart()

        # Runs accepted before (some were running when their containers were killed) complete, once each.
        def finished() -> list[dict[str, object]] | None:
            runs = [api.get(f"/v1/runs/{run_id}").json() for run_id in accepted]
            return runs if all(r["status"] not in ("queued", "running") for r in runs) else None

        for run in eventually(finished, timeout=180, interval=1):
            assert run["status"] == "accepted" and run["stdout"] == "done\n", run
        # The pool is whole again, and new runs use it.
        eventually(lambda: _warm(api) >= warm, timeout=120, interval=1)
        for i in range(4):
            reply = api.post("/v1/runs", params={"wait": "true"}, json={**python, "source": f"print({i})"}).json()
            assert reply["status"] == "accepted" and reply["stdout"] == f"{i}\n", reply

        # The sandbox's container stopped with the engine: it says so without anyone touching it.
        lost = eventually(lambda: (b := api.get(base).json())["state"] == "error" and b, timeout=120, interval=1)
        assert "container" in lost["error"], lost
        exec_refused = api.post(f"{base}/exec", json={"command": "true"})
        assert exec_refused.status_code == 409 and "start it" in exec_refused.text, exec_refused.text
        # Started again, it has its whole filesystem: the workspace and what it wrote anywhere else.
        assert api.post(f"{base}/start").json()["state"] == "started"
        again = api.post(f"{base}/exec", json={"command": "cat keep.txt /usr/local/bin/mine"}).json()
        assert again["exit_code"] == 0 and again["stdout"] == "kept\ntool\n", again
        assert api.delete(base).status_code in (200, 204)
    # The machine's engine went on as it was: a container it ran before still runs, never restarted.
    try:
        after = machine_engine.containers.get(sentinel.id)
        assert after.status == "running" and after.attrs["State"]["StartedAt"] == started_at
    finally:
        sentinel.remove(force=True)
