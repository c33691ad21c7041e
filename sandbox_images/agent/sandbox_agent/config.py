"""What the worker told this sandbox at create or start, and the places the agent works in."""

from __future__ import annotations

from typing import Any

from launcher import SAFE_PATH

RUN_DIR = "/run/runyard"  # a root-owned tmpfs: session scripts and pipes the sandbox user cannot replace
WORKSPACE = "/workspace"
DRAIN_AFTER_EXIT_S = 0.1


class Config:
    """What the worker told this sandbox at create or start; a restarted worker need not repeat it."""

    def __init__(self) -> None:
        self.uid = 64000
        self.gid = 64000
        self.env: dict[str, str] = {}
        self.disk_bytes = 1 << 30
        self.output_bytes = 1 << 20
        self.log_bytes = 1 << 20
        self.nofile = 1024
        self.stack_bytes = 8 << 20

    def update(self, req: dict[str, Any]) -> None:
        for key in ("uid", "gid", "disk_bytes", "output_bytes", "log_bytes", "nofile", "stack_bytes"):
            if req.get(key) is not None:
                setattr(self, key, int(req[key]))
        if req.get("env") is not None:
            self.env = {str(k): str(v) for k, v in dict(req["env"]).items()}

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": SAFE_PATH,
            "HOME": WORKSPACE,
            "USER": "sandbox",
            "LOGNAME": "sandbox",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TERM": "xterm-256color",
            "TMPDIR": "/tmp",
        }
        env.update(self.env)
        env.update({str(k): str(v) for k, v in (extra or {}).items()})
        return env


CONFIG = Config()
