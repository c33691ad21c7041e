"""Where a request's path leads, and the sandbox user's filesystem identity that every file operation takes."""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
from collections.abc import Callable, Iterator
from typing import Any

from .config import CONFIG
from .protocol import OpError

_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def as_sandbox_user() -> Iterator[None]:
    """Make this thread's filesystem identity the sandbox user's (setfsuid is per thread)."""
    c = CONFIG
    _libc.setfsgid(c.gid)
    _libc.setfsuid(c.uid)
    if _libc.setfsuid(c.uid) != c.uid or _libc.setfsgid(c.gid) != c.gid:
        _libc.setfsuid(0)
        _libc.setfsgid(0)
        raise OpError("internal", "could not take the sandbox user's filesystem identity")
    try:
        yield
    finally:
        _libc.setfsuid(0)
        _libc.setfsgid(0)


def resolve(path: str) -> str:
    """An absolute, normalised path inside the container; relative paths start at the working directory."""
    if "\x00" in path:
        raise OpError("invalid", "path contains a NUL byte")
    # normpath keeps a leading "//" (POSIX leaves its meaning open); on Linux it is "/"
    return "/" + os.path.normpath(os.path.join(CONFIG.workdir, path)).lstrip("/")


def info(path: str, st: os.stat_result) -> dict[str, Any]:
    return {
        "path": path,
        "name": os.path.basename(path) or "/",
        "size": st.st_size,
        "mode": stat.S_IMODE(st.st_mode),
        "is_dir": stat.S_ISDIR(st.st_mode),
        "is_symlink": stat.S_ISLNK(st.st_mode),
        "mtime": st.st_mtime,
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def os_error(exc: OSError, path: str) -> OpError:
    kinds = {
        2: "not_found",
        30: "permission_denied",
        36: "invalid",
        22: "invalid",
        13: "permission_denied",
        1: "permission_denied",
        17: "exists",
        20: "not_a_directory",
        21: "is_a_directory",
        39: "not_empty",
        28: "no_space",
        27: "too_large",
        40: "symlink_loop",
    }
    return OpError(kinds.get(exc.errno or 0, "os_error"), f"{path}: {exc.strerror}", path=path)


def file_op(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def wrapped(req: dict[str, Any]) -> dict[str, Any]:
        with as_sandbox_user():
            try:
                return fn(req)
            except OSError as exc:
                raise os_error(exc, str(req.get("path") or req.get("source") or "")) from exc
            except NotImplementedError as exc:  # lchmod: the path became a symlink meanwhile
                raise OpError("invalid", f"{req.get('path')} is a symlink", req.get("path")) from exc

    return wrapped
