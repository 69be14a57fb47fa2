"""ip_ranges: which source ranges are open to the world, compared as networks, never as strings."""

from __future__ import annotations

import pytest

from automations.security.ip_ranges import Thresholds, classify, first_open, normalized

DEFAULT = Thresholds()


@pytest.mark.parametrize(("cidr", "world_open", "network"), [
    # prefix length 0, however it is written
    ("0.0.0.0/0", True, "0.0.0.0/0"),
    ("0.0.0.1/0", True, "0.0.0.0/0"),
    ("255.255.255.255/0", True, "0.0.0.0/0"),
    ("::/0", True, "::/0"),
    ("2001:db8::1/0", True, "::/0"),
    # halves and other public ranges broader than /8 (IPv4) or /16 (IPv6)
    ("0.0.0.0/1", True, "0.0.0.0/1"),
    ("128.0.0.0/1", True, "128.0.0.0/1"),
    ("1.2.3.4/1", True, "0.0.0.0/1"),
    ("200.0.0.0/7", True, "200.0.0.0/7"),
    ("::/1", True, "::/1"),
    ("8000::/1", True, "8000::/1"),
    ("2000::/3", True, "2000::/3"),
    ("2001::/15", True, "2000::/15"),
    # a range that holds private space but is not wholly private is open
    ("8.0.0.0/6", True, "8.0.0.0/6"),
    # at or past the threshold: a public /8 is not broader than /8
    ("11.0.0.0/8", False, "11.0.0.0/8"),
    ("203.0.113.0/24", False, "203.0.113.0/24"),
    ("198.51.100.7/32", False, "198.51.100.7/32"),
    ("2001:db8::/16", False, "2001::/16"),
    ("2001:db8:1234::/48", False, "2001:db8:1234::/48"),
    # private, CGNAT, loopback, link-local, ULA: never world-open, whatever their size
    ("10.0.0.0/8", False, "10.0.0.0/8"),
    ("10.1.2.3/8", False, "10.0.0.0/8"),
    ("172.16.0.0/12", False, "172.16.0.0/12"),
    ("192.168.0.0/16", False, "192.168.0.0/16"),
    ("100.64.0.0/10", False, "100.64.0.0/10"),
    ("127.0.0.0/8", False, "127.0.0.0/8"),
    ("169.254.0.0/16", False, "169.254.0.0/16"),
    ("fc00::/7", False, "fc00::/7"),
    ("fd12:3456::/32", False, "fd12:3456::/32"),
    ("fe80::/10", False, "fe80::/10"),
    ("::1/128", False, "::1/128"),
])
def test_a_range_is_world_open_by_its_network_not_its_text(cidr: str, world_open: bool, network: str) -> None:
    verdict = classify(cidr, DEFAULT)

    assert (verdict.world_open, verdict.network) == (world_open, network)


@pytest.mark.parametrize(("thresholds", "cidr", "world_open"), [
    (Thresholds(ipv4=16), "11.0.0.0/8", True),
    (Thresholds(ipv4=16), "10.0.0.0/8", False),  # private stays private under a stricter threshold
    (Thresholds(ipv4=16), "11.22.0.0/16", False),
    (Thresholds(ipv4=1), "0.0.0.0/1", False),  # 1: only prefix length 0 is open
    (Thresholds(ipv4=1), "0.0.0.0/0", True),
    (Thresholds(ipv6=32), "2001:db8::/16", True),
    (Thresholds(ipv6=32), "2001:db8::/32", False),
    (Thresholds(ipv6=8), "2000::/3", True),
    (Thresholds(ipv6=1), "::/1", False),
])
def test_each_family_has_its_own_threshold(thresholds: Thresholds, cidr: str, world_open: bool) -> None:
    assert classify(cidr, thresholds).world_open is world_open


def test_the_verdict_says_why() -> None:
    assert classify("0.0.0.1/0").why == "prefix length 0: every address"
    assert classify("128.0.0.0/1").why == "public range broader than /8"
    assert classify("100.64.0.0/10").why == "shared address space (RFC 6598)"
    assert classify("203.0.113.0/24").why == "public range of /24, not broader than /8"


@pytest.mark.parametrize("text", ["", "0.0.0.0", "not-a-cidr", "10.0.0.0/33", "::/129", "pl-0123456789abcdef0"])
def test_what_is_not_a_cidr_raises_and_is_left_as_it_is_when_normalized(text: str) -> None:
    with pytest.raises(ValueError):
        classify(text)
    assert normalized(text) == text


def test_normalized_clears_host_bits() -> None:
    assert normalized("1.2.3.4/1") == "0.0.0.0/1"
    assert normalized(" 2001:db8::1/0 ") == "::/0"


def test_first_open_finds_the_world_in_a_list_of_entries() -> None:
    entries = ["10.0.0.0/8", "bogus", "203.0.113.0/24", "128.0.0.0/1", "0.0.0.0/0"]

    found = first_open(entries)

    assert found is not None and found.cidr == "128.0.0.0/1"
    assert first_open(["10.0.0.0/8", "203.0.113.0/24"]) is None
