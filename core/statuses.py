"""Run statuses: the native names, and Judge0's 14 ids derived from them."""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    TIME_LIMIT_EXCEEDED = "time_limit_exceeded"
    MEMORY_LIMIT_EXCEEDED = "memory_limit_exceeded"
    COMPILATION_ERROR = "compilation_error"
    RUNTIME_ERROR = "runtime_error"
    INTERNAL_ERROR = "internal_error"
    EXEC_FORMAT_ERROR = "exec_format_error"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass(frozen=True)
class Judge0Status:
    id: int
    description: str


JUDGE0_STATUSES: tuple[Judge0Status, ...] = (
    Judge0Status(1, "In Queue"),
    Judge0Status(2, "Processing"),
    Judge0Status(3, "Accepted"),
    Judge0Status(4, "Wrong Answer"),
    Judge0Status(5, "Time Limit Exceeded"),
    Judge0Status(6, "Compilation Error"),
    Judge0Status(7, "Runtime Error (SIGSEGV)"),
    Judge0Status(8, "Runtime Error (SIGXFSZ)"),
    Judge0Status(9, "Runtime Error (SIGFPE)"),
    Judge0Status(10, "Runtime Error (SIGABRT)"),
    Judge0Status(11, "Runtime Error (NZEC)"),
    Judge0Status(12, "Runtime Error (Other)"),
    Judge0Status(13, "Internal Error"),
    Judge0Status(14, "Exec Format Error"),
)
_BY_ID = {s.id: s for s in JUDGE0_STATUSES}

_DIRECT = {
    RunStatus.QUEUED: 1,
    RunStatus.RUNNING: 2,
    RunStatus.ACCEPTED: 3,
    RunStatus.WRONG_ANSWER: 4,
    RunStatus.TIME_LIMIT_EXCEEDED: 5,
    RunStatus.COMPILATION_ERROR: 6,
    # Judge0 has no memory status: isolate's OOM kill shows as "Other"; our message says what happened.
    RunStatus.MEMORY_LIMIT_EXCEEDED: 12,
    RunStatus.INTERNAL_ERROR: 13,
    RunStatus.CANCELLED: 13,
    RunStatus.EXEC_FORMAT_ERROR: 14,
}
_SIGNALS: dict[int, int] = {signal.SIGSEGV: 7, signal.SIGXFSZ: 8, signal.SIGFPE: 9, signal.SIGABRT: 10}


def judge0_status(status: RunStatus, exit_signal: int | None) -> Judge0Status:
    if status is RunStatus.RUNTIME_ERROR:
        if exit_signal is None:
            return _BY_ID[11]
        return _BY_ID[_SIGNALS.get(exit_signal, 12)]
    return _BY_ID[_DIRECT[status]]
