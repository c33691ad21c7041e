#!/usr/bin/env python3
"""Check that a Runyard sandbox keeps its limits on this Docker host.

Written for a cgroup v2 host (scripts/cgroup2-check.sh boots a Debian bookworm
VM and runs this file inside it), but it runs anywhere the `docker` CLI and
the runner image are available; check (a) is the only one that insists on v2.

The sandbox is started with exactly the Docker settings the worker uses and
driven the way the worker drives it: length-prefixed JSON frames on the
container's attached stdin/stdout, a reset after every job, and limit changes
through `docker update` on the live container. One PASS/FAIL line is printed
per check; the exit status is non-zero when any check failed.

Standard library only: this runs on the VM's own /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable

from box import (  # beside this file: the sandbox as the worker drives it
    REPLY_SLACK_S,
    AgentGone,
    CheckFailed,
    Sandbox,
    docker,
    expect,
    read_first_line,
    reset,
    run_step,
    summary,
    unb64,
)

# ---------------------------------------------------------------- the checks

SPIN_PY = "while True:\n    pass\n"

MULTI_SPIN_PY = """\
import multiprocessing

def spin():
    while True:
        pass

if __name__ == "__main__":
    procs = [multiprocessing.Process(target=spin) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
"""

MEMORY_BOMB_PY = """\
chunks = []
while True:
    chunks.append(b"x" * (16 << 20))  # written, so every page is really charged
"""

FORK_BOMB_C = "#include <unistd.h>\nint main(){for(;;)fork();}\n"

# Python ignores SIGXFSZ at startup, so it sees EFBIG instead of being killed.
BIG_WRITE_PY = """\
with open("big", "wb") as f:
    f.write(b"x" * (2 << 20))
"""


def check_cgroup_v2_host(box: Sandbox) -> str:
    controllers = "/sys/fs/cgroup/cgroup.controllers"
    expect(os.path.exists(controllers), f"{controllers} is missing: this host is not on the unified (v2) hierarchy")
    version = docker("info", "--format", "{{.CgroupVersion}}").strip()
    driver = docker("info", "--format", "{{.CgroupDriver}}").strip()
    expect(version == "2", f"docker info reports Cgroup Version {version!r}")
    return f"{controllers}: {read_first_line(controllers)!r}; docker: Cgroup Version {version}, driver {driver}"


def check_agent_sees_v2_files(box: Sandbox) -> str:
    """The agent takes the v2 paths only if the v1 ones are absent; prove which ones the container has."""
    script = (
        "import os\n"
        "for p in ['/sys/fs/cgroup/cpuacct/cpuacct.usage', '/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage',"
        " '/sys/fs/cgroup/memory/memory.oom_control']:\n"
        "    print('v1', p, os.path.exists(p))\n"
        "print(open('/sys/fs/cgroup/cpu.stat').read().splitlines()[0])\n"
        "print([l for l in open('/sys/fs/cgroup/memory.events').read().splitlines() if l.startswith('oom_kill')][0])\n"
    )
    r = run_step(box, ["/usr/bin/python3", "s.py"], {"s.py": script})
    out = unb64(r["stdout"])
    expect(r["exit_code"] == 0, f"probe failed: {summary(r)}")
    expect("True" not in out, f"v1 files are visible in the container: {out!r}")
    expect("usage_usec" in out and "oom_kill" in out, f"v2 files lack the expected keys: {out!r}")
    return " / ".join(line for line in out.splitlines() if not line.startswith("v1"))


def check_print(box: Sandbox) -> str:
    r = run_step(box, ["/usr/bin/python3", "s.py"], {"s.py": "print(1)\n"})
    expect(r["exit_code"] == 0 and r["signal"] is None, summary(r))
    expect(unb64(r["stdout"]) == "1\n", f"stdout={unb64(r['stdout'])!r}; {summary(r)}")
    expect(r["maxrss_kb"] > 0, f"maxrss_kb not reported; {summary(r)}")
    expect(r["cpu_ms"] > 0, f"cpu_ms not reported; {summary(r)}")
    expect(r["limit_hit"] is None and not r["oom_killed"], summary(r))
    return summary(r)


def check_cpu_spin(box: Sandbox) -> str:
    r = run_step(box, ["/usr/bin/python3", "s.py"], {"s.py": SPIN_PY}, cpu_ms=1000, wall_ms=5000)
    expect(r["limit_hit"] == "cpu", f"expected limit_hit=cpu; {summary(r)}")
    expect(r["signal"] in (signal.SIGXCPU, signal.SIGKILL), f"expected SIGXCPU or SIGKILL; {summary(r)}")
    return summary(r)


def check_multiprocess_cpu(box: Sandbox) -> str:
    """Four spinners each stay under their own 1 s RLIMIT_CPU for ~4 s of wall time on one
    CPU; only the agent's cgroup-wide count (cpu.stat usage_usec on v2) stops them at ~1 s."""
    r = run_step(box, ["/usr/bin/python3", "s.py"], {"s.py": MULTI_SPIN_PY}, cpu_ms=1000, wall_ms=8000)
    expect(r["limit_hit"] == "cpu", f"expected limit_hit=cpu; {summary(r)}")
    expect(r["wall_ms"] < 3000, f"cpu limit enforced only after {r['wall_ms']} ms: not by the cgroup; {summary(r)}")
    return summary(r)


def check_memory_bomb(box: Sandbox) -> str:
    r = run_step(box, ["/usr/bin/python3", "s.py"], {"s.py": MEMORY_BOMB_PY}, cpu_ms=10000, wall_ms=20000)
    expect(r["oom_killed"] is True, f"expected oom_killed=true (memory.events oom_kill); {summary(r)}")
    expect(r["limit_hit"] is None, f"the memory bomb should end by the OOM killer, not a limit; {summary(r)}")
    return summary(r)


def check_fork_bomb(box: Sandbox) -> str:
    c = run_step(box, ["/usr/bin/gcc", "-o", "fb", "fb.c"], {"fb.c": FORK_BOMB_C}, cpu_ms=20000, wall_ms=60000)
    expect(c["exit_code"] == 0, f"compiling the fork bomb failed; {summary(c)}")
    started = time.monotonic()
    r = run_step(box, ["./fb"], cpu_ms=10000, wall_ms=3000)
    expect(r["limit_hit"] == "wall", f"expected limit_hit=wall; {summary(r)}")
    ping = box.request({"op": "ping"}, timeout=30)
    expect(ping == {"ok": True}, f"agent did not answer a ping after the bomb: {ping}")
    answered_s = time.monotonic() - started
    probe = run_step(box, ["/bin/cat", "/sys/fs/cgroup/pids.events", "/sys/fs/cgroup/pids.max"])
    pids = " ".join(unb64(probe["stdout"]).split())
    rs = reset(box)
    expect(rs.get("clean") is True, f"reset after the fork bomb was not clean: {rs}")
    return f"{summary(r)}; ping ok {answered_s:.1f}s after start; pids.events/max: {pids}; reset clean"


def check_file_size(box: Sandbox) -> str:
    r = run_step(box, ["/bin/dd", "if=/dev/zero", "of=big", "bs=1M", "count=2"])
    expect(r["signal"] == signal.SIGXFSZ, f"expected SIGXFSZ (25); {summary(r)}")
    size = run_step(box, ["/usr/bin/stat", "-c", "%s", "big"])
    written = unb64(size["stdout"]).strip()
    expect(written == str(1 << 20), f"file grew to {written} bytes")
    return f"dd: {summary(r)}; file size {written}"


def check_file_size_python(box: Sandbox) -> str:
    r = run_step(box, ["/usr/bin/python3", "s.py"], {"s.py": BIG_WRITE_PY})
    err = unb64(r["stderr"])
    expect(r["exit_code"] not in (0, None) and "File too large" in err, f"expected EFBIG; {summary(r)}")
    return f"python: exit_code={r['exit_code']}, {err.strip().splitlines()[-1]!r}"


def check_docker_update(box: Sandbox) -> str:
    cid = box.container_id()
    docker("update", "--memory", "96m", "--memory-swap", "96m", "--pids-limit", "40", "--cpus", "0.5", cid)
    files = ["memory.max", "pids.max", "cpu.max", "memory.swap.max"]
    r = run_step(box, ["/bin/cat", *(f"/sys/fs/cgroup/{f}" for f in files)])
    lines = unb64(r["stdout"]).splitlines()
    seen = dict(zip(files, lines, strict=False))
    wanted = {"memory.max": str(96 << 20), "pids.max": "40", "cpu.max": "50000 100000"}
    wrong = {k: seen.get(k) for k, v in wanted.items() if seen.get(k) != v}
    expect(r["exit_code"] == 0 and not wrong, f"after docker update: {seen} (wrong: {wrong}); {summary(r)}")
    # memory.swap.max may be absent when the kernel has no swap accounting; report it either way
    return "; ".join(f"{k}={v}" for k, v in seen.items())


def check_updated_memory_enforced(box: Sandbox) -> str:
    r = run_step(box, ["/usr/bin/python3", "s.py"], {"s.py": MEMORY_BOMB_PY}, cpu_ms=10000, wall_ms=20000)
    expect(r["oom_killed"] is True, f"expected oom_killed=true; {summary(r)}")
    expect(r["maxrss_kb"] <= 96 * 1024, f"peak {r['maxrss_kb']} kB is above the updated 96m; {summary(r)}")
    return summary(r)


def check_updated_cpu_enforced(box: Sandbox) -> str:
    """With cpu.max at half a CPU, one CPU-second cannot be spent in less than ~2 s of wall time."""
    r = run_step(box, ["/usr/bin/python3", "s.py"], {"s.py": SPIN_PY}, cpu_ms=1000, wall_ms=8000)
    expect(r["limit_hit"] == "cpu", f"expected limit_hit=cpu; {summary(r)}")
    expect(r["wall_ms"] >= 1600, f"1 s of CPU in {r['wall_ms']} ms: the 0.5 CPU quota is not applied; {summary(r)}")
    return summary(r)


def check_docker_update_raise(box: Sandbox) -> str:
    """The worker also raises limits (compile steps get the maxima): going up must work on v2 too."""
    cid = box.container_id()
    docker("update", "--memory", "500m", "--memory-swap", "500m", "--pids-limit", "128", "--cpus", "1", cid)
    files = ["memory.max", "pids.max", "cpu.max"]
    r = run_step(box, ["/bin/cat", *(f"/sys/fs/cgroup/{f}" for f in files)])
    seen = dict(zip(files, unb64(r["stdout"]).splitlines(), strict=False))
    wanted = {"memory.max": str(500 << 20), "pids.max": "128", "cpu.max": "100000 100000"}
    expect(r["exit_code"] == 0 and seen == wanted, f"after raising: {seen}, wanted {wanted}; {summary(r)}")
    big = run_step(
        box,
        ["/usr/bin/python3", "-c", "b = b'x' * (200 << 20); print(len(b) >> 20)"],
        cpu_ms=10000,
        wall_ms=30000,
    )
    expect(big["exit_code"] == 0 and not big["oom_killed"], f"200 MiB under a 500m limit failed; {summary(big)}")
    return "; ".join(f"{k}={v}" for k, v in seen.items()) + f"; 200 MiB allocation ok, maxrss_kb={big['maxrss_kb']}"


def check_reset_leftovers(box: Sandbox) -> str:
    leave = "echo a > /box/left; mkdir /tmp/d; echo b > /tmp/d/f; echo c > /dev/shm/s; sleep 100 & echo started"
    r = run_step(box, ["/bin/sh", "-c", leave])
    expect(r["exit_code"] == 0, f"could not leave things behind; {summary(r)}")
    listing = "ls -A /box /tmp /dev/shm"
    before = run_step(box, ["/bin/sh", "-c", listing])
    names = unb64(before["stdout"]).split()
    expect(all(n in names for n in ("left", "d", "s")), f"leftovers not in place before the reset: {names}")
    rs = reset(box)
    expect(rs == {"clean": True, "problems": []}, f"reset reply: {rs}")
    after = run_step(box, ["/bin/sh", "-c", listing + " | grep -v -e '^/' -e '^$' | wc -l"])
    remaining = unb64(after["stdout"]).strip()
    expect(remaining == "0", f"{remaining} entries survived the reset")
    return f"reset -> {rs}; writable places empty afterwards"


CHECKS: list[tuple[str, str, Callable[[Sandbox], str], bool]] = [
    # (id, title, function, needs the sandbox)
    ("a", "cgroup v2 on the VM host", check_cgroup_v2_host, False),
    ("a2", "agent's v2 files in the container", check_agent_sees_v2_files, True),
    ("b", "print(1)", check_print, True),
    ("c", "CPU spin stops at cpu_ms", check_cpu_spin, True),
    ("d", "4-process CPU spin stops via cpu.stat", check_multiprocess_cpu, True),
    ("e", "memory bomb is OOM-killed (memory.events)", check_memory_bomb, True),
    ("f", "fork bomb held by pids limit, agent answers, reset clean", check_fork_bomb, True),
    ("g", "file size limit (SIGXFSZ)", check_file_size, True),
    ("g2", "file size limit (Python sees EFBIG)", check_file_size_python, True),
    ("i", "reset after files in /box,/tmp,/dev/shm and sleep &", check_reset_leftovers, True),
    ("h", "docker update applies on v2", check_docker_update, True),
    ("h2", "updated memory limit enforced", check_updated_memory_enforced, True),
    ("h3", "updated CPU quota enforced", check_updated_cpu_enforced, True),
    ("h4", "docker update raising the limits applies on v2", check_docker_update_raise, True),
]


def info(image: str) -> None:
    """Versions, for the record."""
    fmt = (
        "docker {{.ServerVersion}}; cgroup v{{.CgroupVersion}} ({{.CgroupDriver}} driver); "
        "runc {{.RuncCommit.ID}}; containerd {{.ContainerdCommit.ID}}; storage {{.Driver}}; kernel {{.KernelVersion}}"
    )
    try:
        print(f"INFO host: {docker('info', '--format', fmt).strip()}")
        print(f"INFO image: {image} {docker('image', 'inspect', '--format', '{{.Id}}', image).strip()}")
    except CheckFailed as exc:
        print(f"INFO {exc}")
    print(f"INFO uname: {platform.release()}; python {platform.python_version()}; nproc {os.cpu_count()}")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="runyard/runner:latest")
    parser.add_argument("--only", nargs="*", help="check ids to run (default: all)")
    args = parser.parse_args()

    info(args.image)
    box: Sandbox | None = None
    failed = 0
    for cid, title, fn, needs_box in CHECKS:
        if args.only and cid not in args.only:
            continue
        try:
            if needs_box and box is None:
                box = Sandbox(args.image)
                pong = box.request({"op": "ping"}, timeout=REPLY_SLACK_S)
                expect(pong == {"ok": True}, f"ping: {pong}")
            detail = fn(box)  # type: ignore[arg-type]
            if box is not None:
                # The worker resets after every job; a dirty reset is a failure of the check that caused it.
                rs = reset(box)
                expect(rs.get("clean") is True, f"{detail}; then reset was not clean: {rs}")
            print(f"PASS {cid}: {title}: {detail}")
        except AgentGone as exc:
            failed += 1
            print(f"FAIL {cid}: {title}: sandbox lost: {exc}")
            if box is not None:
                box.close()
            box = None  # the next check starts a fresh sandbox
        except CheckFailed as exc:
            failed += 1
            print(f"FAIL {cid}: {title}: {exc}")
        except Exception:  # noqa: BLE001 - a crash in one check must not hide the others
            failed += 1
            print(f"FAIL {cid}: {title}: {traceback.format_exc()[-1500:]!r}")
        sys.stdout.flush()
    if box is not None:
        box.close()
    print(f"SUMMARY {'all checks passed' if not failed else f'{failed} check(s) failed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
