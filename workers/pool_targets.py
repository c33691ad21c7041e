"""How many ready sandboxes of each image a host wants: `pool_size` of the default template's, one of each
image sandboxes were made from lately (the most recent `image_pools`, until `image_pool_idle_s` passes
without one), and what tenants' warm pools ask of this host, whichever is more. Not locked itself: the
host reads and changes it with its pool's condition held."""

from __future__ import annotations

import time

from core.settings import SandboxSettings


class PoolTargets:
    def __init__(self, settings: SandboxSettings, default_image: str) -> None:
        self.settings = settings
        self.default_image = default_image
        self._demand: dict[str, float] = {}  # image -> when a sandbox was last made from it (monotonic)
        self._warm: dict[str, int] = {}  # image -> what tenants' warm pools ask of this host

    def wanted(self) -> dict[str, int]:
        s = self.settings
        warm = dict(self._warm)
        if s.pool_size <= 0:
            return warm
        now = time.monotonic()
        recent = sorted(
            (
                image
                for image, at in self._demand.items()
                if now - at < s.image_pool_idle_s and image != self.default_image
            ),
            key=lambda image: -self._demand[image],
        )[: s.image_pools]
        own = {self.default_image: s.pool_size, **dict.fromkeys(recent, 1)}
        return {image: max(own.get(image, 0), warm.get(image, 0)) for image in own.keys() | warm.keys()}

    def used(self, image: str) -> None:
        """A sandbox was made from the image: it is in demand from now on."""
        self._demand[image] = time.monotonic()

    def set_warm(self, targets: dict[str, int]) -> bool:
        """Whether the warm pools' asks changed."""
        if targets == self._warm:
            return False
        self._warm = dict(targets)
        return True
