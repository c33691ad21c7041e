"""A worker's heartbeat, the one contract between a worker and everyone who reads the fleet's state (/health,
/v1/workers, /v1/status, /metrics, placement of sandboxes, the sweep). Workers write it; nobody parses it by hand."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class PoolFigures(BaseModel):
    """One warm pool of run containers: what it holds now, and totals since the worker started."""

    target: int = 0
    idle: int = 0
    busy: int = 0
    resetting: int = 0
    starting: int = 0
    created: int = 0
    destroyed: int = 0
    reset_failures: int = 0
    hits: int = 0  # runs that found a warm container waiting
    misses: int = 0  # runs that had to wait for one

    @property
    def held(self) -> int:
        return self.idle + self.busy + self.resetting + self.starting


class SandboxHostFigures(BaseModel):
    """The host's persistent sandboxes: its warm pool of workspaces, and the sandboxes it is attached to."""

    pool_target: int = 0
    pool_idle: int = 0
    # Ready sandboxes per image (the default template's, and those of images in demand).
    pool_images: dict[str, int] = {}
    pool_hits: int = 0
    pool_misses: int = 0
    attached: int = 0


class WorkerHeartbeat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    pid: int
    started_at: float
    at: float
    host: str
    queues: list[str]
    concurrency: int
    images: list[str]
    sandbox_images: list[str]
    pools: dict[str, PoolFigures]
    sandboxes: SandboxHostFigures

    @classmethod
    def parse(cls, raw: bytes | str) -> WorkerHeartbeat | None:
        """None for a heartbeat this version cannot read (a worker of another version, mid-upgrade)."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            return None
