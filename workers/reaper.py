"""Finding run containers nobody owns any more, on this worker's Docker engine."""

from __future__ import annotations

from core import constants as c
from workers.runtime.base import ContainerInfo

# A container is "created" for a moment before its worker starts it, and a worker's first
# heartbeat comes only once it is ready: leave young containers alone.
GRACE_S = 120.0


def orphans(containers: list[ContainerInfo], alive: set[str], me: str) -> list[ContainerInfo]:
    """Stopped run containers, and running ones whose worker has no fresh heartbeat (it died)."""
    found = []
    for info in containers:
        owner = info.labels.get(c.LABEL_WORKER, "")
        stopped = info.status in ("exited", "dead")
        stale = info.age_s > GRACE_S and (info.status == "created" or (owner != me and owner not in alive))
        if stopped or stale:
            found.append(info)
    return found
