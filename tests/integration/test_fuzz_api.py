"""Schemathesis against Runyard's own OpenAPI, every operation of every API (native, Judge0, SandboxAI, Daytona):
no 5xx (a deliberate 501 naming an unsupported Daytona feature aside), and every documented response body
matches its schema. Bounded: a few examples per operation, so it fits in CI."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

from core.db import transaction
from core.services import keys as key_service
from core.settings import get_settings
from tests.stack import Stack, running_stack

EXAMPLES = 6


@pytest.fixture(scope="module")
def fuzz_stack(database: None) -> Iterator[Stack]:
    env = {
        "RUNYARD_RATE__REQUESTS_PER_MINUTE": "10000000",
        "RUNYARD_SANDBOXES__MAX_PER_TENANT": "2",
        "RUNYARD_SANDBOXES__POOL_SIZE": "1",
        "RUNYARD_LIMITS__MAX_WALL_TIME_LIMIT_S": "3",
        "RUNYARD_LIMITS__MAX_NUMBER_OF_RUNS": "2",
    }
    with running_stack(12, env, workers=("worker",)) as s:
        yield s


@pytest.fixture(scope="module")
def fuzz_key(database: None) -> str:
    with transaction(get_settings()) as session:
        return key_service.create_key(session, tenant="fuzz", name="fuzz").key


@pytest.fixture(scope="module")
def api_schema(fuzz_stack: Stack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_stack.url}/openapi.json")


def test_no_server_error_and_responses_match_their_schema(api_schema: schemathesis.BaseSchema, fuzz_key: str) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 100

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers={"X-Auth-Token": fuzz_key}, timeout=60)
            # 501 is only ever deliberate (NotSupported, or Daytona's refusals): a crash is a 500.
            deliberate = response.status_code == 501
            if response.status_code >= 500 and not deliberate:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")
                return
            try:
                case.validate_response(response, checks=(response_schema_conformance,))
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                failures.append(f"{case.method} {case.formatted_path}: {str(exc)[:300]}")

        check()
    assert not failures, "\n".join(failures[:30])


def test_the_schema_covers_every_api(api_schema: schemathesis.BaseSchema, fuzz_stack: Stack) -> None:
    paths = httpx.get(f"{fuzz_stack.url}/openapi.json").json()["paths"]
    for prefix in ("/v1/runs", "/v1/sandboxes", "/submissions", "/sandboxai/v1", "/daytona/api", "/daytona/toolbox"):
        assert any(p.startswith(prefix) for p in paths), prefix
