"""Wiping what one run could leave for the next: files in every writable place, and SysV IPC objects.

The files are wiped under the sandbox user's filesystem identity (workdir.fs_identity) once no process of that
user is alive: every leftover belongs to that user, and the owner can always chmod, so a directory left mode 000
cannot stop the wipe. Removing an IPC object takes the owner's effective uid: a forked child that became the user
does that, only when the run left one. Standard library only.
"""

from __future__ import annotations

import ctypes
import os
import stat

# Everything a run can write to; the root filesystem is read-only.
WRITABLE = ("/box", "/tmp", "/dev/shm", "/dev/mqueue")
# /proc/sysvipc/<kind> and the name of its id column
SYSV = {"shm": "shmid", "sem": "semid", "msg": "msqid"}
IPC_RMID = 0

_libc = ctypes.CDLL(None, use_errno=True)


def _wipe_dir_contents(dirfd: int, owner: int) -> None:
    """Remove everything below an open directory, fixing permissions as the owner goes.

    No process of the sandbox user is alive during a reset, so nothing can swap
    a directory for a symlink between the checks below and their use.
    """
    for name in os.listdir(dirfd):
        try:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if st.st_uid == owner:
                os.chmod(name, 0o700, dir_fd=dirfd, follow_symlinks=True)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dirfd)
            try:
                _wipe_dir_contents(child, owner)
            finally:
                os.close(child)
            os.rmdir(name, dir_fd=dirfd)
        else:
            os.unlink(name, dir_fd=dirfd)


def wipe(path: str, owner: int) -> None:
    if os.stat(path).st_uid == owner:
        os.chmod(path, 0o700)  # the working directory is the user's; a run may have locked it
    dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _wipe_dir_contents(dirfd, owner)
    finally:
        os.close(dirfd)


def sysv_objects() -> dict[str, list[tuple[int, int]]]:
    """(id, owner uid) of every SysV IPC object in this IPC namespace, by kind."""
    found: dict[str, list[tuple[int, int]]] = {}
    for kind, id_column in SYSV.items():
        try:
            with open(f"/proc/sysvipc/{kind}", encoding="ascii") as f:
                header, *rows = f.read().splitlines()
        except OSError:
            continue
        cols = header.split()
        found[kind] = []
        for row in rows:
            values = row.split()
            if values:
                found[kind].append((int(values[cols.index(id_column)]), int(values[cols.index("uid")])))
    return found


def remove_sysv(uid: int) -> None:
    for kind, objects in sysv_objects().items():
        for ident, owner in objects:
            if owner != uid:
                continue
            if kind == "shm":
                _libc.shmctl(ident, IPC_RMID, None)
            elif kind == "sem":
                _libc.semctl(ident, 0, IPC_RMID)
            else:
                _libc.msgctl(ident, IPC_RMID, None)


def leftovers() -> list[str]:
    """What is still there after a wipe; empty when the sandbox is clean."""
    problems = []
    for path in WRITABLE:
        try:
            names = os.listdir(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot list ({exc.strerror})")
            continue
        if names:
            problems.append(f"{path}: {len(names)} entries left ({', '.join(sorted(names)[:5])})")
    for kind, objects in sysv_objects().items():
        if objects:
            problems.append(f"sysv {kind}: {len(objects)} objects left")
    return problems


def owns_sysv(uid: int) -> bool:
    return any(owner == uid for objects in sysv_objects().values() for _, owner in objects)


def wipe_writable(uid: int) -> list[str]:
    """Wipe every writable place (with the user's filesystem identity); what could not be removed."""
    problems = []
    for path in WRITABLE:
        if os.path.isdir(path):
            try:
                wipe(path, uid)
            except OSError as exc:
                problems.append(f"{path}: {exc}")
    return problems
