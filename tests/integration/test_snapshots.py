"""Snapshots: Dockerfiles built as jobs on a worker host's sandbox engine, their output streamed, and
sandboxes started from them. Through Daytona's SDK (tests/clients/daytona_builds.py) and the native API."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import docker
import httpx
import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import Job, Sandbox
from core.settings import get_settings
from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually, sh
from tests.integration.test_daytona import OLDEST, python_with
from tests.sandbox_images import BARE, sandbox_engine
from tests.services import local_registry
from tests.stack import ROOT, Stack, running_stack

CLIENT = ROOT / "tests" / "clients" / "daytona_builds.py"
BUILD_TIMEOUT_S = 25


@pytest.fixture(scope="module")
def builds_stack(database: None) -> Iterator[Stack]:
    env = {"RUNYARD_SANDBOXES__POOL_SIZE": "0", "RUNYARD_SNAPSHOTS__BUILD_TIMEOUT_S": str(BUILD_TIMEOUT_S)}
    with running_stack(4, env, workers=("worker",)) as s:
        yield s


@pytest.fixture(scope="module")
def api(builds_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=builds_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=120) as c:
        yield c


def _settled(api: httpx.Client, name: str, timeout: float = 120) -> dict[str, object]:
    def check() -> dict[str, object] | None:
        body = api.get(f"/v1/snapshots/{name}").json()
        return body if body["state"] in ("active", "build_failed") else None

    return dict(eventually(check, timeout=timeout, interval=0.5))


@pytest.mark.parametrize("sdk", ["newest", OLDEST])
def test_snapshots_through_daytonas_sdk(builds_stack: Stack, sdk: str) -> None:
    from importlib.metadata import version

    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    tag = uuid.uuid4().hex[:8]
    env.update(
        DAYTONA_API_URL=f"{builds_stack.url}/daytona/api",
        DAYTONA_API_KEY=make_tenant().key,
        BASE_IMAGE=BARE,
        TAG=tag,
    )
    python = python_with(version("daytona") if sdk == "newest" else sdk)
    done = subprocess.run([python, str(CLIENT)], env=env, capture_output=True, text=True, timeout=900, cwd="/tmp")
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["created"] == {"state": "active", "name": f"snap-{tag}"}
    # on_logs saw the SDK's own state lines and the build's output as it came.
    assert f"step-output-{tag}" in seen["logs"] and "Created snapshot" in seen["logs"], seen["logs"]
    assert seen["got"] == "active" and seen["listed"] is True
    # The image's steps, ENV and WORKDIR are the sandbox's.
    assert seen["from_snapshot"] == [0, ["built", "daytona-image", "/srv/app", "1000"], f"snap-{tag}"]
    state, code, build_logs = seen["from_image"]
    assert state == "started" and code == 0 and f"direct-step-{tag}" in build_logs, seen["from_image"]
    assert seen["reused"] is True
    # A failing step: the SDK raises with the engine's reason; the snapshot says build_failed.
    assert "returned a non-zero code: 3" in seen["failed"], seen["failed"]
    assert seen["failed_state"] == "build_failed"
    # Local files in the build context: a deliberate 501 that says why.
    assert "object storage" in seen["context"], seen["context"]
    assert "no error" not in seen["deleted"], seen["deleted"]


def test_build_output_streams_and_sandboxes_start_from_it(api: httpx.Client) -> None:
    name = f"native-{uuid.uuid4().hex[:8]}"
    dockerfile = f"""
# a comment, then the base
FROM {BARE}
RUN for i in 1 2 3; do echo "line-$i"; sleep 1; done
RUN echo tool > /usr/local/bin/marker && chmod +x /usr/local/bin/marker
ENV FROM_BUILD=yes
USER nobody
WORKDIR /tmp
"""
    created = api.post("/v1/snapshots", json={"name": name, "dockerfile": dockerfile, "memory_bytes": 512 << 20})
    assert created.status_code == 202, created.text
    assert created.json()["state"] in ("pending", "building")

    # Followed from the start: the output arrives while the build runs, and the stream ends with it.
    started = time.monotonic()
    pieces: list[tuple[float, str]] = []
    with api.stream("GET", f"/v1/snapshots/{name}/logs", params={"follow": "true"}, timeout=120) as response:
        assert response.status_code == 200
        for text in response.iter_text():
            pieces.append((time.monotonic() - started, text))
    output = "".join(text for _, text in pieces)
    assert all(f"line-{i}" in output for i in (1, 2, 3)) and "Built runyard/snapshot:" in output, output
    first = next(at for at, text in pieces if "line-1" in text)
    last = next(at for at, text in pieces if "Built " in text)
    assert last - first > 1.5, pieces  # streamed as it came, not handed over at the end

    snapshot = _settled(api, name)
    assert snapshot["state"] == "active" and snapshot["size_bytes"], snapshot
    # Once it is over, the output is there without following, too.
    assert "line-3" in api.get(f"/v1/snapshots/{name}/logs").text

    sandbox = api.post("/v1/sandboxes", json={"template": name}).json()
    assert sandbox["state"] == "started" and sandbox["template"] == name, sandbox
    assert sandbox["memory_bytes"] == 512 << 20  # the snapshot's resources are its sandboxes' defaults
    ran = sh(api, sandbox, "id -un; pwd; echo $FROM_BUILD; cat /usr/local/bin/marker")
    assert ran["exit_code"] == 0 and ran["stdout"].split() == ["nobody", "/tmp", "yes", "tool"], ran
    assert api.delete(f"/v1/sandboxes/{sandbox['id']}").status_code in (200, 202)
    assert name in [s["name"] for s in api.get("/v1/snapshots").json()["snapshots"]]

    # Removed from its host: the engine no longer has its tag, and sandboxes can no longer start from it.
    assert api.delete(f"/v1/snapshots/{name}").json()["state"] in ("removing", "deleted")
    eventually(lambda: api.get(f"/v1/snapshots/{name}").status_code == 404, timeout=60)
    engine = sandbox_engine()
    try:
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(str(snapshot["image_ref"]))
    finally:
        engine.close()


def test_the_python_client_builds_waits_and_starts_from_a_snapshot(builds_stack: Stack) -> None:
    from runyard import Runyard

    name = f"client-{uuid.uuid4().hex[:8]}"
    with Runyard(builds_stack.url, make_tenant().key) as client:
        assert client.snapshots.create(name, f"FROM {BARE}\nRUN echo client-made\n").state in ("pending", "building")
        done = client.snapshots.wait(name, timeout=120)
        assert done.ok and done.settled and "client-made" in client.snapshots.logs(name), done
        with client.sandbox(name) as box:
            assert box.exec("echo hi").stdout == "hi\n"
        assert client.snapshots.delete(name).state in ("removing", "deleted")


def test_a_failed_build_says_why_and_keeps_its_output(api: httpx.Client) -> None:
    name = f"broken-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {BARE}\nRUN echo before-the-failure && false\n"
    assert api.post("/v1/snapshots", json={"name": name, "dockerfile": dockerfile}).status_code == 202
    snapshot = _settled(api, name)
    assert snapshot["state"] == "build_failed" and "returned a non-zero code: 1" in str(snapshot["error"]), snapshot
    assert "before-the-failure" in api.get(f"/v1/snapshots/{name}/logs").text
    refused = api.post("/v1/sandboxes", json={"template": name})
    assert refused.status_code == 422 and "build_failed" in refused.text, refused.text
    # A missing base image is the Dockerfile's fault too, not a retry.
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    body = {"name": missing, "image": f"runyard-test/not-there-{uuid.uuid4().hex[:6]}:1"}
    assert api.post("/v1/snapshots", json=body).status_code == 202
    assert _settled(api, missing)["state"] == "build_failed"


def test_a_build_that_runs_too_long_is_stopped(api: httpx.Client) -> None:
    name = f"slow-{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex[:12]
    dockerfile = f"FROM {BARE}\nRUN echo started-{marker} && sleep 3600\n"
    assert api.post("/v1/snapshots", json={"name": name, "dockerfile": dockerfile}).status_code == 202
    snapshot = _settled(api, name, timeout=BUILD_TIMEOUT_S + 90)
    assert snapshot["state"] == "build_failed" and "ran out of time" in str(snapshot["error"]), snapshot

    # The engine stopped the step: nothing of it goes on running.
    def step_gone() -> bool:
        engine = sandbox_engine()
        try:
            commands = [" ".join(c.attrs["Config"]["Cmd"] or []) for c in engine.containers.list(sparse=False)]
        finally:
            engine.close()
        return not [command for command in commands if marker in command]

    eventually(step_gone, timeout=30)


def test_a_sandbox_from_a_dockerfile_waits_for_its_build(builds_stack: Stack) -> None:
    """Daytona's create with a Dockerfile answers at once (pending_build); the build's end creates it, and a
    sandbox deleted while it waits is never created."""
    key = make_tenant().key
    marker = uuid.uuid4().hex[:10]
    dockerfile = f"FROM {BARE}\nRUN sleep 3 && echo {marker} > /etc/waited\n"
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{builds_stack.url}/daytona/api", headers=auth, timeout=60) as d:
        body = {"buildInfo": {"dockerfileContent": dockerfile}}
        first = d.post("/sandbox", json=body).json()
        second = d.post("/sandbox", json=body).json()
        assert first["state"] in ("pending_build", "building_snapshot"), first
        assert d.delete(f"/sandbox/{second['id']}").status_code == 200
        assert d.get(f"/sandbox/{second['id']}").json()["state"] == "destroyed"
        started = eventually(lambda: (s := d.get(f"/sandbox/{first['id']}").json())["state"] == "started" and s, 120)
        assert started["snapshot"].startswith("build-")
        url = d.get(f"/sandbox/{first['id']}/build-logs-url").json()["url"]
        log = d.get(url).text
        assert f"echo {marker}" in log and "Built runyard/snapshot:" in log, log
    with transaction(get_settings()) as session:
        jobs = session.execute(select(Job.kind).where(Job.sandbox_id == uuid.UUID(second["id"]))).scalars().all()
        row = session.get(Sandbox, uuid.UUID(second["id"]))
        assert row is not None and row.state == "deleted" and row.container_id is None
    assert jobs == []  # deleted while waiting: no create job was ever made for it
    with httpx.Client(base_url=builds_stack.url, headers={"X-Auth-Token": key}, timeout=60) as api:
        assert sh(api, {"id": first["id"]}, "cat /etc/waited")["stdout"] == f"{marker}\n"


def test_a_build_whose_worker_dies_is_built_again(builds_stack: Stack, api: httpx.Client) -> None:
    """The build job is idempotent (the same Dockerfile gives the same image under the same tag): a worker
    SIGKILLed mid-build leaves it to the next attempt, and the snapshot ends active, built once more."""
    name = f"crash-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {BARE}\nRUN echo begun && sleep 5\nRUN echo after-the-crash\n"
    snapshot_id = api.post("/v1/snapshots", json={"name": name, "dockerfile": dockerfile}).json()["id"]
    eventually(lambda: api.get(f"/v1/snapshots/{name}").json()["state"] == "building", timeout=60, interval=0.1)
    time.sleep(1)
    builds_stack.kill("worker")
    builds_stack.start_worker("worker")
    snapshot = _settled(api, name, timeout=180)
    assert snapshot["state"] == "active", snapshot
    assert "(attempt 2)" in api.get(f"/v1/snapshots/{name}/logs").text
    with transaction(get_settings()) as session:
        attempts = session.execute(select(Job.attempts).where(Job.snapshot_id == uuid.UUID(snapshot_id))).scalars()
        assert list(attempts) == [2]


def test_snapshots_pushed_to_a_registry_start_on_a_host_without_them(database: None) -> None:
    """With a registry configured, the building host pushes the snapshot there; an engine that lacks it
    (here: the same engine, the image removed after the build) pulls it to start a sandbox."""
    with local_registry() as registry:
        env = {"RUNYARD_SANDBOXES__POOL_SIZE": "0", "RUNYARD_SNAPSHOTS__REGISTRY": f"{registry}/runyard-tests"}
        with (
            running_stack(2, env, workers=("worker",)) as stack,
            httpx.Client(base_url=stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=120) as api,
        ):
            name = f"pushed-{uuid.uuid4().hex[:8]}"
            dockerfile = f"FROM {BARE}\nRUN echo pushed > /etc/pushed\n"
            assert api.post("/v1/snapshots", json={"name": name, "dockerfile": dockerfile}).status_code == 202
            snapshot = _settled(api, name)
            assert snapshot["state"] == "active" and snapshot["pushed"] is True, snapshot
            ref = str(snapshot["image_ref"])
            assert ref.startswith(f"{registry}/runyard-tests/runyard-snapshot:"), ref
            catalog = httpx.get(f"http://{registry}/v2/_catalog").json()
            assert "runyard-tests/runyard-snapshot" in catalog["repositories"], catalog

            engine = sandbox_engine()
            try:
                engine.images.remove(ref, force=True)
                sandbox = api.post("/v1/sandboxes", json={"template": name}).json()
                assert sandbox["state"] == "started", sandbox
                assert sh(api, sandbox, "cat /etc/pushed")["stdout"] == "pushed\n"
                assert engine.images.get(ref)  # pulled back from the registry
            finally:
                engine.close()


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"name": "x", "dockerfile": "RUN echo no base\n"}, "dockerfile", 422),
        ({"name": "x", "dockerfile": f"FROM {BARE}\n", "image": BARE}, "dockerfile", 422),
        ({"name": "x"}, "dockerfile", 422),
        ({"name": "bad name!", "image": BARE}, "name", 422),
        ({"name": "x", "dockerfile": "FROM Not_An/Image::ref\n"}, "dockerfile", 422),
        ({"name": "x", "dockerfile": "FROM " + BARE + "\nRUN " + "x" * (70 << 10) + "\n"}, "dockerfile", 422),
        ({"name": "agent", "image": BARE}, "template", 409),
        ({"name": "x", "image": BARE, "memory_bytes": 1}, "memory_bytes", 422),
    ],
)
def test_bad_snapshot_requests_name_the_field(
    api: httpx.Client, body: dict[str, object], field: str, status: int
) -> None:
    response = api.post("/v1/snapshots", json=body)
    assert response.status_code == status, response.text
    assert field in response.text, response.text
