"""A sandbox's lifecycle after its create, through the `daytona` SDK only; prints JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> INTERNET_URL=<URL outside> python daytona_lifecycle.py

- `resize` CPU and memory while it runs (the limits its cgroup shows change; its processes live on), and
  a disk that would shrink is refused;
- `pause` freezes its processes and `start` resumes them (a ticking loop stops ticking, then goes on);
- `get_metrics_latest` and `get_metrics` (its history);
- `update_env` for the processes started afterwards; `refresh_activity`;
- `create_snapshot` and `fork`: the whole filesystem, in a sandbox from that snapshot and in the fork;
- `update_network_settings`: block all, an allow-list without the URL's network, one with it, and back to
  the whole (fenced) internet.
Used by tests/integration/test_daytona_sdk.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from typing import Any

from daytona import (
    AsyncDaytona,
    CreateSandboxFromSnapshotParams,
    Daytona,
    DaytonaConfig,
    Resources,
    SessionExecuteRequest,
)
from sdk_helpers import config_from_env, failure

FETCH = (
    "python3 -c \"import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3); print('reached')\" {url}"
)
LIMITS = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us"


def reached(box: Any, url: str) -> bool:
    return "reached" in box.process.exec(FETCH.format(url=url), timeout=20).result


def main() -> None:
    url = os.environ["INTERNET_URL"]
    daytona = Daytona(config_from_env())
    seen: dict[str, Any] = {}
    box = daytona.create(CreateSandboxFromSnapshotParams(language="python", resources=Resources(cpu=1, memory=1)))
    try:
        box.process.create_session("ticks")
        ticking = "while true; do date +%s.%N >> /tmp/ticks; sleep 0.1; done"
        box.process.execute_session_command("ticks", SessionExecuteRequest(command=ticking, run_async=True))

        seen["limits_before"] = box.process.exec(LIMITS).result.split()
        box.resize(Resources(cpu=2, memory=2))
        box.refresh_data()
        seen["resized"] = [box.cpu, box.memory, box.state.value if hasattr(box.state, "value") else box.state]
        seen["limits_after"] = box.process.exec(LIMITS).result.split()
        seen["shrink_disk"] = failure(lambda: box.resize(Resources(disk=1)))

        box.pause()
        box.refresh_data()
        seen["paused"] = str(getattr(box.state, "value", box.state))
        seen["exec_while_paused"] = failure(lambda: box.process.exec("true"))
        time.sleep(2)
        box.start()
        time.sleep(0.5)
        ticks = [float(t) for t in box.process.exec("cat /tmp/ticks").result.split()]
        seen["longest_gap"] = round(max(b - a for a, b in itertools.pairwise(ticks)), 1)
        seen["ticking_again"] = box.process.exec("sleep 0.5; tail -1 /tmp/ticks").result.strip() != str(ticks[-1])

        box.process.exec("head -c 5000000 /dev/urandom > /tmp/written")
        now = box.get_metrics_latest()
        seen["metrics_latest"] = [now.cpu_count, now.mem_total, now.mem_used > 0, now.disk_used >= 5_000_000]
        time.sleep(2.5)  # a few samples (the test's installation takes one a second)
        history = box.get_metrics()
        seen["metrics_history"] = [len(history) >= 2, all(m.mem_total == 2 << 30 for m in history)]

        box.update_env({"FROM_UPDATE": "yes", "GONE_SOON": "1"})
        box.update_env({}, unset=["GONE_SOON"])
        seen["env"] = box.process.exec('echo "$FROM_UPDATE/${GONE_SOON:-unset}"').result.strip()
        box.refresh_activity()

        # Its whole filesystem, as a named snapshot and as a fork.
        box.process.exec("echo kept > /opt/marker && pip --version > /dev/null")
        name = f"of-sandbox-{os.environ['TAG']}"
        box.create_snapshot(name)
        seen["snapshot"] = str(getattr(daytona.snapshot.get(name).state, "value", daytona.snapshot.get(name).state))
        other = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name))
        seen["from_snapshot"] = [
            other.process.exec("cat /opt/marker").result.strip(),
            other.process.exec("id -u").result.strip(),
        ]
        daytona.delete(other)
        fork = box.fork(name=f"fork-{os.environ['TAG']}")
        fork.process.exec("echo changed-in-fork > /opt/marker")
        seen["fork"] = [
            str(getattr(fork.state, "value", fork.state)),
            fork.name,
            fork.process.exec("cat /opt/marker; echo $FROM_UPDATE").result.split(),
            box.process.exec("cat /opt/marker").result.strip(),
        ]
        daytona.delete(fork)
        daytona.snapshot.delete(daytona.snapshot.get(name))

        seen["network"] = [reached(box, url)]
        box.update_network_settings(network_block_all=True)
        seen["network"].append(reached(box, url))
        box.update_network_settings(network_block_all=False, network_allow_list="198.51.100.0/24")
        seen["network"].append(reached(box, url))
        host = url.split("/")[2].split(":")[0]
        box.update_network_settings(network_allow_list=f"{host}/32")
        seen["network"].append(reached(box, url))
        seen["allow_list"] = box.network_allow_list
        box.update_network_settings(network_allow_list="")
        seen["network"].append(reached(box, url))
        seen["async"] = asyncio.run(lifecycle_async(config_from_env(), box.id))

        # A disk only grows, on a stopped sandbox; everything on it stays.
        big = "fallocate -l 2500M /root/big && echo fits || echo refused; rm -f /root/big"
        seen["big_before"] = box.process.exec(big).result.strip().splitlines()[-1]
        seen["grow_started"] = failure(lambda: box.resize(Resources(disk=3)))
        box.stop()
        box.resize(Resources(disk=3))
        box.start()
        box.refresh_data()
        kept = box.process.exec("cat /opt/marker").result.strip()
        seen["grown"] = [box.disk, kept, box.process.exec(big).result.strip().splitlines()[-1]]
    finally:
        daytona.delete(box)
    print(json.dumps(seen))


async def lifecycle_async(config: DaytonaConfig, sandbox_id: str) -> list[Any]:
    """The same calls through AsyncDaytona: pause and start, resize, metrics."""
    async with AsyncDaytona(config) as daytona:
        box = await daytona.get(sandbox_id)
        await box.pause()
        await box.refresh_data()
        paused = str(getattr(box.state, "value", box.state))
        await box.start()
        await box.resize(Resources(cpu=1, memory=1))
        metrics = await box.get_metrics_latest()
        return [paused, str(getattr(box.state, "value", box.state)), metrics.cpu_count, metrics.mem_total]


if __name__ == "__main__":
    main()
