"""Every example in the client's documentation runs, as written, against a live Runyard: the docs cannot rot.

Python blocks of README.md and the client's pages, and shell blocks of docs/cli.md, each in its own
process and directory. The only change made to them: the documented URL and key placeholders become
this test's own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import transaction
from core.services import keys as key_service
from core.settings import get_settings
from tests.stack import ROOT, Stack, running_stack

PAGES = {
    "README.md": ("python",),
    "docs/sdk.md": ("python",),
    "docs/sdk-sandboxes.md": ("python",),
    "docs/cli.md": ("sh",),
}
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def examples() -> list[tuple[str, int, str, str]]:
    found = []
    for page, kinds in PAGES.items():
        text = (ROOT / page).read_text()
        for number, match in enumerate(BLOCK.finditer(text), 1):
            if match.group(1) in kinds:
                found.append((page, number, match.group(1), match.group(2)))
    return found


EXAMPLES = examples()


def test_every_page_has_examples() -> None:
    pages = {page for page, *_ in EXAMPLES}
    assert pages == set(PAGES), pages
    assert len(EXAMPLES) >= 12


@pytest.fixture(scope="module")
def docs_stack(database: None) -> Iterator[Stack]:
    with running_stack(14, {"RUNYARD_SANDBOXES__POOL_SIZE": "1"}, workers=("worker",)) as s:
        yield s


@pytest.fixture(scope="module")
def admin_key(database: None) -> str:
    with transaction(get_settings()) as session:
        return key_service.create_key(session, tenant="docs-examples", name="docs", admin=True).key


@pytest.mark.parametrize(("page", "number", "kind", "code"), EXAMPLES, ids=[f"{p}#{n}" for p, n, _, _ in EXAMPLES])
def test_documented_example_runs(
    page: str, number: int, kind: str, code: str, docs_stack: Stack, admin_key: str, tmp_path: Path
) -> None:
    code = code.replace("http://127.0.0.1:8000", docs_stack.url).replace("ry_...", admin_key)
    code = code.replace("<your key>", admin_key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    argv = [sys.executable, "-c", code] if kind == "python" else ["bash", "-euo", "pipefail", "-c", code]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{page} example {number} failed:\n{code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
