"""Callbacks: retried after errors, signed with the tenant's secret, and never aimed at private addresses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from core.security import SIGNATURE_HEADER, verify
from tests.integration.conftest import Tenant
from tests.integration.helpers import CallbackReceiver, after_sweeps, eventually, submit, wait_finished
from tests.stack import Stack


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    r = CallbackReceiver()
    yield r
    r.close()


def test_callback_is_retried_after_500_then_delivered_signed(
    client: httpx.Client, tenant: Tenant, receiver: CallbackReceiver
) -> None:
    receiver.answers = [500, 503]
    token = submit(
        client, {"source_code": "print('called back')", "language_id": 71, "callback_url": receiver.url}
    ).json()["token"]
    eventually(lambda: len(receiver.received) >= 3, timeout=60)
    first, second, third = receiver.received[:3]
    assert [r.headers["x-runyard-attempt"] for r in (first, second, third)] == ["1", "2", "3"]
    for delivery in (first, second, third):
        assert verify(tenant.callback_secret, delivery.body, delivery.headers[SIGNATURE_HEADER.lower()])
        assert not verify("whsec_wrong", delivery.body, delivery.headers[SIGNATURE_HEADER.lower()])
    payload = third.json()
    assert payload["token"] == token
    assert payload["status"] == {"id": 3, "description": "Accepted"}
    assert payload["stdout"] == "Y2FsbGVkIGJhY2sK"  # Judge0 sends callbacks base64-encoded

    def delivered() -> bool:
        run = client.get(f"/v1/runs/{token}").json()
        return run["callback"]["state"] == "delivered" and run["callback"]["attempts"] == 3

    eventually(delivered, timeout=10)
    assert len(receiver.received) == 3  # nothing after success


def test_callback_gives_up_on_a_4xx(client: httpx.Client, receiver: CallbackReceiver) -> None:
    receiver.answers = [404]
    token = submit(client, {"source_code": "print(1)", "language_id": 71, "callback_url": receiver.url}).json()["token"]
    eventually(lambda: client.get(f"/v1/runs/{token}").json()["callback"]["state"] == "failed", timeout=30)
    run = client.get(f"/v1/runs/{token}").json()
    assert run["callback"]["attempts"] == 1
    assert "404" in run["callback"]["last_error"]
    assert len(receiver.received) == 1


def test_native_runs_call_back_with_the_native_view(client: httpx.Client, receiver: CallbackReceiver) -> None:
    run = client.post(
        "/v1/runs", json={"language": "python", "source": "print(7)", "callback_url": receiver.url}
    ).json()
    eventually(lambda: receiver.received, timeout=30)
    body = receiver.received[0].json()
    assert body["id"] == run["id"]
    assert body["status"] == "accepted"
    assert body["stdout"] == "7\n"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://192.168.0.10/x",
        "ftp://example.com/hook",
        "http://user:pass@127.0.0.1/hook",
    ],
)
def test_private_or_odd_callback_urls_are_refused(client: httpx.Client, url: str) -> None:
    response = submit(client, {"source_code": "print(1)", "language_id": 71, "callback_url": url})
    assert response.status_code == 422
    assert "callback_url" in response.json()


def test_loopback_is_refused_unless_allow_listed(stack: object, tenant: Tenant) -> None:
    """The shared stack allow-lists 127.0.0.1 and localhost; a stack without an allow-list refuses them."""

    strict = Stack(redis_db=13, env_extra={"RUNYARD_CALLBACKS__ALLOW_HOSTS": "[]"})
    try:
        strict.start_api()
        with httpx.Client(base_url=strict.url, headers={"X-Auth-Token": tenant.key}) as c:
            response = submit(c, {"source_code": "print(1)", "language_id": 71, "callback_url": "http://localhost:9/x"})
        assert response.status_code == 422
        assert "private" in response.json()["callback_url"][0]
    finally:
        strict.stop()


def test_finished_run_is_not_called_back_twice(client: httpx.Client, receiver: CallbackReceiver, stack: Stack) -> None:
    token = submit(client, {"source_code": "print(2)", "language_id": 71, "callback_url": receiver.url}).json()["token"]
    wait_finished(client, token)
    eventually(lambda: receiver.received, timeout=30)
    after_sweeps(stack.redis_url)  # any re-send would have come from one of them
    assert len(receiver.received) == 1
