"""What "open to the world" means for a source range of a security group rule. Pure: no AWS calls.

EC2 accepts a CIDR with host bits set (`1.2.3.4/1`) and stores its network (`0.0.0.0/1`), and the
world can be let in without writing `0.0.0.0/0` (two halves `0.0.0.0/1` + `128.0.0.0/1`, a wide
IPv6 range such as `2000::/3`). So ranges are compared as networks (`ipaddress`, strict=False),
never as strings.

A range is world-open when its prefix length is 0, or when it is broader than the threshold of its
family (prefix length shorter than `min_public_prefix_ipv4` / `min_public_prefix_ipv6`) and not
wholly inside one private block. A range that is partly private and partly public (`0.0.0.0/1`
holds 10.0.0.0/8) is not wholly private: open.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Defaults of the settings `min_public_prefix_ipv4` / `min_public_prefix_ipv6`.
DEFAULT_MIN_PREFIX_IPV4 = 8
DEFAULT_MIN_PREFIX_IPV6 = 16

#: Blocks that never reach the internet, with the name shown in records.
PRIVATE_IPV4: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(cidr), name) for cidr, name in (
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
    ))
PRIVATE_IPV6: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(cidr), name) for cidr, name in (
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("fc00::/7", "unique local (ULA)"),
    ))


@dataclass(frozen=True)
class Thresholds:
    """The shortest prefix length a public range may have without being world-open, per family."""

    ipv4: int = DEFAULT_MIN_PREFIX_IPV4
    ipv6: int = DEFAULT_MIN_PREFIX_IPV6

    def of(self, network: Network) -> int:
        return self.ipv4 if network.version == 4 else self.ipv6


@dataclass(frozen=True)
class Verdict:
    """What a range is: its network as EC2 stores it, whether it is world-open, and why."""

    cidr: str
    network: str
    world_open: bool
    why: str


def network(cidr: str) -> Network:
    """The network EC2 stores for a CIDR (host bits cleared); ValueError for anything that is not a CIDR."""
    text = cidr.strip()
    if "/" not in text:
        raise ValueError(f"{cidr!r} is not a CIDR (no prefix length)")
    return ipaddress.ip_network(text, strict=False)


def normalized(cidr: str) -> str:
    """The network of a CIDR as text (`1.2.3.4/1` -> `0.0.0.0/1`); the text itself if it is not a CIDR."""
    try:
        return str(network(cidr))
    except ValueError:
        return cidr


def private_block(net: Network) -> str:
    """The name of the private block that holds the whole network, or "" when none does."""
    if isinstance(net, ipaddress.IPv4Network):
        return next((name for block, name in PRIVATE_IPV4 if net.subnet_of(block)), "")
    return next((name for block, name in PRIVATE_IPV6 if net.subnet_of(block)), "")


def classify(cidr: str, thresholds: Thresholds = Thresholds()) -> Verdict:
    """Is this source range open to the world? ValueError when it is not a CIDR."""
    net = network(cidr)
    if net.prefixlen == 0:
        return Verdict(cidr, str(net), True, "prefix length 0: every address")
    private = private_block(net)
    if private:
        return Verdict(cidr, str(net), False, private)
    limit = thresholds.of(net)
    if net.prefixlen < limit:
        return Verdict(cidr, str(net), True, f"public range broader than /{limit}")
    return Verdict(cidr, str(net), False, f"public range of /{net.prefixlen}, not broader than /{limit}")


def first_open(cidrs: Iterable[str], thresholds: Thresholds = Thresholds()) -> Verdict | None:
    """The first world-open range among `cidrs` (entries that are not CIDRs are left out), or None."""
    for cidr in cidrs:
        try:
            verdict = classify(cidr, thresholds)
        except ValueError:
            continue
        if verdict.world_open:
            return verdict
    return None
