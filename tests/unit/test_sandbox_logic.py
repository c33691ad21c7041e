"""Pure parts of persistent sandboxes: the agent link's framing, templates, NUL refusal, retry policy."""

from __future__ import annotations

import importlib
import json
import os
import queue
import struct
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.job_machine import max_attempts, sandbox_lease_s
from core.services.operations import refuse_nul
from core.services.sandbox_validation import resolve_template
from core.settings import Settings
from workers.agent_link import MAGIC, REQUEST_MAGIC, AgentError, AgentLink
from workers.runtime.base import RuntimeFailure


class FakeStream:
    """An attach stream whose 'agent' answers each request with a scripted reply, sent in odd-sized pieces."""

    def __init__(self, preamble: bytes = b"", piece: int = 3) -> None:
        self.incoming: queue.Queue[bytes | None] = queue.Queue()
        self.piece = piece
        if preamble:
            self.incoming.put(preamble)

    def send(self, data: bytes) -> None:
        assert data.startswith(REQUEST_MAGIC)
        request = json.loads(data[len(REQUEST_MAGIC) + 4 :])
        if request["op"] == "fail":
            reply = {"id": request["id"], "ok": False, "error": {"kind": "not_found", "message": "gone", "path": "/x"}}
        else:
            reply = {"id": request["id"], "ok": True, "result": {"echo": request.get("value")}}
        body = json.dumps(reply).encode()
        frame = MAGIC + struct.pack(">I", len(body)) + body
        for i in range(0, len(frame), self.piece):
            self.incoming.put(frame[i : i + self.piece])

    def receive(self, timeout_s: float | None) -> bytes:
        data = self.incoming.get(timeout=timeout_s)
        if data is None:
            raise RuntimeFailure("the stream ended")
        return data

    def close(self) -> None:
        self.incoming.put(None)


def test_replies_find_their_requests_even_after_a_torn_earlier_reply() -> None:
    # A worker that attached mid-reply first sees the tail of someone else's frame.
    torn = b'true, "result": {"x": 1}}' + MAGIC[:2]
    link = AgentLink(FakeStream(preamble=torn))
    try:
        assert link.call("echo", value=1) == {"echo": 1}
        with pytest.raises(AgentError) as err:
            link.call("fail")
        assert (err.value.kind, err.value.path) == ("not_found", "/x")
    finally:
        link.close()


def test_concurrent_calls_each_get_their_own_reply() -> None:
    link = AgentLink(FakeStream(piece=7))
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = link.call("echo", value=i)["echo"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    link.close()
    assert results == {i: i for i in range(20)}


def test_a_closed_stream_fails_pending_and_later_calls() -> None:
    stream = FakeStream()
    link = AgentLink(stream)
    stream.close()
    link._reader.join(timeout=5)
    assert not link.alive
    with pytest.raises(RuntimeFailure):
        link.call("echo", value=1, timeout_s=1)


def test_templates_and_aliases() -> None:
    settings = Settings()
    assert resolve_template(settings, None) == ("agent", "runyard/agent:latest")
    assert resolve_template(settings, "substratusai/sandboxai-box:v0.2.0")[0] == "agent"
    # Any other name is an image, if it is a well-formed reference and the allow-list admits it.
    assert resolve_template(settings, "kortix/suna:0.1.3.30") == ("kortix/suna:0.1.3.30", "kortix/suna:0.1.3.30")
    assert resolve_template(settings, "ghcr.io/org/img@sha256:" + "a" * 64)[1].startswith("ghcr.io/")
    with pytest.raises(InvalidInput) as err:
        resolve_template(settings, "Not An Image")
    assert err.value.errors[0].field == "template" and "(agent, desktop, default" in err.value.errors[0].message
    narrow = settings.model_copy(
        update={"sandboxes": settings.sandboxes.model_copy(update={"allowed_images": ["docker.io/library/*"]})}
    )
    with pytest.raises(InvalidInput) as err:
        resolve_template(narrow, "kortix/suna:0.1.3.30", "image")
    assert (err.value.errors[0].field, err.value.errors[0].rule) == ("image", "not_allowed")
    assert resolve_template(narrow, "docker.io/library/debian:12")[1] == "docker.io/library/debian:12"
    assert resolve_template(narrow, "agent")[1] == "runyard/agent:latest"  # templates are always allowed


@given(st.recursive(st.text(max_size=5), lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=3), inner)))
def test_nul_is_refused_anywhere_in_a_payload(value: object) -> None:
    def has_nul(v: object) -> bool:
        if isinstance(v, str):
            return "\x00" in v
        if isinstance(v, list):
            return any(has_nul(i) for i in v)
        if isinstance(v, dict):
            return any(has_nul(k) or has_nul(i) for k, i in v.items())
        return False

    if has_nul(value):
        with pytest.raises(InvalidInput):
            refuse_nul(value, "payload")
    else:
        refuse_nul(value, "payload")


def test_side_effects_run_at_most_once_reads_lifecycle_and_whole_file_writes_are_retried() -> None:
    settings = Settings()
    assert max_attempts("sandbox.exec", settings) == 1
    assert max_attempts("sandbox.files.replace", settings) == 1
    assert max_attempts("sandbox.kernel.run", settings) == 1
    assert max_attempts("sandbox.files.upload", settings) == settings.queue.max_attempts
    assert max_attempts("sandbox.create", settings) == settings.queue.max_attempts
    assert max_attempts("sandbox.files.download", settings) == settings.queue.max_attempts
    assert sandbox_lease_s(10_000, settings) == 10 + settings.worker.exec_margin_s + settings.queue.lease_margin_s


def _load_sandbox_agent(*names: str) -> list[ModuleType]:
    """Modules of the sandbox agent's package, from the sources its zipapp is built of (see its Dockerfile)."""
    images = Path(__file__).resolve().parents[2] / "sandbox_images"
    # The zipapp's root holds the package and the launcher module it shares with the run agent.
    for folder in (images / "runtime", images / "base"):
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    return [importlib.import_module(f"sandbox_agent.{name}") for name in names]


agent_paths, agent_protocol, agent_sessions, agent_config, agent_egress = _load_sandbox_agent(
    "paths", "protocol", "sessions", "config", "egress"
)


def test_the_egress_allow_list_is_one_nft_table_that_drops_everything_else() -> None:
    script = agent_egress.ruleset(["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"])
    lines = script.splitlines()
    # made, then deleted (so the delete never fails), then made again: applying twice converges
    assert lines[:2] == ["table inet runyard_egress", "delete table inet runyard_egress"]
    rule = "\n".join(lines[2:])
    assert "type filter hook output priority 0; policy drop;" in rule
    assert 'oifname "lo" accept' in rule and "ct state established,related accept" in rule
    assert "ip daddr { 203.0.113.0/24, 198.51.100.7/32 } accept" in rule
    assert "ip6 daddr { 2001:db8::/32 } accept" in rule
    assert "udp dport 53 accept" in rule or "nameserver" not in Path("/etc/resolv.conf").read_text()
    assert agent_egress.apply(None) is None  # nothing to do: no nft run at all


def test_the_images_user_is_read_from_its_own_passwd_and_group(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n# a comment\nalice:x:1000:1000::/home/alice:/usr/sbin/nologin\n"
    )
    (tmp_path / "group").write_text("root:x:0:\nstaff:x:50:alice\n")
    resolve = agent_config.resolve_user
    assert resolve("", str(tmp_path))[:4] == (0, 0, "root", "/root")  # no USER: root
    assert resolve("alice", str(tmp_path))[:4] == (1000, 1000, "alice", "/home/alice")
    assert resolve("alice:staff", str(tmp_path))[1] == 50 and resolve("1000:50", str(tmp_path))[1] == 50
    assert resolve("4242", str(tmp_path))[:4] == (4242, 4242, "4242", "/")  # a bare uid the image does not name
    assert resolve("alice", str(tmp_path))[4] in ("/bin/bash", "/bin/sh")  # nologin is no shell to run commands in
    with pytest.raises(ValueError, match="bob"):
        resolve("bob", str(tmp_path))
    with pytest.raises(ValueError, match="wheel"):
        resolve("alice:wheel", str(tmp_path))


@given(st.text(alphabet="ab./\\ ", max_size=30))
def test_agent_paths_are_absolute_and_normalised(path: str) -> None:
    resolved = agent_paths.resolve(path)
    assert resolved.startswith("/") and "/../" not in resolved + "/" and "//" not in resolved
    if not path.startswith("/") and ".." not in path:
        assert resolved == "/workspace" or resolved.startswith("/workspace/")


def test_agent_refuses_nul_in_paths() -> None:
    with pytest.raises(agent_protocol.OpError):
        agent_paths.resolve("a\x00b")


@given(st.lists(st.binary(max_size=50), max_size=30), st.integers(min_value=1, max_value=100))
def test_session_logs_keep_the_newest_bytes(chunks: list[bytes], limit: int) -> None:
    log = agent_sessions.RingLog(limit)
    for chunk in chunks:
        log.add(chunk)
    everything = b"".join(chunks)
    assert bytes(log.buf) == everything[-limit:] if everything else bytes(log.buf) == b""
    assert log.dropped == max(0, len(everything) - limit)


def _request(body: dict[str, object]) -> bytes:
    raw = json.dumps(body).encode()
    return agent_protocol.REQUEST_MAGIC + struct.pack(">I", len(raw)) + raw


def test_worker_and_agent_agree_on_the_request_marker() -> None:
    assert agent_protocol.REQUEST_MAGIC == REQUEST_MAGIC


def _read_all(stream: bytes) -> list[dict[str, object]]:
    read_fd, write_fd = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write_fd, stream), os.close(write_fd)))
    writer.start()
    reader = agent_protocol.RequestReader(read_fd)
    got = []
    while (request := reader.next()) is not None:
        got.append(request)
    writer.join()
    os.close(read_fd)
    return got


def _torn_then_whole(wanted: list[dict[str, object]], cuts: list[int]) -> bytes:
    """Each request sent whole, the first ones each after a torn copy (its sender died after `cut` bytes)."""
    stream = b""
    for i, body in enumerate(wanted):
        whole = _request(body)
        if i < len(cuts):
            stream += whole[: min(cuts[i], len(whole) - 1)]
        stream += whole
    return stream


def test_the_agent_drops_a_request_torn_at_any_byte() -> None:
    wanted: list[dict[str, object]] = [{"id": "a", "op": "ping"}, {"id": "b"}]
    for cut in range(len(_request(wanted[0]))):
        assert _read_all(_torn_then_whole(wanted, [cut])) == wanted, cut


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=4), st.integers(min_value=1, max_value=300_000))
def test_the_agent_drops_requests_a_dead_worker_left_half_sent(cuts: list[int], big: int) -> None:
    """Whatever prefix of a request a worker sent before dying, the next whole request is read intact."""
    wanted = [{"id": "a", "op": "ping"}, {"id": "b", "op": "file.write_chunk", "data": "x" * big}, {"id": "c"}]
    assert _read_all(_torn_then_whole(wanted, cuts)) == wanted


def test_a_snapshots_own_entrypoint_is_what_its_sandboxes_start() -> None:
    from core.services.dockerfiles import entrypoint_command

    assert entrypoint_command("FROM debian:12\nRUN echo\n") is None
    exec_form = 'FROM debian:12\nENTRYPOINT ["/bin/sh", "-c", "echo hi; sleep infinity"]\n'
    assert entrypoint_command(exec_form) == "/bin/sh -c 'echo hi; sleep infinity'"
    assert entrypoint_command("FROM x\nentrypoint supervisord -n\n") == "/bin/sh -c 'supervisord -n'"
    assert entrypoint_command('FROM x\nENTRYPOINT ["a"]\nENTRYPOINT ["b", "c d"]\n') == "b 'c d'"
    assert entrypoint_command("FROM x\nENTRYPOINT []\n") is None
