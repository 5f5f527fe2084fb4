"""Well-known address ranges, as data.

:data:`NAMED_RANGES` are the ranges an operator may mean by a word; the
policy uses :data:`NOT_PUBLIC` to warn when a trusted network reaches the
public internet.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["NAMED_RANGES", "NOT_PUBLIC"]

NAMED_RANGES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
    "linklocal": ("169.254.0.0/16", "fe80::/10"),
    "cgnat": ("100.64.0.0/10",),
})

#: Ranges that are not reachable from the public internet: the named ranges, the
#: documentation ranges of RFC 5737 and RFC 3849, which examples use, and the
#: "this network" and unspecified addresses (RFC 1122, RFC 4291), never a TCP
#: peer's (uWSGI reports a Unix-socket peer as 0.0.0.0).
NOT_PUBLIC: tuple[str, ...] = (
    *(cidr for cidrs in NAMED_RANGES.values() for cidr in cidrs),
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32",
    "0.0.0.0/8", "::/128",
)
