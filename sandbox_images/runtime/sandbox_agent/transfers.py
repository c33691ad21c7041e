"""Uploads and downloads in chunks, as the sandbox user: an upload is written aside and renamed into place."""

from __future__ import annotations

import base64
import contextlib
import os
import stat
import threading
import uuid
from typing import Any

from .config import CONFIG
from .paths import file_op, info, resolve
from .protocol import OpError


class Upload:
    def __init__(self, path: str, mode: int, limit: int) -> None:
        self.path, self.mode, self.limit = path, mode, limit
        self.temp = os.path.join(os.path.dirname(path), f".runyard-upload-{uuid.uuid4().hex}")
        self.fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self.size = 0
        self.lock = threading.Lock()


UPLOADS: dict[str, Upload] = {}
DOWNLOADS: dict[str, tuple[int, threading.Lock]] = {}


@file_op
def op_write_open(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    if req.get("parents", True):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    upload = Upload(path, int(req.get("mode") or 0o644), int(req.get("limit") or CONFIG.disk_bytes))
    handle = uuid.uuid4().hex
    UPLOADS[handle] = upload
    return {"handle": handle, "path": path}


@file_op
def op_write_chunk(req: dict[str, Any]) -> dict[str, Any]:
    upload = UPLOADS.get(str(req["handle"]))
    if upload is None:
        raise OpError("not_found", "no such upload")
    data = base64.b64decode(req["data"])
    with upload.lock:
        if upload.size + len(data) > upload.limit:
            raise OpError("too_large", f"the file would exceed the sandbox's disk limit of {upload.limit} bytes")
        view = memoryview(data)
        while view:
            view = view[os.write(upload.fd, view) :]
        upload.size += len(data)
    return {"size": upload.size}


@file_op
def op_write_close(req: dict[str, Any]) -> dict[str, Any]:
    """Commit (fsync, chmod, rename over the target) or abort; a half-written file is never visible."""
    upload = UPLOADS.pop(str(req["handle"]), None)
    if upload is None:
        raise OpError("not_found", "no such upload")
    try:
        if req.get("commit", True):
            os.fsync(upload.fd)
            os.fchmod(upload.fd, upload.mode)
            os.close(upload.fd)
            upload.fd = -1
            if os.path.isdir(upload.path) and not os.path.islink(upload.path):
                raise OpError("is_a_directory", f"{upload.path} is a directory")
            os.rename(upload.temp, upload.path)
            return {"path": upload.path, "size": upload.size}
        return {"aborted": True}
    finally:
        if upload.fd >= 0:
            os.close(upload.fd)
        with contextlib.suppress(OSError):
            os.unlink(upload.temp)


@file_op
def op_read_open(req: dict[str, Any]) -> dict[str, Any]:
    path = resolve(str(req["path"]))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OpError("is_a_directory" if stat.S_ISDIR(st.st_mode) else "not_a_file", f"{path} is not a regular file")
    os.set_blocking(fd, True)
    handle = uuid.uuid4().hex
    DOWNLOADS[handle] = (fd, threading.Lock())
    return {"handle": handle, "size": st.st_size, "info": info(path, st)}


def op_read_chunk(req: dict[str, Any]) -> dict[str, Any]:
    entry = DOWNLOADS.get(str(req["handle"]))
    if entry is None:
        raise OpError("not_found", "no such download")
    fd, lock = entry
    with lock:
        data = os.read(fd, min(int(req.get("size") or 1 << 20), 8 << 20))
    return {"data": base64.b64encode(data).decode(), "eof": not data}


def op_read_close(req: dict[str, Any]) -> dict[str, Any]:
    entry = DOWNLOADS.pop(str(req["handle"]), None)
    if entry is not None:
        os.close(entry[0])
    return {"closed": True}


@file_op  # unlink as the sandbox user: the temporary file's directory is theirs to have replaced
def op_abort_transfers(req: dict[str, Any]) -> dict[str, Any]:
    """Forget every open upload and download: a new attachment means whoever opened them is gone."""
    uploads = 0
    for handle in list(UPLOADS):
        upload = UPLOADS.pop(handle, None)
        if upload is None:
            continue
        with upload.lock:
            if upload.fd >= 0:
                os.close(upload.fd)
                upload.fd = -1
            with contextlib.suppress(OSError):
                os.unlink(upload.temp)
        uploads += 1
    downloads = 0
    for handle in list(DOWNLOADS):
        entry = DOWNLOADS.pop(handle, None)
        if entry is not None:
            os.close(entry[0])
            downloads += 1
    return {"uploads": uploads, "downloads": downloads}
