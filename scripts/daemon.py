"""Start one long-running service in its own session, detached, and record its pid.

usage: daemon.py --pidfile FILE --log FILE [--user NAME] -- COMMAND [ARG...]

Every inherited descriptor except the log is closed, so the caller's pipes
never stay open, and the process group id equals the pid, so `make down` can
stop the service together with its children.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import subprocess
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--user")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    identity: dict[str, object] = {}
    if args.user and args.user != pwd.getpwuid(os.getuid()).pw_name:
        entry = pwd.getpwnam(args.user)
        groups = [g.gr_gid for g in grp.getgrall() if args.user in g.gr_mem]
        identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": groups}
    with open(args.log, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            **identity,  # type: ignore[arg-type]
        )
    with open(args.pidfile, "w", encoding="ascii") as f:
        f.write(f"{proc.pid}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
