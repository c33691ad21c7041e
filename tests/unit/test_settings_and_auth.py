"""Settings refuse placeholder secrets in production; keys are found wherever clients put them."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from api.deps import api_key_from
from core.settings import Settings


def test_production_refuses_the_default_database_password() -> None:
    with pytest.raises(ValidationError, match="default password"):
        Settings(env="production", database={"url": "postgresql+psycopg://runyard:runyard@127.0.0.1/runyard"})
    assert Settings(env="production", database={"url": "postgresql+psycopg://u:s3cret@db/runyard"}).env == "production"


def request(headers: dict[str, str], query: str = "") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw, "query_string": query.encode(), "method": "GET", "path": "/"})


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"X-Auth-Token": "k1"}, "", "k1"),
        ({"Authorization": "Bearer k2"}, "", "k2"),
        ({"Authorization": "Basic " + base64.b64encode(b"user:k3").decode()}, "", "k3"),
        ({"Authorization": "Basic " + base64.b64encode(b"k4:").decode()}, "", "k4"),
        ({}, "X-Auth-Token=k5", "k5"),
        ({"Authorization": "Basic !!!"}, "", None),
        ({"Authorization": "Bearer "}, "", None),
        ({}, "", None),
    ],
)
def test_api_key_extraction(headers: dict[str, str], query: str, expected: str | None) -> None:
    assert api_key_from(request(headers, query)) == expected
