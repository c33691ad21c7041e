"""Applying defaults to requested limits and checking them against the operator's maxima."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import FieldError, InvalidInput
from core.schemas import LimitsRequest, RunLimits
from core.settings import LimitSettings


@dataclass(frozen=True)
class Bound:
    field: str
    default: int
    low: int
    low_inclusive: bool
    high: int


def bounds(s: LimitSettings) -> list[Bound]:
    """Judge0's rules, in the core's units (ms, KB, bytes)."""
    ms = 1000
    return [
        Bound("cpu_time_ms", round(s.cpu_time_limit_s * ms), 0, True, round(s.max_cpu_time_limit_s * ms)),
        Bound("cpu_extra_time_ms", round(s.cpu_extra_time_s * ms), 0, True, round(s.max_cpu_extra_time_s * ms)),
        Bound("wall_time_ms", round(s.wall_time_limit_s * ms), 1000, True, round(s.max_wall_time_limit_s * ms)),
        Bound("memory_kb", s.memory_limit_kb, 2048, True, s.max_memory_limit_kb),
        Bound("stack_kb", s.stack_limit_kb, 0, True, s.max_stack_limit_kb),
        Bound("max_processes", s.max_processes_and_or_threads, 0, False, s.max_max_processes_and_or_threads),
        Bound("max_file_size_kb", s.max_file_size_kb, 0, True, s.max_max_file_size_kb),
        Bound("output_bytes", s.output_limit_bytes, 0, False, s.max_output_limit_bytes),
        Bound("number_of_runs", s.number_of_runs, 0, False, s.max_number_of_runs),
    ]


def check(bound: Bound, value: int) -> FieldError | None:
    name = f"limits.{bound.field}"
    if bound.low_inclusive and value < bound.low:
        return FieldError(name, "ge", f"must be greater than or equal to {bound.low}", bound.low)
    if not bound.low_inclusive and value <= bound.low:
        return FieldError(name, "gt", f"must be greater than {bound.low}", bound.low)
    if value > bound.high:
        return FieldError(name, "le", f"must be less than or equal to {bound.high}", bound.high)
    return None


def resolve(requested: LimitsRequest, settings: LimitSettings) -> RunLimits:
    """Fill in defaults; raise InvalidInput naming every limit out of bounds."""
    values: dict[str, int] = {}
    errors: list[FieldError] = []
    for bound in bounds(settings):
        asked = getattr(requested, bound.field)
        value = bound.default if asked is None else asked
        error = check(bound, value) if asked is not None else None
        if error:
            errors.append(error)
        values[bound.field] = value
    if errors:
        raise InvalidInput(errors)
    return RunLimits(**values)
