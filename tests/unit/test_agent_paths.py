"""The in-container agent's path handling, imported from the image's source."""

from __future__ import annotations

import importlib.util
import io
import os
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

AGENT = Path(__file__).resolve().parents[2] / "sandbox_images" / "base" / "agent.py"


def load_agent() -> ModuleType:
    spec = importlib.util.spec_from_file_location("runyard_agent", AGENT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


agent = load_agent()


@given(st.text(alphabet="ab./\\", max_size=20))
def test_safe_relpath_never_escapes(path: str) -> None:
    try:
        rel = agent._safe_relpath(path)
    except ValueError:
        return
    assert not rel.startswith("/")
    assert ".." not in rel.split("/")
    assert rel and "" not in rel.split("/")


def test_write_file_refuses_to_follow_a_planted_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    box = tmp_path / "box"
    box.mkdir()
    os.symlink(outside, box / "sub")
    with pytest.raises(OSError):
        agent._write_file(str(box), "sub/file.txt", b"x", 0o644)
    os.symlink(outside / "target", box / "link.txt")
    with pytest.raises(OSError):
        agent._write_file(str(box), "link.txt", b"x", 0o644)
    assert list(outside.iterdir()) == []


def test_extract_respects_size_and_layout(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("dir/a.txt", "hello")
        zf.writestr("run", "echo")
    agent._extract(str(tmp_path), buf.getvalue(), limit_bytes=1000, max_entries=10)
    assert (tmp_path / "dir" / "a.txt").read_text() == "hello"
    with pytest.raises(ValueError, match="expands"):
        agent._extract(str(tmp_path / "dir"), buf.getvalue(), limit_bytes=3, max_entries=10)
    with pytest.raises(ValueError, match="entries"):
        agent._extract(str(tmp_path), buf.getvalue(), limit_bytes=1000, max_entries=1)
