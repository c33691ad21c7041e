"""Delivering a finished job's result to its callback URL: signed, pinned to a checked address."""

from __future__ import annotations

import enum
import json
import logging
import random
from dataclasses import dataclass

import httpx

from core.schemas import RunRecord
from core.security import SIGNATURE_HEADER, sign
from core.settings import Settings
from core.urlguard import Policy, UnsafeURL
from core.views import JUDGE0_DEFAULT_FIELDS, judge0_submission, run_view

log = logging.getLogger(__name__)


class Delivery(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Attempt:
    result: Delivery
    detail: str


def body_for(record: RunRecord, language_name: str | None) -> bytes:
    """Judge0 submissions get Judge0's callback body (base64, default fields); native runs get the native view."""
    if record.protocol == "judge0":
        payload = judge0_submission(record, language_name, JUDGE0_DEFAULT_FIELDS, base64_encoded=True)
        return json.dumps(payload).encode()
    return run_view(record, language_name).model_dump_json().encode()


def backoff_s(attempt: int, settings: Settings) -> float:
    cb = settings.callbacks
    delay = min(cb.backoff_max_s, cb.backoff_base_s * 2.0 ** max(0, attempt - 1))
    return float(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


def deliver(url: str, body: bytes, secret: str, job_id: str, attempt: int, settings: Settings) -> Attempt:
    try:
        target = Policy(settings.callbacks.allow_hosts).check(url)
    except UnsafeURL as exc:
        return Attempt(Delivery.GIVE_UP, f"callback_url {exc}")
    # Connect to the address we checked, not to whatever the name resolves to next.
    address = target.addresses[0]
    host_for_url = f"[{address}]" if ":" in address else address
    parts = httpx.URL(url)
    pinned = parts.copy_with(host=host_for_url)
    headers = {
        "Content-Type": "application/json",
        "Host": parts.netloc.decode("ascii"),
        "User-Agent": "Runyard-Callback/1",
        "X-Runyard-Job": job_id,
        "X-Runyard-Attempt": str(attempt),
        SIGNATURE_HEADER: sign(secret, body),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with httpx.Client(timeout=settings.callbacks.timeout_s, follow_redirects=False) as client:
            response = client.request("PUT", pinned, content=body, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        return Attempt(Delivery.RETRY, f"network error: {exc!r}")
    code = response.status_code
    if 200 <= code < 300:
        return Attempt(Delivery.DELIVERED, f"HTTP {code}")
    if code == 429 or code >= 500:
        return Attempt(Delivery.RETRY, f"HTTP {code}")
    return Attempt(Delivery.GIVE_UP, f"HTTP {code} (not retried)")
