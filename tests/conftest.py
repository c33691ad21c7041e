"""Test configuration shared by every test: the test settings, and service checks.

Settings come from the environment, so they are set here before anything
imports core.settings. Tests use their own database (runyard_test) and Redis
databases 10-15, never those of a `make up` installation.
"""

from __future__ import annotations

import os
import tempfile

STATE_DIR = tempfile.mkdtemp(prefix="runyard-test-")
TEST_DB_URL = os.environ.get(
    "RUNYARD_TEST_DATABASE_URL", "postgresql+psycopg://runyard:runyard@127.0.0.1:5432/runyard_test"
)
TEST_REDIS_DB = 15

os.environ.update(
    {
        "RUNYARD_ENV": "test",
        "RUNYARD_DATABASE__URL": TEST_DB_URL,
        "RUNYARD_REDIS__URL": f"redis://127.0.0.1:6379/{TEST_REDIS_DB}",
        "RUNYARD_STATE_DIR": STATE_DIR,
        "RUNYARD_API__AUTH_CACHE_S": "0",
        "RUNYARD_CALLBACKS__ALLOW_HOSTS": '["127.0.0.1", "localhost"]',
    }
)
