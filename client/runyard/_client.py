"""The synchronous client: Runyard(url, key)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from runyard import _calls, _transport
from runyard.errors import TimeoutExpired
from runyard.models import CellResult, Command, ExecResult, FileInfo, Job, Language, Run, Sandbox


class Runyard:
    """A Runyard server. `url` and `key` default to RUNYARD_URL and RUNYARD_KEY."""

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 4,
        max_retry_wait: float = 30.0,
    ) -> None:
        self._settings = _transport.settings(url, key, timeout, max_retries, max_retry_wait)
        self._http = httpx.Client(
            base_url=self._settings.url, headers=_transport.headers(self._settings), timeout=timeout
        )
        self.sandboxes = Sandboxes(self)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return _transport.send(self._http, self._settings, method, path, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Runyard:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------ runs

    def run(
        self,
        code: str | bytes,
        language: str | int = "python",
        *,
        stdin: str | bytes | None = None,
        args: list[str] | None = None,
        expected_output: str | None = None,
        limits: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Run:
        """Run code and wait for the result. `limits` uses the native names (cpu_time_ms, memory_bytes, ...)."""
        return self.submit(code, language, stdin=stdin, args=args, expected_output=expected_output,
                           limits=limits).wait(timeout)  # fmt: skip

    def submit(
        self,
        code: str | bytes,
        language: str | int = "python",
        *,
        stdin: str | bytes | None = None,
        args: list[str] | None = None,
        expected_output: str | None = None,
        limits: dict[str, Any] | None = None,
        callback_url: str | None = None,
    ) -> RunHandle:
        """Queue a run and return at once; the handle can wait, poll or cancel."""
        body = _calls.run_body(code, language, stdin, args, expected_output, limits, callback_url)
        method, path, kw = _calls.create_run(body, wait=False)
        return RunHandle(self, Run.model_validate(self.request(method, path, **kw).json()))

    def batch(self, runs: list[dict[str, Any]]) -> list[RunHandle]:
        """Queue several runs at once (each a dict of run()'s arguments); all are checked before any is queued."""
        bodies = [
            _calls.run_body(r["code"], r.get("language", "python"), r.get("stdin"), r.get("args"),
                            r.get("expected_output"), r.get("limits"), r.get("callback_url"))
            for r in runs
        ]  # fmt: skip
        answer = self.request("POST", "/v1/runs/batch", json={"runs": bodies}).json()
        return [RunHandle(self, Run.model_validate(item)) for item in answer]

    def get_run(self, run_id: str) -> Run:
        method, path, kw = _calls.get_run(run_id)
        return Run.model_validate(self.request(method, path, **kw).json())

    def languages(self) -> list[Language]:
        return [Language.model_validate(item) for item in self.request("GET", "/v1/languages").json()]

    # ------------------------------------------------------------ sandboxes

    @contextmanager
    def sandbox(self, template: str | None = None, **options: Any) -> Iterator[SandboxHandle]:
        """A new sandbox for the `with` block, deleted when it ends."""
        handle = self.sandboxes.create(template, **options)
        try:
            yield handle
        finally:
            handle.delete()

    def job(self, job_id: str, wait: float = 0) -> Job:
        params = {"wait": str(min(60, wait))} if wait else {}
        return Job.model_validate(self.request("GET", f"/v1/jobs/{job_id}", params=params, timeout=wait + 30).json())

    def status(self) -> dict[str, Any]:
        """Queues, workers and pools (GET /v1/status)."""
        answer: dict[str, Any] = self.request("GET", "/v1/status").json()
        return answer


class RunHandle:
    def __init__(self, client: Runyard, run: Run) -> None:
        self._client = client
        self.id = run.id
        self.last = run

    def poll(self) -> Run:
        """The run as it is now."""
        self.last = self._client.get_run(self.id)
        return self.last

    def wait(self, timeout: float | None = None) -> Run:
        """The finished run; TimeoutExpired if `timeout` seconds pass first (the run goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.last.finished:
            left = 60.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise TimeoutExpired(f"run {self.id} is still {self.last.status}")
            method, path, kw = _calls.get_run(self.id, wait_s=max(1.0, min(60.0, left)))
            self.last = Run.model_validate(self._client.request(method, path, **kw).json())
        return self.last

    def cancel(self) -> Run:
        """Cancel a run no worker has started (or delete a finished one)."""
        self.last = Run.model_validate(self._client.request("DELETE", f"/v1/runs/{self.id}").json())
        return self.last


class Sandboxes:
    def __init__(self, client: Runyard) -> None:
        self._client = client

    def create(
        self,
        template: str | None = None,
        *,
        name: str | None = None,
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        cpus: float | None = None,
        memory_bytes: int | None = None,
        disk_bytes: int | None = None,
        network: bool | None = None,
        auto_stop_s: int | None = None,
        auto_delete_s: int | None = None,
    ) -> SandboxHandle:
        body = _calls.sandbox_body(template=template, name=name, env=env, labels=labels, cpus=cpus,
                                   memory_bytes=memory_bytes, disk_bytes=disk_bytes, network=network,
                                   auto_stop_s=auto_stop_s, auto_delete_s=auto_delete_s)  # fmt: skip
        answer = self._client.request(
            "POST", "/v1/sandboxes", json=body, headers=_calls.idempotent(), timeout=120
        ).json()
        return SandboxHandle(self._client, Sandbox.model_validate(answer))

    def get(self, id_or_name: str) -> SandboxHandle:
        answer = self._client.request("GET", f"/v1/sandboxes/{id_or_name}").json()
        return SandboxHandle(self._client, Sandbox.model_validate(answer))

    def list(self, labels: dict[str, str] | None = None) -> list[Sandbox]:
        params = [("label", f"{k}={v}") for k, v in (labels or {}).items()]
        answer = self._client.request("GET", "/v1/sandboxes", params=[*params, ("limit", "200")]).json()
        return [Sandbox.model_validate(item) for item in answer["sandboxes"]]


class SandboxHandle:
    """One sandbox: commands, a Python kernel, sessions and files."""

    def __init__(self, client: Runyard, info: Sandbox) -> None:
        self._client = client
        self.info = info
        self.id = info.id
        self.files = Files(self)
        self.sessions = Sessions(self)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *_: object) -> None:
        self.delete()

    @property
    def _base(self) -> str:
        return f"/v1/sandboxes/{self.id}"

    def _call(self, method: str, suffix: str, **kwargs: Any) -> httpx.Response:
        return self._client.request(method, self._base + suffix, **kwargs)

    def refresh(self) -> Sandbox:
        self.info = Sandbox.model_validate(self._call("GET", "").json())
        return self.info

    def exec(
        self,
        command: str | list[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        stdin: str | None = None,
    ) -> ExecResult:
        """Run a command (a string for bash, or an argv list) and wait for its exit code and output."""
        body, http_timeout = _calls.exec_body(command, cwd, env, timeout, stdin)
        return ExecResult.model_validate(self._call("POST", "/exec", json=body, timeout=http_timeout).json())

    def run_python(self, code: str, *, timeout: float | None = None) -> CellResult:
        """A cell in the sandbox's Python kernel: variables survive between calls."""
        body: dict[str, Any] = {"code": code}
        if timeout is not None:
            body["timeout_ms"] = int(timeout * 1000)
        answer = self._call("POST", "/kernel/cells", json=body, timeout=(timeout or 60) + 30).json()
        return CellResult.model_validate(answer)

    def restart_python(self) -> None:
        self._call("POST", "/kernel/restart")

    def stop(self) -> Sandbox:
        self.info = Sandbox.model_validate(self._call("POST", "/stop", timeout=120).json())
        return self.info

    def start(self) -> Sandbox:
        self.info = Sandbox.model_validate(self._call("POST", "/start", timeout=120).json())
        return self.info

    def delete(self) -> None:
        self._call("DELETE", "", timeout=120)


class Files:
    def __init__(self, sandbox: SandboxHandle) -> None:
        self._sb = sandbox

    def write(self, path: str, data: bytes | str, mode: str | int | None = None) -> None:
        method, url, kw = _calls.write_file(self._sb.id, path, data, mode)
        self._sb._client.request(method, url, **kw)

    def read(self, path: str) -> bytes:
        return self._sb._call("GET", "/files/content", params={"path": path}, timeout=600).content

    def read_text(self, path: str) -> str:
        return self.read(path).decode()

    def list(self, path: str = "/workspace") -> list[FileInfo]:
        entries = self._sb._call("GET", "/files", params={"path": path}).json()["entries"]
        return [FileInfo.model_validate(e) for e in entries]

    def stat(self, path: str) -> FileInfo:
        return FileInfo.model_validate(self._sb._call("GET", "/files/stat", params={"path": path}).json())

    def mkdir(self, path: str, mode: str | int = "755") -> FileInfo:
        body = {"path": path, "mode": _calls.mode_text(mode)}
        return FileInfo.model_validate(self._sb._call("POST", "/files/mkdir", json=body).json())

    def remove(self, path: str, recursive: bool = False) -> None:
        self._sb._call("DELETE", "/files", params={"path": path, "recursive": str(recursive).lower()})

    def move(self, source: str, destination: str, overwrite: bool = False) -> FileInfo:
        body = {"source": source, "destination": destination, "overwrite": overwrite}
        return FileInfo.model_validate(self._sb._call("POST", "/files/move", json=body).json())

    def chmod(self, path: str, mode: str | int) -> FileInfo:
        body = {"path": path, "mode": _calls.mode_text(mode)}
        return FileInfo.model_validate(self._sb._call("POST", "/files/chmod", json=body).json())


class Sessions:
    """Named shells: commands run one after another, keeping cwd and variables; some in the background."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self._sb = sandbox

    def create(self, name: str) -> None:
        self._sb._call("POST", "/sessions", json={"session": name})

    def run(self, name: str, command: str, *, background: bool = False, timeout: float | None = None) -> Command:
        body: dict[str, Any] = {"command": command, "async": background}
        if timeout is not None:
            body["timeout_ms"] = int(timeout * 1000)
        answer = self._sb._call("POST", f"/sessions/{name}/commands", json=body, timeout=(timeout or 60) + 30)
        return Command.model_validate(answer.json())

    def get(self, name: str, command_id: str) -> Command:
        return Command.model_validate(self._sb._call("GET", f"/sessions/{name}/commands/{command_id}").json())

    def cancel(self, name: str, command_id: str) -> Command:
        return Command.model_validate(self._sb._call("POST", f"/sessions/{name}/commands/{command_id}/cancel").json())

    def list(self) -> list[dict[str, Any]]:
        sessions: list[dict[str, Any]] = self._sb._call("GET", "/sessions").json()["sessions"]
        return sessions

    def delete(self, name: str) -> None:
        self._sb._call("DELETE", f"/sessions/{name}")
