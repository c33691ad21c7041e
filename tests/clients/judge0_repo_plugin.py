"""Runs the judge0 SDK repository's own tests against a Runyard, with their own settings and nothing else.

Their conftest builds a client for Judge0's hosted preview (ce.judge0.com) for every test, whatever endpoint
is configured; with no route to it, every test errors before it starts. So their conftest is left out
(`--noconftest`) and this plugin gives the two fixtures their tests ask for: `ce_client` from their own
JUDGE0_CE_ENDPOINT and JUDGE0_CE_AUTH_HEADERS, built exactly as their conftest builds it, and
`extra_ce_client`, which only Judge0's Extra CE flavour serves: those tests are skipped, saying so.

    JUDGE0_CE_ENDPOINT=http://127.0.0.1:8000 JUDGE0_CE_AUTH_HEADERS='{"X-Auth-Token": "<key>"}' \\
      python -m pytest --noconftest -p tests.clients.judge0_repo_plugin \\
      <judge0-python>/tests/test_submission.py <judge0-python>/tests/test_api_test_cases.py
"""

from __future__ import annotations

import json
import os

import pytest
from judge0 import clients


@pytest.fixture(scope="session")
def ce_client() -> clients.Client:
    endpoint, headers = os.environ.get("JUDGE0_CE_ENDPOINT"), os.environ.get("JUDGE0_CE_AUTH_HEADERS")
    if endpoint is None or headers is None:
        pytest.fail("set JUDGE0_CE_ENDPOINT and JUDGE0_CE_AUTH_HEADERS to the Runyard under test")
    return clients.Client(endpoint=endpoint, headers=json.loads(headers))


@pytest.fixture(scope="session")
def extra_ce_client() -> clients.Client:
    pytest.skip("needs Judge0 Extra CE, a hosted flavour of Judge0 with other languages; Runyard serves CE")
