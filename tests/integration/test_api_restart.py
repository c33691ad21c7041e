"""The API is restarted (SIGTERM, as a deploy or `docker compose restart` sends) while requests wait for
their work with wait=true: each is answered at once with a clear 503 that names the accepted work, the
process exits without waiting for that work, and after the restart the work is read, finished, by its id.
Runyard's own client, waiting on a handle meanwhile, carries on across the restart by itself."""

from __future__ import annotations

import base64
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from runyard import Runyard
from sqlalchemy import select

from core.db import transaction
from core.models import Job, Sandbox
from core.settings import get_settings
from tests.integration.conftest import make_tenant
from tests.integration.helpers import eventually
from tests.stack import Stack, running_stack

SLOW = "import time; time.sleep(6); print('finished')"


@pytest.fixture(scope="module")
def restart_stack(database: None) -> Iterator[Stack]:
    with running_stack(12, workers=("worker",)) as s:
        yield s


def _jobs_of(sandbox_id: uuid.UUID) -> tuple[int, int]:
    """(runs, sandbox commands) of the sandbox's tenant."""
    with transaction(get_settings()) as session:
        tenant = select(Sandbox.tenant_id).where(Sandbox.id == sandbox_id).scalar_subquery()
        kinds = session.execute(select(Job.kind).where(Job.tenant_id == tenant)).scalars().all()
    return sum(k == "run" for k in kinds), sum(k == "sandbox.exec" for k in kinds)


def _in_background(results: dict[str, Any], name: str, call: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            results[name] = call()
        except Exception as exc:  # noqa: BLE001 - the test reads it
            results[name] = exc

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def test_api_restart_during_wait_requests(restart_stack: Stack) -> None:
    key = make_tenant().key
    url, headers = restart_stack.url, {"X-Auth-Token": key}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
        box = api.post("/v1/sandboxes", json={}).json()
        exec_path = f"/v1/sandboxes/{box['id']}/exec"
        results: dict[str, Any] = {}
        client = Runyard(url, key, max_retries=30, max_retry_wait=1)
        handle = client.submit(SLOW)
        threads = [
            _in_background(
                results,
                "judge0",
                lambda: api.post(
                    "/submissions", params={"wait": "true"}, json={"language_id": 71, "source_code": SLOW}
                ),
            ),
            _in_background(
                results,
                "native",
                lambda: api.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": SLOW}),
            ),
            _in_background(results, "exec", lambda: api.post(exec_path, json={"command": "sleep 6; echo finished"})),
            _in_background(results, "client", lambda: handle.wait(120)),
        ]
        # Every request has been accepted and is waiting: its job exists.
        eventually(lambda: _jobs_of(uuid.UUID(box["id"])) == (3, 1), timeout=30)

        restart_stack.kill("api", signal.SIGTERM)  # returns once the process has exited
        for thread in threads[:3]:
            thread.join(timeout=30)

        judge0, native, exec_reply = results["judge0"], results["native"], results["exec"]
        assert judge0.status_code == 503 and judge0.headers["retry-after"], judge0.text
        token = judge0.json()["token"]
        assert "restarting" in judge0.json()["error"]
        assert native.status_code == 503, native.text
        error = native.json()["error"]
        assert error["type"] == "interrupted" and native.headers["location"] == f"/v1/runs/{error['id']}"
        assert exec_reply.status_code == 503, exec_reply.text
        job_id = exec_reply.json()["error"]["id"]
        assert exec_reply.headers["location"] == f"/v1/jobs/{job_id}"

        restart_stack.start_api(fresh=False)
        done = eventually(
            lambda: (s := api.get(f"/submissions/{token}").json())["status"]["id"] == 3 and s, timeout=60, interval=0.5
        )
        assert done["stdout"] == "finished\n"
        run = eventually(lambda: (r := api.get(f"/v1/runs/{error['id']}").json())["status"] == "accepted" and r)
        assert run["stdout"] == "finished\n"
        job = eventually(lambda: (j := api.get(f"/v1/jobs/{job_id}").json())["state"] == "succeeded" and j)
        assert base64.b64decode(job["result"]["stdout"]) == b"finished\n"

        threads[3].join(timeout=120)
        waited = results["client"]
        assert not isinstance(waited, Exception), repr(waited)
        assert waited.status == "accepted" and waited.stdout == "finished\n"
        client.close()
        api.delete(f"/v1/sandboxes/{box['id']}")


def _jobs_with_key(key: str) -> list[uuid.UUID]:
    with transaction(get_settings()) as session:
        return list(session.execute(select(Job.id).where(Job.idempotency_key == key)).scalars())


def test_a_killed_api_costs_nothing_to_a_client_that_sends_an_idempotency_key(restart_stack: Stack) -> None:
    """SIGKILL leaves no chance to answer; the client sends its request again with the same key and gets
    the run its first request created, finished, not a second run."""
    url, idempotency = restart_stack.url, f"test-{uuid.uuid4()}"
    headers = {"X-Auth-Token": make_tenant().key, "Idempotency-Key": idempotency}
    body = {"language": "python", "source": SLOW}
    results: dict[str, Any] = {}
    first = _in_background(
        results,
        "first",
        lambda: httpx.post(f"{url}/v1/runs", params={"wait": "true"}, json=body, headers=headers, timeout=60),
    )
    [run_id] = eventually(lambda: _jobs_with_key(idempotency), timeout=30)
    restart_stack.kill("api", signal.SIGKILL)
    first.join(timeout=30)
    assert isinstance(results["first"], httpx.TransportError), results["first"]  # no answer at all

    restart_stack.start_api(fresh=False)
    again = httpx.post(f"{url}/v1/runs", params={"wait": "true"}, json=body, headers=headers, timeout=60)
    assert again.status_code == 201 and again.json()["id"] == str(run_id), again.text
    assert again.json()["status"] == "accepted" and again.json()["stdout"] == "finished\n"
    # Judge0's API honours the same key (same tenant, same kind of request): the same run's token.
    judge0 = httpx.post(f"{url}/submissions", json={"language_id": 71, "source_code": SLOW}, headers=headers)
    assert judge0.json() == {"token": str(run_id)}

    # Sent many times at once with a new key: one run, and every answer names it.
    racing = f"test-{uuid.uuid4()}"
    answers: dict[str, Any] = {}
    threads = [
        _in_background(
            answers,
            str(i),
            lambda: httpx.post(f"{url}/v1/runs", json=body, headers={**headers, "Idempotency-Key": racing}),
        )
        for i in range(6)
    ]
    for thread in threads:
        thread.join(timeout=30)
    ids = {answer.json()["id"] for answer in answers.values()}
    assert len(ids) == 1 and [uuid.UUID(i) for i in ids] == _jobs_with_key(racing), answers

    # A sandbox create sent twice under one key: one sandbox. The key names a create, not a run.
    box_key = {**headers, "Idempotency-Key": f"test-{uuid.uuid4()}"}
    boxes = [httpx.post(f"{url}/v1/sandboxes", json={}, headers=box_key, timeout=60) for _ in range(2)]
    assert boxes[0].status_code == boxes[1].status_code == 201, [b.text for b in boxes]
    assert boxes[0].json()["id"] == boxes[1].json()["id"]
    reused = httpx.post(f"{url}/v1/runs", json=body, headers=box_key)
    assert reused.status_code == 409 and "another kind of request" in reused.text, reused.text
    httpx.delete(f"{url}/v1/sandboxes/{boxes[0].json()['id']}", headers=headers, timeout=60)
    # Sent three times at once under a new key: one sandbox, and every answer names it.
    box_key = {**headers, "Idempotency-Key": f"test-{uuid.uuid4()}"}
    created: dict[str, Any] = {}
    creators = [
        _in_background(created, str(i), lambda: httpx.post(f"{url}/v1/sandboxes", json={}, headers=box_key, timeout=60))
        for i in range(3)
    ]
    for thread in creators:
        thread.join(timeout=90)
    assert {answer.status_code for answer in created.values()} == {201}, created
    [box_id] = {answer.json()["id"] for answer in created.values()}
    assert len(_jobs_with_key(box_key["Idempotency-Key"])) == 1
    httpx.delete(f"{url}/v1/sandboxes/{box_id}", headers=headers, timeout=60)

    bad = httpx.post(f"{url}/v1/runs", json=body, headers={**headers, "Idempotency-Key": "x" * 201})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "Idempotency-Key", bad.text
