"""Limit resolution and status mapping: pure functions, checked with properties."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.limits import bounds, resolve
from core.schemas import LimitsRequest
from core.settings import LimitSettings
from core.statuses import JUDGE0_STATUSES, RunStatus, judge0_status

SETTINGS = LimitSettings()


def test_defaults_are_judge0s() -> None:
    limits = resolve(LimitsRequest(), SETTINGS)
    assert (limits.cpu_time_ms, limits.wall_time_ms, limits.memory_kb) == (5000, 10000, 128000)
    assert (limits.max_processes, limits.max_file_size_kb, limits.number_of_runs) == (60, 1024, 1)


@given(st.dictionaries(st.sampled_from([b.field for b in bounds(SETTINGS)]), st.integers(-(10**12), 10**12)))
def test_resolve_accepts_exactly_the_values_within_bounds(asked: dict[str, int]) -> None:
    by_field = {b.field: b for b in bounds(SETTINGS)}

    def within(field: str, value: int) -> bool:
        b = by_field[field]
        low_ok = value >= b.low if b.low_inclusive else value > b.low
        return low_ok and value <= b.high

    try:
        limits = resolve(LimitsRequest(**asked), SETTINGS)
    except InvalidInput as exc:
        bad = {e.field.removeprefix("limits.") for e in exc.errors}
        assert bad == {f for f, v in asked.items() if not within(f, v)}
        assert all(e.rule in ("ge", "gt", "le") and e.limit is not None for e in exc.errors)
    else:
        assert all(within(f, v) for f, v in asked.items())
        for field, value in asked.items():
            assert getattr(limits, field) == value


def test_fourteen_judge0_statuses() -> None:
    assert [s.id for s in JUDGE0_STATUSES] == list(range(1, 15))


@pytest.mark.parametrize(
    ("sig", "expected"),
    [
        (signal.SIGSEGV, 7),
        (signal.SIGXFSZ, 8),
        (signal.SIGFPE, 9),
        (signal.SIGABRT, 10),
        (None, 11),
        (signal.SIGKILL, 12),
        (64, 12),
    ],
)
def test_runtime_error_ids_follow_the_signal(sig: int | None, expected: int) -> None:
    assert judge0_status(RunStatus.RUNTIME_ERROR, sig).id == expected


@given(st.sampled_from(list(RunStatus)), st.one_of(st.none(), st.integers(0, 200)))
def test_every_status_maps_to_one_of_the_fourteen(status: RunStatus, sig: int | None) -> None:
    mapped = judge0_status(status, sig)
    assert mapped in JUDGE0_STATUSES
    assert (mapped.id in (1, 2)) == (not status.finished)


def test_memory_limit_reads_as_runtime_error_other() -> None:
    assert judge0_status(RunStatus.MEMORY_LIMIT_EXCEEDED, 9).id == 12
