"""The native /v1 API: milliseconds, bytes and status names over the same core."""

from __future__ import annotations

import base64
import io
import time
import zipfile

import httpx


def test_run_with_wait_returns_the_finished_run(client: httpx.Client) -> None:
    response = client.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print('hi')"})
    assert response.status_code == 201
    run = response.json()
    assert run["status"] == "accepted"
    assert run["stdout"] == "hi\n"
    assert run["language"]["id"] == 71
    assert run["time_ms"] > 0 and run["wall_time_ms"] > 0 and run["memory_bytes"] > 0
    assert run["limits"]["memory_bytes"] == 128_000 * 1024
    assert run["exit_code"] == 0


def test_run_by_language_id_with_args_stdin_and_compiler_options(client: httpx.Client) -> None:
    source = (
        "#include <stdio.h>\n#include <math.h>\nint main(int c, char **v) { char b[64]; fgets(b, 64, stdin);\n"
        'printf("%s|%s|%.0f|%s", v[1], v[2], sqrt(81.0), b); return 0; }'
    )
    run = client.post(
        "/v1/runs",
        params={"wait": "true"},
        json={
            "language": 50,
            "source": source,
            "args": ["one arg", "two"],
            "stdin": "in\n",
            "compiler_options": ["-O2", "-lm"],
        },
    ).json()
    assert run["status"] == "accepted", run
    assert run["stdout"] == "one arg|two|9|in\n"


def test_status_names_for_failures(client: httpx.Client) -> None:
    cases = {
        "import sys; sys.exit(4)": ("runtime_error", 4, None),
        "import os, signal; os.kill(os.getpid(), signal.SIGABRT)": ("runtime_error", None, 6),
        "x = bytearray(400 * 1024 * 1024)": ("memory_limit_exceeded", None, 9),
    }
    for source, (status, code, sig) in cases.items():
        run = client.post("/v1/runs", params={"wait": "true"}, json={"language": "python", "source": source}).json()
        assert run["status"] == status, (source, run)
        assert run["exit_code"] == code
        assert run["exit_signal"] == sig
    mle = client.post(
        "/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "x = bytearray(400 * 1024 * 1024)"}
    ).json()
    assert "Memory limit exceeded" in mle["message"]


def test_output_is_capped_and_flagged(client: httpx.Client) -> None:
    source = "import sys\nsys.stdout.write('x' * 100000)\nsys.stderr.write('e' * 10)"
    run = client.post(
        "/v1/runs",
        params={"wait": "true"},
        json={"language": "python", "source": source, "limits": {"output_bytes": 1000}},
    ).json()
    assert run["status"] == "accepted"
    assert run["stdout"] == "x" * 1000
    assert run["stdout_truncated"] is True
    assert run["stderr"] == "e" * 10
    assert run["stderr_truncated"] is False


def test_binary_output_in_base64(client: httpx.Client) -> None:
    source = "import sys\nsys.stdout.buffer.write(bytes(range(256)))"
    run = client.post(
        "/v1/runs", params={"wait": "true", "base64": "true"}, json={"language": "python", "source": source}
    ).json()
    assert run["encoding"] == "base64"
    assert base64.b64decode(run["stdout"]) == bytes(range(256))


def test_archive_and_multi_file(client: httpx.Client) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("run", "cat data/input.txt\n")
        zf.writestr("data/input.txt", "from the archive\n")
    run = client.post(
        "/v1/runs",
        params={"wait": "true"},
        json={"language": "multi-file", "archive_base64": base64.b64encode(buf.getvalue()).decode()},
    ).json()
    assert run["status"] == "accepted", run
    assert run["stdout"] == "from the archive\n"


def test_runs_repeat_and_average(client: httpx.Client) -> None:
    run = client.post(
        "/v1/runs", params={"wait": "true"}, json={"language": "python", "source": "print(1)", "limits": {"runs": 3}}
    ).json()
    assert run["status"] == "accepted"
    assert run["limits"]["runs"] == 3


def test_batch_get_list_and_delete(client: httpx.Client) -> None:
    created = client.post(
        "/v1/runs/batch", json={"runs": [{"language": "bash", "source": f"echo {i}"} for i in range(3)]}
    )
    assert created.status_code == 201
    ids = [r["id"] for r in created.json()]
    for i, run_id in enumerate(ids):
        run = client.get(f"/v1/runs/{run_id}", params={"wait": 30}).json()
        assert run["stdout"] == f"{i}\n"
    listed = client.get("/v1/runs").json()
    assert [r["id"] for r in listed["items"]] == ids[::-1]
    deleted = client.delete(f"/v1/runs/{ids[0]}")
    assert deleted.status_code == 200
    assert client.get(f"/v1/runs/{ids[0]}").status_code == 404


def test_batch_is_all_or_nothing(client: httpx.Client) -> None:
    response = client.post(
        "/v1/runs/batch", json={"runs": [{"language": "python", "source": "1"}, {"language": "nope", "source": "1"}]}
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "runs.1.language"
    assert client.get("/v1/runs").json()["total"] == 0


def test_languages_and_me(client: httpx.Client) -> None:
    languages = {lang["id"]: lang for lang in client.get("/v1/languages").json()}
    assert languages[71]["aliases"][0] == "python"
    assert languages[50]["compiled"] is True
    assert languages[89]["multi_file"] is True
    me = client.get("/v1/me").json()
    assert me["callback_secret"].startswith("whsec_")


def test_long_poll_get_wakes_on_completion(client: httpx.Client) -> None:
    """The long poll answers when the run finishes, woken by its completion, not when its 20 s run out."""
    run = client.post(
        "/v1/runs", json={"language": "python", "source": "import time; time.sleep(1); print('late')"}
    ).json()
    started = time.monotonic()
    done = client.get(f"/v1/runs/{run['id']}", params={"wait": 20}).json()
    waited = time.monotonic() - started
    assert done["status"] == "accepted"
    assert done["stdout"] == "late\n"
    # Woken, it answers within seconds of the one-second run; a poll nobody woke would take the whole 20.
    assert waited < 12, f"the long poll took {waited:.1f}s: it was not woken by the completion"
