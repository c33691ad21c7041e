"""Reading git's own output (produced here by the real git) and the command lines each operation runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core import git_commands as g


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "--initial-branch", "main")
    (tmp_path / "kept.txt").write_text("1")
    (tmp_path / "old name.txt").write_text("moved")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first")
    return tmp_path


def test_status_reads_every_kind_of_change(repo: Path) -> None:
    (repo / "kept.txt").write_text("2")
    (repo / "new.txt").write_text("n")
    (repo / "staged.txt").write_text("s")
    git(repo, "add", "staged.txt")
    git(repo, "mv", "old name.txt", "new name.txt")
    status = g.parse_status(git(repo, "status", "--porcelain=v2", "--branch", "-z"))
    assert status.current_branch == "main" and not status.detached and status.upstream == ""
    files = {f.name: (f.staging, f.worktree, f.extra) for f in status.files}
    assert files == {
        "kept.txt": ("Unmodified", "Modified", ""),
        "staged.txt": ("Added", "Unmodified", ""),
        "new name.txt": ("Renamed", "Unmodified", "old name.txt"),
        "new.txt": ("Untracked", "Untracked", ""),
    }
    git(repo, "checkout", "-q", "--detach", "HEAD")
    assert g.parse_status(git(repo, "status", "--porcelain=v2", "--branch", "-z")).detached


def test_branches_remotes_and_history(repo: Path) -> None:
    git(repo, "branch", "feature/x")
    git(repo, "remote", "add", "origin", "https://example.invalid/r.git")
    assert g.parse_branches(git(repo, "branch", "--format=%(HEAD)%(refname:short)")) == (["feature/x", "main"], "main")
    git(repo, "checkout", "-q", "--detach", "HEAD")
    assert g.parse_branches(git(repo, "branch", "--format=%(HEAD)%(refname:short)")) == (["feature/x", "main"], "")
    assert g.parse_remotes(git(repo, "remote", "-v")) == [("origin", "https://example.invalid/r.git")]
    (commit,) = g.parse_log(git(repo, "log", f"--format={g.LOG_FORMAT}"))
    assert commit["message"] == "first" and commit["author"] == "a" and len(commit["hash"]) == 40


def test_credentials_never_appear_in_a_command_line() -> None:
    for steps in (
        g.clone("https://h/r.git", "r", "dev", "abc", 1, False, True),
        g.pull("r", None, None, True),
        g.push("r", "origin", "main", True, True),
    ):
        assert steps[0].secret
        assert any(g.USER_VAR in arg for arg in steps[0].argv)  # named, to be read from the job's secrets
    assert not g.pull("r", None, None, False)[0].secret
    assert g.push("r", None, None, True, False)[0].argv[-2:] == ["origin", "HEAD"]
    with pytest.raises(ValueError, match="takes no mode"):
        g.reset("r", g.ResetMode.HARD, None, ["a"])
    with pytest.raises(ValueError, match="scope is local"):
        g.scoped(g.Scope.LOCAL, None)
