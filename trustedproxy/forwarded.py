"""A strict, linear-time parser for the RFC 7239 ``Forwarded`` header.

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
the proxies append to it. The parser therefore never lets a quote decide where
a *later* element starts unless the quoted string is closed: an element whose
quote is never closed is :class:`Invalid` and ends at the next comma after that
quote, so the elements that proxies appended after it are still read. An
element is either entirely valid or :class:`Invalid` (with the reason); there is
no partial reading of a malformed element, so ``user="bad,for=_x"`` never
yields a ``for`` parameter.

Cost: the parser is linear in the length of its input (every regular
expression here is possessive or free of nested repetition, and a quote that is
not closed is detected once), and at most :data:`MAX_ELEMENTS` elements are
parsed: with more, only the rightmost ones (those the nearest proxies wrote)
are parsed, after one :class:`Invalid` marker that stands for the rest.

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
]

#: At most this many elements of one ``Forwarded`` value are parsed. With
#: more, the rightmost ``MAX_ELEMENTS`` are parsed and one :class:`Invalid`
#: marker (reason ``"too many elements ..."``) stands for all those left of
#: them, so that a walk from the right stops there.
MAX_ELEMENTS = 64

#: A valid element: lower-case parameter name → value (unquoted, case kept),
#: read-only, in the order the parameters were written.
Element = MappingProxyType[str, str]


@dataclass(frozen=True, slots=True)
class Invalid:
    """An element that does not follow RFC 7239, or stands for skipped ones.

    Attributes:
        text: the element as written (white space at its ends removed).
        reason: why it is invalid, e.g. ``"duplicate parameter 'for'"``.
    """

    text: str
    reason: str


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
# One step of the scanner: a run of characters that are neither a quote nor a
# separator (kept as it is, checked later), or a single separator or quote.
_PLAIN = re.compile(r'[^",;]++')
_OWS = " \t"


def parse_forwarded(value: str, *, max_elements: int = MAX_ELEMENTS
                    ) -> tuple[Element | Invalid, ...]:
    """Parse a ``Forwarded`` header value into its elements, left to right.

    Several ``Forwarded`` header fields are one list: join them with ``", "``
    in the order received before calling this.

    Args:
        value: the header value as received (a ``str``; WSGI and ASGI servers
            decode header bytes as latin-1).
        max_elements: parse at most this many elements, the rightmost ones
            (default :data:`MAX_ELEMENTS`).

    Returns:
        One item per non-empty element: an :data:`Element` (a read-only
        mapping of lower-case parameter name to unquoted value) or an
        :class:`Invalid`. When elements were skipped because of
        *max_elements*, the first item is an :class:`Invalid` whose reason
        says how many. Never raises for any string.
    """
    raw = _split(value)
    skipped = len(raw) - max_elements if len(raw) > max_elements else 0
    if skipped:
        raw = raw[skipped:]
    parsed: list[Element | Invalid] = []
    if skipped:
        parsed.append(Invalid("", f"too many elements: the {skipped} leftmost were not "
                                  f"parsed (at most {max_elements} are)"))
    for text, problem in raw:
        parsed.append(Invalid(text, problem) if problem else _parse_element(text))
    return tuple(parsed)


def _split(value: str) -> list[tuple[str, str]]:
    """Split *value* at the commas outside closed quoted strings.

    Returns ``(element text, problem)`` for each non-empty element; *problem*
    is ``""`` or says why the split already found the element invalid (a quote
    that is never closed).
    """
    if '"' not in value:
        return [(text, "") for text in (part.strip(_OWS) for part in value.split(","))
                if text]
    elements: list[tuple[str, str]] = []
    start = 0  # where the current element began
    problem = ""
    pos = 0
    end = len(value)
    # Once one quote is found unclosed, no later quote can be closed either
    # (its closing quote would have closed the first one), so never look again:
    # this keeps the scan linear.
    closable = True
    while pos < end:
        char = value[pos]
        if char == ",":
            text = value[start:pos].strip(_OWS)
            if text:
                elements.append((text, problem))
            start = pos = pos + 1
            problem = ""
        elif char == '"':
            match = _QUOTED.match(value, pos) if closable else None
            if match is None:
                closable = False
                problem = problem or "a quoted string is not closed"
                pos += 1
            else:
                pos = match.end()
        elif char == ";":
            pos += 1
        else:
            match = _PLAIN.match(value, pos)
            assert match is not None  # char is none of the excluded characters
            pos = match.end()
    text = value[start:].strip(_OWS)
    if text:
        elements.append((text, problem))
    return elements


def _parse_element(text: str) -> Element | Invalid:
    """Parse one element (no top-level comma, every quote closed)."""
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
            # _split closed every quote of this element, so this always matches.
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
    return ";".join(parts)


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
        if bare.lower() == "unknown":
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
