"""Wire formats: Judge0's fields and encodings, and the agent's reply."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from core.schemas import RunLimits, RunRecord
from core.statuses import RunStatus
from core.views import (
    JUDGE0_DEFAULT_FIELDS,
    InvalidFields,
    NotUtf8,
    judge0_fields,
    judge0_submission,
    judge0_time,
    run_view,
)
from workers.agent_protocol import decode_reply
from workers.runtime.base import RuntimeFailure


def record(**kw: object) -> RunRecord:
    now = datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)
    base: dict[str, object] = dict(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        protocol="judge0",
        status=RunStatus.ACCEPTED,
        language_id=71,
        created_at=now,
        enqueued_at=now,
        started_at=now,
        finished_at=now,
        updated_at=now,
        attempts=1,
        worker="w",
        error=None,
        source_code=b"print(1)",
        additional_files=None,
        stdin=b"",
        expected_output=None,
        compiler_options=None,
        command_line_arguments=None,
        redirect_stderr_to_stdout=False,
        enable_network=False,
        limits=RunLimits(
            cpu_time_ms=5000,
            cpu_extra_time_ms=1000,
            wall_time_ms=10000,
            memory_kb=128000,
            stack_kb=64000,
            max_processes=60,
            max_file_size_kb=1024,
            output_bytes=1 << 20,
            number_of_runs=1,
        ),
        callback=None,
        stdout=b"1\n",
        stderr=None,
        compile_output=None,
        stdout_truncated=False,
        stderr_truncated=False,
        exit_code=0,
        exit_signal=None,
        message=None,
        time_ms=12.3456,
        wall_time_ms=20.0,
        memory_kb=7000,
    )
    base.update(kw)
    return RunRecord(**base)  # type: ignore[arg-type]


def test_fields_parameter() -> None:
    assert judge0_fields(None) == JUDGE0_DEFAULT_FIELDS
    assert judge0_fields("stdout,status") == ("stdout", "status")
    assert "language" in judge0_fields("*")
    with pytest.raises(InvalidFields) as err:
        judge0_fields("stdout,bogus,worse")
    assert err.value.names == ["bogus", "worse"]


def test_judge0_rendering() -> None:
    out = judge0_submission(record(), "Python (3.11.2)", judge0_fields("*"), base64_encoded=False)
    assert out["status"] == {"id": 3, "description": "Accepted"}
    assert out["time"] == "0.012" and out["wall_time"] == "0.020"
    assert out["cpu_time_limit"] == "5.0"
    assert out["created_at"] == "2026-01-02T03:04:05.678Z"
    assert out["language"] == {"id": 71, "name": "Python (3.11.2)"}
    assert out["stdout"] == "1\n"
    encoded = judge0_submission(record(message="hi"), None, ("stdout", "message"), base64_encoded=True)
    assert encoded == {"stdout": base64.b64encode(b"1\n").decode(), "message": base64.b64encode(b"hi").decode()}


def test_non_utf8_output_needs_base64() -> None:
    with pytest.raises(NotUtf8):
        judge0_submission(record(stdout=b"\xff\xfe"), None, ("stdout",), base64_encoded=False)
    view = run_view(record(stdout=b"\xff"), None)
    assert view.stdout == "\ufffd"


def test_judge0_time_format() -> None:
    assert judge0_time(None) is None
    assert judge0_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"


def test_agent_reply_decoding() -> None:
    raw = json.dumps(
        {"setup_error": None, "results": [{"exit_code": 0, "stdout": base64.b64encode(b"ok").decode(), "stderr": ""}]}
    )
    reply = decode_reply(raw.encode())
    assert reply.results[0].stdout == b"ok"
    for bad in (b"", b"not json", b'{"results": [{"stdout": "%%%"}]}', b'{"results": 5}'):
        with pytest.raises(RuntimeFailure):
            decode_reply(bad)
