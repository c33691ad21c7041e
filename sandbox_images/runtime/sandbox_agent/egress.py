"""A networked sandbox's egress allow-list: a firewall in the sandbox's own network namespace.

The fence outside (scripts/sandbox-engine.sh) already keeps every sandbox from this host and from private
addresses; this narrows a sandbox further to the networks its creator listed, plus DNS to its resolvers.
The agent alone may change it: it holds NET_ADMIN, which every program it starts loses (spawn drops it
from the bounding set), and a program cannot trace the agent to borrow it. nft is the bundle's own.
"""

from __future__ import annotations

import ipaddress
import subprocess

from .protocol import OpError

NFT = "/opt/runyard/rt/bin/nft"
TABLE = "runyard_egress"


def _resolvers() -> list[str]:
    try:
        with open("/etc/resolv.conf", encoding="utf-8", errors="replace") as f:
            words = [line.split() for line in f]
    except OSError:
        return []
    found = []
    for w in words:
        if len(w) >= 2 and w[0] == "nameserver":
            try:
                found.append(str(ipaddress.ip_address(w[1].split("%")[0])))
            except ValueError:
                continue
    return found


def ruleset(allow: list[str]) -> str:
    """The nft script: drop the table (made first, so the drop never fails), then make it again."""
    lines = [f"table inet {TABLE}", f"delete table inet {TABLE}"]
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in allow]
    rules = ['oifname "lo" accept', "ct state established,related accept"]
    for family, version in (("ip", 4), ("ip6", 6)):
        own = [str(n) for n in networks if n.version == version]
        if own:
            rules.append(f"{family} daddr {{ {', '.join(own)} }} accept")
    for resolver in _resolvers():
        family = "ip6" if ":" in resolver else "ip"
        rules.append(f"{family} daddr {resolver} udp dport 53 accept")
        rules.append(f"{family} daddr {resolver} tcp dport 53 accept")
    lines += [
        f"table inet {TABLE} {{",
        "  chain out {",
        "    type filter hook output priority 0; policy drop;",
        *(f"    {rule}" for rule in rules),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def apply(allow: list[str] | None) -> None:
    """Set the allow-list; None leaves the whole fenced internet (a container's network namespace starts with
    no rules, and configure runs once per start). Fails closed: an error fails the configure."""
    if allow is None:
        return
    try:
        done = subprocess.run([NFT, "-f", "-"], input=ruleset(allow).encode(), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpError("egress", f"could not set the egress allow-list: {exc}") from exc
    if done.returncode != 0:
        raise OpError("egress", f"could not set the egress allow-list: {done.stderr.decode(errors='replace')[-500:]}")


def clear() -> None:
    """No allow-list: the table goes (made first, so the delete never fails)."""
    script = f"table inet {TABLE}\ndelete table inet {TABLE}\n"
    try:
        done = subprocess.run([NFT, "-f", "-"], input=script.encode(), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpError("egress", f"could not lift the egress allow-list: {exc}") from exc
    if done.returncode != 0:
        raise OpError("egress", f"could not lift the egress allow-list: {done.stderr.decode(errors='replace')[-500:]}")
