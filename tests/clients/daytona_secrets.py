"""The organisation's resources through the `daytona` SDK only: secrets, volumes and warm pools; prints JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> SECRET_VALUE=<value> BASE_IMAGE=<image> TAG=<unique> \
        python daytona_secrets.py

- secrets: create, get, list, update and delete; the value never comes back; a sandbox created with
  `secrets=` has it as its variable, a new value reaches it at its next start, and `update_secrets({})`
  takes it away (the installation allows secrets as plain variables);
- volumes: refused (501) with the reason;
- warm pools: one for a snapshot of BASE_IMAGE fills to its size on the host, shrinks to nothing, and goes;
  one larger than the tenant may ask for is refused.
Used by tests/integration/test_daytona_sdk.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, CreateSnapshotParams, Daytona, Image
from daytona.common.secret import CreateSecretParams, UpdateSecretParams
from sdk_helpers import config_from_env, failure


def main() -> None:
    value = os.environ["SECRET_VALUE"]
    daytona = Daytona(config_from_env())
    seen: dict[str, Any] = {}
    params = CreateSecretParams(name="api-token", value=value, description="for the agent", hosts=["api.example.com"])
    secret = daytona.secret.create(params)
    seen["created"] = secret.model_dump(mode="json") if hasattr(secret, "model_dump") else str(secret)
    seen["got"] = daytona.secret.get(secret.id).name
    seen["listed"] = [s.name for s in daytona.secret.list().items]
    seen["duplicate"] = failure(lambda: daytona.secret.create(params))

    box = daytona.create(CreateSandboxFromSnapshotParams(language="python", secrets={"API_TOKEN": "api-token"}))
    try:
        seen["in_sandbox"] = box.process.exec("echo $API_TOKEN").result.strip()
        daytona.secret.update(secret.id, UpdateSecretParams(value=value + "-2"))
        seen["before_restart"] = box.process.exec("echo $API_TOKEN").result.strip()
        box.stop()
        box.start()
        seen["after_restart"] = box.process.exec("echo $API_TOKEN").result.strip()
        box.update_secrets({})
        box.stop()
        box.start()
        seen["detached"] = box.process.exec("echo ${API_TOKEN:-none}").result.strip()
        seen["unknown_secret"] = failure(lambda: box.update_secrets({"X": "no-such-secret"}))
    finally:
        daytona.delete(box)
    daytona.secret.delete(secret.id)
    seen["deleted"] = [s.name for s in daytona.secret.list().items]
    seen["volume"] = failure(lambda: daytona.volume.create("shared"))
    seen["async"] = asyncio.run(secrets_async())
    seen["warm"] = warm_pools(daytona)
    print(json.dumps(seen, default=str))


async def secrets_async() -> list[Any]:
    """Through AsyncDaytona: a secret made, listed and deleted; a warm pool of a template listed and deleted."""
    config = config_from_env()
    async with AsyncDaytona(config) as daytona:
        made = await daytona.secret.create(CreateSecretParams(name="async-one", value="v"))
        listed = [s.name for s in (await daytona.secret.list()).items]
        await daytona.secret.delete(made.id)
        return [listed, [s.name for s in (await daytona.secret.list()).items]]


def warm_pools(daytona: Daytona) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    name = f"warm-{os.environ['TAG']}"
    daytona.snapshot.create(CreateSnapshotParams(name=name, image=Image.base(os.environ["BASE_IMAGE"])))
    pool = daytona.warm_pool.create(name, 2)
    seen["created"] = [pool.snapshot, pool.pool]

    def size() -> int:
        return next(p.current_size for p in daytona.warm_pool.list() if p.id == pool.id)

    seen["filled"] = wait_for(lambda: size() == 2)
    box = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name))
    seen["sandbox"] = box.process.exec("cat /etc/debian_version >/dev/null && echo ok").result.strip()
    daytona.delete(box)
    seen["refilled"] = wait_for(lambda: size() == 2)
    daytona.warm_pool.update(pool.id, 0)
    # Down to what the host keeps of an image in use anyway (one, while sandboxes are made from it lately).
    seen["emptied"] = wait_for(lambda: size() <= 1)
    daytona.warm_pool.delete(pool.id)
    seen["listed_after"] = [p.id for p in daytona.warm_pool.list()]
    seen["too_many"] = failure(lambda: daytona.warm_pool.create(name, 5))
    daytona.snapshot.delete(daytona.snapshot.get(name))
    return seen


def wait_for(check: Any, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


if __name__ == "__main__":
    main()
