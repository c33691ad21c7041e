"""Callback URLs may not reach private networks (SSRF), unless the operator allow-lists them.

Checked twice: when a run is submitted, and again at delivery time against the
addresses the name resolves to then, so DNS rebinding cannot slip through;
delivery then connects to the checked address itself.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def parse(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("must be an http or https URL")
    if not parts.hostname:
        raise UnsafeURL("must name a host")
    if parts.username or parts.password:
        raise UnsafeURL("must not carry credentials")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _as_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class Policy:
    def __init__(self, allow: list[str]) -> None:
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry)

    def allows(self, host: str, ip: IPAddress) -> bool:
        if is_public(ip) or host.lower() in self.hosts:
            return True
        return any(ip in net for net in self.networks if net.version == ip.version)

    def check(self, url: str, resolve: bool = True) -> Target:
        """Return where the URL may be delivered, or raise UnsafeURL saying why not."""
        scheme, host, port = parse(url)
        literal = _as_ip(host)
        if literal is not None:
            addresses = [literal]
        elif not resolve:
            return Target(scheme, host, port, ())
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise UnsafeURL(f"host {host!r} does not resolve") from exc
            addresses = [ip for ip in (_as_ip(str(info[4][0]).split("%")[0]) for info in infos) if ip is not None]
        allowed = [str(ip) for ip in addresses if self.allows(host, ip)]
        if not allowed or len(allowed) != len(addresses):
            raise UnsafeURL(
                f"points at a loopback, private or link-local address ({host}); "
                "ask the operator to allow-list it in RUNYARD_CALLBACKS__ALLOW_HOSTS"
            )
        return Target(scheme, host, port, tuple(dict.fromkeys(allowed)))
