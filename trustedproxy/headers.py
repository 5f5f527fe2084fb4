"""The header groups: which forwarded headers exist and what each one rewrites.

This module is pure data. Every other module loops over :data:`HEADERS`; the
README's header table is checked against it (``tests/test_readme.py``). A policy may trust at most
one header of each :class:`Group`, because two headers that say the same
thing can disagree, and then no answer is safe.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CUSTOM_KINDS",
    "HEADERS",
    "Group",
    "HeaderSpec",
    "Kind",
    "canonical_name",
    "custom_spec",
    "environ_key",
    "header_name_problem",
]


class Group(enum.Enum):
    """An equivalence group: headers that carry the same fact."""

    CLIENT = "client"
    SCHEME = "scheme"
    HOST = "host"
    SERVER = "server"
    PORT = "port"
    PREFIX = "prefix"


class Kind(enum.Enum):
    """How a header's value is parsed."""

    FOR_LIST = "for-list"  # X-Forwarded-For: a list of addresses, walked right to left
    ADDRESS = "address"  # one address, optionally with a port
    SCHEME_WORD = "scheme-word"  # http / https / ws / wss
    SCHEME_BOOL = "scheme-bool"  # on / off, true / false, 1 / 0
    HOST = "host"  # host[:port]
    SERVER = "server"  # host, no port
    PORT = "port"  # 1-65535
    PREFIX = "prefix"  # a path prefix
    FORWARDED = "forwarded"  # RFC 7239


@dataclass(frozen=True, slots=True)
class HeaderSpec:
    """One known forwarded header.

    Attributes:
        name: the canonical spelling, e.g. ``X-Forwarded-For``.
        key: the lower-case name the engine uses, e.g. ``x-forwarded-for``.
        environ_key: the CGI/WSGI key, e.g. ``HTTP_X_FORWARDED_FOR``.
        groups: the groups it belongs to (``Forwarded`` belongs to three).
        kind: how its value is parsed.
        in_mod_wsgi: whether mod_wsgi 6.1.1 knows this header.
    """

    name: str
    key: str
    environ_key: str
    groups: frozenset[Group]
    kind: Kind
    in_mod_wsgi: bool


def environ_key(name: str) -> str:
    """Return the WSGI environ key of a header name (``X-Real-IP`` → ``HTTP_X_REAL_IP``)."""
    return "HTTP_" + name.upper().replace("-", "_")


def _spec(name: str, kind: Kind, *groups: Group, mod_wsgi: bool = True) -> HeaderSpec:
    return HeaderSpec(name, name.lower(), environ_key(name), frozenset(groups), kind, mod_wsgi)


_C, _S, _H, _V, _P, _X = (Group.CLIENT, Group.SCHEME, Group.HOST, Group.SERVER, Group.PORT,
                          Group.PREFIX)

#: Every header trustedproxy knows, by lower-case name, in table order.
HEADERS: MappingProxyType[str, HeaderSpec] = MappingProxyType({
    spec.key: spec
    for spec in (
        _spec("X-Forwarded-For", Kind.FOR_LIST, _C),
        _spec("X-Real-IP", Kind.ADDRESS, _C),
        _spec("X-Client-IP", Kind.ADDRESS, _C),
        _spec("X-Forwarded-Proto", Kind.SCHEME_WORD, _S),
        _spec("X-Forwarded-Scheme", Kind.SCHEME_WORD, _S),
        _spec("X-Scheme", Kind.SCHEME_WORD, _S),
        _spec("X-Forwarded-HTTPS", Kind.SCHEME_BOOL, _S),
        _spec("X-Forwarded-SSL", Kind.SCHEME_BOOL, _S),
        _spec("X-HTTPS", Kind.SCHEME_BOOL, _S),
        _spec("Front-End-Https", Kind.SCHEME_BOOL, _S, mod_wsgi=False),
        _spec("X-Forwarded-Host", Kind.HOST, _H),
        _spec("X-Host", Kind.HOST, _H),
        _spec("X-Forwarded-Server", Kind.SERVER, _V),
        _spec("X-Forwarded-Port", Kind.PORT, _P),
        _spec("X-Forwarded-Prefix", Kind.PREFIX, _X, mod_wsgi=False),
        _spec("X-Script-Name", Kind.PREFIX, _X),
        _spec("X-Forwarded-Script-Name", Kind.PREFIX, _X),
        _spec("Forwarded", Kind.FORWARDED, _C, _S, _H, mod_wsgi=False),
    )
})

_TOKEN = re.compile(r"[A-Za-z0-9-]+")


def header_name_problem(name: object) -> str | None:
    """Say why *name* cannot be a trusted header name, or return ``None`` if it can.

    Only letters, digits and ``-`` are allowed: mod_wsgi accepts ``_`` and
    ``,`` at load time and then crashes on every request.
    """
    if not isinstance(name, str):
        return f"a header name must be a string, not {type(name).__name__}"
    if not name:
        return "a header name cannot be empty"
    if _TOKEN.fullmatch(name):
        return None
    if "," in name or " " in name:
        return "one header name per entry: write each name as its own list item"
    if "_" in name:
        return f"header names use '-', not '_' (did you mean {name.replace('_', '-')!r}?)"
    return "a header name may hold only letters, digits and '-'"


#: How a custom header registered into a group is read (``custom_headers``).
CUSTOM_KINDS: MappingProxyType[Group, Kind] = MappingProxyType({
    Group.CLIENT: Kind.ADDRESS,
    Group.SCHEME: Kind.SCHEME_WORD,
    Group.HOST: Kind.HOST,
    Group.SERVER: Kind.SERVER,
    Group.PORT: Kind.PORT,
    Group.PREFIX: Kind.PREFIX,
})


def custom_spec(name: str, group: Group) -> HeaderSpec:
    """The spec of a header an operator registers into *group* (e.g.
    ``CF-Connecting-IP`` into ``client``: one address, like X-Real-IP)."""
    return _spec(name, CUSTOM_KINDS[group], group, mod_wsgi=False)


def canonical_name(name: str) -> str | None:
    """Return the canonical spelling of a known header name, or ``None``."""
    spec = HEADERS.get(name.lower())
    return spec.name if spec else None
