"""A run's working directory: the files a run brings, written as the sandbox user without ever following a
symbolic link (sandboxed code may have planted one), and a zip of a multi-file program unpacked the same way.

Plain files are written by the agent itself under the sandbox user's filesystem identity (setfsuid, per thread;
the agent serves one request at a time): no process of that user is alive then, and a fork per run cost more than
the writing. An archive is unpacked in a forked child that became the user, under a file-size limit, so a hostile
archive can cost that child, never the agent.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import os
import resource
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

from launcher import read_all

_libc = ctypes.CDLL(None, use_errno=True)


def _set_fs_identity(uid: int, gid: int) -> bool:
    _libc.setfsgid(gid)
    _libc.setfsuid(uid)
    # Both calls answer with the previous value, success or not: asking again tells what holds now.
    return bool(_libc.setfsuid(uid) == uid and _libc.setfsgid(gid) == gid)


@contextlib.contextmanager
def fs_identity(uid: int, gid: int) -> Iterator[None]:
    """File access as uid:gid for this thread: the permission checks and ownership a child that became the user
    would meet (the agent holds no capability that overrides them), without the fork."""
    if not _set_fs_identity(uid, gid):
        _set_fs_identity(0, 0)
        raise PermissionError(f"could not take the filesystem identity {uid}:{gid}")
    try:
        yield
    finally:
        if not _set_fs_identity(0, 0):
            raise RuntimeError("could not give the sandbox user's filesystem identity back")


def _safe_relpath(path: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise ValueError(f"unsafe path in request: {path!r}")
    return "/".join(parts)


def _open_dirs(workdir: str, parts: list[str]) -> int:
    """Walk (creating as needed) the directories `parts` below workdir, never through a symlink."""
    dirfd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=dirfd)
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dirfd)
            os.close(dirfd)
            dirfd = nxt
    except BaseException:
        os.close(dirfd)
        raise
    return dirfd


def _write_file(workdir: str, relpath: str, data: bytes, mode: int) -> None:
    """Create a file below workdir without following any symlink on the way."""
    parts = relpath.split("/")
    dirfd = _open_dirs(workdir, parts[:-1])
    try:
        fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode, dir_fd=dirfd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    finally:
        os.close(dirfd)


def _extract(workdir: str, archive: bytes, limit_bytes: int, max_entries: int) -> None:

    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise ValueError(f"archive has {len(infos)} entries; at most {max_entries} are allowed")
        total = 0
        for info in infos:
            name = _safe_relpath(info.filename)
            if info.is_dir():
                os.close(_open_dirs(workdir, name.split("/")))
                continue
            unix_mode = (info.external_attr >> 16) & 0o777
            data = zf.read(info)  # CRC-checked; sizes are re-checked below, headers can lie
            total += len(data)
            if total > limit_bytes:
                raise ValueError(f"archive expands to more than {limit_bytes} bytes")
            _write_file(workdir, name, data, 0o755 if unix_mode & 0o111 else 0o644)


def as_sandbox_user(uid: int, gid: int, work: Callable[[], str | None]) -> str | None:
    """Run `work` in a forked child that became the sandbox user; return its error message, if any.

    The child drops the agent's stdin and stdout first: those are the worker's connection.
    """
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        os.close(rd)
        code = 0
        try:
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.umask(0o022)
            problem = work()
            if problem:
                os.write(wr, problem.encode()[:8000])
                code = 1
        except Exception as exc:  # noqa: BLE001 - reported to the worker as this step's error
            os.write(wr, f"{type(exc).__name__}: {exc}".encode()[:8000])
            code = 1
        os._exit(code)
    os.close(wr)
    message = read_all(rd)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return message.decode(errors="replace") or "failed as the sandbox user"
    return None


def setup_workdir(req: dict[str, Any]) -> str | None:
    """Write the request's files as the sandbox user; return an error message or None."""
    files = req.get("files") or []
    archive = req.get("archive")
    if not files and not archive:
        return None

    def write_files() -> None:
        for f in files:
            _write_file(
                req["workdir"], _safe_relpath(f["path"]), base64.b64decode(f["data"]), int(f.get("mode", 0o644))
            )

    if not archive:
        try:
            with fs_identity(req["uid"], req["gid"]):
                write_files()
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def write() -> str | None:
        limit = int(req.get("archive_limit_bytes", 10 << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        write_files()
        _extract(req["workdir"], base64.b64decode(archive), limit, int(req.get("archive_max_entries", 10000)))
        return None

    return as_sandbox_user(req["uid"], req["gid"], write)
