"""The one filler thread of a warm pool: it keeps the pool topped up with containers started ahead of need.

Both warm pools use it: a worker's run containers (warm_pool.py) and a host's
ready persistent sandboxes (sandbox_host.py). The pool lends the filler its
condition; the filler sleeps on it until the pool wants more, starts one
outside the lock, and hands it over. A start that fails is logged and tried
again after a growing pause: the filler must outlive any failure, or the pool
stays empty.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


class PoolFiller(Generic[T]):
    """Calls `wanted`, `keep` and `surplus` with the pool's condition held, `start` and `drop` without it.

    wanted:  how many more the pool wants now.
    start:   start one (any exception is survived).
    keep:    take a started one into the pool; False if the pool no longer wants it (it closed meanwhile).
    drop:    dispose of one the pool did not keep, or gave up.
    surplus: the idle ones the pool gives up now (taken out of it); asked again every `recheck_s` seconds
             while the pool wants none, since a pool whose demand fades sees no event to shrink on.
    """

    def __init__(
        self,
        name: str,
        cond: threading.Condition,
        *,
        wanted: Callable[[], int],
        start: Callable[[], T],
        keep: Callable[[T], bool],
        drop: Callable[[T], None],
        failure: str,
        log_extra: dict[str, Any] | None = None,
        surplus: Callable[[], list[T]] | None = None,
        recheck_s: float | None = None,
    ) -> None:
        self._cond = cond
        self._wanted = wanted
        self._start = start
        self._keep = keep
        self._drop = drop
        self._surplus = surplus or (lambda: [])
        self._recheck_s = recheck_s
        self._failure = failure
        self._log_extra = log_extra or {}
        self._stopped = False
        self.starting = 0  # read it with the condition held
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop filling; it is safe to hold the pool's condition (a reentrant lock) while calling this."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def join(self, timeout_s: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        backoff = FIRST_BACKOFF_S
        while True:
            with self._cond:
                given_up: list[T] = []
                while not self._stopped and self._wanted() <= 0 and not (given_up := self._surplus()):
                    self._cond.wait(self._recheck_s)
                if self._stopped:
                    return
                if not given_up:
                    self.starting += 1
            if given_up:
                for item in given_up:
                    self._drop(item)
                continue
            try:
                item = self._start()
            except Exception as exc:  # noqa: BLE001 - the filler must outlive any failure, or the pool stays empty
                with self._cond:
                    self.starting -= 1
                log.error(self._failure, extra={**self._log_extra, "error": str(exc)})
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = FIRST_BACKOFF_S
            with self._cond:
                self.starting -= 1
                kept = self._keep(item)
            if not kept:
                self._drop(item)
