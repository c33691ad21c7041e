"""Finding run containers nobody owns any more, on this worker's Docker engine."""

from __future__ import annotations

from core import constants as c
from workers.runtime.base import ContainerInfo

# A container is "created" for a moment before its worker starts it; one that stays so this long is stuck.
# Also how long a starting worker (no heartbeat yet) is taken to be alive.
GRACE_S = 120.0


def orphans(containers: list[ContainerInfo], alive: set[str], me: str) -> list[ContainerInfo]:
    """Stopped run containers, those stuck in "created", and any whose worker is neither beating nor starting.

    `alive` holds the workers with a fresh heartbeat and those still starting (workers mark their start
    before they make any container), so a container whose owner is in neither is a dead worker's, whatever its age.
    """
    found = []
    for info in containers:
        owner = info.labels.get(c.LABEL_WORKER, "")
        stopped = info.status in ("exited", "dead")
        stuck = info.status == "created" and info.age_s > GRACE_S
        if stopped or stuck or (owner != me and owner not in alive):
            found.append(info)
    return found
