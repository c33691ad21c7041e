"""Network access on request: the internet yes; this host, private addresses and other containers no.

Every address used here lives on this machine: a network namespace posing as
"the internet" (203.0.113.2, a documentation address, on a veth pair), this
host's own addresses, and containers on our own Docker bridges.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from tests.integration.conftest import make_tenant
from tests.sandbox_images import BARE
from tests.services import missing
from tests.stack import Stack, running_stack

NS, HOST_IF, NS_IF = "ry-inet-test", "ry-inet0", "ry-inet1"
SANDBOX_GATEWAY = "172.31.252.1"  # scripts/sandbox-engine.sh's bridge
INTERNET = "203.0.113.2"
# http.server's HTTPServer looks its own address up in DNS before listening; a bare TCPServer does not.
SERVE = (
    "import http.server as h, socketserver as s, sys; "
    "s.TCPServer((sys.argv[1], int(sys.argv[2])), h.SimpleHTTPRequestHandler).serve_forever()"
)


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="module")
def internet() -> Iterator[str]:
    if os.geteuid() != 0:
        missing("root, to create a network namespace posing as the internet")
    with contextlib.suppress(subprocess.CalledProcessError):
        sh("ip", "netns", "del", NS)
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
    sh("ip", "link", "set", NS_IF, "netns", NS)
    sh("ip", "addr", "add", "203.0.113.1/24", "dev", HOST_IF)
    sh("ip", "link", "set", HOST_IF, "up")
    inside = [
        ["ip", "addr", "add", f"{INTERNET}/24", "dev", NS_IF],
        ["ip", "link", "set", NS_IF, "up"],
        ["ip", "link", "set", "lo", "up"],
        ["ip", "route", "add", "default", "via", "203.0.113.1"],
    ]
    for cmd in inside:
        sh("ip", "netns", "exec", NS, *cmd)
    server = subprocess.Popen(
        ["ip", "netns", "exec", NS, sys.executable, "-c", SERVE, INTERNET, "8080"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{INTERNET}:8080/", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield f"http://{INTERNET}:8080/"
    finally:
        server.kill()
        server.wait()
        with contextlib.suppress(subprocess.CalledProcessError):
            sh("ip", "netns", "del", NS)
        with contextlib.suppress(subprocess.CalledProcessError):
            sh("ip", "link", "del", HOST_IF)


@pytest.fixture(scope="module")
def host_listener() -> Iterator[int]:
    """A TCP service on every address of this host, standing in for Redis, Postgres or the API."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
def bridge_neighbours() -> Iterator[list[dict[str, str]]]:
    """Containers listening on port 8081: one on Docker's default bridge, one on the egress network itself."""
    engine = docker.from_env()
    started = []
    try:
        for network in ("bridge", "runyard-egress"):
            c = engine.containers.run(
                "runyard/runner:latest",
                ["python3", "-c", SERVE, "0.0.0.0", "8081"],
                detach=True,
                network=network,
                entrypoint=[],
                labels={"org.runyard.test": "network"},
            )
            started.append(c)
        addresses = []
        for c in started:
            c.reload()
            addresses.append(next(iter(c.attrs["NetworkSettings"]["Networks"].values())))
        yield addresses
    finally:
        for c in started:
            c.remove(force=True)
        engine.close()


@pytest.fixture(scope="module")
def net_stack(database: None) -> Iterator[Stack]:
    with running_stack(8, {"RUNYARD_ALLOW_ENABLE_NETWORK": "true"}) as s:
        yield s


@pytest.fixture(scope="module")
def api(net_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=net_stack.url, headers={"X-Auth-Token": make_tenant().key}, timeout=60) as c:
        yield c


PROBE = r"""
import socket, sys, urllib.request
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1.5).close()
        print("OPEN", target)
    except OSError:
        print("closed", target)
"""


def probe(api: httpx.Client, targets: list[str], network: bool) -> dict[str, str]:
    body: dict[str, Any] = {
        "source_code": PROBE,
        "language_id": 71,
        "command_line_arguments": " ".join(targets),
        "enable_network": network,
        "wall_time_limit": 15,
    }
    result = api.post("/submissions", params={"wait": "true", "fields": "stdout,status,stderr"}, json=body).json()
    assert result["status"]["id"] == 3, result
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in result["stdout"].splitlines()}


def test_networked_run_reaches_the_internet(api: httpx.Client, internet: str) -> None:
    code = f"import urllib.request\nprint(urllib.request.urlopen({internet!r}, timeout=5).status)"
    body = {"source_code": code, "language_id": 71, "enable_network": True}
    result = api.post("/submissions", params={"wait": "true", "fields": "stdout,stderr,status"}, json=body).json()
    assert result["status"]["id"] == 3, result
    assert result["stdout"] == "200\n"


def test_networked_run_never_reaches_this_host_or_private_neighbours(
    api: httpx.Client, internet: str, host_listener: int, bridge_neighbours: list[dict[str, str]]
) -> None:
    default_bridge, egress = bridge_neighbours
    targets = [
        f"{egress['Gateway']}:{host_listener}",  # this host, through the sandbox's own gateway
        f"{default_bridge['Gateway']}:{host_listener}",  # this host, on Docker's default bridge
        f"203.0.113.1:{host_listener}",  # this host, on its "internet-facing" address
        "172.17.0.1:6379",
        "172.17.0.1:5432",
        "172.17.0.1:2375",
        *(f"{n['IPAddress']}:8081" for n in bridge_neighbours),  # other containers, ours included
        f"{INTERNET}:8080",  # control: the internet itself is open
    ]
    seen = probe(api, targets, network=True)
    assert seen.pop(f"{INTERNET}:8080") == "OPEN"
    assert set(seen.values()) == {"closed"}, seen


def test_without_network_nothing_is_reachable(api: httpx.Client, internet: str) -> None:
    assert probe(api, [f"{INTERNET}:8080"], network=False) == {f"{INTERNET}:8080": "closed"}


def test_the_neighbours_and_the_host_are_really_listening(
    host_listener: int, bridge_neighbours: list[dict[str, str]]
) -> None:
    """The negative results above mean something only if these answer from outside the sandbox."""
    for address in (n["IPAddress"] for n in bridge_neighbours):
        for _ in range(50):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{address}:8081/", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"the neighbour at {address} does not answer from the host")
    socket.create_connection(("127.0.0.1", host_listener), timeout=1).close()


def test_networked_sandbox_reaches_the_internet_but_not_this_host(
    api: httpx.Client, internet: str, host_listener: int, bridge_neighbours: list[dict[str, str]]
) -> None:
    """Sandboxes have the network by default, as root from any image: the fence holds for them too."""
    neighbour = api.post("/v1/sandboxes", json={}).json()
    api.post(
        f"/v1/sandboxes/{neighbour['id']}/exec",
        json={"command": f"nohup python3 -c '{SERVE}' 0.0.0.0 8082 >/dev/null 2>&1 &"},
    )
    neighbour_ip = api.post(f"/v1/sandboxes/{neighbour['id']}/exec", json={"command": "hostname -I"}).json()
    neighbour_ip = neighbour_ip["stdout"].split()[0]
    created = api.post("/v1/sandboxes", json={"image": BARE})
    assert created.status_code == 201, created.text
    box = created.json()
    assert box["network"] is True
    default_bridge, egress = bridge_neighbours
    gateway = SANDBOX_GATEWAY
    targets = [
        f"{gateway}:{host_listener}",  # this host, through the sandboxes' own bridge
        f"{gateway}:22",
        f"{egress['Gateway']}:{host_listener}",
        f"{default_bridge['Gateway']}:{host_listener}",
        f"203.0.113.1:{host_listener}",
        "172.17.0.1:5432",
        "172.17.0.1:6379",
        f"{neighbour_ip}:8082",  # another sandbox
        *(f"{n['IPAddress']}:8081" for n in bridge_neighbours),
        f"{INTERNET}:8080",
    ]
    checks = " ".join(
        f"(timeout 2 bash -c '</dev/tcp/{t.replace(':', '/')}' && echo OPEN {t} || echo closed {t});" for t in targets
    )
    out = api.post(f"/v1/sandboxes/{box['id']}/exec", json={"command": "id -u; " + checks, "timeout_ms": 60000}).json()
    lines = out["stdout"].splitlines()
    assert lines[0] == "0", out  # root inside
    seen = {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in lines[1:]}
    assert seen.pop(f"{INTERNET}:8080") == "OPEN", out
    assert set(seen.values()) == {"closed"}, seen
    # The neighbour is really listening: it answers itself.
    own = api.post(
        f"/v1/sandboxes/{neighbour['id']}/exec", json={"command": "timeout 2 bash -c '</dev/tcp/127.0.0.1/8082'"}
    )
    assert own.json()["exit_code"] == 0
    offline = api.post("/v1/sandboxes", json={"image": BARE, "network": False}).json()
    cut = api.post(
        f"/v1/sandboxes/{offline['id']}/exec",
        json={"command": f"ls /sys/class/net; timeout 2 bash -c '</dev/tcp/{INTERNET}/8080'"},
    )
    assert cut.json()["exit_code"] != 0 and cut.json()["stdout"] == "lo\n"
    for sandbox in (box, offline, neighbour):
        api.delete(f"/v1/sandboxes/{sandbox['id']}")


def test_an_egress_allow_list_narrows_a_sandbox_and_only_the_agent_can_change_it(
    api: httpx.Client, internet: str, net_stack: Stack
) -> None:
    reach = f"timeout 2 bash -c '</dev/tcp/{INTERNET}/8080' && echo open || echo closed"
    narrow = api.post("/v1/sandboxes", json={"image": BARE, "egress_allow": ["203.0.113.99/32"]})
    assert narrow.status_code == 201, narrow.text
    narrow_box = narrow.json()
    assert narrow_box["egress_allow"] == ["203.0.113.99/32"]
    wide_box = api.post("/v1/sandboxes", json={"image": BARE, "egress_allow": ["203.0.113.0/24"]}).json()
    assert api.post(f"/v1/sandboxes/{wide_box['id']}/exec", json={"command": reach}).json()["stdout"] == "open\n"
    assert api.post(f"/v1/sandboxes/{narrow_box['id']}/exec", json={"command": reach}).json()["stdout"] == "closed\n"
    # Root in the sandbox has no NET_ADMIN: the bundle's own nft cannot lift the list.
    tamper = "grep CapBnd /proc/self/status; /opt/runyard/rt/bin/nft flush ruleset 2>&1; " + reach
    out = api.post(f"/v1/sandboxes/{narrow_box['id']}/exec", json={"command": tamper}).json()
    assert "Operation not permitted" in out["stdout"] and out["stdout"].endswith("closed\n"), out
    cap_bnd = int(out["stdout"].split()[1], 16)
    assert not cap_bnd >> 12 & 1  # CAP_NET_ADMIN
    # It holds across a stop and start (the agent sets it again in the new network namespace).
    api.post(f"/v1/sandboxes/{narrow_box['id']}/stop")
    api.post(f"/v1/sandboxes/{narrow_box['id']}/start")
    assert api.post(f"/v1/sandboxes/{narrow_box['id']}/exec", json={"command": reach}).json()["stdout"] == "closed\n"
    bad = api.post("/v1/sandboxes", json={"image": BARE, "egress_allow": ["not-a-network"]})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "egress_allow"
    # Daytona's networkAllowList is the same list.
    daytona = httpx.post(
        f"{net_stack.url}/daytona/api/sandbox",
        headers=api.headers,
        json={"image": BARE, "networkAllowList": "203.0.113.99/32"},
        timeout=120,
    )
    assert daytona.status_code == 200 and daytona.json()["networkAllowList"] == "203.0.113.99/32", daytona.text
    for sandbox_id in (narrow_box["id"], wide_box["id"], daytona.json()["id"]):
        api.delete(f"/v1/sandboxes/{sandbox_id}")


def test_an_operator_turns_a_tenants_sandbox_network_off(net_stack: Stack, internet: str) -> None:
    from core.db import transaction
    from core.services.keys import set_tenant_sandbox_rules
    from core.settings import get_settings

    tenant = make_tenant()
    with transaction(get_settings()) as session:
        set_tenant_sandbox_rules(session, tenant.name, network=False)
    with httpx.Client(base_url=net_stack.url, headers={"X-Auth-Token": tenant.key}, timeout=120) as own:
        box = own.post("/v1/sandboxes", json={"image": BARE}).json()
        assert box["network"] is False  # the installation's default (on) gives way to the tenant's setting
        out = own.post(f"/v1/sandboxes/{box['id']}/exec", json={"command": "ls /sys/class/net"}).json()
        assert out["stdout"] == "lo\n"
        asked = own.post("/v1/sandboxes", json={"image": BARE, "network": True})
        assert asked.status_code == 422 and asked.json()["error"]["fields"][0]["rule"] == "not_allowed"
        own.delete(f"/v1/sandboxes/{box['id']}")
