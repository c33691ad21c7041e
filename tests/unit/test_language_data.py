"""Every image family's languages.json: Judge0 CE 1.13.1's ids, each served by one family only, with the fields
a run needs, and floors only on limits a run has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.schemas import RunLimits
from core.settings import Settings
from tests.language_programs import COMPILED, INTERPRETED, hello_world

IMAGES = Path(__file__).resolve().parents[2] / "sandbox_images"
FAMILIES = sorted(p.parent.name for p in IMAGES.glob("*/languages.json"))
JUDGE0_IDS = set(range(43, 90))  # Judge0 CE 1.13.1's active languages


def languages(family: str) -> list[dict[str, object]]:
    return list(json.loads((IMAGES / family / "languages.json").read_text())["languages"])


def test_there_are_families() -> None:
    assert {"runner", "scripting"} <= set(FAMILIES)


def test_each_judge0_id_is_served_by_one_family() -> None:
    seen: dict[int, str] = {}
    for family in FAMILIES:
        for lang in languages(family):
            lang_id = int(str(lang["id"]))
            assert lang_id in JUDGE0_IDS, (family, lang_id)
            assert lang_id not in seen, f"{lang_id} in both {seen.get(lang_id)} and {family}"
            seen[lang_id] = family


@pytest.mark.parametrize("family", FAMILIES)
def test_each_language_says_how_it_runs(family: str) -> None:
    template = json.loads((IMAGES / family / "languages.json").read_text())
    for lang in template["languages"]:
        assert lang["name"] and isinstance(lang.get("run"), list), lang
        assert lang.get("project") or lang.get("source_file"), lang
        for word in [*lang.get("compile", []), *lang["run"]]:
            assert isinstance(word, str), lang
        # Every {version} in a name is one the image reads when it is built.
        str(lang["name"]).format(**{k: "x" for k in template.get("versions", {})})
        assert set(lang.get("floors", {})) <= set(RunLimits.model_fields), lang


def test_every_family_is_one_a_worker_serves() -> None:
    """A family built but missing from the workers' default images would never be served."""
    images = {image.split("/")[-1].split(":")[0] for image in Settings().worker.images}
    assert images == set(FAMILIES)


def test_every_language_has_programs_the_suite_runs() -> None:
    """Adding a language is a line of data and a test: its hello world is in tests/language_programs.py."""
    ids = {int(str(lang["id"])) for family in FAMILIES for lang in languages(family)}
    untested = {i for i in ids if hello_world(i) is None} - {44, 89}  # no source of their own; tested elsewhere
    assert not untested, sorted(untested)
    assert set(INTERPRETED) | set(COMPILED) <= ids
