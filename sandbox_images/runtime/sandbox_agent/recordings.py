"""Recordings of the display: ffmpeg's x11grab into an MP4, started, stopped, listed and deleted."""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from .protocol import OpError
from .x11 import display, run, screen_size

RECORDINGS = "/var/tmp/runyard-recordings"
RECORDING_ID = re.compile(r"[0-9a-f]{32}")


def _sh(script: str, check: bool = True) -> str:
    return run(["/bin/sh", "-c", script], check=check)[1].decode(errors="replace")


def _recording(ident: str) -> dict[str, Any]:
    if not RECORDING_ID.fullmatch(ident):
        raise OpError("not_found", f"no recording {ident[:40]!r}")
    text = _sh(f"cat {RECORDINGS}/{ident}.json 2>/dev/null || true", check=False)
    if not text.strip():
        raise OpError("not_found", f"no recording {ident}")
    record: dict[str, Any] = json.loads(text)
    if record["status"] == "recording" and not _sh(f"kill -0 $(cat {RECORDINGS}/{ident}.pid) 2>/dev/null && echo y",
                                                    check=False).strip():  # fmt: skip  # reason: one condition
        record["status"] = "failed"  # ffmpeg ended by itself (the display went away)
    size = _sh(f"stat -c %s {RECORDINGS}/{ident}.mp4 2>/dev/null || true", check=False).strip()
    record["size_bytes"] = int(size) if size.isdigit() else None
    return record


def _save(record: dict[str, Any]) -> None:
    body = json.dumps({k: v for k, v in record.items() if k != "size_bytes"})
    _sh(f"cat > {RECORDINGS}/{record['id']}.json <<'EOF'\n{body}\nEOF")


def record_start(req: dict[str, Any]) -> dict[str, Any]:
    width, height = screen_size()
    ident = os.urandom(16).hex()
    label = re.sub(r"[^\w.-]", "_", str(req.get("label") or "recording"))[:60]
    path = f"{RECORDINGS}/{ident}.mp4"
    _sh(
        f"mkdir -p {RECORDINGS} || exit 1; ffmpeg -loglevel error -f x11grab -framerate 10 "
        f"-video_size {width}x{height} -i {display()} -c:v libx264 -preset ultrafast -pix_fmt yuv420p "
        f"-movflags +faststart -y {path} "
        f"</dev/null >{RECORDINGS}/{ident}.log 2>&1 & echo $! > {RECORDINGS}/{ident}.pid"
    )
    record = {"id": ident, "label": label, "file_name": f"{label}-{ident[:8]}.mp4", "file_path": path,
              "start_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "started": time.time(),
              "status": "recording"}  # fmt: skip  # reason: one record
    _save(record)
    return _recording(ident)


def record_stop(req: dict[str, Any]) -> dict[str, Any]:
    record = _recording(str(req.get("id") or ""))
    if record["status"] == "recording":
        # SIGINT: ffmpeg finishes the file (its index) before it exits.
        script = (
            f"pid=$(cat {RECORDINGS}/{record['id']}.pid); kill -INT $pid; "
            "for i in $(seq 100); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL $pid"
        )
        _sh(script, check=False)
        record["status"] = "completed"
        record["end_time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record["duration_seconds"] = round(time.time() - float(record["started"]), 3)
        _save(record)
    return _recording(record["id"])


def record_list(req: dict[str, Any]) -> dict[str, Any]:
    names = _sh(f"ls {RECORDINGS} 2>/dev/null || true", check=False).split()
    idents = sorted(n.removesuffix(".json") for n in names if n.endswith(".json"))
    return {"recordings": [_recording(i) for i in idents if RECORDING_ID.fullmatch(i)]}


def record_get(req: dict[str, Any]) -> dict[str, Any]:
    return _recording(str(req.get("id") or ""))


def record_delete(req: dict[str, Any]) -> dict[str, Any]:
    record = _recording(str(req.get("id") or ""))
    if record["status"] == "recording":
        raise OpError("conflict", "the recording is still going: stop it first")
    _sh(f"rm -f {RECORDINGS}/{record['id']}.mp4 {RECORDINGS}/{record['id']}.json {RECORDINGS}/{record['id']}.pid "
        f"{RECORDINGS}/{record['id']}.log")  # fmt: skip  # reason: one command
    return {"deleted": True}
