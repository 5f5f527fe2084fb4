"""A strict, bounded-time parser for the RFC 7239 ``Forwarded`` header.

Facts from RFC 7239 (§4, §6) and RFC 7230 (§3.2.6, §7) that shape this module:

- ``Forwarded = 1#forwarded-element``: a comma-separated list; empty list
  elements (``a, , b``) are ignored, and optional white space (space, tab) may
  stand around each ``,``.
- ``forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )`` and
  ``forwarded-pair = token "=" value`` with ``value = token / quoted-string``.
  There is no white space around ``=``. We also tolerate it around ``;``.
- Parameter names are case-insensitive; each parameter may occur at most once
  per element. Values keep their case.
- A ``quoted-string`` may hold ``,`` ``;`` and ``=``: they do not split there.
  Inside it, ``\\x`` stands for ``x`` (a ``quoted-pair``). IPv6 addresses and
  ports always need quoting (``:``, ``[`` and ``]`` are not token characters).
- ``for=`` / ``by=`` nodes: ``node = nodename [ ":" node-port ]`` where
  ``nodename`` is an IPv4 address, ``"[" IPv6 "]"``, ``unknown`` or an
  obfuscated ``_name``, and ``node-port`` is ``1*5DIGIT`` or an obfuscated
  ``_port``.

What this means for security: a client writes the left part of the header and
the proxies append to it. The value is therefore read from the right, one
element at a time: how an element reads never depends on anything left of it,
so nothing a client writes (an unclosed quote, a stray backslash, a quoted
comma) can change how a trusted proxy's well-formed element reads, even when
the proxies quote their values (``for="[2001:db8::1]:4711"``). An element is
either entirely valid or :class:`Invalid` (with the reason); there is no partial
reading of a malformed element, so ``user="bad,for=_x"`` never yields a ``for``
parameter. Where the quoting is broken (a quoted string that is not closed,
read from the right), reading stops and everything left of that point is one
:class:`Invalid`: a walk from the right stops there anyway.

Cost: bounded by the elements read, not by the length of the input. At most
:data:`MAX_ELEMENTS` elements (the caller may ask for fewer) of at most
:data:`MAX_ELEMENT_LENGTH` characters are read, with at most :data:`MAX_GAP`
separators between them in all; the scans are ``str.rfind`` calls and regular
expressions that are possessive or free of nested repetition. A megabyte of
input costs about what a few normal elements cost.

This module is pure: it imports no adapter and keeps no state.

Typical use by the engine's right-to-left walk::

    elements = parse_forwarded(raw_value)          # tuple of Element | Invalid
    for element in reversed(elements):
        node = element_node(element)               # Node: kind, key, address, reason
        if node.kind is not NodeKind.ADDRESS:
            ...                                    # invalid for the walk: stop
        elif engine.address_is_trusted(node.key):
            ...                                    # a trusted hop: go on
        else:
            ...                                    # the client; proto/host from element
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .addresses import key_to_text, parse_ip

__all__ = [
    "MAX_ELEMENTS",
    "MAX_ELEMENT_LENGTH",
    "MAX_GAP",
    "SEPARATORS",
    "Element",
    "Invalid",
    "Node",
    "NodeKind",
    "element_node",
    "format_element",
    "format_forwarded",
    "node_address",
    "parse_forwarded",
    "parse_node",
    "quote_value",
    "skip_separators",
]

#: At most this many elements of one ``Forwarded`` value are read, the
#: rightmost ones. With more, one :class:`Invalid` (reason ``"more than 64
#: elements: the rest were not read"``) stands for all those left of them, so
#: that a walk from the right stops there.
MAX_ELEMENTS = 64

#: An element longer than this (in characters) is not read, and reading stops
#: there: a real element (a node, a host, a scheme) is far shorter.
MAX_ELEMENT_LENGTH = 1024

#: Commas and spaces (the empty elements of a list) skipped, at most, between
#: the elements read, all gaps together: more stop the reading. Far more than
#: proxies write, and skipped by string scans, not character by character.
MAX_GAP = 4096

_SHOWN_REST = 200

#: A valid element: lower-case parameter name → value (unquoted, case kept),
#: read-only, in the order the parameters were written.
Element = MappingProxyType[str, str]


@dataclass(frozen=True, slots=True)
class Invalid:
    """An element that does not follow RFC 7239, or stands for skipped ones.

    Attributes:
        text: the element as written (white space at its ends removed).
        reason: why it is invalid, e.g. ``"duplicate parameter 'for'"``.
        unread: it stands for what was left unread, past the reading's bounds
            (*max_elements*, :data:`MAX_GAP`), not for a malformed element.
    """

    text: str
    reason: str
    unread: bool = False


# RFC 7230 §3.2.6: tchar and token.
_TCHARS = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(f"[{_TCHARS}]++")
# A quoted string for splitting purposes: any character may be escaped; what
# may stand inside is checked afterwards, on the element alone.
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*+"', re.S)
# The inside of a valid quoted-string: qdtext / quoted-pair (RFC 7230 §3.2.6).
_QUOTED_INSIDE = re.compile(
    r'(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*+')
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_SIMPLE_PAIR = re.compile(f"([{_TCHARS}]++)=([{_TCHARS}]++)")
_OWS = " \t"
#: What separates the elements of a list (an empty element is a run of them):
#: commas, and the optional white space around them. X-Forwarded-For too.
SEPARATORS = " \t,"


def parse_forwarded(value: str, *, max_elements: int = MAX_ELEMENTS
                    ) -> tuple[Element | Invalid, ...]:
    """Parse a ``Forwarded`` header value into its elements.

    The value is read from the right, the end the nearest proxy wrote, so
    that nothing a client writes to the left can change how a trusted proxy's
    element reads. Reading stops at :data:`MAX_ELEMENTS` (or *max_elements*)
    elements, at an element longer than :data:`MAX_ELEMENT_LENGTH`, at more
    than :data:`MAX_GAP` commas and spaces between the elements, and where the
    quoting is broken (a quoted string that is not closed): whatever stands
    left of that point is one :class:`Invalid` item, first in the result.
    The cost therefore depends on the elements read, not on the length of
    *value*.

    Several ``Forwarded`` header fields are one list: join them with ``", "``
    in the order received before calling this.

    Args:
        value: the header value as received (a ``str``; WSGI and ASGI servers
            decode header bytes as latin-1).
        max_elements: read at most this many elements, the rightmost ones.

    Returns:
        The elements left to right, one item per non-empty element: an
        :data:`Element` (a read-only mapping of lower-case parameter name to
        unquoted value) or an :class:`Invalid`. Never raises for any string.
    """
    found: list[Element | Invalid] = []  # right to left
    end, gaps = len(value), MAX_GAP
    while True:
        # Skip the separators (commas and OWS) before the next element.
        stop = skip_separators(value, end, gaps)
        if stop < 0:
            found.append(_rest(value, end - gaps, f"more than {MAX_GAP} commas and spaces "
                                                  "between the elements", unread=True))
            return tuple(reversed(found))
        gaps -= end - stop
        end = stop
        if end == 0:
            return tuple(reversed(found))
        if len(found) >= max_elements:
            found.append(_rest(value, end, f"more than {max_elements} elements: the rest "
                                           "were not read", unread=True))
            return tuple(reversed(found))
        start, problem = _element_start(value, end)
        if problem:
            found.append(_rest(value, end, problem))
            return tuple(reversed(found))
        found.append(_parse_element(value[start:end].lstrip(_OWS)))
        end = max(start - 1, 0)  # the comma that ends the next element is not a gap's


def skip_separators(value: str, end: int, limit: int) -> int:
    """Where the run of commas, spaces and tabs that ends at *end* in *value*
    starts (0 at the start of *value*), or -1 when it is longer than *limit*.

    Reads at most about twice the run, in slices that ``str.rstrip`` scans,
    so a long run of empty list elements costs little and never more than
    *limit* allows.
    """
    floor = max(0, end - limit)
    size = 32
    while end > floor:
        start = max(floor, end - size)
        kept = len(value[start:end].rstrip(SEPARATORS))
        if kept:
            return start + kept
        end = start
        size *= 2
    if end > 0 and value[end - 1] in SEPARATORS:
        return -1
    return end


def _rest(value: str, end: int, reason: str, *, unread: bool = False) -> Invalid:
    """One Invalid for everything left of *end* (its text shortened when long)."""
    # Only a window is stripped and kept: the rest may be a megabyte long.
    window = value[max(0, end - 2 * _SHOWN_REST):end].strip(SEPARATORS)
    if len(window) > _SHOWN_REST or end > 2 * _SHOWN_REST:
        window = "..." + window[-_SHOWN_REST:]
    return Invalid(window, reason, unread)


def _escaped(value: str, quote: int, floor: int) -> bool | None:
    """Whether the quote at *quote* follows an odd run of backslashes; ``None``
    when the run reaches *floor* > 0 (the element is too long to tell)."""
    i = quote - 1
    while i >= floor and value[i] == "\\":
        i -= 1
    if i < floor and floor > 0:
        return None
    return (quote - 1 - i) % 2 == 1


def _element_start(value: str, end: int) -> tuple[int, str]:
    """Find where the element ending at *end* starts, reading leftwards.

    A comma ends the search unless it stands inside a quoted string. Read from
    the right, a quoted string ends at a quote that no odd run of backslashes
    escapes, and starts at the nearest such quote to its left: the same
    strings a left-to-right reading finds in a well-formed element.

    Returns ``(start, "")`` or ``(-1, problem)``. Each character between
    *start* and *end* is looked at a bounded number of times, and never more
    than :data:`MAX_ELEMENT_LENGTH` characters are read.
    """
    floor = max(0, end - MAX_ELEMENT_LENGTH)
    too_long = f"an element longer than {MAX_ELEMENT_LENGTH} characters"
    pos = end
    while True:
        comma = value.rfind(",", floor, pos)
        quote = value.rfind('"', floor, pos)
        if quote < comma:  # also when there is no quote
            return comma + 1, ""
        if quote < 0:  # neither: the element starts at the beginning, or too far
            return (0, "") if floor == 0 else (-1, too_long)
        escaped = _escaped(value, quote, floor)
        if escaped is None:
            return -1, too_long
        if escaped:
            return -1, "a quote that neither opens nor closes a quoted string"
        opener = quote
        while True:
            opener = value.rfind('"', floor, opener)
            if opener < 0:
                return -1, too_long if floor > 0 else "a quoted string is not closed"
            escaped = _escaped(value, opener, floor)
            if escaped is None:
                return -1, too_long
            if not escaped:
                break
        pos = opener


def _parse_element(text: str) -> Element | Invalid:
    """Parse one element (no comma outside its quoted strings)."""
    simple = _SIMPLE_PAIR.fullmatch(text)
    if simple:  # the usual element, "for=192.0.2.1": one token pair
        return MappingProxyType({simple[1].lower(): simple[2]})
    params: dict[str, str] = {}
    for pair in _split_pairs(text):
        pair = pair.strip(_OWS)
        if not pair:
            continue  # "[ forwarded-pair ]": empty pairs are allowed
        name, eq, raw = pair.partition("=")
        if not eq:
            return Invalid(text, f"parameter {_show(pair)} has no '=value'")
        if not _TOKEN.fullmatch(name):
            if name != name.rstrip(_OWS):
                return Invalid(text, "white space before '=' is not allowed")
            return Invalid(text, f"invalid parameter name {_show(name)}")
        value = _value(raw)
        if value is None:
            if raw != raw.lstrip(_OWS):
                return Invalid(text, "white space after '=' is not allowed")
            if not raw:
                return Invalid(text, f"parameter {_show(name.lower())} has an empty value")
            return Invalid(text, f"invalid value {_show(raw)} for parameter "
                                 f"{_show(name.lower())}: expected a token or a quoted string")
        key = name.lower()
        if key in params:
            return Invalid(text, f"duplicate parameter {_show(key)}")
        params[key] = value
    return MappingProxyType(params)


def _split_pairs(text: str) -> list[str]:
    """Split an element at the semicolons outside its (closed) quoted strings."""
    if '"' not in text:
        return text.split(";")
    pairs: list[str] = []
    start = pos = 0
    end = len(text)
    while pos < end:
        char = text[pos]
        if char == ";":
            pairs.append(text[start:pos])
            start = pos = pos + 1
        elif char == '"':
            match = _QUOTED.match(text, pos)
            # A quote that does not close ends the scan; _value refuses the pair.
            pos = match.end() if match else end
        else:
            pos += 1
    pairs.append(text[start:])
    return pairs


def _value(raw: str) -> str | None:
    """Unquote one parameter value; ``None`` if it is not a token or quoted-string."""
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            return None
        inside = raw[1:-1]
        if not _QUOTED_INSIDE.fullmatch(inside):
            return None
        return _QUOTED_PAIR.sub(r"\1", inside) if "\\" in inside else inside
    return raw if _TOKEN.fullmatch(raw) else None


def _show(text: str, limit: int = 40) -> str:
    """``repr`` of *text*, shortened: reasons must stay small whatever the input."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


# --------------------------------------------------------------------------- writing


def quote_value(value: str) -> str:
    """Write *value* as a token when it is one, else as a quoted-string.

    ``"`` and ``\\`` are escaped. *value* must hold only characters allowed in
    a quoted-string (tab, printable ASCII, ``\\x80``-``\\xff``).

    Raises:
        ValueError: if *value* holds a character a header cannot carry.
    """
    if _TOKEN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    if not _QUOTED_INSIDE.fullmatch(escaped):
        msg = f"{_show(value)} holds a character a header value cannot carry"
        raise ValueError(msg)
    return f'"{escaped}"'


def format_element(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """Write one element: ``name=value`` pairs joined with ``;``, values quoted as needed.

    An element with no parameters is written as ``;``, which
    :func:`parse_forwarded` reads back as one empty element (an empty string
    would read back as no element at all).

    Raises:
        ValueError: if a name is not a token or a value cannot be carried.
    """
    items = params.items() if isinstance(params, Mapping) else params
    parts = []
    for name, value in items:
        if not _TOKEN.fullmatch(name):
            msg = f"invalid parameter name {_show(name)}: expected a token"
            raise ValueError(msg)
        parts.append(f"{name}={quote_value(value)}")
    return ";".join(parts) or ";"


def format_forwarded(elements: Iterable[Mapping[str, str]]) -> str:
    """Write a ``Forwarded`` value: :func:`format_element` of each, joined with ``", "``."""
    return ", ".join(format_element(element) for element in elements)


# --------------------------------------------------------------------------- nodes


class NodeKind(enum.Enum):
    """What a ``for=`` (or ``by=``) node names."""

    ADDRESS = "address"  # an IPv4 or bracketed IPv6 address: usable by the walk
    UNKNOWN = "unknown"  # RFC 7239 §6.2: the proxy does not know
    OBFUSCATED = "obfuscated"  # RFC 7239 §6.3: "_" name, hides the address
    INVALID = "invalid"  # not a node at all (or no node: element invalid, no "for")


@dataclass(frozen=True, slots=True)
class Node:
    """A parsed node identifier (RFC 7239 §6).

    Only ``kind is NodeKind.ADDRESS`` gives an address the walk can use;
    ``unknown`` and obfuscated nodes say that the address is not known, so a
    walk must stop at them just as at an invalid one.

    Attributes:
        kind: what the node names.
        key: the address key (see :mod:`trustedproxy.addresses`), or ``None``.
        bare: the address as written, without brackets and port, or ``""``.
        address: the canonical address text (``key_to_text``), or ``""``.
        port: the port as written (digits, or an obfuscated ``_port``), or ``""``.
        reason: for every kind but ``ADDRESS``, why the walk cannot use it.
    """

    kind: NodeKind
    key: int | None = None
    bare: str = ""
    address: str = ""
    port: str = ""
    reason: str = ""


_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]++")
_DIGITS = re.compile(r"[0-9]{1,5}")


def _port_problem(port: str) -> str:
    if _OBFUSCATED.fullmatch(port):
        return ""
    if _DIGITS.fullmatch(port) and 0 < int(port) <= 65535:
        return ""
    return f"invalid port {_show(port)}: expected 1-65535 or an obfuscated '_port'"


def parse_node(value: str) -> Node:
    """Classify a ``for=`` node value (already unquoted).

    Valid addresses are a numeric IPv4 dotted quad or an IPv6 address in
    brackets (RFC 7239 §6 requires them; a bare IPv6 address is invalid), each
    with an optional ``:port`` (1-65535 or obfuscated). ``unknown`` (any case)
    and ``_obfuscated`` names are recognised but carry no address. Never
    raises.
    """
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            return Node(NodeKind.INVALID, reason="'[' without ']'")
        bare, rest = value[1:close], value[close + 1:]
        if rest and not rest.startswith(":"):
            return Node(NodeKind.INVALID, reason=f"unexpected {_show(rest)} after ']'")
        has_port, port = bool(rest), rest[1:]
        key = parse_ip(bare) if ":" in bare else None
        if key is None:
            return Node(NodeKind.INVALID, reason=f"not an IPv6 address in brackets: "
                                                 f"{_show(bare)}")
    else:
        if value.count(":") > 1:
            return Node(NodeKind.INVALID,
                        reason="an IPv6 node must be in brackets, e.g. '[2001:db8::1]'")
        bare, colon, port = value.partition(":")
        has_port = bool(colon)
        problem = _port_problem(port) if has_port else ""
        if bare.isascii() and bare.lower() == "unknown":  # not "un\u212anown" (Kelvin sign)
            return Node(NodeKind.INVALID, reason=problem) if problem else Node(
                NodeKind.UNKNOWN, port=port, reason="'unknown': the proxy did not know the address")
        if _OBFUSCATED.fullmatch(bare):
            return Node(NodeKind.INVALID, reason=problem) if problem else Node(
                NodeKind.OBFUSCATED, port=port, reason=f"obfuscated node {_show(bare)}: no address")
        key = parse_ip(bare)
        if key is None:
            return Node(NodeKind.INVALID, reason=f"not an IPv4 address, '[IPv6]', 'unknown' or "
                                                 f"'_name': {_show(value)}")
    if has_port:
        problem = _port_problem(port)
        if problem:
            return Node(NodeKind.INVALID, reason=problem)
    return Node(NodeKind.ADDRESS, key=key, bare=bare, address=key_to_text(key, bare), port=port)


def node_address(value: str) -> tuple[int, str] | None:
    """The address of a ``for=`` node, in the shape of
    :func:`trustedproxy.addresses.parse_element`: ``(key, bare address)``, or
    ``None`` when the node is not an address (``unknown``, obfuscated, invalid).
    """
    node = parse_node(value)
    if node.kind is not NodeKind.ADDRESS or node.key is None:
        return None
    return node.key, node.bare


def element_node(element: Element | Invalid, parameter: str = "for") -> Node:
    """The node in *element*'s *parameter* (``for`` by default, or ``by``).

    An :class:`Invalid` element, or one without the parameter, gives a node of
    kind ``INVALID`` whose reason says so.
    """
    if isinstance(element, Invalid):
        return Node(NodeKind.INVALID, reason=f"invalid element: {element.reason}")
    value = element.get(parameter)
    if value is None:
        return Node(NodeKind.INVALID, reason=f"no {parameter!r} parameter in the element")
    return parse_node(value)
