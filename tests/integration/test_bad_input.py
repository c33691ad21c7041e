"""Bad input gets a 4xx that names the field and the rule, and nothing makes the API answer 5xx."""

from __future__ import annotations

import base64
import json
import random

import httpx
import pytest

from tests.integration.helpers import submit


def test_malformed_json(client: httpx.Client) -> None:
    for path in ("/submissions", "/submissions/batch", "/v1/runs"):
        response = client.post(path, content=b'{"source_code": ', headers={"Content-Type": "application/json"})
        assert response.status_code in (400, 422), (path, response.status_code)
        assert response.status_code < 500


def test_schema_violations_name_the_field(client: httpx.Client) -> None:
    response = submit(client, {"source_code": "print(1)", "language_id": "python"})
    assert response.status_code == 422
    assert "language_id" in response.json()
    response = submit(client, {"source_code": "print(1)"})
    assert response.json() == {"language_id": ["can't be blank"]}
    response = submit(client, {"language_id": 71})
    assert response.json() == {"source_code": ["can't be blank"]}
    response = submit(client, {"source_code": "x", "language_id": 9999})
    assert response.json() == {"language_id": ["language with id 9999 doesn't exist"]}


def test_limits_over_the_maxima(client: httpx.Client) -> None:
    body = {
        "source_code": "print(1)",
        "language_id": 71,
        "cpu_time_limit": 100,
        "wall_time_limit": 0.5,
        "memory_limit": 10**9,
        "max_processes_and_or_threads": 0,
        "number_of_runs": 21,
    }
    response = submit(client, body)
    assert response.status_code == 422
    assert response.json() == {
        "cpu_time_limit": ["must be less than or equal to 15.0"],
        "wall_time_limit": ["must be greater than or equal to 1.0"],
        "memory_limit": ["must be less than or equal to 512000"],
        "max_processes_and_or_threads": ["must be greater than 0"],
        "number_of_runs": ["must be less than or equal to 20"],
    }


def test_native_errors_name_field_and_rule(client: httpx.Client) -> None:
    response = client.post("/v1/runs", json={"language": "python", "source": "x", "limits": {"memory_bytes": 10**12}})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert fields == [
        {
            "field": "limits.memory_bytes",
            "rule": "le",
            "message": "must be less than or equal to 524288000",
            "limit": 524288000,
        }
    ]
    response = client.post("/v1/runs", json={"language": "klingon", "source": "x"})
    assert response.json()["error"]["fields"][0]["field"] == "language"
    response = client.post("/v1/runs", json={"language": "python", "source": "x", "bogus": 1})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0] == {
        "field": "bogus",
        "rule": "extra_forbidden",
        "message": "Extra inputs are not permitted",
    }


def test_bad_base64(client: httpx.Client) -> None:
    response = submit(client, {"source_code": "not base64!!", "language_id": 71}, base64_encoded="true")
    assert response.status_code == 422
    assert response.json() == {"source_code": ["is not valid base64"]}
    response = submit(client, {"source_code": "x", "language_id": 89, "additional_files": "%%%"})
    assert response.status_code == 422
    assert "additional_files" in response.json()
    response = client.post("/v1/runs", json={"language": "python", "source_base64": "@@@"})
    assert response.json()["error"]["fields"][0]["field"] == "source_base64"


def test_archive_that_is_not_a_zip_or_escapes(client: httpx.Client) -> None:
    response = submit(client, {"language_id": 89, "additional_files": base64.b64encode(b"plain text").decode()})
    assert response.status_code == 422
    assert "not a valid zip" in response.json()["additional_files"][0]


def test_unknown_token_and_bad_fields(client: httpx.Client) -> None:
    assert client.get("/submissions/0b6e4bd8-5a8b-4c59-9b3c-39b8a4e5d111").status_code == 404
    assert client.get("/submissions/not-a-uuid").status_code == 404
    assert client.get("/v1/runs/not-a-uuid").status_code == 422
    response = client.get("/submissions/0b6e4bd8-5a8b-4c59-9b3c-39b8a4e5d111", params={"fields": "stdout,nope"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid fields: [nope]"}


def test_body_too_large_is_413(client: httpx.Client) -> None:
    response = client.post(
        "/v1/runs", content=b"{" + b" " * (49 << 20) + b"}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        {"source_code": "print(1)", "language_id": 71, "compiler_options": "a\u0000b"},
        {"source_code": "print(1)", "language_id": 71, "command_line_arguments": "'unclosed"},
        {"source_code": "\ud800", "language_id": 71},
        {"source_code": "print(1)", "language_id": 10**40},
        {"source_code": "print(1)", "language_id": 71, "memory_limit": 1e308},
        {"source_code": "print(1)", "language_id": 71, "callback_url": "http://exa mple.com/\u0000"},
        {"source_code": ["a"], "language_id": 71},
        {"source_code": "print(1)", "language_id": 71, "enable_network": True},
        {"source_code": "print(1)", "language_id": 71, "enable_per_process_and_thread_time_limit": True},
        {"source_code": "int main(){}", "language_id": 50, "compiler_options": "-O2\u0000"},
        {"source_code": "print(1)", "language_id": 71, "command_line_arguments": "a\u0000b"},
        {"source_code": "print(1)", "language_id": 71, "command_line_arguments": "\ud800"},
        {"source_code": "print(1)", "language_id": 71, "callback_url": "http://example.com/\u0000"},
    ],
)
def test_hostile_values_are_4xx_not_5xx(client: httpx.Client, body: dict[str, object]) -> None:
    response = client.post("/submissions", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text


def test_compiler_options_only_for_compiled_languages(client: httpx.Client) -> None:
    response = submit(client, {"source_code": "print(1)", "language_id": 71, "compiler_options": "-O2"})
    assert response.json() == {"compiler_options": ["setting compiler options is only allowed for compiled languages"]}


def test_random_junk_never_yields_5xx(client: httpx.Client) -> None:
    rng = random.Random(1234)
    values: list[object] = [
        None,
        True,
        -1,
        0,
        2**63,
        1.5,
        "",
        "x" * 1000,
        "\u0000",
        "\ud800",
        "'",
        [],
        {},
        [1, "a"],
        {"a": {}},
    ]
    keys = [
        "source_code",
        "language_id",
        "stdin",
        "cpu_time_limit",
        "memory_limit",
        "callback_url",
        "additional_files",
        "number_of_runs",
        "expected_output",
        "max_file_size",
        "stack_limit",
        "compiler_options",
        "command_line_arguments",
        "language",
        "source",
        "args",
        "limits",
    ]
    for _ in range(150):
        body = {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 6))}
        if rng.random() < 0.5:
            body.setdefault("language_id", 71)
        path = rng.choice(["/submissions", "/submissions?base64_encoded=true", "/submissions/batch", "/v1/runs"])
        payload = {"submissions": [body]} if path.endswith("batch") else body
        response = client.post(path, content=json.dumps(payload), headers={"Content-Type": "application/json"})
        assert response.status_code < 500, (path, payload, response.text)
