"""The seam around the container engine: workers see only this small interface."""

from workers.runtime.base import Container, ContainerLimits, ContainerSpec, Runtime, RuntimeFailure

__all__ = ["Container", "ContainerLimits", "ContainerSpec", "Runtime", "RuntimeFailure"]
