"""How many containers a warm pool needed at once lately: the figure its size follows."""

from __future__ import annotations

from collections import deque


class DemandWindow:
    """The most containers in use at once over the last `window_s` seconds.

    A sliding-window maximum: samples are kept in decreasing order of count, so noting one and reading the
    peak are O(1) amortised, however many runs a busy pool serves in a window.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def note(self, in_use: int, now: float) -> None:
        while self._samples and self._samples[-1][1] <= in_use:
            self._samples.pop()
        self._samples.append((now, in_use))

    def peak(self, now: float) -> int:
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()
        return self._samples[0][1] if self._samples else 0
