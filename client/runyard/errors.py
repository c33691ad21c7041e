"""Errors that carry the server's own message (and, for bad input, each field and the rule it broke)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    field: str
    rule: str
    message: str
    limit: float | None = None


class RunyardError(Exception):
    """Anything the server refused or could not do; `status` is the HTTP status (0 if none came back)."""

    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class AuthenticationError(RunyardError):
    """No key, or a key the server does not know (401)."""


class PermissionDeniedError(RunyardError):
    """A valid key that may not do this (403): an admin route, a path the sandbox user may not touch."""


class NotFoundError(RunyardError):
    """No such run, sandbox, file or job for this key (404)."""


class ConflictError(RunyardError):
    """The object's state forbids it now (409): a stopped sandbox, a non-empty directory, a name in use."""


class InvalidRequestError(RunyardError):
    """Input that breaks a rule (400, 422); `fields` says which and how."""

    def __init__(self, message: str, status: int = 422, body: Any = None, fields: list[FieldProblem] | None = None):
        super().__init__(message, status, body)
        self.fields = fields or []


class LimitExceededError(InvalidRequestError):
    """A limit asked for is beyond the server's maximum, or a quota is used up."""


class RateLimitedError(RunyardError):
    """Too many requests for this tenant (429); retry after `retry_after` seconds."""

    def __init__(self, message: str, status: int = 429, body: Any = None, retry_after: float | None = None):
        super().__init__(message, status, body)
        self.retry_after = retry_after


class ServerUnavailableError(RunyardError):
    """The server cannot take work now (503: queue full, a dependency down) or could not be reached."""

    def __init__(self, message: str, status: int = 503, body: Any = None, retry_after: float | None = None):
        super().__init__(message, status, body)
        self.retry_after = retry_after


class ServerError(RunyardError):
    """The server failed (5xx other than 503)."""


class TimeoutExpired(RunyardError):
    """A wait ran out before the run or job finished; it goes on, and can be polled."""
