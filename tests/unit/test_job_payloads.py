"""Every kind of job has one payload model, and a payload that does not fit it is refused before it is stored."""

from __future__ import annotations

import pytest

from core.job_payloads import PAYLOADS, PayloadMismatch, checked
from core.job_results import ExecResult, FileEntry, SessionCommand
from core.jobkinds import IDEMPOTENT, JobKind


def test_every_sandbox_kind_has_a_payload_model() -> None:
    assert set(PAYLOADS) == set(JobKind) - {JobKind.RUN}


def test_a_payload_keeps_exactly_the_keys_it_was_given() -> None:
    sent = {"session": "s", "command": "ls", "async": True, "timeout_ms": 1000}
    assert checked(JobKind.SESSION_EXEC, sent) == sent
    exec_sent = {"command": "echo", "argv": None, "cwd": None, "env": None, "timeout_ms": 5, "merge_output": False}
    assert checked(JobKind.EXEC, exec_sent) == exec_sent


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (JobKind.EXEC, {"comand": "typo", "timeout_ms": 5}),  # a misspelt field
        (JobKind.FILES_UPLOAD, {"path": "a", "mode": 420, "blob_id": "b", "size": 1}),  # no checksum
        (JobKind.SESSION_COMMAND, {"session": "s"}),  # which command?
        (JobKind.STREAM_OPEN, {"kind": "udp", "channel": "c"}),
        (JobKind.KERNEL_RESTART, {"code": "1"}),
    ],
)
def test_a_payload_that_does_not_fit_its_kind_is_refused(kind: JobKind, payload: dict[str, object]) -> None:
    with pytest.raises(PayloadMismatch, match=kind.value):
        checked(kind, payload)


def test_results_read_what_the_agent_answers() -> None:
    r = ExecResult.model_validate({"exit_code": 0, "stdout": "aGkK", "stderr": "", "wall_ms": 3.5, "new_field": 1})
    assert r.stdout_text() == "hi\n" and r.stderr_text() == "" and not r.timed_out
    command = SessionCommand.model_validate({"id": "c1", "command": "ls", "running": True, "started_at": 1.0})
    assert command.running and not command.has_logs
    entry = FileEntry.model_validate(
        {"path": "/w/a", "name": "a", "size": 1, "mode": 420, "is_dir": False, "is_symlink": False, "mtime": 1.0}
    )
    assert entry.uid is None and entry.mode == 0o644


def test_only_side_effect_free_or_converging_kinds_are_repeated() -> None:
    assert JobKind.EXEC not in IDEMPOTENT and JobKind.FILES_REPLACE not in IDEMPOTENT
    assert JobKind.FILES_UPLOAD in IDEMPOTENT and JobKind.RUN in IDEMPOTENT


def test_every_sandbox_kind_has_an_executor_on_the_worker() -> None:
    from core.settings import get_settings
    from workers.sandbox_ops import Ops

    ops = Ops(host=None, settings=get_settings(), client=None)  # type: ignore[arg-type]
    assert set(ops.table) == {kind for kind in JobKind if kind is not JobKind.RUN and not kind.on_snapshot}


def test_snapshot_kinds_go_to_the_snapshot_task() -> None:
    from core import constants as c
    from core.queue import host_task

    assert {host_task(kind) for kind in JobKind if kind.on_snapshot} == {c.TASK_SNAPSHOT_JOB}
    assert {host_task(kind) for kind in JobKind if kind.on_snapshot is False and kind is not JobKind.RUN} == {
        c.TASK_SANDBOX_JOB
    }
