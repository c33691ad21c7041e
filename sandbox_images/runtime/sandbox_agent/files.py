"""File management as the sandbox user: list, stat, mkdir, delete, move, chmod, find, grep, replace, usage."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from typing import Any

from .config import CONFIG
from .paths import file_op, info, resolve
from .protocol import OpError


@file_op
def op_list(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req.get("path") or CONFIG.workdir))
    entries = []
    with os.scandir(path) as it:
        for entry in it:
            with contextlib.suppress(OSError):
                entries.append(info(entry.path, entry.stat(follow_symlinks=False)))
    entries.sort(key=lambda e: e["name"])
    return {"path": path, "entries": entries}


@file_op
def op_stat(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    return info(path, os.stat(path, follow_symlinks=False))


@file_op
def op_mkdir(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    mode = int(req.get("mode") or 0o755)
    if req.get("parents", True):
        os.makedirs(path, mode=mode, exist_ok=True)
    else:
        os.mkdir(path, mode)
    if os.path.islink(path):
        raise OpError("exists", f"{path} exists and is a symlink", path)
    os.chmod(path, mode, follow_symlinks=False)  # umask never narrows what was asked for
    return info(path, os.stat(path, follow_symlinks=False))


@file_op
def op_delete(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    if path in ("/", CONFIG.workdir):
        raise OpError("invalid", f"refusing to delete {path}")
    st = os.stat(path, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        if req.get("recursive"):
            shutil.rmtree(path)  # fd-based: never follows a symlink out of the tree
        else:
            os.rmdir(path)
    else:
        os.unlink(path)
    return {"deleted": path}


@file_op
def op_move(req: dict[str, Any]) -> dict[str, Any]:
    source, destination = resolve(str(req["source"])), resolve(str(req["destination"]))
    if not req.get("overwrite", False) and os.path.lexists(destination):
        raise OpError("exists", f"{destination} already exists")
    os.rename(source, destination)
    return info(destination, os.stat(destination, follow_symlinks=False))


@file_op
def op_chmod(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    if os.path.islink(path):
        raise OpError("invalid", f"{path} is a symlink; change its target instead")
    os.chmod(path, int(req["mode"]) & 0o7777, follow_symlinks=False)
    return info(path, os.stat(path, follow_symlinks=False))


def _walk(root: str) -> Iterator[str]:
    """Every path below root, depth first, never descending through a symlink."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames]):
            yield os.path.join(dirpath, name)


@file_op
def op_find(req: dict[str, Any]) -> dict[str, Any]:
    root, pattern = resolve(str(req.get("path") or CONFIG.workdir)), str(req["pattern"])
    limit = int(req.get("limit") or 1000)
    found = []
    for path in _walk(root):
        if fnmatch.fnmatch(os.path.basename(path), pattern):
            found.append(path)
            if len(found) >= limit:
                return {"paths": found, "truncated": True}
    return {"paths": found, "truncated": False}


@file_op
def op_grep(req: dict[str, Any]) -> dict[str, Any]:
    root = resolve(str(req.get("path") or CONFIG.workdir))
    try:
        pattern = re.compile(str(req["pattern"]).encode())
    except re.error as exc:
        raise OpError("invalid", f"pattern: {exc}") from exc
    limit = int(req.get("limit") or 1000)
    max_file = int(req.get("max_file_bytes") or 10 << 20)
    matches = []
    for path in _walk(root):
        with contextlib.suppress(OSError):
            st = os.stat(path, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_size > max_file:
                continue
            with open(path, "rb") as f:
                for number, line in enumerate(f, 1):
                    if b"\x00" in line:
                        break  # binary
                    if pattern.search(line):
                        matches.append(
                            {
                                "path": path,
                                "line": number,
                                "content": line.rstrip(b"\r\n").decode(errors="replace")[:1000],
                            }
                        )
                        if len(matches) >= limit:
                            return {"matches": matches, "truncated": True}
    return {"matches": matches, "truncated": False}


@file_op
def op_replace(req: dict[str, Any]) -> dict[str, Any]:
    """Replace every occurrence of a literal string in one file, written aside and renamed into place."""
    path = resolve(str(req["path"]))
    old, new = str(req["pattern"]).encode(), str(req.get("new") or "").encode()
    if not old:
        raise OpError("invalid", "pattern must not be empty", field="pattern")
    with open(path, "rb") as f:
        data = f.read()
        mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
    count = data.count(old)
    if count:
        temp = os.path.join(os.path.dirname(path), f".runyard-replace-{uuid.uuid4().hex}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data.replace(old, new))
            os.rename(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    return {"path": path, "replaced": count}


@file_op
def op_usage(req: dict[str, Any]) -> dict[str, Any]:
    total = 0
    for path in _walk(CONFIG.workdir):
        with contextlib.suppress(OSError):
            total += os.stat(path, follow_symlinks=False).st_blocks * 512
    return {"bytes": total}
