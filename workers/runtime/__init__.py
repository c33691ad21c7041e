"""The seam around the container engine: workers see only this small interface."""

from workers.runtime.base import ContainerLimits, Runtime, RuntimeFailure, Sandbox, SandboxSpec

__all__ = ["ContainerLimits", "Runtime", "RuntimeFailure", "Sandbox", "SandboxSpec"]
