"""Everything both clients do, written once: one place knows the API's paths, bodies and replies.

Each operation is a *plan*: a generator that yields the requests to make, as (method, path, keyword
arguments for httpx), is sent each reply, and returns the result. A plan does no I/O of its own, so
the same plan serves Runyard (through `drive`) and AsyncRunyard (through `drive_async`): the two
clients' methods differ only by `await`, and tests/unit/test_client_parity.py checks that their
signatures stay the same.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol, TypeAlias, TypeVar

import httpx

from runyard.errors import TimeoutExpired
from runyard.models import CellResult, Command, ExecResult, FileInfo, Job, Language, Run, Sandbox, Snapshot, b64

T = TypeVar("T")
Call: TypeAlias = tuple[str, str, dict[str, Any]]
Plan: TypeAlias = Generator[Call, httpx.Response, T]
WAIT_MARGIN_S = 30.0
LONGEST_POLL_S = 60.0


def drive(plan: Plan[T], send: Callable[..., httpx.Response]) -> T:
    """Carry out a plan with `send(method, path, **kwargs)`, the synchronous client's request()."""
    method, path, kwargs = next(plan)  # every plan makes at least one request
    while True:
        reply = send(method, path, **kwargs)
        try:
            method, path, kwargs = plan.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result


async def drive_async(plan: Plan[T], send: Callable[..., Awaitable[httpx.Response]]) -> T:
    """Carry out a plan with `await send(method, path, **kwargs)`, the asynchronous client's request()."""
    method, path, kwargs = next(plan)
    while True:
        reply = await send(method, path, **kwargs)
        try:
            method, path, kwargs = plan.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result


def _json(call: Call) -> Plan[Any]:
    """One request; its reply's JSON."""
    reply = yield call
    return reply.json()


def _mode(mode: str | int | None) -> str | None:
    if mode is None:
        return None
    return format(mode, "o") if isinstance(mode, int) else str(mode)


def mode_text(mode: str | int) -> str:
    return _mode(mode) or "755"


def idempotent() -> dict[str, str]:
    """A fresh key for one creating request: the transport may then send it again without creating twice."""
    return {"Idempotency-Key": str(uuid.uuid4())}


def _server_timeout(body: dict[str, Any], timeout: float | None) -> float:
    """Put a server-side `timeout` (seconds) into `body`; the HTTP timeout that leaves room for it."""
    if timeout is not None:
        body["timeout_ms"] = int(timeout * 1000)
    return (timeout or 60.0) + WAIT_MARGIN_S


# ------------------------------------------------------------------ runs


def run_body(
    code: str | bytes,
    language: str | int,
    stdin: str | bytes | None,
    args: list[str] | None,
    expected_output: str | None,
    limits: dict[str, Any] | None,
    callback_url: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"language": language}
    if isinstance(code, bytes):
        body["source_base64"] = b64(code)
    else:
        body["source"] = code
    if stdin is not None:
        body["stdin_base64" if isinstance(stdin, bytes) else "stdin"] = (
            b64(stdin) if isinstance(stdin, bytes) else stdin
        )
    if args:
        body["args"] = list(args)
    if expected_output is not None:
        body["expected_output"] = expected_output
    if limits:
        body["limits"] = dict(limits)
    if callback_url:
        body["callback_url"] = callback_url
    return body


def create_run(body: dict[str, Any], wait: bool) -> Call:
    return "POST", "/v1/runs", {"json": body, "params": {"wait": "true" if wait else "false"}, "headers": idempotent()}


def submit(body: dict[str, Any]) -> Plan[Run]:
    return Run.model_validate((yield from _json(create_run(body, wait=False))))


def batch(runs: list[dict[str, Any]]) -> Plan[list[Run]]:
    bodies = [
        run_body(
            r["code"],
            r.get("language", "python"),
            r.get("stdin"),
            r.get("args"),
            r.get("expected_output"),
            r.get("limits"),
            r.get("callback_url"),
        )
        for r in runs
    ]
    answer = yield from _json(("POST", "/v1/runs/batch", {"json": {"runs": bodies}}))
    return [Run.model_validate(item) for item in answer]


def get_run(run_id: str, wait_s: float = 0) -> Plan[Run]:
    """The run; with `wait_s`, the server holds the reply until it finishes or that many seconds pass."""
    params = {"wait": str(int(min(LONGEST_POLL_S, wait_s)))} if wait_s > 0 else {}
    call = "GET", f"/v1/runs/{run_id}", {"params": params, "timeout": wait_s + WAIT_MARGIN_S}
    return Run.model_validate((yield from _json(call)))


class Tracked(Protocol):
    """A run handle: its run's id and the run as last seen."""

    id: str
    last: Run


def wait(handle: Tracked, timeout: float | None) -> Plan[Run]:
    """Long-poll until the run finishes, keeping `handle.last` current; TimeoutExpired after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not handle.last.finished:
        left = LONGEST_POLL_S if deadline is None else deadline - time.monotonic()
        if left <= 0:
            raise TimeoutExpired(f"run {handle.id} is still {handle.last.status}")
        handle.last = yield from get_run(handle.id, wait_s=max(1.0, min(LONGEST_POLL_S, left)))
    return handle.last


def cancel_run(run_id: str) -> Plan[Run]:
    return Run.model_validate((yield from _json(("DELETE", f"/v1/runs/{run_id}", {}))))


def languages() -> Plan[list[Language]]:
    return [Language.model_validate(item) for item in (yield from _json(("GET", "/v1/languages", {})))]


def job(job_id: str, wait: float) -> Plan[Job]:
    params = {"wait": str(min(LONGEST_POLL_S, wait))} if wait else {}
    call = "GET", f"/v1/jobs/{job_id}", {"params": params, "timeout": wait + WAIT_MARGIN_S}
    return Job.model_validate((yield from _json(call)))


def status() -> Plan[dict[str, Any]]:
    answer: dict[str, Any] = yield from _json(("GET", "/v1/status", {}))
    return answer


# ------------------------------------------------------------------ sandboxes


def sandbox_body(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _at(sandbox_id: str, method: str, suffix: str = "", **kwargs: Any) -> Call:
    """A request about one sandbox, to /v1/sandboxes/{id}{suffix}."""
    return method, f"/v1/sandboxes/{sandbox_id}{suffix}", kwargs


def create_sandbox(**fields: Any) -> Plan[Sandbox]:
    call = "POST", "/v1/sandboxes", {"json": sandbox_body(**fields), "headers": idempotent(), "timeout": 120}
    return Sandbox.model_validate((yield from _json(call)))


def get_sandbox(id_or_name: str) -> Plan[Sandbox]:
    return Sandbox.model_validate((yield from _json(_at(id_or_name, "GET"))))


def list_sandboxes(labels: dict[str, str] | None) -> Plan[list[Sandbox]]:
    params = [("label", f"{k}={v}") for k, v in (labels or {}).items()]
    answer = yield from _json(("GET", "/v1/sandboxes", {"params": [*params, ("limit", "200")]}))
    return [Sandbox.model_validate(item) for item in answer["sandboxes"]]


def exec_command(
    sandbox_id: str,
    command: str | list[str],
    cwd: str | None,
    env: dict[str, str] | None,
    timeout: float | None,
    stdin: str | None,
) -> Plan[ExecResult]:
    body: dict[str, Any] = {"argv": command} if isinstance(command, list) else {"command": command}
    if cwd:
        body["cwd"] = cwd
    if env:
        body["env"] = env
    if stdin is not None:
        body["stdin"] = stdin
    http_timeout = _server_timeout(body, timeout)
    answer = yield from _json(_at(sandbox_id, "POST", "/exec", json=body, timeout=http_timeout))
    return ExecResult.model_validate(answer)


def run_python(sandbox_id: str, code: str, timeout: float | None) -> Plan[CellResult]:
    body: dict[str, Any] = {"code": code}
    http_timeout = _server_timeout(body, timeout)
    answer = yield from _json(_at(sandbox_id, "POST", "/kernel/cells", json=body, timeout=http_timeout))
    return CellResult.model_validate(answer)


def restart_python(sandbox_id: str) -> Plan[None]:
    yield _at(sandbox_id, "POST", "/kernel/restart")


def stop_sandbox(sandbox_id: str) -> Plan[Sandbox]:
    return Sandbox.model_validate((yield from _json(_at(sandbox_id, "POST", "/stop", timeout=120))))


def start_sandbox(sandbox_id: str) -> Plan[Sandbox]:
    return Sandbox.model_validate((yield from _json(_at(sandbox_id, "POST", "/start", timeout=120))))


def delete_sandbox(sandbox_id: str) -> Plan[None]:
    yield _at(sandbox_id, "DELETE", timeout=120)


# ------------------------------------------------------------------ a sandbox's files


def write_file(sandbox_id: str, path: str, data: bytes | str, mode: str | int | None) -> Plan[None]:
    params = {"path": path}
    if (m := _mode(mode)) is not None:
        params["mode"] = m
    content = data.encode() if isinstance(data, str) else data
    yield _at(sandbox_id, "PUT", "/files/content", params=params, content=content, timeout=600)


def read_file(sandbox_id: str, path: str) -> Plan[bytes]:
    reply = yield _at(sandbox_id, "GET", "/files/content", params={"path": path}, timeout=600)
    return reply.content


def read_text(sandbox_id: str, path: str) -> Plan[str]:
    return (yield from read_file(sandbox_id, path)).decode()


def list_files(sandbox_id: str, path: str) -> Plan[list[FileInfo]]:
    answer = yield from _json(_at(sandbox_id, "GET", "/files", params={"path": path}))
    return [FileInfo.model_validate(e) for e in answer["entries"]]


def stat(sandbox_id: str, path: str) -> Plan[FileInfo]:
    answer = yield from _json(_at(sandbox_id, "GET", "/files/stat", params={"path": path}))
    return FileInfo.model_validate(answer)


def mkdir(sandbox_id: str, path: str, mode: str | int) -> Plan[FileInfo]:
    body = {"path": path, "mode": mode_text(mode)}
    return FileInfo.model_validate((yield from _json(_at(sandbox_id, "POST", "/files/mkdir", json=body))))


def remove(sandbox_id: str, path: str, recursive: bool) -> Plan[None]:
    yield _at(sandbox_id, "DELETE", "/files", params={"path": path, "recursive": str(recursive).lower()})


def move(sandbox_id: str, source: str, destination: str, overwrite: bool) -> Plan[FileInfo]:
    body = {"source": source, "destination": destination, "overwrite": overwrite}
    return FileInfo.model_validate((yield from _json(_at(sandbox_id, "POST", "/files/move", json=body))))


def chmod(sandbox_id: str, path: str, mode: str | int) -> Plan[FileInfo]:
    body = {"path": path, "mode": mode_text(mode)}
    return FileInfo.model_validate((yield from _json(_at(sandbox_id, "POST", "/files/chmod", json=body))))


# ------------------------------------------------------------------ a sandbox's shell sessions


def create_session(sandbox_id: str, name: str) -> Plan[None]:
    yield _at(sandbox_id, "POST", "/sessions", json={"session": name})


def run_in_session(sandbox_id: str, name: str, command: str, background: bool, timeout: float | None) -> Plan[Command]:
    body: dict[str, Any] = {"command": command, "async": background}
    http_timeout = _server_timeout(body, timeout)
    call = _at(sandbox_id, "POST", f"/sessions/{name}/commands", json=body, timeout=http_timeout)
    answer = yield from _json(call)
    return Command.model_validate(answer)


def get_command(sandbox_id: str, name: str, command_id: str) -> Plan[Command]:
    answer = yield from _json(_at(sandbox_id, "GET", f"/sessions/{name}/commands/{command_id}"))
    return Command.model_validate(answer)


def cancel_command(sandbox_id: str, name: str, command_id: str) -> Plan[Command]:
    answer = yield from _json(_at(sandbox_id, "POST", f"/sessions/{name}/commands/{command_id}/cancel"))
    return Command.model_validate(answer)


def send_input(sandbox_id: str, name: str, command_id: str, data: str) -> Plan[Command]:
    call = _at(sandbox_id, "POST", f"/sessions/{name}/commands/{command_id}/input", json={"data": data})
    return Command.model_validate((yield from _json(call)))


def list_sessions(sandbox_id: str) -> Plan[list[dict[str, Any]]]:
    sessions: list[dict[str, Any]] = (yield from _json(_at(sandbox_id, "GET", "/sessions")))["sessions"]
    return sessions


def delete_session(sandbox_id: str, name: str) -> Plan[None]:
    yield _at(sandbox_id, "DELETE", f"/sessions/{name}")


# ------------------------------------------------------------------ snapshots


def create_snapshot(**fields: Any) -> Plan[Snapshot]:
    call = "POST", "/v1/snapshots", {"json": sandbox_body(**fields)}
    return Snapshot.model_validate((yield from _json(call)))


def get_snapshot(id_or_name: str) -> Plan[Snapshot]:
    return Snapshot.model_validate((yield from _json(("GET", f"/v1/snapshots/{id_or_name}", {}))))


def list_snapshots() -> Plan[list[Snapshot]]:
    answer = yield from _json(("GET", "/v1/snapshots", {"params": {"limit": "200"}}))
    return [Snapshot.model_validate(item) for item in answer["snapshots"]]


def snapshot_logs(id_or_name: str) -> Plan[str]:
    reply = yield "GET", f"/v1/snapshots/{id_or_name}/logs", {}
    return reply.text


def wait_snapshot(id_or_name: str, timeout: float | None) -> Plan[Snapshot]:
    """Follow the build's output to its end (the server holds the reply open while it runs), then the snapshot."""
    yield "GET", f"/v1/snapshots/{id_or_name}/logs", {"params": {"follow": "true"}, "timeout": timeout}
    return (yield from get_snapshot(id_or_name))


def delete_snapshot(id_or_name: str) -> Plan[Snapshot]:
    return Snapshot.model_validate((yield from _json(("DELETE", f"/v1/snapshots/{id_or_name}", {}))))


# ------------------------------------------------------------------ a desktop sandbox's browser


def browser(sandbox_id: str, action: str, **fields: Any) -> Plan[dict[str, Any]]:
    """One action on the page the desktop's Chromium shows (POST /v1/sandboxes/{id}/browser)."""
    body = {"action": action, **{k: v for k, v in fields.items() if v is not None}}
    return dict((yield from _json(_at(sandbox_id, "POST", "/browser", json=body, timeout=120))))


def browser_screenshot(sandbox_id: str, full_page: bool) -> Plan[bytes]:
    answer = yield from browser(sandbox_id, "screenshot", full_page=full_page)
    return base64.b64decode(answer["png"])


def cdp_url(sandbox_id: str) -> Plan[str]:
    return str((yield from _json(_at(sandbox_id, "GET", "/browser/cdp")))["ws_url"])
