"""The seam around the container engine: workers see only these small interfaces.

base.py holds the protocols (one for run containers, one for workspaces) and their types; the
Docker implementations share one engine connection (a private module owns the SDK).
"""

from workers.runtime._docker import DockerEngine
from workers.runtime.base import (
    ContainerInfo,
    ContainerLimits,
    RunContainer,
    RunContainerRuntime,
    RunContainerSpec,
    RuntimeFailure,
    Stream,
    WorkspaceRuntime,
    WorkspaceSpec,
)
from workers.runtime.docker_run import DockerRunRuntime
from workers.runtime.docker_workspace import DockerWorkspaceRuntime

__all__ = [
    "ContainerInfo",
    "ContainerLimits",
    "DockerEngine",
    "DockerRunRuntime",
    "DockerWorkspaceRuntime",
    "RunContainer",
    "RunContainerRuntime",
    "RunContainerSpec",
    "RuntimeFailure",
    "Stream",
    "WorkspaceRuntime",
    "WorkspaceSpec",
]
