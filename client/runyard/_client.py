"""The synchronous client: Runyard(url, key).

What each method sends and makes of the answer is in _calls.py, shared with the asynchronous client
(_async.py), whose methods are these with `await`; tests/unit/test_client_parity.py keeps the two alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from runyard import _calls, _transport
from runyard.models import CellResult, Command, ExecResult, FileInfo, Job, Language, Run, Sandbox, Snapshot

T = TypeVar("T")


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
        self._http = httpx.Client(**_transport.client_options(self._settings))
        self.sandboxes = Sandboxes(self)
        self.snapshots = Snapshots(self)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return _transport.send(self._http, self._settings, method, path, **kwargs)

    def _do(self, plan: _calls.Plan[T]) -> T:
        return _calls.drive(plan, self.request)

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
        handle = self.submit(code, language, stdin=stdin, args=args, expected_output=expected_output, limits=limits)
        return handle.wait(timeout)

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
        return RunHandle(self, self._do(_calls.submit(body)))

    def batch(self, runs: list[dict[str, Any]]) -> list[RunHandle]:
        """Queue several runs at once (each a dict of run()'s arguments); all are checked before any is queued."""
        return [RunHandle(self, run) for run in self._do(_calls.batch(runs))]

    def get_run(self, run_id: str) -> Run:
        return self._do(_calls.get_run(run_id))

    def languages(self) -> list[Language]:
        return self._do(_calls.languages())

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
        return self._do(_calls.job(job_id, wait))

    def status(self) -> dict[str, Any]:
        """Queues, workers and pools (GET /v1/status)."""
        return self._do(_calls.status())


class RunHandle:
    def __init__(self, client: Runyard, run: Run) -> None:
        self._client = client
        self.id = run.id
        self.last = run

    def poll(self) -> Run:
        """The run as it is now."""
        self.last = self._client._do(_calls.get_run(self.id))
        return self.last

    def wait(self, timeout: float | None = None) -> Run:
        """The finished run; TimeoutExpired if `timeout` seconds pass first (the run goes on)."""
        return self._client._do(_calls.wait(self, timeout))

    def cancel(self) -> Run:
        """Cancel a run no worker has started (or delete a finished one)."""
        self.last = self._client._do(_calls.cancel_run(self.id))
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
        info = self._client._do(
            _calls.create_sandbox(
                template=template,
                name=name,
                env=env,
                labels=labels,
                cpus=cpus,
                memory_bytes=memory_bytes,
                disk_bytes=disk_bytes,
                network=network,
                auto_stop_s=auto_stop_s,
                auto_delete_s=auto_delete_s,
            )
        )
        return SandboxHandle(self._client, info)

    def get(self, id_or_name: str) -> SandboxHandle:
        return SandboxHandle(self._client, self._client._do(_calls.get_sandbox(id_or_name)))

    def list(self, labels: dict[str, str] | None = None) -> list[Sandbox]:
        return self._client._do(_calls.list_sandboxes(labels))


class SandboxHandle:
    """One sandbox: commands, a Python kernel, sessions, files, and (on a desktop) its browser."""

    def __init__(self, client: Runyard, info: Sandbox) -> None:
        self._client = client
        self.info = info
        self.id = info.id
        self.files = Files(self)
        self.sessions = Sessions(self)
        self.browser = Browser(self)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *_: object) -> None:
        self.delete()

    def refresh(self) -> Sandbox:
        self.info = self._client._do(_calls.get_sandbox(self.id))
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
        return self._client._do(_calls.exec_command(self.id, command, cwd, env, timeout, stdin))

    def run_python(self, code: str, *, timeout: float | None = None) -> CellResult:
        """A cell in the sandbox's Python kernel: variables survive between calls."""
        return self._client._do(_calls.run_python(self.id, code, timeout))

    def restart_python(self) -> None:
        self._client._do(_calls.restart_python(self.id))

    def stop(self) -> Sandbox:
        self.info = self._client._do(_calls.stop_sandbox(self.id))
        return self.info

    def start(self) -> Sandbox:
        self.info = self._client._do(_calls.start_sandbox(self.id))
        return self.info

    def delete(self) -> None:
        self._client._do(_calls.delete_sandbox(self.id))


class Files:
    def __init__(self, sandbox: SandboxHandle) -> None:
        self._client = sandbox._client
        self._id = sandbox.id

    def write(self, path: str, data: bytes | str, mode: str | int | None = None) -> None:
        self._client._do(_calls.write_file(self._id, path, data, mode))

    def read(self, path: str) -> bytes:
        return self._client._do(_calls.read_file(self._id, path))

    def read_text(self, path: str) -> str:
        return self._client._do(_calls.read_text(self._id, path))

    def list(self, path: str = "/workspace") -> list[FileInfo]:
        return self._client._do(_calls.list_files(self._id, path))

    def stat(self, path: str) -> FileInfo:
        return self._client._do(_calls.stat(self._id, path))

    def mkdir(self, path: str, mode: str | int = "755") -> FileInfo:
        return self._client._do(_calls.mkdir(self._id, path, mode))

    def remove(self, path: str, recursive: bool = False) -> None:
        self._client._do(_calls.remove(self._id, path, recursive))

    def move(self, source: str, destination: str, overwrite: bool = False) -> FileInfo:
        return self._client._do(_calls.move(self._id, source, destination, overwrite))

    def chmod(self, path: str, mode: str | int) -> FileInfo:
        return self._client._do(_calls.chmod(self._id, path, mode))


class Sessions:
    """Named shells: commands run one after another, keeping cwd and variables; some in the background."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self._client = sandbox._client
        self._id = sandbox.id

    def create(self, name: str) -> None:
        self._client._do(_calls.create_session(self._id, name))

    def run(self, name: str, command: str, *, background: bool = False, timeout: float | None = None) -> Command:
        return self._client._do(_calls.run_in_session(self._id, name, command, background, timeout))

    def get(self, name: str, command_id: str) -> Command:
        return self._client._do(_calls.get_command(self._id, name, command_id))

    def cancel(self, name: str, command_id: str) -> Command:
        return self._client._do(_calls.cancel_command(self._id, name, command_id))

    def send_input(self, name: str, command_id: str, data: str) -> Command:
        """Write data to the stdin of a command started with background=True (add the newline yourself)."""
        return self._client._do(_calls.send_input(self._id, name, command_id, data))

    def list(self) -> list[dict[str, Any]]:
        return self._client._do(_calls.list_sessions(self._id))

    def delete(self, name: str) -> None:
        self._client._do(_calls.delete_session(self._id, name))


class Browser:
    """A desktop sandbox's Chromium, driven without writing Playwright; each call acts on the page it shows."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self._client = sandbox._client
        self._id = sandbox.id

    def navigate(self, url: str, *, wait_until: str | None = None) -> dict[str, Any]:
        """Open a URL (the sandbox's own network: 127.0.0.1 is the sandbox); its url, title and status."""
        return self._client._do(_calls.browser(self._id, "navigate", url=url, wait_until=wait_until))

    def click(self, selector: str | None = None, *, x: float | None = None, y: float | None = None) -> dict[str, Any]:
        """Click an element (a CSS or Playwright selector), or a point of the page."""
        return self._client._do(_calls.browser(self._id, "click", selector=selector, x=x, y=y))

    def type(self, text: str, selector: str | None = None, *, submit: bool = False) -> dict[str, Any]:
        """Fill an element with text (or type where focus is); `submit` presses Enter after."""
        return self._client._do(_calls.browser(self._id, "type", text=text, selector=selector, submit=submit))

    def screenshot(self, *, full_page: bool = False) -> bytes:
        """The page as PNG."""
        return self._client._do(_calls.browser_screenshot(self._id, full_page))

    def content(self) -> dict[str, Any]:
        """The page's url, title, text and links."""
        return self._client._do(_calls.browser(self._id, "content"))

    def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value in the page."""
        return (self._client._do(_calls.browser(self._id, "evaluate", expression=expression)))["value"]

    def cdp_url(self) -> str:
        """The DevTools WebSocket URL, for Playwright's connect_over_cdp (send your key as X-Auth-Token)."""
        return self._client._do(_calls.cdp_url(self._id))


class Snapshots:
    """Images built from a Dockerfile, as jobs on a worker host; sandboxes start from one by naming it."""

    def __init__(self, client: Runyard) -> None:
        self._client = client

    def create(
        self,
        name: str,
        dockerfile: str | None = None,
        *,
        image: str | None = None,
        cpus: float | None = None,
        memory_bytes: int | None = None,
        disk_bytes: int | None = None,
    ) -> Snapshot:
        """Queue the build (or take `image` as it is) and return at once, pending; `wait` follows it."""
        plan = _calls.create_snapshot(
            name=name, dockerfile=dockerfile, image=image, cpus=cpus, memory_bytes=memory_bytes, disk_bytes=disk_bytes
        )
        return self._client._do(plan)

    def wait(self, name: str, timeout: float | None = None) -> Snapshot:
        """Until the build is over: the snapshot, active or build_failed (its `error` says why)."""
        return self._client._do(_calls.wait_snapshot(name, timeout))

    def get(self, name: str) -> Snapshot:
        return self._client._do(_calls.get_snapshot(name))

    def list(self) -> list[Snapshot]:
        return self._client._do(_calls.list_snapshots())

    def logs(self, name: str) -> str:
        """The build's output so far (its newest bytes once it is over)."""
        return self._client._do(_calls.snapshot_logs(name))

    def delete(self, name: str) -> Snapshot:
        return self._client._do(_calls.delete_snapshot(name))
