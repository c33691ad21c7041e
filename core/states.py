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
    CREATING = "creating"
    STARTED = "started"
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
