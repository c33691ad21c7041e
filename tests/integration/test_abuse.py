"""Hostile code, one attack per test, all in the same reused sandbox.

The stack here has one worker thread and a pool of one sandbox, so every run
lands in the sandbox the previous (hostile) run left behind: each test proves
the attack is contained *and* that the reset between runs leaves nothing.

After every attack: the right status, the worker process alive, /health ready,
no process of the sandbox user left on the host, and a normal run succeeding.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from core.settings import get_settings
from tests.integration.abuse_programs import BY_FAMILY
from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.stack import Stack, running_stack

SANDBOX_UID = 64000


# The run containers the engine shows for the abuse stack when it became ready: the engine's word, which no
# program inside a container can forge.
FIRST_CONTAINERS: set[str] = set()


def run_containers(stack: Stack) -> set[str]:
    engine = docker.from_env()
    try:
        label = [f"org.runyard.worker={stack.worker_name('worker')}", "org.runyard.kind=run"]
        return {c.id for c in engine.containers.list(all=True, filters={"label": label}, sparse=True)}
    finally:
        engine.close()


@pytest.fixture(scope="module")
def abuse_stack(database: None) -> Iterator[Stack]:
    with running_stack(9, {"RUNYARD_WORKER__CONCURRENCY": "1", "RUNYARD_WORKER__POOL_SIZE": "1"}) as s:
        FIRST_CONTAINERS.update(eventually(lambda: run_containers(s), timeout=60))
        yield s


@pytest.fixture(scope="module")
def api(abuse_stack: Stack) -> Iterator[httpx.Client]:
    tenant = make_tenant()
    with httpx.Client(base_url=abuse_stack.url, headers={"X-Auth-Token": tenant.key}, timeout=120) as c:
        yield c


def run(api: httpx.Client, source: str, language: str = "python", **limits: int) -> dict[str, Any]:
    body = {"language": language, "source": source, "limits": limits}
    response = api.post("/v1/runs", params={"wait": "true"}, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    assert result["status"] not in ("queued", "running", "internal_error"), result
    return result


def sandbox_user_processes() -> list[int]:
    """Processes of the sandbox uid anywhere on this host (there is no user namespace)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == SANDBOX_UID:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def assert_unharmed(api: httpx.Client, stack: Stack) -> None:
    assert stack.procs["worker"].poll() is None, "the worker died"
    assert httpx.get(f"{stack.url}/health").status_code == 200
    eventually(lambda: not sandbox_user_processes(), timeout=20)
    after = run(api, "print('next run fine')")
    assert after["status"] == "accepted" and after["stdout"] == "next run fine\n", after
    engine = docker.from_env()
    try:
        label = f"org.runyard.worker={stack.worker_name('worker')}"
        containers = engine.containers.list(all=True, filters={"label": label})
    finally:
        engine.close()
    per_image = Counter(c.labels.get("org.runyard.image") for c in containers)
    assert max(per_image.values(), default=0) <= 2, per_image  # each family's pool of one, and its replacement


FORK_UNTIL_REFUSED = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    for (int n = 0;; n++) {
        pid_t pid = fork();
        if (pid < 0) { printf("%d forked, then: %s\n", n, strerror(errno)); return 0; }
        if (pid == 0) { for (;;) pause(); }
    }
}
"""


def test_fork_bomb(api: httpx.Client, abuse_stack: Stack) -> None:
    code = "#include <unistd.h>\nint main(void) { for (;;) fork(); }"
    result = run(api, code, language="c", wall_time_ms=3000)
    assert result["status"] == "time_limit_exceeded", result
    assert_unharmed(api, abuse_stack)
    # The limit is what stopped it: forks are refused once the run holds its process budget, and a budget
    # 20 larger lets exactly 20 more through (the agent's own processes count the same in both).
    forked = {}
    for budget in (20, 40):
        limited = run(api, FORK_UNTIL_REFUSED, language="c", processes=budget, wall_time_ms=3000)
        count, reason = limited["stdout"].split(" forked, then: ")
        assert reason.strip() == "Resource temporarily unavailable", limited
        forked[budget] = int(count)
        assert_unharmed(api, abuse_stack)
    overhead = get_settings().worker.agent_pids_overhead  # the agent's own room, on top of the run's budget
    assert forked[20] <= 20 + overhead and forked[40] - forked[20] == 20, forked


def test_memory_bomb(api: httpx.Client, abuse_stack: Stack) -> None:
    result = run(api, "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))", memory_bytes=64 << 20)
    assert result["status"] == "memory_limit_exceeded", result
    assert "Memory limit exceeded" in result["message"]
    assert_unharmed(api, abuse_stack)


def test_cpu_spin(api: httpx.Client, abuse_stack: Stack) -> None:
    result = run(api, "int main(void) { for (;;); }", language="c", cpu_time_ms=1000, cpu_extra_time_ms=0)
    assert result["status"] == "time_limit_exceeded", result
    assert 900 <= result["time_ms"] < 2500
    assert_unharmed(api, abuse_stack)


def test_threads_spinning_share_one_cpu_budget(api: httpx.Client, abuse_stack: Stack) -> None:
    """Four busy processes each stay under RLIMIT_CPU, but their sum is what counts."""
    code = (
        "import multiprocessing as m\ndef spin():\n    while True: pass\n"
        "if __name__ == '__main__':\n    [m.Process(target=spin).start() for _ in range(4)]\n    spin()"
    )
    result = run(api, code, cpu_time_ms=1000, cpu_extra_time_ms=0, wall_time_ms=8000)
    assert result["status"] == "time_limit_exceeded", result
    assert result["wall_time_ms"] < 6000  # stopped for CPU, long before the wall limit
    assert_unharmed(api, abuse_stack)


def test_sleep_past_the_wall_limit(api: httpx.Client, abuse_stack: Stack) -> None:
    result = run(api, "import time\ntime.sleep(60)", wall_time_ms=1500)
    assert result["status"] == "time_limit_exceeded"
    assert result["message"] == "Wall time limit exceeded"
    assert 1500 <= result["wall_time_ms"] < 3000
    assert_unharmed(api, abuse_stack)


def test_output_flood(api: httpx.Client, abuse_stack: Stack) -> None:
    code = "import sys\nfor _ in range(400):\n    sys.stdout.write('x' * 65536)\nsys.stderr.write('e' * 10**6)"
    result = run(api, code, output_bytes=1 << 20)
    assert result["status"] == "accepted", result
    assert result["stdout_truncated"] and len(result["stdout"]) == 1 << 20
    assert not result["stderr_truncated"] and len(result["stderr"]) == 10**6
    assert_unharmed(api, abuse_stack)


def test_disk_fill(api: httpx.Client, abuse_stack: Stack) -> None:
    code = (
        "import os\nn = 0\ntry:\n    while True:\n"
        "        with open(f'/box/fill{n}', 'wb') as f: f.write(b'\\0' * (1 << 20))\n        n += 1\n"
        "except OSError as e:\n    print(n, e.strerror)"
    )
    result = run(api, code, memory_bytes=256 << 20)
    assert result["status"] == "accepted", result
    written, reason = result["stdout"].split(" ", 1)
    assert int(written) <= 64 and "No space left" in reason
    after = run(api, "import os\nprint(os.listdir('/box'), os.statvfs('/box').f_bfree * 4096 > 60 << 20)")
    assert after["stdout"] == "['script.py'] True\n"  # only this run's own source: wiped, and the space is back
    assert_unharmed(api, abuse_stack)


def test_thousands_of_files(api: httpx.Client, abuse_stack: Stack) -> None:
    code = (
        "import os\nn = 0\ntry:\n    while n < 200000:\n"
        "        open(f'/tmp/f{n}', 'w').close()\n        n += 1\nexcept OSError as e:\n    print(n, e.strerror)"
    )
    result = run(api, code)
    assert result["status"] == "accepted", result
    created = int(result["stdout"].split(" ", 1)[0])
    assert 1000 < created < 20000 and "No space left" in result["stdout"]  # the inode limit, not the host
    assert run(api, "import os\nprint(len(os.listdir('/tmp')))")["stdout"] == "0\n"
    assert_unharmed(api, abuse_stack)


def test_processes_that_try_to_outlive_the_run(api: httpx.Client, abuse_stack: Stack) -> None:
    code = (
        "nohup sleep 300 >/dev/null 2>&1 &\n"
        "setsid sleep 300 >/dev/null 2>&1 < /dev/null &\n"
        "( ( sleep 300 & ) & )\n"
        "python3 -c 'import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(300)' &\n"
        "echo spawned"
    )
    result = run(api, code, language="bash")
    assert result["status"] == "accepted" and result["stdout"] == "spawned\n"
    assert result["wall_time_ms"] < 5000
    assert_unharmed(api, abuse_stack)


def test_setuid_tricks(api: httpx.Client, abuse_stack: Stack) -> None:
    code = (
        "for b in $(find / -xdev -perm -4000 -type f 2>/dev/null); do $b --help >/dev/null 2>&1; done\n"
        "su -c 'id -u' root < /dev/null 2>/dev/null; newgrp root < /dev/null 2>/dev/null\n"
        "python3 -c 'import os\ntry:\n    os.setuid(0)\nexcept PermissionError:\n    print(\"setuid refused\")'\n"
        "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"
    )
    result = run(api, code, language="bash")
    lines = result["stdout"].splitlines()
    assert "setuid refused" in lines and "64000" in lines
    assert "CapEff:\t0000000000000000" in lines and "CapBnd:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines
    assert_unharmed(api, abuse_stack)


def test_reading_proc_and_host_files(api: httpx.Client, abuse_stack: Stack) -> None:
    code = r"""
import os, glob
found = []
for path in ["/etc/shadow", "/proc/1/environ", "/proc/1/mem", "/proc/kcore", "/root"]:
    try:
        os.listdir(path) if path == "/root" else open(path, "rb").read(16)
        found.append("READ " + path)
    except OSError as e:
        found.append("denied " + path)
for environ in glob.glob("/proc/*/environ"):
    try:
        text = open(environ, "rb").read()
    except OSError:
        continue
    if b"RUNYARD" in text or b"PASSWORD" in text:
        found.append("LEAK " + environ)
for target in ["/proc/sys/kernel/hostname", "/sys/fs/cgroup/pids/pids.max", "/opt/runyard/agent.py", "/etc/passwd"]:
    try:
        open(target, "a").close()
        found.append("WROTE " + target)
    except OSError:
        found.append("readonly " + target)
print("\n".join(found))
print("env", sorted(os.environ))
"""
    result = run(api, code)
    out = result["stdout"]
    assert "READ" not in out and "LEAK" not in out and "WROTE" not in out, out
    env = re.search(r"env (.*)", out)
    assert env and env.group(1) == "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR', 'USER']"
    assert_unharmed(api, abuse_stack)


def test_signalling_or_tracing_the_agent(api: httpx.Client, abuse_stack: Stack) -> None:
    code = r"""
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
others = [int(p) for p in os.listdir("/proc") if p.isdigit() and os.stat(f"/proc/{p}").st_uid == 0]
for pid in others:
    for sig in (signal.SIGKILL, signal.SIGSTOP):
        try:
            os.kill(pid, sig)
            print("SIGNALLED", pid)
        except PermissionError:
            pass
    if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
        print("TRACED", pid)
print("root processes", len(others))
os.kill(-1, signal.SIGKILL)  # everything this user may signal, which is nobody else
print("still here")
"""
    result = run(api, code)
    assert "SIGNALLED" not in result["stdout"] and "TRACED" not in result["stdout"], result
    assert result["status"] == "accepted" and result["stdout"].endswith("still here\n")
    assert_unharmed(api, abuse_stack)


def test_planted_symlinks_and_locked_directories(api: httpx.Client, abuse_stack: Stack) -> None:
    """Links and mode-000 directories left for the reset (our own code) to trip over."""
    code = (
        "ln -s /etc /box/etc-link; ln -s /opt/runyard /tmp/agent-link; ln -s /proc/1/root /dev/shm/root-link\n"
        "mkdir -p /box/locked/deeper && touch /box/locked/deeper/file && chmod 000 /box/locked/deeper /box/locked\n"
        "ln -s / /box/locked-root 2>/dev/null; chmod 000 /box; echo planted"
    )
    assert run(api, code, language="bash")["stdout"] == "planted\n"
    check = (
        "import os\nprint(sorted(os.listdir('/box')), sorted(os.listdir('/tmp')), sorted(os.listdir('/dev/shm')))\n"
        "print(os.path.exists('/opt/runyard/agent.py'), oct(os.stat('/box').st_mode & 0o777))"
    )
    after = run(api, check)
    assert after["stdout"] == "['script.py'] [] []\nTrue 0o700\n", after
    assert_unharmed(api, abuse_stack)


def test_ipc_and_shared_memory_do_not_survive(api: httpx.Client, abuse_stack: Stack) -> None:
    plant = (
        "ipcmk -M 4096 >/dev/null; ipcmk -S 2 >/dev/null; ipcmk -Q >/dev/null\n"
        "echo secret > /dev/shm/secret; echo secret > /tmp/secret; echo secret > /box/secret\n"
        "python3 -c 'import os; fd = os.open(\"/dev/mqueue/q\", os.O_CREAT | os.O_WRONLY, 0o600)' 2>/dev/null\n"
        "ipcs | grep -c 0x"
    )
    planted = run(api, plant, language="bash")
    assert int(planted["stdout"].strip()) == 3
    look = (
        "ipcs | grep -c 0x; cat /dev/shm/secret /tmp/secret /box/secret 2>/dev/null | grep -c secret;"
        " ls -A /dev/mqueue | wc -l"
    )
    seen = run(api, look, language="bash")
    assert seen["stdout"].split() == ["0", "0", "0"], seen
    assert_unharmed(api, abuse_stack)


def test_docker_socket_and_network_are_out_of_reach(api: httpx.Client, abuse_stack: Stack) -> None:
    code = r"""
import os, socket
print("socket files", [p for p in ("/var/run/docker.sock", "/run/docker.sock") if os.path.exists(p)])
print("interfaces", sorted(os.listdir("/sys/class/net")))
for host, port in [("172.17.0.1", 2375), ("172.17.0.1", 6379), ("172.17.0.1", 5432), ("10.0.0.1", 80)]:
    try:
        socket.create_connection((host, port), timeout=1)
        print("CONNECTED", host, port)
    except OSError as e:
        pass
try:
    socket.getaddrinfo("deb.debian.org", 80)
    print("RESOLVED")
except OSError:
    print("no dns")
"""
    out = run(api, code)["stdout"]
    assert "socket files []" in out and "interfaces ['lo']" in out and "no dns" in out
    assert "CONNECTED" not in out and "RESOLVED" not in out
    assert_unharmed(api, abuse_stack)


def test_open_files_limit(api: httpx.Client, abuse_stack: Stack) -> None:
    code = (
        "import os\nfds = []\ntry:\n    while True:\n        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
        "except OSError as e:\n    print(len(fds), e.strerror)"
    )
    out = run(api, code)["stdout"]
    count, reason = out.split(" ", 1)
    assert 200 < int(count) <= 256 and "Too many open files" in reason
    assert_unharmed(api, abuse_stack)


def test_every_run_lands_in_the_same_reused_sandbox(api: httpx.Client, abuse_stack: Stack) -> None:
    """The premise of this module: one pooled run container served all these attacks, reset each time.

    Asked of the engine, not of the container: the same one container exists as when the stack started."""
    for _ in range(3):
        assert run(api, "print('again')")["stdout"] == "again\n"
    assert len(FIRST_CONTAINERS) == 1 and run_containers(abuse_stack) == FIRST_CONTAINERS
    workers = httpx.get(f"{abuse_stack.url}/v1/workers", headers=api.headers).json()
    pool = next(iter(workers[0]["pools"].values()))
    assert pool["created"] == 1 and pool["reset_failures"] == 0, pool


@pytest.mark.parametrize("family", sorted(BY_FAMILY))
def test_the_limits_hold_in_every_language_family(api: httpx.Client, abuse_stack: Stack, family: str) -> None:
    """The same abuse in each family's image, in its own language: each limit stops it there too.

    A runtime with its own heap (the JVM, Mono) may stop itself with an out-of-memory error before the
    kernel does; a run whose peak went past its limit is memory_limit_exceeded whatever stopped it."""
    attacks = BY_FAMILY[family]
    bomb = run(api, attacks.fork, language=attacks.language, wall_time_ms=3000)
    assert bomb["status"] == "time_limit_exceeded", bomb
    assert_unharmed(api, abuse_stack)
    hog = run(api, attacks.memory, language=attacks.language, memory_bytes=64 << 20)
    assert hog["status"] == "memory_limit_exceeded" or (
        hog["status"] == "runtime_error" and "OutOfMemory" in hog["stderr"]
    ), hog
    flood = run(api, attacks.flood, language=attacks.language, output_bytes=1 << 20)
    assert flood["status"] == "accepted" and flood["stdout_truncated"] and len(flood["stdout"]) == 1 << 20, flood
    disk = run(api, attacks.disk, language=attacks.language, memory_bytes=256 << 20)
    written, reason = disk["stdout"].split(" ", 1)
    assert disk["status"] == "accepted" and int(written) <= 64, disk
    assert "no space left" in reason.lower() or "disk full" in reason.lower(), disk
    assert_unharmed(api, abuse_stack)


def test_a_jvm_heap_is_sized_by_the_run_memory_limit(api: httpx.Client, abuse_stack: Stack) -> None:
    """Not by the JVM's own default (a quarter of the machine): 100 MB held fits a 256 MB run, not a 128 MB one."""
    hold = """public class Main { public static void main(String[] a) {
        byte[][] held = new byte[100][]; for (int i = 0; i < 100; i++) { held[i] = new byte[1 << 20]; held[i][0] = 1; }
        System.out.println(Runtime.getRuntime().maxMemory() >> 20);
    } }"""
    roomy = run(api, hold, language="java", memory_bytes=256 << 20)
    assert roomy["status"] == "accepted" and 100 < int(roomy["stdout"]) < 256, roomy
    tight = run(api, hold, language="java", memory_bytes=128 << 20)
    assert tight["status"] in ("runtime_error", "memory_limit_exceeded"), tight
    assert_unharmed(api, abuse_stack)
