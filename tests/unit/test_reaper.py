"""Which sandboxes the sweep removes: stopped ones, and running ones whose worker is gone."""

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
        box("dead-worker-young", "running", "gone", YOUNG),  # its worker may not have beaten yet
        box("live-worker", "running", "alive-worker", OLD),
        box("mine", "running", "me", OLD),
        box("stuck-created", "created", "alive-worker", OLD),
        box("fresh-created", "created", "alive-worker", YOUNG),
    ]
    found = {c.id for c in orphans(containers, alive={"alive-worker"}, me="me")}
    assert found == {"stopped", "dead-worker-old", "stuck-created"}
