"""Documentation that cannot silently rot."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from scripts.settings_doc import rows

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_lists_every_setting() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [var for var, _, _ in rows(Settings, "RUNYARD_") if f"`{var}`" not in doc]
    assert not missing, f"run `python scripts/settings_doc.py` and update docs/configuration.md: {missing}"


def test_readme_keeps_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make up" in readme and "make test" in readme
