"""Runyard's Python client.

from runyard import Runyard
client = Runyard("http://127.0.0.1:8000", key="ry_...")
print(client.run("print(6 * 7)", language="python").stdout)
"""

from runyard._async import AsyncRunHandle, AsyncRunyard, AsyncSandboxHandle
from runyard._client import RunHandle, Runyard, SandboxHandle
from runyard.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RunyardError,
    ServerError,
    ServerUnavailableError,
    TimeoutExpired,
)
from runyard.models import CellResult, Command, ExecResult, FileInfo, Job, Language, Run, Sandbox, Snapshot

__version__ = "0.1.0"
__all__ = [
    "AsyncRunHandle",
    "AsyncRunyard",
    "AsyncSandboxHandle",
    "AuthenticationError",
    "CellResult",
    "Command",
    "ConflictError",
    "ExecResult",
    "FileInfo",
    "InvalidRequestError",
    "Job",
    "Language",
    "LimitExceededError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Run",
    "RunHandle",
    "Runyard",
    "RunyardError",
    "Sandbox",
    "SandboxHandle",
    "ServerError",
    "ServerUnavailableError",
    "Snapshot",
    "TimeoutExpired",
]
