"""Which sandboxes the sweep removes: stopped ones, stuck ones, and any whose worker is gone."""

from __future__ import annotations

from workers.reaper import GRACE_S, orphans
from workers.runtime.base import ContainerInfo

OLD, YOUNG = GRACE_S + 1, 1.0


def box(ident: str, status: str, worker: str, age: float) -> ContainerInfo:
    return ContainerInfo(ident, status, {"org.runyard.worker": worker}, age)


def test_orphans() -> None:
    containers = [
        box("stopped", "exited", "alive-worker", YOUNG),
        box("dead-worker-old", "running", "gone", OLD),
        box("dead-worker-young", "running", "gone", YOUNG),
        box("dead-worker-created", "created", "gone", YOUNG),  # made just before its worker was killed
        box("starting-worker", "created", "starting", YOUNG),  # no heartbeat yet, but marked as starting
        box("live-worker", "running", "alive-worker", OLD),
        box("mine", "running", "me", OLD),
        box("stuck-created", "created", "alive-worker", OLD),
        box("fresh-created", "created", "alive-worker", YOUNG),
    ]
    found = {c.id for c in orphans(containers, alive={"alive-worker", "starting"}, me="me")}
    assert found == {"stopped", "dead-worker-old", "dead-worker-young", "dead-worker-created", "stuck-created"}
