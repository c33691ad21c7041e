"""HTTP for both clients: the key, retries on 429 and 503 (as the server's Retry-After says), and errors.

Only refusals are retried: a 429 or 503 means the server did not take the request, so sending it again
cannot run anything twice. A request that may have reached the server is never repeated, unless it
cannot do anything twice: reads (GET), and requests that carry an Idempotency-Key (the server answers
a repeat with what the first one created). Those are also sent again after a dropped connection (an
API restarting). A 503 "interrupted" is not a refusal: the work was accepted, and its body names it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from runyard.errors import (
    AuthenticationError,
    ConflictError,
    FieldProblem,
    InvalidRequestError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RunyardError,
    ServerError,
    ServerUnavailableError,
)

RETRY_STATUSES = {429, 503}
LIMIT_RULES = {"le", "lt", "max_bytes", "max_items", "max_length", "quota"}
DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Settings:
    url: str
    key: str | None
    timeout: float
    max_retries: int
    max_retry_wait: float


def settings(url: str | None, key: str | None, timeout: float, max_retries: int, max_retry_wait: float) -> Settings:
    return Settings(
        (url or os.environ.get("RUNYARD_URL") or DEFAULT_URL).rstrip("/"),
        key or os.environ.get("RUNYARD_KEY"),
        timeout,
        max_retries,
        max_retry_wait,
    )


def headers(s: Settings) -> dict[str, str]:
    out = {"User-Agent": "runyard-client/0.1"}
    if s.key:
        out["Authorization"] = f"Bearer {s.key}"
    return out


def client_options(s: Settings) -> dict[str, Any]:
    """What httpx.Client and httpx.AsyncClient are built with."""
    return {"base_url": s.url, "headers": headers(s), "timeout": s.timeout}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def delay(response: httpx.Response | None, attempt: int, s: Settings) -> float:
    hinted = _retry_after(response) if response is not None else None
    backoff = min(s.max_retry_wait, 0.5 * 2**attempt) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
    return min(s.max_retry_wait, hinted if hinted is not None else backoff)


def error_for(response: httpx.Response) -> RunyardError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or response.reason_phrase)
        fields = [
            FieldProblem(str(f.get("field")), str(f.get("rule")), str(f.get("message")), f.get("limit"))
            for f in error.get("fields") or []
            if isinstance(f, dict)
        ]
    else:
        message = (body.get("message") if isinstance(body, dict) else None) or str(body)[:500] or response.reason_phrase
        fields = []
    status = response.status_code
    if status == 401:
        return AuthenticationError(message, status, body)
    if status == 403:
        return PermissionDeniedError(message, status, body)
    if status == 404:
        return NotFoundError(message, status, body)
    if status == 409:
        if isinstance(error, dict) and "quota" in message:
            return LimitExceededError(message, status, body, fields)
        return ConflictError(message, status, body)
    if status in (400, 413, 422):
        if status == 413 or any(f.rule in LIMIT_RULES for f in fields):
            return LimitExceededError(message, status, body, fields)
        return InvalidRequestError(message, status, body, fields)
    if status == 429:
        return RateLimitedError(message, status, body, _retry_after(response))
    if status == 503:
        return ServerUnavailableError(message, status, body, _retry_after(response))
    return ServerError(message, status, body)


def checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise error_for(response)
    return response


def _repeatable(request: httpx.Request) -> bool:
    return request.method == "GET" or "idempotency-key" in request.headers


def may_resend(response: httpx.Response) -> bool:
    """The server did not take the request, or taking it twice changes nothing: it may be sent again."""
    if response.status_code not in RETRY_STATUSES:
        return False
    if _repeatable(response.request):
        return True
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return True
    return not (isinstance(error, dict) and error.get("type") == "interrupted")


def _resendable(exc: httpx.TransportError) -> bool:
    """Nothing was sent, or the request may be repeated (a timeout is the caller's to decide on)."""
    if isinstance(exc, httpx.ConnectError):
        return True
    try:
        request = exc.request
    except RuntimeError:  # raised before a request existed
        return False
    return _repeatable(request) and not isinstance(exc, httpx.TimeoutException)


@dataclass
class Retries:
    """The decisions of one request's retry loop (send and send_async only do the sending and sleeping)."""

    s: Settings
    attempt: int = 0

    def after_error(self, exc: httpx.TransportError) -> float:
        """Seconds to wait before sending again after `exc`; raises if it may not be sent again."""
        if not _resendable(exc):
            raise exc
        if self.attempt >= self.s.max_retries:
            raise ServerUnavailableError(f"cannot reach Runyard at {self.s.url}: {exc}", 0) from exc
        return self._next(None)

    def after(self, response: httpx.Response) -> float | None:
        """Seconds to wait before sending again, or None: the answer is final (and checked() says how)."""
        if may_resend(response) and self.attempt < self.s.max_retries:
            return self._next(response)
        return None

    def _next(self, response: httpx.Response | None) -> float:
        pause = delay(response, self.attempt, self.s)
        self.attempt += 1
        return pause


def send(client: httpx.Client, s: Settings, method: str, path: str, **kwargs: Any) -> httpx.Response:
    retries = Retries(s)
    while True:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            time.sleep(retries.after_error(exc))
            continue
        if (pause := retries.after(response)) is None:
            return checked(response)
        time.sleep(pause)


async def send_async(client: httpx.AsyncClient, s: Settings, method: str, path: str, **kwargs: Any) -> httpx.Response:
    retries = Retries(s)
    while True:
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            await asyncio.sleep(retries.after_error(exc))
            continue
        if (pause := retries.after(response)) is None:
            return checked(response)
        await asyncio.sleep(pause)
