"""What the worker told this sandbox at create or start, and the places the agent works in."""

from __future__ import annotations

import os
from typing import Any

from launcher import SAFE_PATH

RUN_DIR = "/run/runyard"  # a root-owned tmpfs: session scripts and pipes the sandbox user cannot replace
WORKSPACE = "/workspace"
DRAIN_AFTER_EXIT_S = 0.1


def _table(path: str) -> list[list[str]]:
    """/etc/passwd or /etc/group as lists of fields; an image may have neither."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(spec: str, etc: str = "/etc") -> tuple[int, int, str, str, str]:
    """The image's USER (`name`, `uid`, `name:group`, `uid:gid`, or empty for root) as
    (uid, gid, name, home, shell), read from the image's own /etc/passwd and /etc/group."""
    user, _, group = (spec or "0").partition(":")
    users = [row for row in _table(f"{etc}/passwd") if len(row) >= 7]
    row = next((r for r in users if r[0] == user or r[2] == user), None)
    if row is not None:
        uid, gid, name, home, shell = int(row[2]), int(row[3]), row[0], row[5] or "/", row[6]
    elif user.isdigit():
        uid, gid, name, home, shell = int(user), int(user), user, "/", ""
    else:
        raise ValueError(f"user {user!r} is not in the image's /etc/passwd")
    if group:
        found = next((r for r in _table(f"{etc}/group") if len(r) >= 3 and group in (r[0], r[2])), None)
        if found is not None:
            gid = int(found[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise ValueError(f"group {group!r} is not in the image's /etc/group")
    if not shell or not os.path.exists(shell) or shell.endswith(("nologin", "false")):
        shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
    return uid, gid, name, home, shell


class Config:
    """What the worker told this sandbox at create or start; a restarted worker need not repeat it."""

    def __init__(self) -> None:
        self.uid = 64000
        self.gid = 64000
        self.user = "sandbox"
        self.home = WORKSPACE
        self.shell = "/bin/bash"
        self.workdir = WORKSPACE
        self.image_env: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.disk_bytes = 1 << 30
        self.output_bytes = 1 << 20
        self.log_bytes = 1 << 20
        self.nofile = 1024
        self.stack_bytes = 8 << 20

    @property
    def root(self) -> bool:
        return self.uid == 0

    @property
    def sh(self) -> str:
        """The shell commands run in: bash where the image has it."""
        return "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"

    def update(self, req: dict[str, Any]) -> None:
        for key in ("disk_bytes", "output_bytes", "log_bytes", "nofile", "stack_bytes"):
            if req.get(key) is not None:
                setattr(self, key, int(req[key]))
        if req.get("user") is not None:
            self.uid, self.gid, self.user, self.home, self.shell = resolve_user(str(req["user"]))
        if req.get("image_env") is not None:
            self.image_env = {str(k): str(v) for k, v in dict(req["image_env"]).items()}
        if req.get("env") is not None:
            self.env = {str(k): str(v) for k, v in dict(req["env"]).items()}
        workdir = str(req.get("workdir") or "")
        if req.get("user") is not None or workdir:
            self.workdir = self._workdir(workdir)

    def _workdir(self, asked: str) -> str:
        """The image's WORKDIR, else the user's home, else /workspace; made (owned by the user) if missing."""
        for candidate in (asked, self.home if self.home not in ("", "/") else "", WORKSPACE):
            if candidate and candidate != "/" and os.path.isabs(candidate):
                break
        if not os.path.lexists(candidate):
            os.makedirs(candidate, mode=0o755)
            os.lchown(candidate, self.uid, self.gid)
        return candidate

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": SAFE_PATH,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TERM": "xterm-256color",
            "TMPDIR": "/tmp",
        }
        env.update(self.image_env)
        env.update({"HOME": self.home, "USER": self.user, "LOGNAME": self.user, "SHELL": self.shell})
        env.update(self.env)
        env.update({str(k): str(v) for k, v in (extra or {}).items()})
        return env


CONFIG = Config()
