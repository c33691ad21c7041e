"""Daytona's git toolbox under /daytona/toolbox/{sandboxId}/git: the git CLI in the sandbox, as its user.

Each call is one or two exec jobs (core/git_commands.py builds them). Usernames and passwords travel
as the job's secrets, never in its stored payload, its arguments or a log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.daytona.errors import DaytonaRenderer
from api.daytona.toolbox import Toolbox, toolbox
from api.errors import route_class
from core import git_commands as g
from core.errors import BadRequest, InvalidInput
from core.job_results import ExecResult
from core.jobkinds import JobKind

router = APIRouter(
    prefix="/daytona/toolbox/{sandbox_id}/git", tags=["daytona"], route_class=route_class(DaytonaRenderer())
)
ToolboxDep = Annotated[Toolbox, Depends(toolbox)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path: str = Field(min_length=1, max_length=4096)


class Credentials(Body):
    username: str | None = Field(None, max_length=1024)
    password: str | None = Field(None, max_length=8192)

    def secrets(self) -> dict[str, str] | None:
        if self.username is None and self.password is None:
            return None
        return {g.USER_VAR: self.username or "", g.PASSWORD_VAR: self.password or ""}


async def run(tb: Toolbox, verb: str, steps: list[g.Step], secrets: dict[str, str] | None = None) -> list[str]:
    """Each step in turn; a failing one is a 400 with git's own message. The outputs, in order."""
    settings = tb.state.settings.sandboxes
    slow = verb in ("clone", "pull", "push", "fetch")
    timeout_ms = int((settings.max_exec_timeout_s if slow else settings.exec_timeout_s) * 1000)
    outputs = []
    for step in steps:
        uses = secrets if step.secret else None
        payload = {"argv": step.argv, "env": {**g.ENV, **step.env}, "timeout_ms": timeout_ms}
        r = ExecResult.model_validate(await tb.run(JobKind.EXEC, payload, timeout_ms, secrets=uses))
        stderr = r.stderr_text().strip()
        if r.exit_code == 127 and not r.stdout:
            raise BadRequest(f"git {verb}: git is not installed in this sandbox's image ({stderr[-200:]})")
        if r.timed_out:
            raise BadRequest(f"git {verb} did not finish within {timeout_ms // 1000}s")
        if r.exit_code not in step.ok_codes:
            detail = stderr or r.stdout_text().strip() or f"exit code {r.exit_code}"
            raise BadRequest(f"git {verb} failed: {detail[-2000:]}")
        outputs.append(r.stdout_text())
    return outputs


def invalid(field: str, exc: ValueError) -> InvalidInput:
    return InvalidInput.one(field, "invalid", str(exc))


# ------------------------------------------------------------------ repositories


class CloneBody(Credentials):
    url: str = Field(min_length=1, max_length=4096)
    branch: str | None = None
    commit_id: str | None = None
    depth: int | None = Field(None, ge=1)
    insecure_skip_tls: bool | None = None


@router.post("/clone")
async def clone(body: CloneBody, tb: ToolboxDep) -> None:
    secrets = body.secrets()
    steps = g.clone(
        body.url, body.path, body.branch, body.commit_id, body.depth, bool(body.insecure_skip_tls), bool(secrets)
    )
    await run(tb, "clone", steps, secrets)


class InitBody(Body):
    bare: bool | None = None
    initial_branch: str | None = None


@router.post("/init")
async def init(body: InitBody, tb: ToolboxDep) -> None:
    branch = ["--initial-branch", body.initial_branch] if body.initial_branch else []
    await run(tb, "init", [g.Step(g.git("init", *(["--bare"] if body.bare else []), *branch, "--", body.path))])


@router.get("/status")
async def status(tb: ToolboxDep, path: str = Query(min_length=1)) -> dict[str, Any]:
    (out,) = await run(tb, "status", [g.Step(g.git("-C", path, "status", "--porcelain=v2", "--branch", "-z"))])
    s = g.parse_status(out)
    files = [f.model_dump() for f in s.files]
    return {
        "currentBranch": s.current_branch,
        "fileStatus": files,
        "ahead": s.ahead,
        "behind": s.behind,
        "branchPublished": bool(s.upstream),
        "upstream": s.upstream,
        "detached": s.detached,
    }


@router.get("/history")
async def history(tb: ToolboxDep, path: str = Query(min_length=1)) -> list[dict[str, str]]:
    # A repository with no commit yet has no history, not an error.
    steps = [g.Step(g.git("-C", path, "log", f"--format={g.LOG_FORMAT}"), ok_codes=(0, 128))]
    (out,) = await run(tb, "log", steps)
    return g.parse_log(out)


# ------------------------------------------------------------------ changes


class AddBody(Body):
    files: list[str] = Field(min_length=1)


@router.post("/add")
async def add(body: AddBody, tb: ToolboxDep) -> None:
    await run(tb, "add", [g.Step(g.git("-C", body.path, "add", "--", *body.files))])


class CommitBody(Body):
    message: str = Field(min_length=1)
    author: str = Field(min_length=1)
    email: str = Field(min_length=1)
    allow_empty: bool | None = None


@router.post("/commit")
async def commit(body: CommitBody, tb: ToolboxDep) -> dict[str, str]:
    steps = g.commit(body.path, body.message, body.author, body.email, bool(body.allow_empty))
    _, head = await run(tb, "commit", steps)
    return {"hash": head.strip()}


class ResetBody(Body):
    mode: g.ResetMode | None = None
    target: str | None = None
    files: list[str] | None = None


@router.post("/reset")
async def reset(body: ResetBody, tb: ToolboxDep) -> None:
    try:
        steps = g.reset(body.path, body.mode, body.target, body.files)
    except ValueError as exc:
        raise invalid("mode", exc) from None
    await run(tb, "reset", steps)


class RestoreBody(Body):
    files: list[str] = Field(min_length=1)
    staged: bool | None = None
    worktree: bool | None = None
    source: str | None = None


@router.post("/restore")
async def restore(body: RestoreBody, tb: ToolboxDep) -> None:
    await run(tb, "restore", g.restore(body.path, body.files, body.staged, body.worktree, body.source))


# ------------------------------------------------------------------ branches


@router.get("/branches")
async def branches(tb: ToolboxDep, path: str = Query(min_length=1)) -> dict[str, Any]:
    (out,) = await run(tb, "branch", [g.Step(g.git("-C", path, "branch", "--format=%(HEAD)%(refname:short)"))])
    names, current = g.parse_branches(out)
    return {"branches": names, "current": current}


class BranchBody(Body):
    name: str = Field(min_length=1)


@router.post("/branches")
async def create_branch(body: BranchBody, tb: ToolboxDep) -> None:
    """Creates the branch and checks it out, as Daytona's toolbox does."""
    await run(tb, "branch", [g.Step(g.git("-C", body.path, "checkout", "-b", body.name))])


@router.delete("/branches")
async def delete_branch(body: BranchBody, tb: ToolboxDep) -> None:
    await run(tb, "branch", [g.Step(g.git("-C", body.path, "branch", "-D", "--", body.name))])


class CheckoutBody(Body):
    branch: str = Field(min_length=1)


@router.post("/checkout")
async def checkout(body: CheckoutBody, tb: ToolboxDep) -> None:
    await run(tb, "checkout", [g.Step(g.git("-C", body.path, "checkout", body.branch, "--"))])


# ------------------------------------------------------------------ remotes


class SyncBody(Credentials):
    remote: str | None = None
    branch: str | None = None


class PushBody(SyncBody):
    set_upstream: bool | None = None


@router.post("/pull")
async def pull(body: SyncBody, tb: ToolboxDep) -> None:
    secrets = body.secrets()
    await run(tb, "pull", g.pull(body.path, body.remote, body.branch, bool(secrets)), secrets)


@router.post("/push")
async def push(body: PushBody, tb: ToolboxDep) -> None:
    secrets = body.secrets()
    await run(tb, "push", g.push(body.path, body.remote, body.branch, bool(body.set_upstream), bool(secrets)), secrets)


@router.get("/remotes")
async def remotes(tb: ToolboxDep, path: str = Query(min_length=1)) -> dict[str, Any]:
    (out,) = await run(tb, "remote", [g.Step(g.git("-C", path, "remote", "-v"))])
    return {"remotes": [{"name": name, "url": url} for name, url in g.parse_remotes(out)]}


class RemoteBody(Body):
    name: str = Field(min_length=1)
    url: str = Field(min_length=1)
    fetch: bool | None = None
    overwrite: bool | None = None


@router.post("/remotes")
async def add_remote(body: RemoteBody, tb: ToolboxDep) -> None:
    steps = []
    if body.overwrite:  # removing one that is not there is exit code 2: fine
        steps.append(g.Step(g.git("-C", body.path, "remote", "remove", body.name), ok_codes=(0, 2)))
    steps.append(g.Step(g.git("-C", body.path, "remote", "add", "--", body.name, body.url)))
    if body.fetch:
        steps.append(g.Step(g.git("-C", body.path, "fetch", body.name)))
    await run(tb, "remote", steps)


# ------------------------------------------------------------------ config and credentials


class ConfigBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str = Field(min_length=1)
    value: str
    scope: g.Scope = g.Scope.GLOBAL
    path: str | None = None


def _scoped(scope: g.Scope, path: str | None) -> list[str]:
    try:
        return g.scoped(scope, path)
    except ValueError as exc:
        raise invalid("path", exc) from None


@router.post("/config")
async def set_config(body: ConfigBody, tb: ToolboxDep) -> None:
    await run(tb, "config", [g.Step([*_scoped(body.scope, body.path), "--", body.key, body.value])])


@router.get("/config")
async def get_config(
    tb: ToolboxDep, key: str = Query(min_length=1), scope: g.Scope = g.Scope.GLOBAL, path: str | None = None
) -> dict[str, str | None]:
    # Exit code 1: the key is not set.
    (out,) = await run(tb, "config", [g.Step([*_scoped(scope, path), "--get", key], ok_codes=(0, 1))])
    return {"value": out.rstrip("\n") if out else None}


class UserBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1)
    email: str = Field(min_length=1)
    scope: g.Scope = g.Scope.GLOBAL
    path: str | None = None


@router.post("/config/user")
async def configure_user(body: UserBody, tb: ToolboxDep) -> None:
    config = _scoped(body.scope, body.path)
    await run(tb, "config", [g.Step([*config, "user.name", body.name]), g.Step([*config, "user.email", body.email])])


class AuthenticateBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    username: str = Field(min_length=1)
    password: str = Field(min_length=1)
    host: str = "github.com"
    protocol: str = "https"


@router.post("/credentials")
async def authenticate(body: AuthenticateBody, tb: ToolboxDep) -> None:
    """Daytona's `dangerously_authenticate`: the credentials are stored in the sandbox (git's `store` helper,
    ~/.git-credentials) for every later git command there, as asked; Runyard itself still keeps none."""
    script = (
        "git config --global credential.helper store && "
        'printf "protocol=%s\\nhost=%s\\nusername=%s\\npassword=%s\\n\\n"'
        f' "$1" "$2" "${g.USER_VAR}" "${g.PASSWORD_VAR}" | git credential approve'
    )
    step = g.Step(["/bin/sh", "-c", script, "sh", body.protocol, body.host], secret=True)
    secrets = {g.USER_VAR: body.username, g.PASSWORD_VAR: body.password}
    await run(tb, "credentials", [step], secrets)
