"""Sandboxes are whole computers: any image, its own user (root included, but never root on the host),
a writable filesystem that persists, a hard disk quota, and the abuse suite holding for root.

The images are not ours: Debian's minbase with no Python (running as root), and one built from it whose
USER is an ordinary user (tests/sandbox_images.py). Daytona's SDK, the newest release and 0.115, drives
them through tests/clients/daytona_images.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import Job, Sandbox
from core.settings import get_settings
from tests.integration.conftest import make_tenant
from tests.integration.helpers import create_sandbox, eventually, sh
from tests.integration.test_daytona import OLDEST, python_with
from tests.sandbox_images import BARE, ensure_user_image, sandbox_engine
from tests.stack import ROOT, Stack, running_stack
from workers.runtime.docker_workspace import SANDBOX_CAPS

CLIENT = ROOT / "tests" / "clients" / "daytona_images.py"
# Linux capability numbers (include/uapi/linux/capability.h) of what a sandbox may hold, and what it must not.
CAP_NUMBERS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
    "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_ADMIN": 21, "SYS_BOOT": 22,
    "SYS_RESOURCE": 24, "SYS_TIME": 25, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31, "MAC_ADMIN": 33,
    "BPF": 39,
}  # reason: a table, one capability per entry  # fmt: skip


@pytest.fixture(scope="module")
def images_stack(database: None) -> Iterator[Stack]:
    with running_stack(3, {"RUNYARD_SANDBOXES__POOL_SIZE": "1"}, workers=("worker",)) as s:
        yield s


@pytest.fixture(scope="module")
def api(images_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=images_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=180) as c:
        yield c


@pytest.mark.parametrize("sdk", ["newest", OLDEST])
def test_any_image_through_daytonas_sdk(images_stack: Stack, sdk: str) -> None:
    from importlib.metadata import version

    python = python_with(version("daytona") if sdk == "newest" else sdk)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    env.update(
        DAYTONA_API_URL=f"{images_stack.url}/daytona/api",
        DAYTONA_API_KEY=make_tenant().key,
        USER_IMAGE=ensure_user_image(),
    )
    done = subprocess.run([python, str(CLIENT)], env=env, capture_output=True, text=True, timeout=900, cwd="/tmp")
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    bare, user = seen["bare"], seen["user"]
    # No Python in the image, and the agent still serves it; the image's own root, in root's home.
    assert bare["exec"] == [0, ["0", "/root", "/root", "none", "none"]], bare
    assert bare["session"] == "7 /tmp" and bare["pty_uid"] == "0"
    assert bare["round_trip"] is True and bare["owner"] == "0"
    # What root wrote anywhere (here /usr/local and its home) survives stop/start and archive/start.
    assert bare["marks"] == bare["after_stop"] == bare["after_archive"] == ["local", "work"], bare
    assert bare["archived"] == "archived"
    # The image's USER, WORKDIR and ENV; the user cannot write /usr/local, as on any computer.
    assert user["exec"][0] == 0 and user["exec"][1][:4] == [
        "1000",
        "/home/alice/project",
        "/home/alice",
        "from-the-image",
    ]
    assert user["session"] == "7 /tmp" and user["pty_uid"] == "1000"
    assert user["round_trip"] is True and user["owner"] == "1000"
    assert user["marks"] == user["after_stop"] == user["after_archive"] == ["no-local", "work"], user
    # Network on unless blocked: an egress interface, or only loopback.
    assert "eth0" in bare["interfaces"] and "eth0" in user["interfaces"]
    assert seen["blocked_interfaces"] == ["lo"]


def _pooled_after(api: httpx.Client, since: float, image: str) -> None:
    """Until a heartbeat sent after `since` shows a ready sandbox of the image in the host's pool."""

    def ready() -> bool:
        worker = api.get("/v1/status").json()["workers"][0]
        return bool(worker["at"] > since and worker["sandboxes"]["pool_images"].get(image, 0) >= 1)

    eventually(ready, timeout=90)


def _from_pool(box: dict[str, object]) -> bool:
    with transaction(get_settings()) as session:
        result = session.execute(
            select(Job.result).where(Job.sandbox_id == uuid.UUID(str(box["id"])), Job.kind == "sandbox.create")
        ).scalar_one()
    return bool(result["from_pool"])


def test_the_pool_follows_the_images_in_demand(api: httpx.Client) -> None:
    """A networked root sandbox from a tenant's image is pooled too, once that image is in demand."""
    first = create_sandbox(api, image=BARE)
    _pooled_after(api, time.time(), BARE)
    second = create_sandbox(api, image=BARE)
    assert _from_pool(second)
    out = sh(api, second, "id -u; ls /sys/class/net | grep -c eth0")
    assert out["stdout"] == "0\n1\n", out
    _pooled_after(api, time.time(), BARE)
    blocked = create_sandbox(api, image=BARE, network=False)  # from the pool too, taken off the network
    assert _from_pool(blocked)
    assert sh(api, blocked, "ls /sys/class/net")["stdout"] == "lo\n"
    for box in (first, second, blocked):
        api.delete(f"/v1/sandboxes/{box['id']}")


def _host_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _host_uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def test_root_inside_is_not_root_on_the_host(api: httpx.Client) -> None:
    box = create_sandbox(api, image=BARE)
    out = sh(api, box, "id -u; (exec -a runyard-root-probe-31337 sleep 300 &) ; echo started")
    assert out["stdout"] == "0\nstarted\n", out
    pids = eventually(lambda: _host_processes("runyard-root-probe-31337"), timeout=10)
    uids = {_host_uid(pid) for pid in pids}
    assert 0 not in uids and min(uids) >= 100000, uids  # the sandbox engine's remapped range
    api.delete(f"/v1/sandboxes/{box['id']}")


def test_disk_quota_stops_a_write_past_it(api: httpx.Client) -> None:
    small = create_sandbox(api, image=BARE, disk_bytes=1 << 30)
    neighbour = create_sandbox(api, image=BARE)
    # 2 GiB into the root filesystem: the quota covers everything the sandbox writes, wherever.
    out = sh(api, small, "dd if=/dev/zero of=/var/big bs=1M count=2048 2>&1; echo status=$?", timeout_ms=120_000)
    assert "status=1" in str(out["stdout"]), out
    assert "Disk quota exceeded" in str(out["stdout"]) or "No space left" in str(out["stdout"]), out
    size = int(str(sh(api, small, "stat -c %s /var/big")["stdout"]))
    assert (1 << 29) < size <= (1 << 30), size
    # The rest of its disk is the workspace's too: full is full.
    assert sh(api, small, "head -c 1048576 /dev/zero > /root/more")["exit_code"] != 0
    # Freeing space gives it back; a neighbour never noticed.
    assert sh(api, small, "rm /var/big && head -c 1048576 /dev/zero > /root/more")["exit_code"] == 0
    assert sh(api, neighbour, "head -c 67108864 /dev/zero > /root/fine && echo ok")["stdout"] == "ok\n"
    for box in (small, neighbour):
        api.delete(f"/v1/sandboxes/{box['id']}")


ABUSE = r"""
echo "docker-socket $(ls /var/run/docker.sock /run/docker.sock /var/run/runyard-sandboxes 2>/dev/null | wc -l)"
echo "pid1 $(tr '\0' ' ' </proc/1/cmdline | cut -c1-40)"
echo "processes $(ls -d /proc/[0-9]* | wc -l)"
grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t' | sed 's/:/ /'
mount -t tmpfs none /mnt 2>/dev/null && echo "mount allowed" || echo "mount refused"
mknod /root/disk b 8 0 2>/dev/null && echo "mknod allowed" || echo "mknod refused"
echo "block-devices $(ls /dev | grep -cE '^(sd|vd|nvme|xvd|loop|dm-)')"
(echo 1 > /proc/sys/kernel/panic) 2>/dev/null && echo "sysctl allowed" || echo "sysctl refused"
limit=/sys/fs/cgroup/memory/memory.limit_in_bytes
[ -e $limit ] || limit=/sys/fs/cgroup/memory.max
(echo 109951162777600 > $limit) 2>/dev/null && echo "cgroup writable" || echo "cgroup refused"
echo "memory-limit $(cat $limit)"
# the sandbox's own cgroup directories belong to the host's root: no moving, no sub-cgroup of its own
procs=/sys/fs/cgroup/pids/cgroup.procs
[ -e $procs ] || procs=/sys/fs/cgroup/cgroup.procs
(echo 1 > $procs) 2>/dev/null && echo "cgroup-move allowed" || echo "cgroup-move refused"
mkdir "$(dirname $procs)/escape" 2>/dev/null && echo "cgroup-mkdir allowed" || echo "cgroup-mkdir refused"
(echo 0 > /opt/runyard/spawn) 2>/dev/null && echo "runtime writable" || echo "runtime refused"
timeout 3 bash -c 'exec 3<>/dev/tcp/172.31.252.1/22' 2>/dev/null && echo "gateway open" || echo "gateway closed"
"""


def _processes(api: httpx.Client, box: dict[str, object]) -> int:
    """How many processes the sandbox has; a large number while it cannot even start the count."""
    reply = api.post(f"/v1/sandboxes/{box['id']}/exec", json={"command": "ls -d /proc/[0-9]* | wc -l"})
    return int(reply.json()["stdout"]) if reply.status_code == 200 and reply.json()["exit_code"] == 0 else 1 << 20


def _container(box: dict[str, object]) -> docker.models.containers.Container:
    with transaction(get_settings()) as session:
        container_id = session.execute(
            select(Sandbox.container_id).where(Sandbox.id == uuid.UUID(str(box["id"])))
        ).scalar_one()
    return sandbox_engine().containers.get(container_id)


def _capabilities(mask: str) -> set[str]:
    value = int(mask, 16)
    return {name for name, bit in CAP_NUMBERS.items() if value >> bit & 1}


def test_the_abuse_suite_holds_for_a_root_sandbox(api: httpx.Client) -> None:
    box = create_sandbox(api, image=BARE, memory_bytes=256 << 20)
    out = sh(api, box, ABUSE, timeout_ms=30_000)
    facts = dict(line.split(" ", 1) for line in str(out["stdout"]).splitlines())
    assert facts["docker-socket"] == "0"
    assert "docker-init" in facts["pid1"], facts  # its own process namespace: none of the host's processes
    assert int(facts["processes"]) < 20
    # Root's capabilities are the few package managers need; nothing that reaches the kernel or the host.
    assert _capabilities(facts["CapEff"]) == set(SANDBOX_CAPS), facts["CapEff"]
    assert _capabilities(facts["CapBnd"]) == set(SANDBOX_CAPS)
    assert facts["NoNewPrivs"] == "1" and facts["Seccomp"] == "2"
    for refused in ("mount", "mknod", "sysctl", "cgroup", "cgroup-move", "cgroup-mkdir", "runtime"):
        assert refused + " refused" in out["stdout"], (refused, out)
    assert facts["block-devices"] == "0"
    assert int(facts["memory-limit"]) == 256 << 20
    assert facts["gateway"] == "closed"

    # A fork bomb meets the process limit and stays inside it; a neighbour never notices; the sandbox says
    # why it cannot start more, and a stop and start (which ends every process) makes it whole.
    neighbour = create_sandbox(api, image=BARE)
    sh(api, box, "bash -c ':(){ :|:& };:' >/dev/null 2>&1 &")
    container = _container(box)
    limit = container.attrs["HostConfig"]["PidsLimit"]
    eventually(lambda: container.stats(stream=False)["pids_stats"].get("current", 0) >= limit - 8, timeout=60)
    for _ in range(3):
        assert container.stats(stream=False)["pids_stats"]["current"] <= limit
    assert sh(api, neighbour, "echo fine")["stdout"] == "fine\n"
    full = api.post(f"/v1/sandboxes/{box['id']}/exec", json={"command": "true"})
    assert full.status_code == 409 and "process limit" in full.text, full.text
    assert api.post(f"/v1/sandboxes/{box['id']}/stop").json()["state"] == "stopped"
    assert api.post(f"/v1/sandboxes/{box['id']}/start").json()["state"] == "started"
    assert _processes(api, box) < 10
    hog = sh(api, box, "head -c 1G /dev/zero | tail > /dev/null; echo exit=$?", timeout_ms=60_000)
    assert "exit=137" in str(hog["stdout"]), hog  # SIGKILLed by the OOM killer inside the sandbox's cgroup
    assert sh(api, box, "echo alive")["stdout"] == "alive\n"
    for sandbox in (box, neighbour):
        api.delete(f"/v1/sandboxes/{sandbox['id']}")


def test_a_deleted_sandbox_leaves_nothing_behind(api: httpx.Client) -> None:
    box = create_sandbox(api, image=BARE)
    sh(api, box, "echo x > /root/left-behind")
    container = _container(box)
    assert container.status == "running"
    api.post(f"/v1/sandboxes/{box['id']}/stop")
    container.reload()
    assert container.status == "exited"  # stopped: its filesystem is kept
    api.delete(f"/v1/sandboxes/{box['id']}")
    with pytest.raises(docker.errors.NotFound):
        container.reload()


def test_an_image_that_cannot_be_had_is_a_clear_error(api: httpx.Client) -> None:
    """Not on the host and no registry that has it: the create fails naming the image, and says why."""
    missing = api.post("/v1/sandboxes", json={"image": "runyard-test/does-not-exist:1", "name": "no-such-image"})
    assert missing.status_code == 422, missing.text
    error = missing.json()["error"]
    assert error["fields"][0]["field"] == "image" and error["fields"][0]["rule"] == "image_unavailable"
    assert "runyard-test/does-not-exist:1" in error["message"] and "could not be pulled" in error["message"]
    box = api.get("/v1/sandboxes/no-such-image").json()
    assert box["state"] == "error" and "could not be pulled" in box["error"]
    assert api.delete(f"/v1/sandboxes/{box['id']}").status_code == 200
