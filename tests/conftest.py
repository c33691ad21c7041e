"""Test configuration shared by every test: the test settings, and service checks.

Settings come from the environment, so they are set here before anything
imports core.settings. The suite has a Redis and a PostgreSQL of its own (tests/services.py),
started when a test first needs them; never those of a `make up` installation.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from tests.services import SUITE_DATABASE, SUITE_POSTGRES, SUITE_REDIS

STATE_DIR = tempfile.mkdtemp(prefix="runyard-test-")
TEST_DB_URL = os.environ.get("RUNYARD_TEST_DATABASE_URL", SUITE_POSTGRES.url(SUITE_DATABASE))
TEST_REDIS_DB = 15


def redis_url(db: int) -> str:
    """A database of the suite's own Redis."""
    return SUITE_REDIS.url(db)


os.environ.update(
    {
        "RUNYARD_ENV": "test",
        "RUNYARD_DATABASE__URL": TEST_DB_URL,
        "RUNYARD_REDIS__URL": redis_url(TEST_REDIS_DB),
        "RUNYARD_STATE_DIR": STATE_DIR,
        "RUNYARD_API__AUTH_CACHE_S": "0",
        "RUNYARD_CALLBACKS__ALLOW_HOSTS": '["127.0.0.1", "localhost"]',
    }
)


@pytest.fixture(scope="session", autouse=True)
def make_up_installation_untouched(request: pytest.FixtureRequest) -> Iterator[None]:
    """Around the integration suite: a `make up` installation here answers after it as before."""
    from tests.installation import Guard, NoInstallation
    from tests.services import IN_CI

    if not any("/integration/" in str(item.path) for item in request.session.items):
        yield
        return
    plugins = request.config.pluginmanager
    capture, reporter = plugins.get_plugin("capturemanager"), plugins.get_plugin("terminalreporter")

    def say(line: str) -> None:  # past pytest's capture, into the run's output
        if capture is None or reporter is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    try:
        guard = Guard()
    except NoInstallation as exc:
        if IN_CI:
            pytest.fail(f"CI runs `make up` before `make test`: {exc}")
        say(f"not checked that a `make up` installation comes through the suite untouched: {exc}")
        yield
        return
    yield
    guard.check()
    say("a `make up` installation came through the suite untouched (tests/installation.py)")
