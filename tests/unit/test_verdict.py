"""The verdict rules, on facts as the agent reports them."""

from __future__ import annotations

import signal

import pytest

from core.schemas import RunLimits
from core.statuses import RunStatus
from workers.agent_protocol import SpawnError, StepResult
from workers.verdict import compile_failed, judge, normalize

LIMITS = RunLimits(
    cpu_time_ms=1000,
    cpu_extra_time_ms=500,
    wall_time_ms=2000,
    memory_kb=65536,
    stack_kb=8192,
    max_processes=10,
    max_file_size_kb=1024,
    output_bytes=1024,
    number_of_runs=1,
)


def ok(**kw: object) -> StepResult:
    base: dict[str, object] = {"exit_code": 0, "cpu_ms": 10.0, "wall_ms": 12.0, "maxrss_kb": 3000, "stdout": b"42\n"}
    base.update(kw)
    return StepResult(**base)  # type: ignore[arg-type]


def test_accepted_without_expected_output() -> None:
    assert judge([ok()], LIMITS, None, None).status is RunStatus.ACCEPTED


@pytest.mark.parametrize(
    ("stdout", "expected", "status"),
    [
        (b"42\n", b"42", RunStatus.ACCEPTED),
        (b"42   \n\n\n", b"42", RunStatus.ACCEPTED),
        (b"a \nb\t\n", b"a\nb", RunStatus.ACCEPTED),
        (b"42\n", b"43", RunStatus.WRONG_ANSWER),
        (b" 42\n", b"42", RunStatus.WRONG_ANSWER),  # leading whitespace counts, as in Judge0
        (b"a\n\nb", b"a\nb", RunStatus.WRONG_ANSWER),
    ],
)
def test_expected_output_comparison(stdout: bytes, expected: bytes, status: RunStatus) -> None:
    assert judge([ok(stdout=stdout)], LIMITS, expected, None).status is status


def test_time_limits() -> None:
    assert judge([ok(limit_hit="cpu")], LIMITS, None, None).status is RunStatus.TIME_LIMIT_EXCEEDED
    assert judge([ok(cpu_ms=1000.5)], LIMITS, None, None).status is RunStatus.TIME_LIMIT_EXCEEDED
    assert (
        judge([ok(signal=signal.SIGXCPU, exit_code=None)], LIMITS, None, None).status is RunStatus.TIME_LIMIT_EXCEEDED
    )
    wall = judge([ok(limit_hit="wall", signal=9, exit_code=None)], LIMITS, None, None)
    assert wall.status is RunStatus.TIME_LIMIT_EXCEEDED
    assert wall.message == "Wall time limit exceeded"


def test_memory_limit() -> None:
    oom = judge([ok(oom_killed=True, signal=9, exit_code=None)], LIMITS, None, None)
    assert oom.status is RunStatus.MEMORY_LIMIT_EXCEEDED
    assert "65536 KB" in (oom.message or "")
    assert judge([ok(maxrss_kb=70000)], LIMITS, None, None).status is RunStatus.MEMORY_LIMIT_EXCEEDED


def test_runtime_errors() -> None:
    segv = judge([ok(signal=11, exit_code=None)], LIMITS, None, None)
    assert segv.status is RunStatus.RUNTIME_ERROR and segv.exit_signal == 11
    assert "SIGSEGV" in (segv.message or "")
    nzec = judge([ok(exit_code=2)], LIMITS, None, None)
    assert nzec.status is RunStatus.RUNTIME_ERROR and nzec.message == "Exited with error status 2"
    xfsz = judge([ok(signal=25, exit_code=None)], LIMITS, None, None)
    assert "1024 KB" in (xfsz.message or "")


def test_exec_format_errors() -> None:
    result = judge(
        [StepResult(spawn_error=SpawnError(errno=8, message="./a.out: Exec format error"))], LIMITS, None, None
    )
    assert result.status is RunStatus.EXEC_FORMAT_ERROR
    other = judge([StepResult(spawn_error=SpawnError(errno=12, message="no memory"))], LIMITS, None, None)
    assert other.status is RunStatus.INTERNAL_ERROR


def test_averages_over_repeated_runs() -> None:
    outcome = judge([ok(cpu_ms=10, maxrss_kb=1000), ok(cpu_ms=30, maxrss_kb=3000)], LIMITS, None, None)
    assert outcome.time_ms == 20
    assert outcome.memory_kb == 2000


def test_compile_failures() -> None:
    assert compile_failed(ok()) is None
    failed = compile_failed(ok(exit_code=1, stdout=b"error: x"))
    assert failed is not None and failed.status is RunStatus.COMPILATION_ERROR and failed.compile_output == b"error: x"
    slow = compile_failed(ok(limit_hit="wall"))
    assert slow is not None and slow.compile_output == b"Compilation time limit exceeded."


def test_normalize_is_idempotent() -> None:
    text = b"a  \n b\t\n\n"
    assert normalize(normalize(text)) == normalize(text)
