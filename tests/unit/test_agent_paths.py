"""The in-container agent's path handling, imported from the image's source."""

from __future__ import annotations

import importlib.util
import io
import os
import sys
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
workdir = sys.modules["workdir"]  # the agent's own import of its sibling (the run's files)


@given(st.text(alphabet="ab./\\", max_size=20))
def test_safe_relpath_never_escapes(path: str) -> None:
    try:
        rel = workdir._safe_relpath(path)
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
        workdir._write_file(str(box), "sub/file.txt", b"x", 0o644)
    os.symlink(outside / "target", box / "link.txt")
    with pytest.raises(OSError):
        workdir._write_file(str(box), "link.txt", b"x", 0o644)
    assert list(outside.iterdir()) == []


def test_extract_respects_size_and_layout(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("dir/a.txt", "hello")
        zf.writestr("run", "echo")
    workdir._extract(str(tmp_path), buf.getvalue(), limit_bytes=1000, max_entries=10)
    assert (tmp_path / "dir" / "a.txt").read_text() == "hello"
    with pytest.raises(ValueError, match="expands"):
        workdir._extract(str(tmp_path / "dir"), buf.getvalue(), limit_bytes=3, max_entries=10)
    with pytest.raises(ValueError, match="entries"):
        workdir._extract(str(tmp_path), buf.getvalue(), limit_bytes=1000, max_entries=1)


V1 = {
    "cpuacct/cpuacct.usage": "123456789\n",
    "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
}
V2 = {
    "cpu.stat": "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n",
    "memory.events": "low 0\nhigh 0\nmax 7\noom 1\noom_kill 3\n",
}


@pytest.mark.parametrize(("layout", "cpu_ns", "kills"), [(V1, 123456789, 2), (V2, 123456000, 3), ({}, None, 0)])
def test_cgroup_counters_on_v1_and_v2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: dict[str, str], cpu_ns: int | None, kills: int
) -> None:
    """The agent reads CPU use and OOM kills from whichever cgroup version the host mounts."""
    for name, text in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(agent, "CGROUP", str(tmp_path))
    assert agent.cgroup_cpu_ns() == cpu_ns
    assert agent.cgroup_oom_kills() == kills


@given(st.binary(max_size=3000), st.integers(min_value=0, max_value=2000))
def test_capture_keeps_the_first_bytes_up_to_its_limit(data: bytes, limit: int) -> None:
    """Both agents capture output with launcher.py: what fits is kept, the rest only noted."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    os.close(write_fd)
    capture = agent.Capture(read_fd, limit)
    agent.collect([capture], lambda now: True, pidfd=None, tick_s=0.01, drain_s=5.0)
    assert bytes(capture.buf) == data[:limit]
    assert capture.truncated == (len(data) > limit)
    assert not capture.open
