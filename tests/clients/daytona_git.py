"""Daytona's git toolbox, through the `daytona` SDK only; prints JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> GIT_PASSWORD=<secret> python daytona_git.py

A sandbox serves a bare repository over HTTP with basic auth on its loopback (git's own http-backend
behind a few lines of WSGI), and the same sandbox's toolbox clones it with credentials, commits, pushes,
pulls and branches, as an agent working on a private repository would; then `AsyncDaytona` reads it.
Used by tests/integration/test_daytona_sdk.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, Daytona, DaytonaConfig, SessionExecuteRequest
from sdk_helpers import config_from_env, failure

SERVER = r"""
import base64, os, subprocess, sys
from wsgiref.simple_server import make_server

ROOT, USER, PASSWORD = sys.argv[1], "agent", open(sys.argv[2]).read()
EXPECTED = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
CGI = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH")


def app(environ, start):
    if environ.get("HTTP_AUTHORIZATION") != EXPECTED:
        start("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
        return [b""]
    env = {k: environ.get(k, "") for k in CGI}
    env.update(GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1", REMOTE_USER=USER, PATH=os.environ["PATH"])
    env.update(GIT_PROTOCOL=environ.get("HTTP_GIT_PROTOCOL", ""))
    env.update(HTTP_CONTENT_ENCODING=environ.get("HTTP_CONTENT_ENCODING", ""))
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
    head, _, rest = out.partition(b"\r\n\r\n")
    status, headers = "200 OK", []
    for line in head.decode().split("\r\n"):
        key, _, value = line.partition(": ")
        if key.lower() == "status":
            status = value
        elif key:
            headers.append((key, value))
    start(status, headers)
    return [rest]


make_server("127.0.0.1", 8418, app).serve_forever()
"""

SEED = """
set -e
git init -q --bare --initial-branch=main /srv/origin.git
git clone -q /srv/origin.git /tmp/seed && cd /tmp/seed
git -c user.name=seed -c user.email=seed@example.com commit -q --allow-empty -m "first"
echo v1 > shared.txt && git add shared.txt
git -c user.name=seed -c user.email=seed@example.com commit -q -m "shared file"
git push -q origin HEAD:main
"""


def main() -> None:
    password = os.environ["GIT_PASSWORD"]
    config = config_from_env()
    daytona = Daytona(config)
    seen: dict[str, Any] = {}
    box = daytona.create(CreateSandboxFromSnapshotParams(language="python"))
    try:
        assert box.process.exec(SEED).exit_code == 0, box.process.exec(SEED).result
        box.fs.upload_file(SERVER.encode(), "/srv/git_server.py")
        box.process.create_session("git-server")
        box.fs.upload_file(password.encode(), "/srv/password")  # not in a command line: the test looks for it
        serve = SessionExecuteRequest(command="python3 /srv/git_server.py /srv /srv/password", run_async=True)
        box.process.execute_session_command("git-server", serve)
        url = "http://127.0.0.1:8418/origin.git"
        listening = "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8418))\""
        for _ in range(100):
            if box.process.exec(listening).exit_code == 0:
                break
            time.sleep(0.1)

        git = box.git
        seen["wrong_password"] = failure(lambda: git.clone(url, "denied", username="agent", password="wrong"))
        git.clone(url, "repo", username="agent", password=password)
        status = git.status("repo")
        seen["cloned"] = [status.current_branch, status.branch_published, status.ahead, status.behind]
        seen["history"] = [c.message for c in box.git._api_client.get_commit_history(path="repo")]

        git.configure_user("Agent Smith", "agent@example.com")
        seen["user"] = [git.get_config("user.name"), git.get_config("user.email"), git.get_config("no.such")]
        git.set_config("core.editor", "true", scope="local", path="repo")
        seen["local_config"] = git.get_config("core.editor", scope="local", path="repo")

        git.create_branch("repo", "feature")
        box.fs.upload_file(b"new\n", "repo/added.txt")
        box.fs.upload_file(b"v2\n", "repo/shared.txt")
        files = {f.name: [_value(f.staging), _value(f.worktree)] for f in git.status("repo").file_status}
        seen["changes"] = files
        git.add("repo", ["."])
        sha = git.commit("repo", "add a file", "Agent Smith", "agent@example.com").sha
        seen["commit"] = [len(sha), box.process.exec("git -C repo log -1 --format=%an/%ae/%s").result.strip()]
        seen["empty_commit"] = failure(lambda: git.commit("repo", "nothing", "A", "a@example.com"))
        git.push("repo", username="agent", password=password, branch="feature", set_upstream=True)
        seen["pushed"] = box.process.exec("git --git-dir=/srv/origin.git log -1 --format=%s feature").result.strip()
        seen["after_push"] = git.status("repo").branch_published

        branches = git.branches("repo")
        seen["branches"] = [sorted(branches.branches), branches.current]
        git.checkout_branch("repo", "main")
        git.create_branch("repo", "doomed")
        git.checkout_branch("repo", "main")
        git.delete_branch("repo", "doomed")
        seen["after_delete"] = sorted(git.branches("repo").branches)

        # Someone else pushes to main; pull brings it in.
        box.process.exec(
            "cd /tmp/seed && echo v3 > other.txt && git add other.txt && "
            "git -c user.name=o -c user.email=o@example.com commit -qm 'from elsewhere' && git push -q origin HEAD:main"
        )
        git.pull("repo", username="agent", password=password)
        seen["pulled"] = box.fs.download_file("repo/other.txt").decode()

        box.fs.upload_file(b"scratch\n", "repo/shared.txt")
        git.restore("repo", ["shared.txt"])
        seen["restored"] = box.fs.download_file("repo/shared.txt").decode()
        git.reset("repo", mode="hard", target="HEAD~1")
        seen["reset"] = box.process.exec("git -C repo log -1 --format=%s").result.strip()

        git.remote_add("repo", "mirror", "http://127.0.0.1:8418/origin.git")
        seen["remotes"] = sorted((r.name, r.url) for r in git.remotes("repo").remotes)
        seen["remote_get"] = git.remote_get("repo", "mirror")

        git.init("fresh", initial_branch="trunk")
        seen["init"] = git.status("fresh").current_branch
        seen["not_a_repo"] = failure(lambda: git.status("/tmp"))

        # Stored in the sandbox at the user's request (dangerously_authenticate), then used without asking.
        git.dangerously_authenticate("agent", password, host="127.0.0.1:8418", protocol="http")
        git.clone(url, "stored")
        seen["stored_credentials"] = box.fs.download_file("stored/other.txt").decode()

        seen["async"] = asyncio.run(read_async(config, box.id))
    finally:
        daytona.delete(box)
    print(json.dumps(seen))


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


async def read_async(config: DaytonaConfig, sandbox_id: str) -> list[Any]:
    async with AsyncDaytona(config) as daytona:
        box = await daytona.get(sandbox_id)
        status = await box.git.status("repo")
        branches = await box.git.branches("repo")
        return [status.current_branch, sorted(branches.branches)]


if __name__ == "__main__":
    main()
