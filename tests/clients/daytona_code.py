"""Code and processes through the `daytona` SDK only; prints JSON.

    DAYTONA_API_URL=<runyard>/daytona/api DAYTONA_API_KEY=<key> BASE_IMAGE=<image> TAG=<unique> python daytona_code.py

- `code_interpreter`: the default context and new ones (each its own variables and working directory),
  stdout and stderr streamed while a cell runs, an exception, per-cell env, a timeout; through `Daytona`
  and `AsyncDaytona`;
- `process.send_session_command_input`: a command waiting on stdin gets what is sent;
- the entrypoint session and its logs (a snapshot built from BASE_IMAGE with an entrypoint, and a sandbox
  without one).
Used by tests/integration/test_daytona_sdk.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from daytona import (
    AsyncDaytona,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    Daytona,
    DaytonaConfig,
    Image,
    SessionExecuteRequest,
)
from sdk_helpers import config_from_env, failure


def interpreter(box: Any, seen: dict[str, Any]) -> None:
    ci = box.code_interpreter
    ci.run_code("x = 41")
    seen["default_context"] = ci.run_code("print(x + 1)").stdout

    ctx = ci.create_context(cwd="/tmp")
    seen["context"] = [ctx.cwd, ctx.language, ctx.active]
    ci.run_code("import os\ny = 'in-context'", context=ctx)
    seen["isolated"] = [
        ci.run_code("print(y, os.getcwd())", context=ctx).stdout,
        ci.run_code("print('y' in globals())").stdout,
    ]
    seen["listed"] = [c.id for c in ci.list_contexts()] == [ctx.id]

    # Streamed: each line arrives while the cell still runs (it sleeps between them).
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    code = "import sys, time\nfor i in range(3):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.7)\n"
    code += "print('to stderr', file=sys.stderr)"
    result = ci.run_code(
        code,
        context=ctx,
        on_stdout=lambda m: arrivals.append((time.monotonic() - started, m.output)),
        on_stderr=lambda m: arrivals.append((time.monotonic() - started, "ERR:" + m.output)),
    )
    seen["streamed"] = [[round(t, 2), text] for t, text in arrivals]
    seen["streamed_result"] = [result.stdout, result.stderr]

    errors: list[str] = []
    raised = ci.run_code("1/0", on_error=lambda e: errors.append(e.name))
    seen["error"] = [raised.error.name if raised.error else None, raised.error.value if raised.error else None, errors]
    seen["env"] = ci.run_code("import os; print(os.environ.get('CELL_VAR'))", envs={"CELL_VAR": "set"}).stdout
    seen["env_after"] = ci.run_code("import os; print(os.environ.get('CELL_VAR'))").stdout
    seen["timeout"] = failure(lambda: ci.run_code("import time; time.sleep(30)", timeout=1))
    seen["after_timeout"] = ci.run_code("print('alive')").stdout
    ci.delete_context(ctx)
    seen["deleted"] = [ci.list_contexts(), failure(lambda: ci.run_code("1", context=ctx))]


def stdin(box: Any, seen: dict[str, Any]) -> None:
    box.process.create_session("ask")
    asked = box.process.execute_session_command(
        "ask",
        SessionExecuteRequest(
            command='read -r name; echo "hello $name"; read -r n; echo "twice $((n*2))"', run_async=True
        ),
    )
    box.process.send_session_command_input("ask", asked.cmd_id, "agent\n")
    box.process.send_session_command_input("ask", asked.cmd_id, "21\n")
    for _ in range(100):
        command = box.process.get_session_command("ask", asked.cmd_id)
        if command.exit_code is not None:
            break
        time.sleep(0.1)
    logs = box.process.get_session_command_logs("ask", asked.cmd_id)
    seen["stdin"] = [command.exit_code, logs.stdout]
    seen["stdin_after_exit"] = failure(lambda: box.process.send_session_command_input("ask", asked.cmd_id, "late\n"))


def entrypoint(daytona: Daytona, seen: dict[str, Any]) -> None:
    name = f"entry-{os.environ['TAG']}"
    start = ["/bin/sh", "-c", "echo entrypoint says hi; exec sleep infinity"]
    daytona.snapshot.create(
        CreateSnapshotParams(name=name, image=Image.base(os.environ["BASE_IMAGE"]), entrypoint=start)
    )
    box = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name))
    try:
        for _ in range(100):
            logs = box.process.get_entrypoint_logs()
            if "entrypoint says hi" in logs.stdout:
                break
            time.sleep(0.1)
        session = box.process.get_entrypoint_session()
        seen["entrypoint"] = [session.session_id, len(session.commands), logs.stdout]
    finally:
        daytona.delete(box)


async def async_interpreter(config: DaytonaConfig, sandbox_id: str) -> list[Any]:
    async with AsyncDaytona(config) as daytona:
        box = await daytona.get(sandbox_id)
        ctx = await box.code_interpreter.create_context()
        await box.code_interpreter.run_code("z = 7", context=ctx)
        chunks: list[str] = []
        result = await box.code_interpreter.run_code(
            "print(z * 6)", context=ctx, on_stdout=lambda m: chunks.append(m.output)
        )
        await box.code_interpreter.delete_context(ctx)
        return [result.stdout, chunks]


def main() -> None:
    config = config_from_env()
    daytona = Daytona(config)
    seen: dict[str, Any] = {}
    box = daytona.create(CreateSandboxFromSnapshotParams(language="python"))
    try:
        interpreter(box, seen)
        stdin(box, seen)
        none = box.process.get_entrypoint_session()
        seen["no_entrypoint"] = [none.session_id, none.commands, box.process.get_entrypoint_logs().stdout]
        seen["async"] = asyncio.run(async_interpreter(config, box.id))
    finally:
        daytona.delete(box)
    entrypoint(daytona, seen)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
