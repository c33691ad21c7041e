"""What the client scripts beside it share; they run as `python tests/clients/<script>.py`, so this is on their
path. Knows nothing of Runyard either."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def failure(call: Callable[[], Any]) -> str:
    """What the SDK raised for the call, as its type and message; "no error" if it raised nothing."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - what the SDK raises is what we report
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def value(x: Any) -> Any:
    """An SDK enum's value (states are enums in some releases, strings in others)."""
    return getattr(x, "value", x)
