"""The `runyard` command: run a file as if it ran here, manage sandboxes and keys, see the cluster.

Configuration: --url/--key, or RUNYARD_URL and RUNYARD_KEY. --json makes every command print JSON.
Needs the [cli] extra (typer, rich): pip install "runyard-client[cli]".
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

try:
    import typer
    from rich.console import Console
    from rich.table import Table
except ImportError:  # pragma: no cover - only without the extra
    sys.stderr.write('the runyard command needs its extra: pip install "runyard-client[cli]"\n')
    raise SystemExit(2) from None

from runyard import Runyard, RunyardError
from runyard.models import Run

app = typer.Typer(help="Runyard: run code and drive sandboxes on a Runyard server.", no_args_is_help=True)
sandbox_app = typer.Typer(help="Persistent sandboxes.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (needs an admin key).", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)

EXTENSIONS = {
    ".py": "python",
    ".c": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".js": "javascript",
    ".mjs": "javascript",
    ".sh": "bash",
    ".bash": "bash",
}


class Options:
    url: str | None = None
    key: str | None = None
    as_json: bool = False


OPTIONS = Options()


@app.callback()
def main_options(
    url: Annotated[str | None, typer.Option(envvar="RUNYARD_URL", help="The server's URL.")] = None,
    key: Annotated[str | None, typer.Option(envvar="RUNYARD_KEY", help="Your API key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")] = False,
) -> None:
    OPTIONS.url, OPTIONS.key, OPTIONS.as_json = url, key, as_json


def client() -> Runyard:
    return Runyard(OPTIONS.url, OPTIONS.key)


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, default=str, indent=None if not sys.stdout.isatty() else 2))


def fail(exc: RunyardError) -> typer.Exit:
    if OPTIONS.as_json:
        emit({"error": type(exc).__name__, "message": exc.message, "status": exc.status})
    else:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
    return typer.Exit(2)


def progress(text: str) -> Any:
    """A spinner on the terminal while something long runs; nothing when piped or in --json mode."""
    if OPTIONS.as_json or not err.is_terminal:
        return nullcontext()
    return err.status(text)


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} {item!r} is not KEY=VALUE")
        out[key] = value
    return out


# ------------------------------------------------------------------ run


def exit_status(run: Run) -> int:
    """What the program would have exited with here; 1 for verdicts that are not an exit (limits, errors)."""
    if run.status == "accepted":
        return 0
    if run.exit_signal:
        return 128 + run.exit_signal
    if run.status == "runtime_error" and run.exit_code:
        return run.exit_code
    return 1


@app.command()
def run(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The program.")],
    lang: Annotated[str, typer.Option("--lang", help="A language, or auto (from the extension).")] = "auto",
    stdin: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="A file for its stdin.")] = None,
    arg: Annotated[list[str] | None, typer.Option("--arg", help="An argument for the program; repeat.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for the result.")] = None,
) -> None:
    """Run FILE on Runyard: its output and exit status, as if it ran here."""
    language = EXTENSIONS.get(file.suffix.lower()) if lang == "auto" else lang
    if language is None:
        raise typer.BadParameter(f"cannot tell the language of {file.name}; give --lang", param_hint="--lang")
    try:
        with client() as c, progress(f"running {file.name} ({language})"):
            result = c.run(
                file.read_bytes().decode(),
                language,
                stdin=stdin.read_bytes() if stdin else None,
                args=arg,
                timeout=timeout,
            )
    except RunyardError as exc:
        raise fail(exc) from exc
    if OPTIONS.as_json:
        emit(result.model_dump(mode="json"))
        raise typer.Exit(exit_status(result))
    if result.compile_output:
        sys.stderr.write(result.compile_output)
    sys.stdout.write(result.stdout or "")
    sys.stdout.flush()
    sys.stderr.write(result.stderr or "")
    if result.status not in ("accepted", "runtime_error"):
        err.print(
            f"[yellow]{result.status.replace('_', ' ')}[/yellow]" + (f": {result.message}" if result.message else "")
        )
    raise typer.Exit(exit_status(result))


# ------------------------------------------------------------------ sandboxes


@sandbox_app.command("create")
def sandbox_create(
    template: Annotated[str | None, typer.Option(help="A template; the default agent image if omitted.")] = None,
    name: Annotated[str | None, typer.Option(help="A name, unique among your sandboxes.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE; repeat.")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="KEY=VALUE; repeat.")] = None,
) -> None:
    """Create a sandbox and print its id."""
    try:
        with client() as c, progress("creating a sandbox"):
            box = c.sandboxes.create(
                template, name=name, env=_pairs(env, "env") or None, labels=_pairs(label, "label") or None
            )
    except RunyardError as exc:
        raise fail(exc) from exc
    emit(box.info.model_dump(mode="json")) if OPTIONS.as_json else typer.echo(box.id)


@sandbox_app.command("ls")
def sandbox_ls(label: Annotated[list[str] | None, typer.Option("--label", help="KEY=VALUE filter.")] = None) -> None:
    """Your sandboxes."""
    try:
        with client() as c:
            boxes = c.sandboxes.list(_pairs(label, "label"))
    except RunyardError as exc:
        raise fail(exc) from exc
    if OPTIONS.as_json:
        emit([b.model_dump(mode="json") for b in boxes])
        return
    table = Table("id", "name", "state", "template", "labels")
    for b in boxes:
        table.add_row(b.id, b.name, b.state, b.template, ",".join(f"{k}={v}" for k, v in b.labels.items()))
    Console().print(table)


@sandbox_app.command("exec", context_settings={"allow_interspersed_args": False})
def sandbox_exec(
    sandbox: Annotated[str, typer.Argument(help="Sandbox id or name.")],
    command: Annotated[list[str], typer.Argument(help="The command and its arguments (after --).")],
    cwd: Annotated[str | None, typer.Option(help="Working directory.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds before it is stopped.")] = None,
) -> None:
    """Run a command in a sandbox: its output and exit status, as if it ran here."""
    try:
        with client() as c:
            box = c.sandboxes.get(sandbox)
            words = command[1:] if command and command[0] == "--" else command
            if not words:
                raise typer.BadParameter("give a command after the sandbox")
            argv: str | list[str] = words[0] if len(words) == 1 else words
            result = box.exec(argv, cwd=cwd, timeout=timeout)
    except RunyardError as exc:
        raise fail(exc) from exc
    if OPTIONS.as_json:
        emit(result.model_dump(mode="json"))
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
    raise typer.Exit(124 if result.timed_out else (result.exit_code or 0))


def _remote(spec: str) -> tuple[str, str] | None:
    """SANDBOX:/path -> (sandbox, path); a local path -> None."""
    head, sep, tail = spec.partition(":")
    if sep and head and not os.path.exists(spec) and "/" not in head:
        return head, tail or "/workspace"
    return None


@sandbox_app.command("cp")
def sandbox_cp(
    source: Annotated[str, typer.Argument(help="A local file, or SANDBOX:/path.")],
    destination: Annotated[str, typer.Argument(help="A local file, or SANDBOX:/path.")],
) -> None:
    """Copy a file into or out of a sandbox, byte for byte."""
    src, dst = _remote(source), _remote(destination)
    if (src is None) == (dst is None):
        raise typer.BadParameter("exactly one side must be SANDBOX:/path")
    try:
        with client() as c:
            if dst is not None:
                data = Path(source).read_bytes()
                with progress(f"uploading {len(data)} bytes"):
                    c.sandboxes.get(dst[0]).files.write(dst[1], data)
                size = len(data)
            else:
                assert src is not None
                with progress("downloading"):
                    data = c.sandboxes.get(src[0]).files.read(src[1])
                Path(destination).write_bytes(data)
                size = len(data)
    except RunyardError as exc:
        raise fail(exc) from exc
    emit({"bytes": size}) if OPTIONS.as_json else err.print(f"{size} bytes copied")


@sandbox_app.command("rm")
def sandbox_rm(sandboxes: Annotated[list[str], typer.Argument(help="Sandbox ids or names.")]) -> None:
    """Delete sandboxes (their workspaces too)."""
    try:
        with client() as c:
            for ident in sandboxes:
                c.sandboxes.get(ident).delete()
    except RunyardError as exc:
        raise fail(exc) from exc
    emit({"deleted": sandboxes}) if OPTIONS.as_json else None


# ------------------------------------------------------------------ keys and status


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to; created if new.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    admin: Annotated[bool, typer.Option(help="May manage keys.")] = False,
    requests_per_minute: Annotated[int | None, typer.Option(help="The tenant's rate limit.")] = None,
) -> None:
    """Issue a key. It is shown once; the server keeps only its hash."""
    body = {"tenant": tenant, "name": name, "admin": admin, "requests_per_minute": requests_per_minute}
    try:
        with client() as c:
            issued = c.request("POST", "/v1/admin/keys", json=body).json()
    except RunyardError as exc:
        raise fail(exc) from exc
    emit(issued) if OPTIONS.as_json else typer.echo(issued["key"])


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key, its id or its prefix.")]) -> None:
    """Revoke a key; it stops working within seconds."""
    try:
        with client() as c:
            answer = c.request("DELETE", f"/v1/admin/keys/{key}").json()
    except RunyardError as exc:
        raise fail(exc) from exc
    emit(answer) if OPTIONS.as_json else typer.echo(f"revoked {answer['revoked']} key(s)")


@app.command()
def status() -> None:
    """Queue depth, workers and their pools."""
    try:
        with client() as c:
            answer = c.status()
    except RunyardError as exc:
        raise fail(exc) from exc
    if OPTIONS.as_json:
        emit(answer)
        return
    console = Console()
    queues = Table("queue", "waiting", "running", "slots", title="queues")
    for q in answer["queues"]:
        queues.add_row(q["queue"], str(q["size"]), str(q["working"]), str(q["available"]))
    console.print(queues)
    workers = Table("worker", "host", "concurrency", "run pools (idle/target)", "sandbox pool", title="workers")
    for w in answer["workers"]:
        pools = ", ".join(f"{n}: {p.get('idle', 0)}/{p.get('target', 0)}" for n, p in (w.get("pools") or {}).items())
        boxes = w.get("sandboxes") or {}
        workers.add_row(
            str(w["name"]),
            str(w.get("host")),
            str(w.get("concurrency")),
            pools,
            f"{boxes.get('pool_idle', 0)}/{boxes.get('pool_target', 0)}",
        )
    console.print(workers)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
