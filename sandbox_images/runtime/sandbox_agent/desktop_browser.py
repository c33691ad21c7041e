"""One action on the desktop's Chromium, by the image's own Playwright (its browser.py script) over CDP."""

from __future__ import annotations

import json
import os
from typing import Any

from .protocol import OpError
from .x11 import SHOT_BYTES, run

BROWSER_SCRIPT = "/opt/desktop/browser.py"
BROWSER_ACTIONS = {"navigate", "click", "type", "screenshot", "content", "evaluate"}


def browser(req: dict[str, Any]) -> dict[str, Any]:
    """One action on the desktop's Chromium by the image's own Playwright (BROWSER_SCRIPT), over CDP."""
    if req.get("action") not in BROWSER_ACTIONS:
        raise OpError("invalid", f"action must be one of {', '.join(sorted(BROWSER_ACTIONS))}", field="action")
    if not os.path.exists(BROWSER_SCRIPT):
        raise OpError("desktop_unavailable", "this image has no desktop browser (the desktop template has one)")
    _, stdout, stderr = run(
        ["python3", BROWSER_SCRIPT],
        stdin=json.dumps(req).encode(),
        timeout_ms=60_000,
        output_bytes=SHOT_BYTES,
        check=False,
    )
    out = stdout.decode(errors="replace").strip().splitlines()
    try:
        answer = json.loads(out[-1]) if out else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        err = stderr.strip().splitlines()[-1:] or ["no answer"]
        raise OpError("desktop_failed", f"the browser did not answer: {err[0][:500]}")
    if not answer.pop("ok", False):
        raise OpError("desktop_failed", str(answer.get("error") or "the browser action failed"))
    return answer
