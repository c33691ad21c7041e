"""Turning what the agent observed into a run's verdict (Judge0's rules, plus memory)."""

from __future__ import annotations

import errno
import signal

from core.schemas import RunLimits, RunOutcome
from core.statuses import RunStatus
from workers.agent_protocol import StepResult

EXEC_FORMAT_ERRNOS = {errno.ENOEXEC, errno.EACCES, errno.ENOENT}


def normalize(text: bytes) -> bytes:
    """Judge0's comparison: strip each line's trailing whitespace, then the whole text's."""
    return b"\n".join(line.rstrip() for line in text.split(b"\n")).rstrip()


def compile_failed(result: StepResult) -> RunOutcome | None:
    """A Compilation Error outcome, or None when the compiler succeeded."""
    output = result.stdout or None
    if result.spawn_error is not None:
        return RunOutcome(
            status=RunStatus.INTERNAL_ERROR, message=f"compiler could not start: {result.spawn_error.message}"
        )
    if result.limit_hit is not None or result.signal == signal.SIGXCPU:
        return RunOutcome(status=RunStatus.COMPILATION_ERROR, compile_output=b"Compilation time limit exceeded.")
    if result.oom_killed:
        return RunOutcome(status=RunStatus.COMPILATION_ERROR, compile_output=b"Compilation memory limit exceeded.")
    if result.exit_code != 0:
        return RunOutcome(status=RunStatus.COMPILATION_ERROR, compile_output=output)
    return None


def judge(
    results: list[StepResult], limits: RunLimits, expected_output: bytes | None, compile_output: bytes | None
) -> RunOutcome:
    """The verdict of the last execution; time and memory are averaged over all of them, as Judge0 does."""
    last = results[-1]
    if last.spawn_error is not None:
        err = last.spawn_error
        if err.errno in EXEC_FORMAT_ERRNOS:
            return RunOutcome(status=RunStatus.EXEC_FORMAT_ERROR, message=err.message, compile_output=compile_output)
        return RunOutcome(status=RunStatus.INTERNAL_ERROR, message=err.message, compile_output=compile_output)

    executed = [r for r in results if r.spawn_error is None]
    base = {
        "stdout": last.stdout or None,
        "stderr": last.stderr or None,
        "stdout_truncated": last.stdout_truncated,
        "stderr_truncated": last.stderr_truncated,
        "compile_output": compile_output,
        "exit_code": last.exit_code,
        "exit_signal": last.signal,
        "time_ms": round(sum(r.cpu_ms for r in executed) / len(executed), 3),
        "wall_time_ms": round(sum(r.wall_ms for r in executed) / len(executed), 3),
        "memory_kb": round(sum(r.maxrss_kb for r in executed) / len(executed)),
    }

    if last.limit_hit == "wall" or last.wall_ms > limits.wall_time_ms:
        return RunOutcome(status=RunStatus.TIME_LIMIT_EXCEEDED, message="Wall time limit exceeded", **base)
    if last.limit_hit == "cpu" or last.signal == signal.SIGXCPU or last.cpu_ms > limits.cpu_time_ms:
        return RunOutcome(status=RunStatus.TIME_LIMIT_EXCEEDED, message="Time limit exceeded", **base)
    if last.oom_killed or last.maxrss_kb > limits.memory_kb:
        return RunOutcome(
            status=RunStatus.MEMORY_LIMIT_EXCEEDED,
            message=f"Memory limit exceeded: the program needed more than {limits.memory_kb} KB",
            **base,
        )
    if last.signal is not None:
        name = _signal_name(last.signal)
        message = f"Caught fatal signal {last.signal} ({name})"
        if last.signal == signal.SIGXFSZ:
            message += f": a file grew past {limits.max_file_size_kb} KB"
        return RunOutcome(status=RunStatus.RUNTIME_ERROR, message=message, **base)
    if last.exit_code != 0:
        return RunOutcome(status=RunStatus.RUNTIME_ERROR, message=f"Exited with error status {last.exit_code}", **base)
    if expected_output is not None and normalize(last.stdout) != normalize(expected_output):
        return RunOutcome(status=RunStatus.WRONG_ANSWER, **base)
    return RunOutcome(status=RunStatus.ACCEPTED, **base)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown"
