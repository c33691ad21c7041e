"""The warm pools' demand figure: the most containers in use at once over a sliding window."""

from __future__ import annotations

import random

from workers.pool_demand import DemandWindow


def test_the_peak_is_the_largest_count_still_inside_the_window() -> None:
    window = DemandWindow(10.0)
    assert window.peak(0.0) == 0
    window.note(3, 0.0)
    window.note(1, 5.0)
    assert window.peak(5.0) == 3
    assert window.peak(10.0) == 3  # a sample exactly window_s old still counts
    assert window.peak(10.5) == 1  # the 3 has left the window; the later 1 has not
    assert window.peak(16.0) == 0


def test_a_later_larger_count_replaces_earlier_smaller_ones() -> None:
    window = DemandWindow(10.0)
    window.note(1, 0.0)
    window.note(4, 1.0)
    window.note(2, 2.0)
    assert window.peak(2.0) == 4
    assert window.peak(11.5) == 2


def test_it_agrees_with_a_plain_maximum_over_random_traffic() -> None:
    """Times only move forward, as the pool's clock does; quiet spells let old peaks leave the window."""
    rng = random.Random(7)
    window, samples, now = DemandWindow(30.0), [], 0.0
    for _ in range(3000):
        now += rng.expovariate(1.0) * (20 if rng.random() < 0.05 else 1)
        if rng.random() < 0.7:
            count = rng.randint(0, 12)
            window.note(count, now)
            samples.append((now, count))
        assert window.peak(now) == max((c for t, c in samples if t >= now - 30.0), default=0)
