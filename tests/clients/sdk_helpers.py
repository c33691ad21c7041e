"""What the client scripts beside it share; they run as `python tests/clients/<script>.py`, so this is on their
path. Knows nothing of Runyard either."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from daytona import DaytonaConfig


def config_from_env() -> DaytonaConfig:
    """The SDK's configuration from DAYTONA_API_KEY and DAYTONA_API_URL, as every script is given them."""
    return DaytonaConfig(api_key=os.environ["DAYTONA_API_KEY"], api_url=os.environ["DAYTONA_API_URL"])


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
