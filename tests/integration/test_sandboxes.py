"""Persistent sandboxes end to end: real API, two worker processes posing as two hosts, real containers.

Every operation below is a job that goes through Postgres, the host's queue and
the worker on that host, to the agent inside the sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import Job, Sandbox
from core.security import SIGNATURE_HEADER, verify
from core.settings import get_settings
from tests.integration.conftest import Tenant, make_tenant
from tests.integration.helpers import CallbackReceiver, after_sweeps, eventually, sh
from tests.integration.helpers import create_sandbox as create
from tests.sandbox_images import ensure_user_image
from tests.stack import Stack, running_stack

HOSTS = ("a", "b")


@pytest.fixture(scope="module")
def two_hosts(database: None) -> Iterator[Stack]:
    env = {"RUNYARD_SANDBOXES__POOL_SIZE": "1", "RUNYARD_SANDBOXES__MAX_PER_TENANT": "4"}
    with running_stack(9, env, workers=HOSTS, beat=True) as s:
        yield s


@pytest.fixture
def api(two_hosts: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=two_hosts.url, headers={"X-Auth-Token": make_tenant().key}, timeout=120) as c:
        yield c


def test_lifecycle_exec_and_a_workspace_that_survives_stop_and_start(api: httpx.Client) -> None:
    box = create(api, env={"GREETING": "hello"}, labels={"project": "p1", "team": "x"}, auto_stop_s=600)
    out = sh(api, box, 'echo "$GREETING from $(whoami) in $PWD"; echo oops >&2; exit 7')
    assert out["exit_code"] == 7 and out["stdout"] == "hello from root in /workspace\n" and out["stderr"] == "oops\n"
    out = sh(api, box, "echo $A$B; pwd", cwd="/tmp", env={"A": "x", "B": "y"}, timeout_ms=5000)
    assert out["stdout"] == "xy\n/tmp\n"
    slow = sh(api, box, "sleep 30", timeout_ms=500)
    assert slow["timed_out"] is True and slow["exit_code"] is None

    # found by id, by name, and by labels; not by other labels
    assert api.get(f"/v1/sandboxes/{box['name']}").json()["id"] == box["id"]
    listed = api.get("/v1/sandboxes", params={"label": ["project=p1", "team=x"]}).json()
    assert [s["id"] for s in listed["sandboxes"]] == [box["id"]]
    assert api.get("/v1/sandboxes", params={"label": "project=nope"}).json()["total"] == 0

    # Everything persists, not only /workspace: it is the sandbox's whole filesystem; processes do not.
    sh(api, box, "echo kept > /workspace/note.txt; echo tmp > /tmp/scratch; echo tool > /usr/local/bin/mine")
    sh(api, box, "nohup sleep 1000 >/dev/null 2>&1 &")
    stopped = api.post(f"/v1/sandboxes/{box['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    assert api.get(f"/v1/sandboxes/{box['id']}").json()["state"] == "stopped"
    refused = api.post(f"/v1/sandboxes/{box['id']}/exec", json={"command": "true"})
    assert refused.status_code == 409 and "start it first" in refused.json()["error"]["message"]
    started = api.post(f"/v1/sandboxes/{box['id']}/start")
    assert started.status_code == 200 and started.json()["state"] == "started"
    out = sh(api, box, "cat /workspace/note.txt /tmp/scratch /usr/local/bin/mine; pgrep -c sleep || true")
    assert out["stdout"] == "kept\ntmp\ntool\n0\n", out

    deleted = api.delete(f"/v1/sandboxes/{box['id']}")
    assert deleted.status_code == 200 and deleted.json()["state"] == "deleted"
    assert api.get(f"/v1/sandboxes/{box['name']}").status_code == 404


def test_bad_requests_name_the_field_and_the_rule(api: httpx.Client, two_hosts: Stack) -> None:
    unknown = api.post("/v1/sandboxes", json={"template": "Windows XP"})
    assert unknown.status_code == 422
    assert "neither a template (agent, desktop, default" in unknown.json()["error"]["message"]
    assert unknown.json()["error"]["fields"][0]["field"] == "template"
    both = api.post("/v1/sandboxes", json={"template": "agent", "image": "debian:12"})
    assert both.status_code == 422 and both.json()["error"]["fields"][0]["rule"] == "exclusive"
    too_big = api.post("/v1/sandboxes", json={"memory_bytes": 1 << 40, "env": {"1BAD": "x"}})
    fields = {f["field"] for f in too_big.json()["error"]["fields"]}
    assert too_big.status_code == 422 and fields == {"memory_bytes", "env.1BAD"}
    other = httpx.get(f"{two_hosts.url}/v1/sandboxes/missing", headers={"X-Auth-Token": make_tenant().key})
    assert other.status_code == 404


def test_quota_of_live_sandboxes(api: httpx.Client, two_hosts: Stack) -> None:
    boxes = [create(api) for _ in range(4)]
    over = api.post("/v1/sandboxes", json={})
    assert over.status_code == 409 and "quota" in over.json()["error"]["message"]
    # the least loaded host gets each new one: with two hosts, both are used
    assert {b["host"] for b in boxes} == {two_hosts.worker_name(h) for h in HOSTS}
    for box in boxes:
        assert api.delete(f"/v1/sandboxes/{box['id']}").status_code == 200
    create(api)  # room again


def test_sessions_run_in_order_keep_state_and_run_in_the_background(api: httpx.Client) -> None:
    box = create(api)
    base = f"/v1/sandboxes/{box['id']}/sessions"
    assert api.post(base, json={"session": "dev"}).status_code == 201
    first = api.post(f"{base}/dev/commands", json={"command": "cd /tmp && export COLOR=blue"}).json()
    assert first["exit_code"] == 0
    second = api.post(f"{base}/dev/commands", json={"command": "echo $COLOR in $PWD"}).json()
    assert second["stdout"] == "blue in /tmp\n"

    started = api.post(
        f"{base}/dev/commands", json={"command": "for i in 1 2 3; do echo tick $i; sleep 0.2; done", "async": True}
    )
    command = started.json()
    assert started.status_code == 200 and command["running"] is True and command["stdout"] is None
    logs = eventually(
        lambda: (r := api.get(f"{base}/dev/commands/{command['id']}").json())["exit_code"] == 0 and r, timeout=20
    )
    assert logs["stdout"] == "tick 1\ntick 2\ntick 3\n"

    forever = api.post(f"{base}/dev/commands", json={"command": "sleep 600", "async": True}).json()
    cancelled = api.post(f"{base}/dev/commands/{forever['id']}/cancel").json()
    assert cancelled["running"] is False and cancelled["exit_code"] == 137
    listed = api.get(base).json()["sessions"]
    assert [s["session"] for s in listed] == ["dev"] and len(listed[0]["commands"]) == 4
    assert api.get(f"{base}/dev/commands/nope").status_code == 404
    assert api.delete(f"{base}/dev").status_code == 200
    assert api.post(f"{base}/dev/commands", json={"command": "true"}).status_code == 404


def test_python_kernel_keeps_variables_until_restarted(api: httpx.Client) -> None:
    box = create(api)
    cells = f"/v1/sandboxes/{box['id']}/kernel/cells"
    assert api.post(cells, json={"code": "x = 20\nprint('set')"}).json()["output"] == "set\n"
    assert "42" in api.post(cells, json={"code": "x * 2 + 2"}).json()["output"]
    failed = api.post(cells, json={"code": "1/0"}).json()
    assert failed["error"]["ename"] == "ZeroDivisionError" and "ZeroDivisionError" in failed["output"]
    spin = api.post(cells, json={"code": "while True: pass", "timeout_ms": 1000}).json()
    assert spin["timed_out"] is True
    assert api.post(cells, json={"code": "print(x)"}).json()["output"] == "20\n"  # interrupted, not lost
    assert api.post(f"/v1/sandboxes/{box['id']}/kernel/restart").status_code == 200
    gone = api.post(cells, json={"code": "print(x)"}).json()
    assert gone["error"]["ename"] == "NameError"


def test_files_binary_exact_and_every_operation(api: httpx.Client) -> None:
    box = create(api, disk_bytes=1 << 30)
    files = f"/v1/sandboxes/{box['id']}/files"
    body = os.urandom(100 << 20)  # 100 MiB of every byte value
    put = api.put(f"{files}/content", params={"path": "data/blob.bin", "mode": "640"}, content=body)
    assert put.status_code == 200, put.text
    assert put.json() == {"path": "/workspace/data/blob.bin", "size": len(body)}
    got = api.get(f"{files}/content", params={"path": "/workspace/data/blob.bin"})
    assert got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(body).digest()
    assert sh(api, box, "sha256sum data/blob.bin | cut -c1-64")["stdout"].strip() == hashlib.sha256(body).hexdigest()

    stat = api.get(f"{files}/stat", params={"path": "data/blob.bin"}).json()
    assert stat["size"] == len(body) and stat["mode"] == "0640" and stat["is_dir"] is False
    made = api.post(f"{files}/mkdir", json={"path": "a/b/c", "mode": "700"}).json()
    assert made["is_dir"] and made["mode"] == "0700"
    assert api.post(f"{files}/chmod", json={"path": "data/blob.bin", "mode": "600"}).json()["mode"] == "0600"
    api.put(f"{files}/content", params={"path": "a/notes.md"}, content=b"first line\nthe needle is here\n")
    moved = api.post(f"{files}/move", json={"source": "a/notes.md", "destination": "a/b/notes.md"})
    assert moved.status_code == 200 and moved.json()["path"] == "/workspace/a/b/notes.md"
    names = [e["name"] for e in api.get(files, params={"path": "a/b"}).json()["entries"]]
    assert names == ["c", "notes.md"]
    assert api.get(f"{files}/find", params={"pattern": "*.md"}).json()["paths"] == ["/workspace/a/b/notes.md"]
    found = api.get(f"{files}/search", params={"pattern": "need+le"}).json()["matches"]
    assert found == [{"path": "/workspace/a/b/notes.md", "line": 2, "content": "the needle is here"}]
    assert api.delete(files, params={"path": "a"}).status_code == 409  # a non-empty directory needs recursive
    assert api.delete(files, params={"path": "a", "recursive": True}).status_code == 200
    assert api.get(f"{files}/stat", params={"path": "a"}).status_code == 404
    empty = api.put(f"{files}/content", params={"path": "empty"}, content=b"")
    assert empty.json()["size"] == 0 and api.get(f"{files}/content", params={"path": "empty"}).content == b""


def test_planted_symlinks_lead_nowhere_outside_the_sandbox(api: httpx.Client) -> None:
    """In a sandbox whose image runs as an ordinary user, the agent (root in the sandbox) acts on files as that
    user: a link planted by the user's code leads only where the user could go."""
    box = create(api, image=ensure_user_image())
    files = f"/v1/sandboxes/{box['id']}/files"
    plant = (
        "ln -s /proc/1/root agent-root; ln -s /proc/1/environ env-link; "
        "ln -s /etc/shadow shadow; mkdir -p d; ln -s /opt/runyard d/opt"
    )
    sh(api, box, plant)
    for path in ("agent-root/etc/shadow", "env-link", "shadow", "/proc/1/environ", "agent-root/opt/runyard/spawn"):
        response = api.get(f"{files}/content", params={"path": path})
        assert response.status_code == 403, (path, response.status_code, response.text[:200])
    # writes through a link into a place the sandbox user may not write are refused too
    refused = api.put(f"{files}/content", params={"path": "d/opt/evil.py"}, content=b"print('pwned')")
    assert refused.status_code == 403
    # and deleting a directory that contains a link removes the link, not what it points to
    assert api.delete(files, params={"path": "d", "recursive": True}).status_code == 200
    assert sh(api, box, "ls /opt/runyard/sandbox_agent.pyz")["exit_code"] == 0
    # the host's files are not the sandbox's: its /etc/hostname is its own
    assert api.get(f"{files}/content", params={"path": "/etc/hostname"}).content == b"sandbox\n"


def _job_worker(job_id: str) -> str | None:
    with transaction(get_settings()) as session:
        return session.execute(select(Job.worker).where(Job.id == job_id)).scalar_one()


def test_jobs_go_to_the_sandbox_host_and_wait_for_it(api: httpx.Client, two_hosts: Stack) -> None:
    boxes = [create(api), create(api)]
    assert {b["host"] for b in boxes} == {two_hosts.worker_name(h) for h in HOSTS}
    for box in boxes:
        queued = api.post(f"/v1/sandboxes/{box['id']}/exec", params={"wait": "false"}, json={"command": "hostname"})
        assert queued.status_code == 202
        job = api.get(f"/v1/jobs/{queued.json()['id']}", params={"wait": 30}).json()
        assert job["state"] == "succeeded" and _job_worker(job["id"]) == box["host"]

    on_b = next(b for b in boxes if str(b["host"]).endswith("-b"))
    api.post(f"/v1/sandboxes/{on_b['id']}/sessions", json={"session": "keep"})
    api.post(f"/v1/sandboxes/{on_b['id']}/sessions/keep/commands", json={"command": "export KEPT=yes"})
    two_hosts.kill("b", signal.SIGKILL)
    try:
        waiting = api.post(f"/v1/sandboxes/{on_b['id']}/exec", params={"wait": "false"}, json={"command": "echo late"})
        after_sweeps(two_hosts.redis_url)  # host a is alive and idle, the sweep re-sends: none gives it b's job
        assert api.get(f"/v1/jobs/{waiting.json()['id']}").json()["state"] == "queued"
    finally:
        two_hosts.start_worker("b")
    job = api.get(f"/v1/jobs/{waiting.json()['id']}", params={"wait": 60}).json()
    assert job["state"] == "succeeded" and _job_worker(job["id"]) == on_b["host"]
    # the sandbox outlived its worker: the restarted worker attached to the same container and session
    kept = api.post(f"/v1/sandboxes/{on_b['id']}/sessions/keep/commands", json={"command": "echo $KEPT"}).json()
    assert kept["stdout"] == "yes\n"
    for box in boxes:
        api.delete(f"/v1/sandboxes/{box['id']}")


def test_idle_sandboxes_stop_by_themselves(api: httpx.Client) -> None:
    box = create(api, auto_stop_s=1)
    eventually(lambda: api.get(f"/v1/sandboxes/{box['id']}").json()["state"] == "stopped", timeout=60)
    assert api.post(f"/v1/sandboxes/{box['id']}/start").json()["state"] == "started"
    api.delete(f"/v1/sandboxes/{box['id']}")


def test_sandboxai_client_unmodified(two_hosts: Stack) -> None:
    from sandboxai import Sandbox
    from sandboxai.client.v1 import HttpClient, SandboxNotFoundError

    tenant: Tenant = make_tenant()
    base = two_hosts.url.replace("http://", f"http://runyard:{tenant.key}@") + "/sandboxai/v1"
    with Sandbox(base_url=base, env={"MY_TEST_VAR": "test-value"}) as box:
        assert box.name
        assert box.run_shell_command("echo hello").output == "hello\n"
        assert box.run_shell_command("echo -n $MY_TEST_VAR").output == "test-value"
        assert box.run_ipython_cell("x = 2\nprint(x + 1)").output == "3\n"
        assert box.run_ipython_cell("print(x * 10)").output == "20\n"
        assert HttpClient(base).get_sandbox("default", box.name).name == box.name
        name = box.name
    with pytest.raises(SandboxNotFoundError):
        HttpClient(base).get_sandbox("default", name)
    wrong = httpx.post(base.replace(tenant.key, "nope") + "/spaces/default/sandboxes", json={"spec": {}})
    assert wrong.status_code == 401 and "message" in wrong.json()


def test_idle_sandboxes_are_deleted_after_their_interval(api: httpx.Client) -> None:
    box = create(api, auto_stop_s=1, auto_delete_s=1)
    eventually(lambda: api.get(f"/v1/sandboxes/{box['id']}").json()["state"] == "deleted", timeout=90)
    assert api.get("/v1/sandboxes").json()["total"] == 0


def test_parallel_creates_never_share_a_container(api: httpx.Client, two_hosts: Stack) -> None:
    with ThreadPoolExecutor(4) as pool:
        boxes = list(pool.map(lambda _: create(api), range(4)))
    with transaction(get_settings()) as session:
        rows = session.execute(select(Sandbox.container_id).where(Sandbox.id.in_([b["id"] for b in boxes]))).all()
    assert len({r.container_id for r in rows}) == 4
    for i, box in enumerate(boxes):
        sh(api, box, f"echo {i} > /workspace/mine")
    assert [sh(api, b, "cat /workspace/mine")["stdout"] for b in boxes] == [f"{i}\n" for i in range(4)]
    metrics = httpx.get(f"{two_hosts.url}/metrics").text
    assert 'runyard_sandboxes{host="' in metrics and "runyard_sandbox_pool_hits_total" in metrics
    for box in boxes:
        api.delete(f"/v1/sandboxes/{box['id']}")


def test_a_sandbox_deleted_while_it_is_created_stays_deleted(api: httpx.Client, two_hosts: Stack) -> None:
    """A delete right after a create nobody waited for: the create, finishing after the delete, used to mark the
    sandbox started again, with a container nobody would remove."""
    ids = []
    for _ in range(3):
        made = api.post("/v1/sandboxes", params={"wait": "false"}, json={})
        assert made.status_code in (201, 202), made.text
        ids.append(made.json()["id"])
        gone = api.delete(f"/v1/sandboxes/{ids[-1]}", params={"wait": "false"})
        assert gone.status_code in (200, 202), gone.text

    def settled() -> bool:
        with transaction(get_settings()) as session:
            jobs = session.execute(select(Job.state).where(Job.sandbox_id.in_(ids))).scalars().all()
        return len(jobs) == 2 * len(ids) and all(state in ("succeeded", "failed") for state in jobs)

    eventually(settled, timeout=60)
    with transaction(get_settings()) as session:
        rows = session.execute(select(Sandbox.state, Sandbox.container_id).where(Sandbox.id.in_(ids))).all()
    assert [tuple(r) for r in rows] == [("deleted", None)] * len(ids)


def test_async_exec_with_a_signed_callback(api: httpx.Client, two_hosts: Stack) -> None:
    receiver = CallbackReceiver()
    try:
        box = create(api)
        queued = api.post(
            f"/v1/sandboxes/{box['id']}/exec", params={"callback_url": receiver.url}, json={"command": "echo called"}
        )
        assert queued.status_code == 202 and queued.json()["state"] in ("queued", "running", "succeeded")
        eventually(lambda: receiver.received, timeout=30)
        [delivery] = receiver.received
        body = delivery.json()
        assert body["id"] == queued.json()["id"] and body["kind"] == "sandbox.exec" and body["state"] == "succeeded"
        assert base64.b64decode(body["result"]["stdout"]) == b"called\n"
        secret = api.get("/v1/me").json()["callback_secret"]
        assert verify(secret, delivery.body, delivery.headers[SIGNATURE_HEADER.lower()])
        listing = api.get(f"/v1/sandboxes/{box['id']}/files", params={"path": "/", "wait": "false"})
        assert listing.status_code == 202 and listing.json()["kind"] == "sandbox.files.list"
        polled = api.get(f"/v1/jobs/{listing.json()['id']}", params={"wait": 30}).json()
        assert "workspace" in [e["name"] for e in polled["result"]["entries"]]
        bad = api.post(f"/v1/sandboxes/{box['id']}/exec", params={"callback_url": "ftp://x"}, json={"command": "true"})
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "callback_url"
        api.delete(f"/v1/sandboxes/{box['id']}")
    finally:
        receiver.close()


def test_hostile_and_malformed_input_never_gets_a_5xx(api: httpx.Client) -> None:
    box = create(api)
    base = f"/v1/sandboxes/{box['id']}"
    odd_paths = ["", "\x00", "../../../../etc/shadow", "/proc/self/root/" * 20, "é/☃/\u202e", "a" * 5000, "/dev/zero"]
    calls: list[tuple[str, str, dict[str, object]]] = []
    for path in odd_paths:
        calls += [
            ("GET", f"{base}/files/content", {"params": {"path": path}}),
            ("PUT", f"{base}/files/content", {"params": {"path": path}, "content": b"x"}),
            ("GET", f"{base}/files", {"params": {"path": path}}),
            ("GET", f"{base}/files/stat", {"params": {"path": path}}),
            ("POST", f"{base}/files/mkdir", {"json": {"path": path, "mode": "777"}}),
            ("DELETE", f"{base}/files", {"params": {"path": path, "recursive": "true"}}),
            ("POST", f"{base}/files/move", {"json": {"source": path, "destination": path + "x"}}),
            ("POST", f"{base}/files/chmod", {"json": {"path": path, "mode": "4777"}}),
            ("GET", f"{base}/files/search", {"params": {"pattern": "(" + path, "path": path}}),
            ("POST", f"{base}/exec", {"json": {"command": "pwd", "cwd": path}}),
        ]
    calls += [
        ("POST", f"{base}/exec", {"json": {"command": "echo \x00"}}),
        ("POST", f"{base}/exec", {"json": {"command": "env", "env": {"A": "\x00"}}}),
        ("POST", f"{base}/exec", {"json": {"argv": [""]}}),
        ("POST", f"{base}/exec", {"json": {"command": "true", "timeout_ms": 10**12}}),
        ("POST", f"{base}/exec", {"content": b"{", "headers": {"Content-Type": "application/json"}}),
        ("POST", f"{base}/exec", {"json": []}),
        ("POST", f"{base}/sessions", {"json": {"session": "../x"}}),
        ("POST", f"{base}/sessions/none/commands", {"json": {"command": "true"}}),
        ("GET", f"{base}/sessions/none/commands/zzz", {}),
        ("POST", f"{base}/kernel/cells", {"json": {"code": 5}}),
        ("POST", "/v1/sandboxes/not-a-sandbox/exec", {"json": {"command": "true"}}),
        ("GET", "/v1/jobs/not-a-uuid", {}),
        ("GET", "/v1/sandboxes", {"params": {"label": "novalue"}}),
        ("POST", "/v1/sandboxes", {"json": {"name": "bad name!", "cpus": "lots", "labels": {"": "x"}}}),
    ]
    # JSON may spell lone surrogates (\ud800), which are no characters and which PostgreSQL refuses
    raw = {"headers": {"Content-Type": "application/json"}}
    for url, content in [
        (f"{base}/exec", b'{"command": "echo \\ud800"}'),
        (f"{base}/exec", b'{"command": "env", "env": {"A\\udfff": "x"}}'),
        (f"{base}/kernel/cells", b'{"code": "print(\\"\\ud800\\")"}'),
        (f"{base}/files/move", b'{"source": "\\ud800", "destination": "x"}'),
        ("/v1/sandboxes", b'{"env": {"A": "\\ud800"}, "labels": {"k": "\\udfff"}}'),
        ("/v1/sandboxes", b'{"template": "\\ud800"}'),
        ("/v1/runs", b'{"language": "python", "source": "\\ud800", "expected_output": "\\udfff"}'),
        ("/submissions", b'{"language_id": 71, "source_code": "\\ud800"}'),
    ]:
        calls.append(("POST", url, {**raw, "content": content}))
    for method, url, kwargs in calls:
        response = api.request(method, url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code < 500, (method, url, kwargs, response.status_code, response.text[:300])
    assert sh(api, box, "echo alive")["stdout"] == "alive\n"  # and the sandbox is unharmed


def test_commands_report_like_a_shell(api: httpx.Client) -> None:
    box = create(api)
    missing = api.post(f"/v1/sandboxes/{box['id']}/exec", json={"argv": ["/no/such/program", "x"]}).json()
    assert missing["exit_code"] == 127 and "No such file" in missing["stderr"]
    nodir = api.post(f"/v1/sandboxes/{box['id']}/exec", json={"command": "pwd", "cwd": "/nope"})
    assert nodir.status_code == 422 and nodir.json()["error"]["fields"][0]["field"] == "cwd"
    gone = api.get(f"/v1/sandboxes/{box['id']}/files/content", params={"path": "nothing/here"})
    assert gone.status_code == 404 and gone.json()["error"]["message"] == "path nothing/here not found"
    background = sh(api, box, "nohup python3 -m http.server 8080 >/dev/null 2>&1 & echo started")
    assert background["stdout"] == "started\n"
    served = eventually(lambda: sh(api, box, "curl -s localhost:8080/ | head -c 15")["stdout"], timeout=20)
    assert served.startswith("<!DOCTYPE")  # the server outlived the command that started it


def test_a_host_that_is_gone_for_good(database: None) -> None:
    """Host b dies and stays dead: its sandboxes become errored, its waiting jobs fail, and host a carries on."""
    env = {
        "RUNYARD_SANDBOXES__POOL_SIZE": "0",
        "RUNYARD_QUEUE__HOST_LOST_AFTER_S": "4",
        "RUNYARD_WORKER__HEARTBEAT_INTERVAL_S": "1",
        "RUNYARD_WORKER__HEARTBEAT_TTL_S": "3",
    }
    with (
        running_stack(10, env, workers=HOSTS, beat=True) as s,
        httpx.Client(base_url=s.url, headers={"X-Auth-Token": make_tenant().key}, timeout=120) as api,
    ):
        boxes = [create(api), create(api)]
        on_b = next(b for b in boxes if str(b["host"]).endswith("-b"))
        on_a = next(b for b in boxes if str(b["host"]).endswith("-a"))
        s.kill("b", signal.SIGKILL)
        stuck = api.post(f"/v1/sandboxes/{on_b['id']}/exec", params={"wait": "false"}, json={"command": "true"}).json()
        errored = eventually(
            lambda: (b := api.get(f"/v1/sandboxes/{on_b['id']}").json())["state"] == "error" and b, timeout=60
        )
        assert "stopped answering" in errored["error"]
        job = api.get(f"/v1/jobs/{stuck['id']}", params={"wait": 10}).json()
        assert job["state"] == "failed" and "stopped answering" in job["error"]
        assert sh(api, on_a, "echo still here")["stdout"] == "still here\n"
        assert (
            api.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print(7)"}).json()[
                "stdout"
            ]
            == "7\n"
        )  # runs go on, on the host that is left
        fresh = create(api)
        assert fresh["host"] == on_a["host"]  # new sandboxes go to hosts that are alive
        gone = api.delete(f"/v1/sandboxes/{on_b['id']}")
        assert gone.status_code == 200, gone.text
        eventually(lambda: api.get(f"/v1/sandboxes/{on_b['id']}").json()["state"] == "deleted", timeout=30)


def test_metrics_record_latency_per_kind_callbacks_and_containers(api: httpx.Client, two_hosts: Stack) -> None:
    box = create(api)
    sh(api, box, "true")
    api.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print(1)"})
    text = httpx.get(f"{two_hosts.url}/metrics").text

    def value(line_start: str) -> float:
        line = next(ln for ln in text.splitlines() if ln.startswith(line_start))
        return float(line.rsplit(" ", 1)[1])

    for name in ("queue_wait", "execution"):
        for kind in ("run", "sandbox.exec", "sandbox.create"):
            assert value(f'runyard_job_{name}_seconds_count{{kind="{kind}"}}') >= 1
            assert value(f'runyard_job_{name}_seconds_bucket{{kind="{kind}",le="+Inf"}}') >= 1
    assert value('runyard_callbacks_total{result="delivered"}') >= 1  # the callback test's delivery
    assert value(f'runyard_containers{{worker="{two_hosts.worker_name("a")}"}}') >= 1
    api.delete(f"/v1/sandboxes/{box['id']}")
