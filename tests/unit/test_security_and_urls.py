"""Keys, signatures and the callback URL policy."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.security import hash_key, new_api_key, sign, verify
from core.urlguard import Policy, UnsafeURL, is_public


def test_keys_are_random_and_hashed() -> None:
    a, b = new_api_key(), new_api_key()
    assert a != b and a.startswith("ry_") and len(a) > 40
    assert hash_key(a) != a and len(hash_key(a)) == 64


def test_signature_round_trip_and_tamper() -> None:
    header = sign("whsec_x", b'{"a":1}', timestamp=1_700_000_000)
    assert verify("whsec_x", b'{"a":1}', header, now=1_700_000_010)
    assert not verify("whsec_x", b'{"a":2}', header, now=1_700_000_010)
    assert not verify("whsec_y", b'{"a":1}', header, now=1_700_000_010)
    assert not verify("whsec_x", b'{"a":1}', header, now=1_700_009_999)  # too old: a replay
    assert not verify("whsec_x", b'{"a":1}', "garbage")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://224.0.0.1/",
    ],
)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        Policy([]).check(url)


@pytest.mark.parametrize("url", ["gopher://x/", "http:///nohost", "http://u:p@example.com/", "http://[::1"])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        Policy([]).check(url, resolve=False)


def test_public_literal_is_allowed_without_dns() -> None:
    target = Policy([]).check("https://93.184.216.34:8443/hook")
    assert target.addresses == ("93.184.216.34",) and target.port == 8443 and target.scheme == "https"


def test_allow_list_by_name_and_by_network() -> None:
    assert Policy(["localhost"]).check("http://localhost:9/x").addresses
    assert Policy(["10.0.0.0/8"]).check("http://10.2.3.4/x").addresses == ("10.2.3.4",)
    with pytest.raises(UnsafeURL):
        Policy(["10.0.0.0/8"]).check("http://192.168.0.1/x")


@given(st.ip_addresses())
def test_is_public_never_admits_a_non_global_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if is_public(ip):
        inner = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        assert inner.is_global and not inner.is_private and not inner.is_loopback and not inner.is_link_local
