"""One browser action on the desktop's Chromium, through Playwright over CDP (127.0.0.1:9222).

Reads {"action": ..., ...} as JSON on stdin and prints the result as JSON: the page acted on is the most
recently opened one of the browser's first context (a new one if there is none), so what an agent does
is what the desktop shows. Runyard's agent runs this for /v1/sandboxes/{id}/browser.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from playwright.sync_api import Page, sync_playwright

CDP = "http://127.0.0.1:9222"
TIMEOUT_MS = 30_000


def act(page: Page, req: dict[str, Any]) -> dict[str, Any]:
    action = req.get("action")
    if action == "navigate":
        response = page.goto(str(req["url"]), wait_until=req.get("wait_until") or "load", timeout=TIMEOUT_MS)
        return {"url": page.url, "title": page.title(), "status": response.status if response else None}
    if action == "click":
        if req.get("selector"):
            page.click(str(req["selector"]), timeout=TIMEOUT_MS)
        else:
            page.mouse.click(float(req["x"]), float(req["y"]))
        return {"url": page.url, "title": page.title()}
    if action == "type":
        if req.get("selector"):
            page.fill(str(req["selector"]), str(req["text"]), timeout=TIMEOUT_MS)
        else:
            page.keyboard.type(str(req["text"]))
        if req.get("submit"):
            page.keyboard.press("Enter")
        return {"url": page.url, "title": page.title()}
    if action == "screenshot":
        image = page.screenshot(full_page=bool(req.get("full_page")), timeout=TIMEOUT_MS)
        return {"png": base64.b64encode(image).decode(), "url": page.url}
    if action == "content":
        links = page.eval_on_selector_all(
            "a[href]", "els => els.slice(0, 500).map(a => ({text: a.innerText.trim().slice(0, 200), href: a.href}))"
        )
        return {"url": page.url, "title": page.title(), "text": page.inner_text("body")[:1_000_000], "links": links}
    if action == "evaluate":
        return {"value": page.evaluate(str(req["expression"]))}
    raise ValueError(f"unknown browser action {action!r}")


def main() -> None:
    req = json.loads(sys.stdin.read() or "{}")
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(CDP, timeout=TIMEOUT_MS)
        context = browser.contexts[0] if browser.contexts else browser.new_context()
        page = context.pages[-1] if context.pages else context.new_page()
        page.bring_to_front()
        try:
            result = {"ok": True, **act(page, req)}
        except Exception as exc:  # noqa: BLE001 - the page's error is the caller's answer
            result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:500]}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
