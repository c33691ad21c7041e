"""Keys and tenants: three ways to present a key; other tenants' runs are invisible (404)."""

from __future__ import annotations

import base64

import httpx
import pytest

from core.db import transaction
from core.services import keys as key_service
from core.settings import get_settings
from tests.integration.conftest import Tenant
from tests.integration.helpers import submit, wait_finished
from tests.stack import Stack


def test_no_key_and_wrong_key_are_401(stack: Stack) -> None:
    for headers in ({}, {"X-Auth-Token": "ry_not-a-real-key"}, {"Authorization": "Bearer nope"}):
        response = httpx.get(f"{stack.url}/languages", headers=headers)
        assert response.status_code == 401
        assert "key" in response.json()["error"]
    response = httpx.get(f"{stack.url}/v1/languages")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_failed"


@pytest.mark.parametrize("scheme", ["x-auth-token", "bearer", "basic-password", "basic-user", "query"])
def test_key_accepted_in_every_supported_place(stack: Stack, tenant: Tenant, scheme: str) -> None:
    headers, params = {}, {}
    if scheme == "x-auth-token":
        headers["X-Auth-Token"] = tenant.key
    elif scheme == "bearer":
        headers["Authorization"] = f"Bearer {tenant.key}"
    elif scheme == "basic-password":
        headers["Authorization"] = "Basic " + base64.b64encode(f"anyone:{tenant.key}".encode()).decode()
    elif scheme == "basic-user":
        headers["Authorization"] = "Basic " + base64.b64encode(f"{tenant.key}:".encode()).decode()
    else:
        params["X-Auth-Token"] = tenant.key
    response = httpx.get(f"{stack.url}/v1/me", headers=headers, params=params)
    assert response.status_code == 200
    assert response.json()["tenant"] == tenant.name


def test_basic_auth_in_the_url_works_with_httpx(stack: Stack, tenant: Tenant) -> None:
    url = stack.url.replace("http://", f"http://runyard:{tenant.key}@")
    assert httpx.get(f"{url}/v1/me").json()["tenant"] == tenant.name


def test_revoked_key_is_refused(stack: Stack) -> None:
    with transaction(get_settings()) as session:
        issued = key_service.create_key(session, tenant="revocation", name="short-lived")
    assert httpx.get(f"{stack.url}/v1/me", headers={"X-Auth-Token": issued.key}).status_code == 200
    with transaction(get_settings()) as session:
        key_service.revoke_key(session, key_or_prefix=str(issued.key_id))
    assert httpx.get(f"{stack.url}/v1/me", headers={"X-Auth-Token": issued.key}).status_code == 401


def test_other_tenants_runs_are_404_everywhere(client: httpx.Client, stack: Stack, other_tenant: Tenant) -> None:
    token = submit(client, {"source_code": "print('secret')", "language_id": 71}).json()["token"]
    wait_finished(client, token)
    with httpx.Client(base_url=stack.url, headers={"X-Auth-Token": other_tenant.key}) as intruder:
        assert intruder.get(f"/submissions/{token}").status_code == 404
        assert intruder.delete(f"/submissions/{token}").status_code == 404
        assert intruder.get(f"/v1/runs/{token}").status_code == 404
        assert intruder.delete(f"/v1/runs/{token}").status_code == 404
        batch = intruder.get("/submissions/batch", params={"tokens": token}).json()
        assert batch == {"submissions": [None]}
        assert token not in [s["token"] for s in intruder.get("/submissions").json()["submissions"]]
        assert token not in [r["id"] for r in intruder.get("/v1/runs").json()["items"]]
    # the owner still sees it
    assert client.get(f"/submissions/{token}").json()["stdout"] == "secret\n"


def test_listing_shows_only_own_runs_paginated(client: httpx.Client) -> None:
    tokens = [submit(client, {"source_code": f"print({i})", "language_id": 71}).json()["token"] for i in range(3)]
    page = client.get("/submissions", params={"per_page": 2, "page": 1}).json()
    assert page["meta"]["total_count"] == 3
    assert page["meta"]["total_pages"] == 2
    assert page["meta"]["next_page"] == 2
    assert [s["token"] for s in page["submissions"]] == tokens[::-1][:2]
    second = client.get("/submissions", params={"per_page": 2, "page": 2}).json()
    assert [s["token"] for s in second["submissions"]] == tokens[:1]
    assert client.get("/submissions", params={"page": 0}).status_code == 400
