"""The client's retry and error rules, on a scripted transport (pure logic: no server needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from runyard import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    LimitExceededError,
    NotFoundError,
    RateLimitedError,
    Runyard,
    RunyardError,
    ServerError,
    ServerUnavailableError,
)
from runyard._transport import Settings, error_for, send, send_async

SETTINGS = Settings("http://runyard.test", "ry_k", 5.0, 3, 0.01)


def scripted(*answers: httpx.Response | Exception, asynchronous: bool = False) -> tuple[Any, list[httpx.Request]]:
    """An httpx client (an AsyncClient if `asynchronous`) whose server gives these answers, and its requests."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    kind = httpx.AsyncClient if asynchronous else httpx.Client
    return kind(base_url=SETTINGS.url, transport=httpx.MockTransport(handler)), seen


def native(status: int, message: str, **extra: object) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"type": "x", "message": message, **extra}}, headers={"Retry-After": "0"}
    )


def test_refusals_are_retried_until_accepted() -> None:
    client, seen = scripted(native(503, "queue full"), native(429, "slow down"), httpx.Response(201, json={"id": "1"}))
    assert send(client, SETTINGS, "POST", "/v1/runs", json={}).status_code == 201
    assert len(seen) == 3


def test_retries_end_with_the_servers_error_and_its_retry_after() -> None:
    client, seen = scripted(*[native(503, "queue is full") for _ in range(4)])
    with pytest.raises(ServerUnavailableError) as err:
        send(client, SETTINGS, "POST", "/v1/runs", json={})
    assert err.value.message == "queue is full" and err.value.retry_after == 0 and len(seen) == 4


def test_a_request_that_may_have_arrived_is_never_sent_again() -> None:
    client, seen = scripted(httpx.ReadTimeout("no answer"))
    with pytest.raises(httpx.ReadTimeout):
        send(client, SETTINGS, "POST", "/v1/runs", json={})
    assert len(seen) == 1
    client, seen = scripted(native(500, "boom"))
    with pytest.raises(ServerError):
        send(client, SETTINGS, "POST", "/v1/runs", json={})
    assert len(seen) == 1


def test_a_connection_never_made_is_retried() -> None:
    client, seen = scripted(httpx.ConnectError("refused"), httpx.Response(200, json=[]))
    assert send(client, SETTINGS, "GET", "/v1/languages").json() == []
    assert len(seen) == 2


def test_accepted_work_is_never_submitted_again_but_may_be_read_again() -> None:
    interrupted = {"type": "interrupted", "message": "restarting", "id": "r1"}
    client, seen = scripted(httpx.Response(503, json={"error": interrupted}, headers={"Retry-After": "0"}))
    with pytest.raises(ServerUnavailableError) as err:
        send(client, SETTINGS, "POST", "/v1/runs", params={"wait": "true"}, json={})
    assert err.value.body["error"]["id"] == "r1" and len(seen) == 1  # the run exists: not sent twice
    client, seen = scripted(
        httpx.Response(503, json={"error": interrupted}, headers={"Retry-After": "0"}),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.Response(200, json={"id": "r1"}),
    )
    assert send(client, SETTINGS, "GET", "/v1/runs/r1", params={"wait": "5"}).json() == {"id": "r1"}
    assert len(seen) == 3
    client, seen = scripted(httpx.RemoteProtocolError("server disconnected"))
    with pytest.raises(httpx.RemoteProtocolError):
        send(client, SETTINGS, "POST", "/v1/runs", json={})
    assert len(seen) == 1


def test_a_request_with_an_idempotency_key_is_sent_again_after_a_dropped_connection() -> None:
    key = {"Idempotency-Key": "k1"}
    interrupted = {"type": "interrupted", "message": "restarting", "id": "r1"}
    client, seen = scripted(
        httpx.RemoteProtocolError("server disconnected"),
        httpx.Response(503, json={"error": interrupted}, headers={"Retry-After": "0"}),
        httpx.Response(201, json={"id": "r1"}),
    )
    assert send(client, SETTINGS, "POST", "/v1/runs", headers=key, json={}).json() == {"id": "r1"}
    assert [r.headers["idempotency-key"] for r in seen] == ["k1", "k1", "k1"]
    client, seen = scripted(httpx.ReadTimeout("no answer"))  # the caller's own deadline passed: not sent again
    with pytest.raises(httpx.ReadTimeout):
        send(client, SETTINGS, "POST", "/v1/runs", headers=key, json={})
    assert len(seen) == 1


SCENARIOS: dict[str, tuple[str, dict[str, object], Callable[[], list[httpx.Response | Exception]]]] = {
    "refusals retried": ("POST", {}, lambda: [native(503, "full"), native(429, "slow"), httpx.Response(201, json={})]),
    "retries run out": ("POST", {}, lambda: [native(503, "queue is full") for _ in range(4)]),
    "no answer, not resent": ("POST", {}, lambda: [httpx.ReadTimeout("no answer")]),
    "never connected, resent": ("GET", {}, lambda: [httpx.ConnectError("refused"), httpx.Response(200, json=[])]),
    "dropped, not resent": ("POST", {}, lambda: [httpx.RemoteProtocolError("server disconnected")]),
    "dropped, resent with its key": (
        "POST",
        {"headers": {"Idempotency-Key": "k1"}},
        lambda: [httpx.RemoteProtocolError("server disconnected"), httpx.Response(201, json={})],
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_async_transport_decides_as_the_sync_one_does(scenario: str) -> None:
    method, kwargs, answers = SCENARIOS[scenario]

    def outcome(attempt: Callable[[], httpx.Response]) -> tuple[str, object]:
        try:
            return "answered", attempt().status_code
        except (httpx.HTTPError, RunyardError) as exc:
            return "raised", type(exc)

    client, seen = scripted(*answers())
    sync_outcome = outcome(lambda: send(client, SETTINGS, method, "/v1/runs", **kwargs))
    async_client, async_seen = scripted(*answers(), asynchronous=True)
    async_outcome = outcome(lambda: asyncio.run(send_async(async_client, SETTINGS, method, "/v1/runs", **kwargs)))
    assert (sync_outcome, len(seen)) == (async_outcome, len(async_seen))


def test_every_run_the_client_submits_has_its_own_idempotency_key() -> None:
    from runyard import _calls

    first, second = (_calls.create_run({}, wait=False)[2]["headers"]["Idempotency-Key"] for _ in range(2))
    assert first != second


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (native(401, "no key"), AuthenticationError),
        (native(404, "run x not found"), NotFoundError),
        (native(409, "sandbox is stopped; start it first"), ConflictError),
        (native(409, "sandbox quota reached: 4 of 4"), LimitExceededError),
        (
            native(
                422,
                "limits.memory_bytes: too big",
                fields=[{"field": "limits.memory_bytes", "rule": "le", "message": "too big", "limit": 5}],
            ),
            LimitExceededError,
        ),
        (
            native(422, "language: unknown", fields=[{"field": "language", "rule": "exists", "message": "unknown"}]),
            InvalidRequestError,
        ),
        (native(429, "slow down"), RateLimitedError),
        (httpx.Response(502, text="<html>bad gateway</html>"), ServerError),
    ],
)
def test_errors_carry_the_servers_words(response: httpx.Response, kind: Callable[..., Exception]) -> None:
    error = error_for(response)
    assert type(error) is kind
    assert error.message and error.status == response.status_code


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_URL", "http://from-env:1/")
    monkeypatch.setenv("RUNYARD_KEY", "ry_env")
    client = Runyard()
    assert (
        str(client._http.base_url) == "http://from-env:1" and client._http.headers["authorization"] == "Bearer ry_env"
    )
    client.close()
