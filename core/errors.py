"""Domain errors raised by the core; each adapter renders them in its own protocol.

RunyardError
├── Pending                   a wait ran out before the job finished; it goes on (carries the job, answered 202)
├── AuthenticationFailed      no key, or a key that is unknown or revoked
├── PermissionDenied          a valid key that may not do this
├── NotFound                  no such object for this tenant (other tenants' objects included)
├── InvalidInput              one or more fields break a rule (carries FieldError items)
├── BadRequest                a malformed query parameter, or a request the protocol refuses as a whole
├── Conflict                  the object's state forbids the operation
├── RateLimited               the tenant's request budget is spent (carries retry_after)
└── Unavailable               a dependency is down or the queue is full (carries retry_after)
    └── Interrupted           this API process is stopping before the work it waited for finished;
                              the work was accepted and goes on (carries its id)
"""

from __future__ import annotations

from dataclasses import dataclass

from core.schemas import JobView


@dataclass(frozen=True)
class FieldError:
    """One broken rule. `field` uses the core's names; adapters map them to their own."""

    field: str
    rule: str
    message: str
    limit: float | None = None


class RunyardError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Pending(RunyardError):
    """Not a failure: every protocol answers 202 with the job and where to read it."""

    def __init__(self, job: JobView) -> None:
        super().__init__(f"job {job.id} is still {job.state}; read it at /v1/jobs/{job.id}")
        self.job = job


class AuthenticationFailed(RunyardError):
    pass


class PermissionDenied(RunyardError):
    pass


class NotFound(RunyardError):
    def __init__(self, what: str, ident: str, message: str | None = None) -> None:
        super().__init__(message or f"{what} {ident} not found")
        self.what = what
        self.ident = ident


class InvalidInput(RunyardError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, field_name: str, rule: str, message: str, limit: float | None = None) -> InvalidInput:
        return cls([FieldError(field_name, rule, message, limit)])


class BadRequest(RunyardError):
    pass


class NotSupported(RunyardError):
    """A deliberate refusal of something Runyard does not do (yet): the message names it and says why."""


class Conflict(RunyardError):
    def __init__(self, message: str, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class RateLimited(RunyardError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(RunyardError):
    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Interrupted(Unavailable):
    def __init__(self, what: str, ident: str) -> None:
        super().__init__(
            f"this API server is restarting before {what} {ident} finished; it was accepted and goes on: "
            f"read it by its id",
            retry_after=1,
        )
        self.what = what
        self.ident = ident
