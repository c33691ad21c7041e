"""Answer waiting requests at once when the server is told to stop.

Uvicorn (and gunicorn's uvicorn workers) finish in-flight requests before they
exit; a `wait=true` request could hold a restart up for its whole time budget,
then be cut off without its id. On SIGTERM or SIGINT the completion hub is
drained first: every waiter answers 503 with the id of the work it waited for,
which was accepted and goes on, and the server's own handler then runs as before.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from core.notify import CompletionHub

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def drain_on_signals(hub: CompletionHub) -> Callable[[], None]:
    """Chain a drain in front of the current handlers; returns what puts them back."""
    if threading.current_thread() is not threading.main_thread():  # signals belong to the main thread
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(hub.drain)
        before = previous[signum]
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL:  # nobody else listens: do what the signal would have done
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for sig in SIGNALS:
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, before in previous.items():
            signal.signal(sig, before)

    return restore
