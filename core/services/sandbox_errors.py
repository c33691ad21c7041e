"""Turning a failed sandbox job into the domain error its caller should see."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unavailable
from core.schemas import JobView

# The agent's error kinds that are the caller's doing, by the rule they broke.
_INPUT = {
    "invalid",
    "os_error",
    "is_a_directory",
    "not_a_directory",
    "not_a_file",
    "symlink_loop",
    "too_large",
    "no_space",
    "spawn_error",
    "image_unavailable",
    "image_not_allowed",
}
_CONFLICT = {
    "exists",
    "conflict",
    "not_empty",
    "sandbox_lost",
    "process_limit",
    "input_blocked",  # a session command that does not read the input sent to it
    # Computer use in a sandbox whose image has no desktop, or whose display is not running.
    "desktop_unavailable",
    "desktop_failed",
}


def raise_for_job(job: JobView) -> None:
    error = (job.result or {}).get("error") or {}
    kind = str(error.get("kind") or "internal")
    message = str(error.get("message") or job.error or "the operation failed")
    if kind == "not_found":
        if error.get("path"):
            raise NotFound("path", str(error["path"]))
        raise NotFound("object", "", message)
    if kind == "permission_denied":
        raise PermissionDenied(message)
    if kind in _INPUT:
        raise InvalidInput.one(str(error.get("field") or "path"), kind, message)
    if kind in _CONFLICT:
        raise Conflict(message, state=kind)
    raise Unavailable(f"{job.kind} failed: {message}", retry_after=5)
