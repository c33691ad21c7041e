"""Builds from a Dockerfile through whichever `daytona` SDK this interpreter has; prints JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> BASE_IMAGE=<image> TAG=<unique> python daytona_builds.py

- `snapshot.create` from a declarative `Image` (several steps), its output followed through `on_logs`;
  then get, list, a sandbox from it, and delete;
- a sandbox from an `Image` directly (`CreateSandboxFromImageParams`), its build followed through
  `on_snapshot_create_logs`; the same `Image` again reuses that build;
- a build whose step fails, and one with a local file in its context (refused: no object storage yet).
Used by tests/integration/test_snapshots.py.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    Daytona,
    Image,
)
from sdk_helpers import config_from_env, failure, value


def main() -> None:
    base, tag = os.environ["BASE_IMAGE"], os.environ["TAG"]
    daytona = Daytona(config_from_env())
    seen: dict[str, Any] = {}

    image = (
        Image.base(base)
        .run_commands(f"echo step-output-{tag}", "echo built > /etc/built-here", "useradd -m builder")
        .env({"BUILT_WITH": "daytona-image"})
        .workdir("/srv/app")
    )
    logs: list[str] = []
    name = f"snap-{tag}"
    snapshot = daytona.snapshot.create(CreateSnapshotParams(name=name, image=image), on_logs=logs.append)
    seen["created"] = {"state": value(snapshot.state), "name": snapshot.name}
    seen["logs"] = "\n".join(logs)
    seen["got"] = value(daytona.snapshot.get(name).state)
    seen["listed"] = name in [s.name for s in daytona.snapshot.list().items]

    sandbox = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name), timeout=120)
    run = sandbox.process.exec("cat /etc/built-here; echo $BUILT_WITH; pwd; id -u builder")
    seen["from_snapshot"] = [run.exit_code, run.result.split("\n")[:4], sandbox.snapshot]
    daytona.delete(sandbox)

    # A sandbox straight from an Image: the SDK waits for the build, following its output.
    direct = Image.base(base).run_commands(f"echo direct-step-{tag}", "touch /etc/direct-mark")
    build_logs: list[str] = []
    sandbox = daytona.create(
        CreateSandboxFromImageParams(image=direct), timeout=300, on_snapshot_create_logs=build_logs.append
    )
    run = sandbox.process.exec("ls /etc/direct-mark")
    seen["from_image"] = [value(sandbox.state), run.exit_code, "\n".join(build_logs)]
    again = daytona.create(CreateSandboxFromImageParams(image=direct), timeout=120)
    seen["reused"] = again.snapshot == sandbox.snapshot
    daytona.delete(again)
    daytona.delete(sandbox)

    broken = Image.base(base).run_commands("echo about-to-fail", "exit 3")
    seen["failed"] = failure(lambda: daytona.snapshot.create(CreateSnapshotParams(name=f"broken-{tag}", image=broken)))
    seen["failed_state"] = value(daytona.snapshot.get(f"broken-{tag}").state)

    with tempfile.NamedTemporaryFile("w", suffix=".txt") as local:
        local.write("context")
        local.flush()
        with_context = Image.base(base).add_local_file(local.name, "/etc/from-context.txt")
        seen["context"] = failure(
            lambda: daytona.snapshot.create(CreateSnapshotParams(name=f"ctx-{tag}", image=with_context))
        )

    daytona.snapshot.delete(daytona.snapshot.get(name))
    seen["deleted"] = failure(lambda: daytona.create(CreateSandboxFromSnapshotParams(snapshot=name), timeout=60))
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
    sys.exit(0)
