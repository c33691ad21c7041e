"""Git in a sandbox: the `git` command lines for each operation, and readers of git's machine-readable output.

Every operation runs git inside the sandbox as the sandbox's user (an exec job), so it sees and writes
the same files and config the user's own commands do. Credentials never appear in an argument: the
credential helper below reads them from two environment variables that the job carries as secrets
(core/job_secrets.py), and `GIT_TERMINAL_PROMPT=0` makes a missing one fail instead of waiting.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pydantic import BaseModel

USER_VAR, PASSWORD_VAR = "RUNYARD_GIT_USERNAME", "RUNYARD_GIT_PASSWORD"
ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
# The empty value drops helpers configured in the sandbox, so ours is the only one asked.
_HELPER = f'!f() {{ test "$1" = get && printf "username=%s\\npassword=%s\\n" "${USER_VAR}" "${PASSWORD_VAR}"; }}; f'
CREDENTIALS = ["-c", "credential.helper=", "-c", f"credential.helper={_HELPER}"]


class Scope(enum.StrEnum):
    GLOBAL = "global"
    LOCAL = "local"
    SYSTEM = "system"


class ResetMode(enum.StrEnum):
    SOFT = "soft"
    MIXED = "mixed"
    HARD = "hard"
    MERGE = "merge"
    KEEP = "keep"


@dataclass(frozen=True)
class Step:
    """One git invocation of an operation; `ok_codes` are the exit codes that are not a failure; `secret` when it
    reads the credentials' variables."""

    argv: list[str]
    ok_codes: tuple[int, ...] = (0,)
    env: dict[str, str] = field(default_factory=dict)
    secret: bool = False


def git(*args: str) -> list[str]:
    return ["git", *args]


def scoped(scope: Scope, path: str | None) -> list[str]:
    """`git [-C path] config --<scope>`: a local scope needs the repository's path."""
    if scope == Scope.LOCAL:
        if not path:
            raise ValueError("path is required when scope is local")
        return git("-C", path, "config", "--local")
    return git("config", f"--{scope.value}")


def clone(
    url: str, path: str, branch: str | None, commit_id: str | None, depth: int | None, insecure: bool, auth: bool
) -> list[Step]:
    options = [*(CREDENTIALS if auth else []), *(["-c", "http.sslVerify=false"] if insecure else [])]
    argv = git(
        *options, "clone", *(["--branch", branch] if branch else []), *(["--depth", str(depth)] if depth else [])
    )
    steps = [Step([*argv, "--", url, path], secret=auth)]
    if commit_id:
        steps.append(Step(git("-C", path, "checkout", "--detach", commit_id)))
    return steps


def pull(path: str, remote: str | None, branch: str | None, auth: bool) -> list[Step]:
    where = [remote or "origin", branch] if branch else ([remote] if remote else [])
    return [
        Step(git("-C", path, *(CREDENTIALS if auth else []), "pull", "--no-rebase", "--no-edit", *where), secret=auth)
    ]


def push(path: str, remote: str | None, branch: str | None, set_upstream: bool, auth: bool) -> list[Step]:
    where = [remote or "origin", branch] if branch else ([remote] if remote else [])
    upstream = ["--set-upstream"] if set_upstream else []
    if set_upstream and not branch:  # --set-upstream needs a remote and a branch: the current one
        where = [remote or "origin", "HEAD"]
    return [Step(git("-C", path, *(CREDENTIALS if auth else []), "push", *upstream, *where), secret=auth)]


def commit(path: str, message: str, author: str, email: str, allow_empty: bool) -> list[Step]:
    who = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": author}
    who["GIT_COMMITTER_EMAIL"] = email
    empty = ["--allow-empty"] if allow_empty else []
    return [Step(git("-C", path, "commit", "-m", message, *empty), env=who), Step(git("-C", path, "rev-parse", "HEAD"))]


def reset(path: str, mode: ResetMode | None, target: str | None, files: list[str] | None) -> list[Step]:
    if files:
        if mode not in (None, ResetMode.MIXED):
            raise ValueError("a reset of some files takes no mode (it resets their index entries only)")
        return [Step(git("-C", path, "reset", target or "HEAD", "--", *files))]
    return [Step(git("-C", path, "reset", f"--{(mode or ResetMode.MIXED).value}", *([target] if target else [])))]


def restore(path: str, files: list[str], staged: bool | None, worktree: bool | None, source: str | None) -> list[Step]:
    flags = [*(["--staged"] if staged else []), *(["--worktree"] if worktree else [])]
    return [Step(git("-C", path, "restore", *flags, *([f"--source={source}"] if source else []), "--", *files))]


# ------------------------------------------------------------------ reading git's output

_STATUS_NAMES = {
    ".": "Unmodified",
    " ": "Unmodified",
    "M": "Modified",
    "T": "Modified",
    "A": "Added",
    "D": "Deleted",
    "R": "Renamed",
    "C": "Copied",
    "U": "Updated but unmerged",
    "?": "Untracked",
}


class FileStatus(BaseModel):
    name: str
    staging: str
    worktree: str
    extra: str = ""


class RepoStatus(BaseModel):
    current_branch: str = ""
    upstream: str = ""
    ahead: int = 0
    behind: int = 0
    detached: bool = False
    files: list[FileStatus] = []


def parse_status(porcelain: str) -> RepoStatus:
    """`git status --porcelain=v2 --branch -z`: headers, then one record per changed file."""
    status = RepoStatus()
    records = porcelain.split("\0")
    i = 0
    while i < len(records):
        record = records[i]
        i += 1
        if record.startswith("# branch.head "):
            head = record.removeprefix("# branch.head ")
            status.detached = head == "(detached)"
            status.current_branch = "" if status.detached else head
        elif record.startswith("# branch.upstream "):
            status.upstream = record.removeprefix("# branch.upstream ")
        elif record.startswith("# branch.ab "):
            ahead, behind = record.removeprefix("# branch.ab ").split()
            status.ahead, status.behind = int(ahead), abs(int(behind))
        elif record[:2] in ("1 ", "u "):
            parts = record.split(" ", 10 if record[0] == "u" else 8)
            status.files.append(_file(parts[1], parts[-1]))
        elif record.startswith("2 "):
            parts = record.split(" ", 9)
            original = records[i] if i < len(records) else ""
            i += 1  # a rename's original path is the next record
            status.files.append(_file(parts[1], parts[-1], original))
        elif record.startswith(("? ", "! ")):
            status.files.append(_file("??", record[2:]))
    return status


def _file(xy: str, name: str, extra: str = "") -> FileStatus:
    staging, worktree = (_STATUS_NAMES.get(code, "Modified") for code in xy[:2])
    return FileStatus(name=name, staging=staging, worktree=worktree, extra=extra)


def parse_branches(listing: str) -> tuple[list[str], str]:
    """`git branch --format=%(HEAD)%(refname:short)`: the local branches, and the current one ("" if detached)."""
    branches, current = [], ""
    for line in listing.splitlines():
        mark, name = line[:1], line[1:]
        if not name or name.startswith("("):  # "(HEAD detached at …)"
            continue
        branches.append(name)
        if mark == "*":
            current = name
    return branches, current


def parse_remotes(listing: str) -> list[tuple[str, str]]:
    """`git remote -v`: each remote's name and fetch URL, once."""
    seen: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, rest = line.partition("\t")
        url, _, kind = rest.rpartition(" ")
        if name and (kind == "(fetch)" or name not in seen):
            seen[name] = url
    return list(seen.items())


LOG_FORMAT = "%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e"


def parse_log(text: str) -> list[dict[str, str]]:
    commits = []
    for record in text.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 5:
            sha, author, email, when, message = fields
            commits.append({"hash": sha, "author": author, "email": email, "timestamp": when, "message": message})
    return commits
