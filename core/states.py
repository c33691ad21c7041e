"""The states of jobs, callbacks and sandboxes: shared by the data model, the services and every adapter."""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # executed; the payload holds the outcome (a run's verdict, say)
    FAILED = "failed"  # could not be executed (infrastructure), after every retry
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class CallbackState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class SandboxState(enum.StrEnum):
    # Waiting for the snapshot it starts from: queued for its build, then while it builds. No container yet.
    PENDING_BUILD = "pending_build"
    BUILDING_SNAPSHOT = "building_snapshot"
    CREATING = "creating"
    STARTED = "started"
    PAUSED = "paused"  # every process frozen; a start resumes them
    RESIZING = "resizing"  # stopped, its filesystem moving to a container with a larger disk
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    ERROR = "error"
    DELETING = "deleting"
    DELETED = "deleted"

    @property
    def live(self) -> bool:
        """Counts against the tenant's quota: everything but deleted."""
        return self is not SandboxState.DELETED

    @property
    def awaiting_build(self) -> bool:
        return self in AWAITING_BUILD


AWAITING_BUILD = frozenset({SandboxState.PENDING_BUILD, SandboxState.BUILDING_SNAPSHOT})


class SnapshotState(enum.StrEnum):
    """A named image built from a Dockerfile (Daytona's names): queued, building, then usable or failed."""

    PENDING = "pending"
    BUILDING = "building"
    ACTIVE = "active"
    BUILD_FAILED = "build_failed"
    REMOVING = "removing"
    DELETED = "deleted"

    @property
    def settled(self) -> bool:
        """Its build is over, one way or the other."""
        return self in (SnapshotState.ACTIVE, SnapshotState.BUILD_FAILED, SnapshotState.DELETED)
