"""What a snapshot's Dockerfile is checked for before its build is queued (core/services/snapshots.py)."""

from __future__ import annotations

import pytest

from core.errors import FieldError
from core.services.dockerfiles import base_images, check_dockerfile, logical_lines
from core.settings import Settings


def test_logical_lines_drop_comments_and_join_continued_lines() -> None:
    text = "# syntax note\n\nFROM debian:12 \\\n  AS build\nRUN a \\\n && b\n"
    assert logical_lines(text) == ["FROM debian:12  AS build", "RUN a  && b"]


def test_base_images_skip_stages_and_scratch() -> None:
    text = "FROM --platform=linux/amd64 golang:1.22 AS build\nFROM build AS test\nFROM scratch\nFROM debian:12\n"
    assert base_images(text) == ["golang:1.22", "debian:12"]


def _errors(text: str, allowed: list[str]) -> list[FieldError]:
    settings = Settings()
    settings.sandboxes.allowed_images = allowed
    errors: list[FieldError] = []
    check_dockerfile("dockerfile", text, settings, errors)
    return errors


@pytest.mark.parametrize(
    ("text", "allowed", "rule"),
    [
        ("FROM debian:12\nRUN true\n", ["*"], None),
        ("ARG V=12\nFROM debian:${V}\n", ["*"], None),
        ("ARG V=12\nFROM debian:${V}\n", ["debian:*"], "from"),  # a variable cannot be checked
        ("FROM ubuntu:24.04\n", ["debian:*"], "not_allowed"),
        ("FROM debian:12 AS base\nFROM base\n", ["debian:*"], None),
        ("RUN true\n", ["*"], "from"),
        ("", ["*"], "from"),
        ("FROM a b c d\n", ["*"], "from"),
        ("FROM debian:12\x00\n", ["*"], "max_length"),
    ],
)
def test_dockerfiles_are_checked_against_the_image_allow_list(text: str, allowed: list[str], rule: str | None) -> None:
    errors = _errors(text, allowed)
    assert [e.rule for e in errors][:1] == ([rule] if rule else []), errors
