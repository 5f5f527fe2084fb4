"""Addresses and networks: strict parsing, and the compiled matcher.

Two very different jobs live here.

*Load time* (:func:`parse_network`): turn the operator's text into a network,
rejecting what is ambiguous and saying what would be valid. Speed matters only
in bulk (a CDN's published ranges), so the common forms are parsed with
``socket.inet_pton`` and integers, and netaddr handles the rest (dotted masks,
partial IPv4, merged ranges back to CIDRs).

*Request time* (:func:`parse_ip`, :func:`parse_element`, :class:`Matcher`):
a client chooses the text, so parsing is strict (``inet_pton`` accepts exactly
the dotted quad, never octal, decimal or short IPv4 forms, and never a host
name: no DNS, ever) and membership is a bisect over merged integer intervals.

Both families live in one integer space: an IPv4 address is its 32-bit value,
an IPv6 address is its 128-bit value plus ``V6`` (``1 << 128``). An
IPv4-mapped IPv6 address (``::ffff:10.0.0.5``) is folded to its IPv4 value, so
it matches IPv4 networks and an IPv4 peer matches a mapped network.
"""

from __future__ import annotations

import re
import socket
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "V6",
    "Matcher",
    "Network",
    "NetworkError",
    "format_interval",
    "ipv6_text",
    "ipv6_value",
    "is_socket_peer",
    "key_to_text",
    "merge",
    "parse_element",
    "parse_ip",
    "parse_peer",
    "parse_network",
]

#: Added to a 128-bit IPv6 value so that both families share one integer space.
V6 = 1 << 128
_V4_MAX = (1 << 32) - 1
_V6_MAX = (1 << 128) - 1
_LONGEST = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")  # longest valid address text
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
#: The signature of ``socket.inet_pton``.
_Pton = Callable[[int, str], bytes]


# --------------------------------------------------------------------------- inet_pton
# Every address a client sends is parsed by the C library's inet_pton, which
# is fast and, in glibc, musl and the BSDs, exactly as strict as promised
# above. A C library is free to accept more (leading zeros, short or hex IPv4
# forms, white space, zone ids), so the one found at import is tried on a
# probe of those forms; if it accepts any of them, every address is first
# matched against the grammar of RFC 3986, section 3.2.2, and the compiled
# speedups (which call inet_pton directly) are not used.

#: Texts a strict inet_pton accepts, with the family to parse them as.
PROBE_VALID: tuple[tuple[int, str], ...] = (
    *((_AF_INET, text) for text in (
        "0.0.0.0", "1.2.3.4", "10.0.0.1", "100.64.0.0", "255.255.255.255")),
    *((_AF_INET6, text) for text in (
        "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8", "::0001", "ABCD::ef01", "::ffff:1.2.3.4", "::1.2.3.4",
        "1:2:3:4:5:6:1.2.3.4", "fe80::1")),
)
#: Texts a strict inet_pton rejects: the forms some C libraries take.
PROBE_INVALID: tuple[tuple[int, str], ...] = (
    *((_AF_INET, text) for text in (
        "01.2.3.4", "1.2.3.04", "00.0.0.0", "1.2.3.010", "1.2.3", "1.2", "1", "16909060",
        "0x1.2.3.4", "0x01020304", "1.2.3.0x4", "1.2.3.4.", ".1.2.3.4", "1..3.4",
        " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\t", "1.2.3.4\n", "1.2.3.4 x", "+1.2.3.4",
        "1.2.3.-4", "1.2.3.256", "256.0.0.0", "1.2.3.4/8", "1.2.3.4:80", "localhost",
        "\u0661.\u0662.\u0663.\u0664", "\uff11.2.3.4", "")),
    *((_AF_INET6, text) for text in (
        "::ffff:01.2.3.4", "::ffff:1.2.3.04", "::1.2.3", "::1.2.3.4.5", "::0x1.2.3.4",
        "1:2:3:4:5:6:7:1.2.3.4", "1.2.3.4::", "1::2::3", ":1::2", "1::2:", ":::",
        "::00001", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8", " ::1", "::1 ", "::1\n", "::1%eth0", "fe80::1%1", "[::1]",
        "[::1]:80", "::g", "::\uff11", "")),
)

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_H16 = r"[0-9A-Fa-f]{1,4}"


def _grammar() -> dict[int, re.Pattern[str]]:
    """RFC 3986's ``IPv4address`` and ``IPv6address`` as patterns, per family.

    IPv6: eight 16-bit pieces, the last two of which may be a dotted quad, and
    at most one ``::`` standing for one or more zero pieces.
    """
    quad = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
    ls32 = rf"(?:{_H16}:{_H16}|{quad})"
    forms = [rf"(?:{_H16}:){{6}}{ls32}"]  # no "::"
    for before in range(8):  # at most `before` pieces in front of "::" ...
        after = 7 - before  # ... and exactly `after` behind it, ls32 counting two
        head = "" if before == 0 else rf"(?:(?:{_H16}:){{0,{before - 1}}}{_H16})?"
        tail = (_H16 if after == 1 else "" if after == 0
                else rf"(?:{_H16}:){{{after - 2}}}{ls32}")
        forms.append(rf"{head}::{tail}")
    return {_AF_INET: re.compile(quad, re.ASCII),
            _AF_INET6: re.compile("|".join(f"(?:{form})" for form in forms), re.ASCII)}


def _accepts(pton: _Pton, family: int, text: str) -> bool:
    try:
        pton(family, text)
    except (OSError, ValueError):
        return False
    return True


def is_strict(pton: _Pton) -> bool:
    """Whether *pton* (``socket.inet_pton`` or alike) passes the probe: it
    accepts every text of :data:`PROBE_VALID` and none of :data:`PROBE_INVALID`."""
    return (all(_accepts(pton, family, text) for family, text in PROBE_VALID)
            and not any(_accepts(pton, family, text) for family, text in PROBE_INVALID))


def strict_pton(pton: _Pton) -> _Pton:
    """*pton* as is when it passes the probe (:func:`is_strict`), else *pton*
    behind a check of each text against RFC 3986's address grammar."""
    if is_strict(pton):
        return pton
    grammar = _grammar()

    def checked(family: int, text: str) -> bytes:
        pattern = grammar.get(family)
        if pattern is None or not pattern.fullmatch(text):
            msg = "illegal IP address string passed to inet_pton"
            raise OSError(msg)
        return pton(family, text)

    return checked


#: Whether this platform's ``socket.inet_pton`` passed the probe; when not,
#: addresses are checked against the grammar first, and the compiled speedups
#: are left unused (``trustedproxy --version`` says so).
_pton = strict_pton(socket.inet_pton)
PLATFORM_STRICT = _pton is socket.inet_pton


# --------------------------------------------------------------------------- request time


def parse_ip(text: str) -> int | None:
    """Parse one bare address strictly; return its key, or ``None`` if invalid.

    Valid: a numeric IPv4 dotted quad, or an IPv6 address in any case. No port,
    no brackets, no zone id, no surrounding white space.
    """
    if len(text) > _LONGEST:
        return None
    if ":" in text:
        value = ipv6_value(text)
        if value is None:
            return None
        return value & _V4_MAX if value >> 32 == 0xFFFF else value | V6
    try:
        return int.from_bytes(_pton(_AF_INET, text), "big")
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return None


def parse_peer(text: str) -> int | None:
    """:func:`parse_ip` of a TCP peer as a server reports it: a zone id
    (``fe80::1%eth0``) is ignored."""
    return parse_ip(text.partition("%")[0])


#: What address text is made of: a peer of these alone (with a digit or ``:``)
#: is a malformed address, not a Unix socket.
_ADDRESS_CHARS = frozenset("0123456789abcdefABCDEF.:[]")
_ADDRESS_MARKS = frozenset("0123456789:")


def is_socket_peer(text: str) -> bool:
    """Whether a TCP peer that :func:`parse_ip` refuses stands for a Unix
    socket (``trust_unix_socket`` may trust it) rather than a malformed address
    (never trusted).

    A socket peer is empty or text that is no attempt at an address: a path,
    ``unix:...`` (nginx), ``localhost`` (waitress). Text made of address
    characters alone, with a digit or ``:``, once a zone id, white space and
    invisible characters are dropped and compatibility forms (full-width
    digits) read as ASCII, is a malformed address: ``127.0.0.1:8080``,
    ``[::1]``, ``010.0.0.2``, `` 10.0.0.1``.
    """
    import unicodedata  # here: a peer that is no address is rare, and cached

    shown = unicodedata.normalize("NFKC", text.partition("%")[0])
    visible = {c for c in shown if c.isprintable() and not c.isspace()}
    return not (visible and visible <= _ADDRESS_CHARS and not visible.isdisjoint(_ADDRESS_MARKS))


def ipv6_value(text: str) -> int | None:
    """The 128-bit value of IPv6 *text*, parsed as strictly as by
    :func:`parse_ip` (on any C library), but an IPv4-mapped address is not
    folded; ``None`` if *text* is not an IPv6 address."""
    if len(text) > _LONGEST or ":" not in text:
        return None
    try:
        return int.from_bytes(_pton(_AF_INET6, text), "big")
    except (OSError, ValueError):
        return None


def _valid_port(port: str) -> bool:
    return 0 < len(port) <= 5 and port.isascii() and port.isdigit() and 0 < int(port) <= 65535


def parse_element(text: str) -> tuple[int, str] | None:
    """Parse one X-Forwarded-For element: an address with an optional port.

    Accepts ``1.2.3.4``, ``1.2.3.4:8080``, ``2001:db8::1``, ``[2001:db8::1]``
    and ``[2001:db8::1]:8080``. Returns ``(key, bare address text)`` or
    ``None`` when the element is not valid.
    """
    if len(text) > _LONGEST + 8:  # brackets and a port
        return None
    if ":" not in text:  # a bare IPv4 address, the usual element: inet_pton alone decides
        try:
            return int.from_bytes(_pton(_AF_INET, text), "big"), text
        except (OSError, ValueError):  # ValueError: an embedded NUL
            return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        rest = text[end + 1 :]
        if rest and not (rest[0] == ":" and _valid_port(rest[1:])):
            return None
        bare = text[1:end]
        if ":" not in bare:  # brackets are for IPv6 only
            return None
    elif text.count(":") == 1:
        bare, _, port = text.partition(":")
        if not _valid_port(port):
            return None
    else:
        bare = text
    key = parse_ip(bare)
    return None if key is None else (key, bare)


def key_to_text(key: int, original: str) -> str:
    """Canonical text of a parsed address: lower case, compressed, no brackets.

    *original* is the bare text it was parsed from (an IPv4-mapped address
    keeps its IPv6 spelling, in canonical form).
    """
    if ":" in original:
        return socket.inet_ntop(_AF_INET6, socket.inet_pton(_AF_INET6, original))
    return original  # inet_pton accepted it, so it is already canonical


#: An array type code for unsigned 32-bit values ("I" is 4 bytes wherever CPython runs).
_U32 = "I" if array("I").itemsize >= 4 else "L"
#: Lists longer than this get a slice table per family (see Matcher).
_INDEXED = 256
_SLICES = 1 << 16

#: (base, shift, table): for a key of the family, ``(key - base) >> shift`` is
#: its slice, and ``table[s]`` the position in the bounds of slice *s*'s start.
_Window = tuple[int, int, "array[int]"]


def _window(bounds: Sequence[int], start: int, end: int, base: int | None = None,
            shift: int | None = None) -> _Window:
    """The slice table of one family, whose bounds are ``bounds[start:end]``;
    by default its slices split the span of those bounds in 65,536."""
    if start == end:
        return 0, 0, array(_U32, [start]) * (_SLICES + 1)
    if base is None:
        base = bounds[start]
    if shift is None:
        shift = max(0, (bounds[end - 1] - base).bit_length() - 16)
    counts = [0] * (_SLICES + 1)
    for i in range(start, end):
        counts[((bounds[i] - base) >> shift) + 1] += 1
    table = array(_U32, counts)
    table[0] = start
    for s in range(1, _SLICES + 1):
        table[s] += table[s - 1]
    return base, shift, table


class Matcher:
    """Membership of addresses in a fixed set of networks, by bisection.

    Built once from merged, sorted, non-overlapping ``(first, last)`` key
    intervals, kept as one flat sorted list ``first0, last0, first1, last1,
    ...``: a key lies in a network when a bisect puts it after an odd number
    of bounds, or on a last address. A lookup costs one bisect, whatever the
    number of networks.

    A bisect over a long list misses the CPU cache at nearly every step (the
    list and its integers are spread over megabytes), so a long list also gets,
    per family, a table of where each of 65,536 equal slices of the family's
    span starts in the bounds: a lookup reads its slice's limits from the table
    and bisects only the few bounds between them. IPv4 slices are the /16s,
    and IPv4 bounds are also kept packed in an array, next to each other.
    """

    __slots__ = ("_bounds", "_v4", "_v6")

    def __init__(self, intervals: Sequence[tuple[int, int]]) -> None:
        self._bounds = [bound for interval in intervals for bound in interval]
        self._v4: tuple[array[int], array[int]] | None = None
        self._v6: _Window | None = None
        if len(intervals) > _INDEXED:
            split = bisect_right(self._bounds, _V4_MAX)  # IPv4 keys come first
            v4 = array(_U32, self._bounds[:split])
            self._v4 = v4, _window(v4, 0, split, base=0, shift=16)[2]
            self._v6 = _window(self._bounds, split, len(self._bounds))

    def _position(self, key: int) -> int:
        """How many bounds are <= *key* (``bisect_right`` over the bounds)."""
        if self._v4 is None or self._v6 is None:
            return bisect_right(self._bounds, key)
        if key <= _V4_MAX:
            table = self._v4[1]
            s = key >> 16
            return bisect_right(self._bounds, key, table[s], table[s + 1])
        base, shift, table = self._v6
        s = (key - base) >> shift
        if 0 <= s < _SLICES:
            return bisect_right(self._bounds, key, table[s], table[s + 1])
        return table[0 if s < 0 else _SLICES]  # before the family's bounds, or past them

    def __contains__(self, key: int) -> bool:
        # _position, inlined with the IPv4 bounds read from the packed array:
        # this is the per-request lookup.
        v4, v6 = self._v4, self._v6
        bounds: Sequence[int]
        if v4 is None or v6 is None:
            bounds = self._bounds
            i = bisect_right(bounds, key)
        elif key <= _V4_MAX:
            bounds, table = v4
            s = key >> 16
            i = bisect_right(bounds, key, table[s], table[s + 1])
        else:
            bounds = self._bounds
            base, shift, table = v6
            s = (key - base) >> shift
            if 0 <= s < _SLICES:
                i = bisect_right(bounds, key, table[s], table[s + 1])
            else:
                i = table[0 if s < 0 else _SLICES]
        return i & 1 == 1 or (i > 0 and bounds[i - 1] == key)

    def index(self, key: int) -> int:
        """Return the index of the interval holding *key*, or -1."""
        i = self._position(key)
        if i & 1:
            return i // 2
        return i // 2 - 1 if i > 0 and self._bounds[i - 1] == key else -1

    def covers(self, first: int, last: int) -> bool:
        """Whether the whole interval ``first..last`` lies inside one network."""
        i = self.index(first)
        return i >= 0 and last <= self._bounds[2 * i + 1]

    def __len__(self) -> int:
        return len(self._bounds) // 2


# --------------------------------------------------------------------------- load time


class NetworkError(ValueError):
    """A trusted proxy value is not a valid address or network (message says why)."""


@dataclass(frozen=True, slots=True)
class Network:
    """A parsed trusted-proxy value.

    Attributes:
        first: the first key of the network.
        last: the last key of the network.
        text: canonical CIDR text, e.g. ``10.0.0.0/8``.
        notes: why the value was accepted only for compatibility (warnings).
    """

    first: int
    last: int
    text: str
    notes: tuple[str, ...] = ()


_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PARTIAL_V4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){0,2}")
_V4_CHARS = frozenset("0123456789./")
_V6_CHARS = frozenset("0123456789abcdefABCDEF:./")
_EXAMPLES = ("an IPv4 or IPv6 address or CIDR network, "
             "e.g. '10.0.0.0/8', '192.0.2.7' or '2001:db8::/32'")


_OCTAL_DIGITS = frozenset("01234567")


def _leading_zeros_problem(parts: list[str], suffix: str) -> str:
    """Explain the decimal *parts* of an IPv4 address (some with leading zeros),
    and say what to write: the decimal reading, when it is the only one; both
    readings when a parser that reads ``010`` as octal would see another address."""
    if any(int(p) > 255 for p in parts):
        return "each part of an IPv4 address must be 0-255"
    decimal = ".".join(str(int(p)) for p in parts) + suffix
    zero_led = [p for p in parts if len(p) > 1 and p[0] == "0"]
    # An octal reader refuses the value outright if a zero-led part holds 8 or 9.
    differ = [p for p in zero_led if int(p, 8) != int(p)] if all(
        set(p) <= _OCTAL_DIGITS for p in zero_led) else []
    if not differ:
        return (f"leading zeros are not allowed (some parsers read them as octal): "
                f"write {decimal!r}")
    octal = ".".join(str(int(p, 8) if p in zero_led else int(p)) for p in parts) + suffix
    readings = ", ".join(f"{p!r} is {int(p)} in decimal but {int(p, 8)} in octal"
                         for p in dict.fromkeys(differ))
    return (f"leading zeros are ambiguous ({readings}, as some parsers read it): "
            f"write {decimal!r} if you mean decimal, {octal!r} if octal")


def _v4_problem(text: str, suffix: str = "") -> str:
    """Explain why *text* (already rejected by inet_pton) is not a dotted quad;
    *suffix* (a ``/mask``) completes the suggested value."""
    if _DOTTED_QUAD.fullmatch(text):
        parts = text.split(".")
        if any(len(p) > 1 and p[0] == "0" for p in parts):
            return _leading_zeros_problem(parts, suffix)
        return "each part of an IPv4 address must be 0-255"
    return f"not a valid IP address: expected {_EXAMPLES}"


def _prefix_from_mask(mask: str, text: str) -> tuple[int, str | None]:
    """Turn the part after ``/`` into a prefix length (IPv4 dotted masks included)."""
    if mask.isascii() and mask.isdigit() and len(mask) <= 3:
        return int(mask), None
    if _DOTTED_QUAD.fullmatch(mask):
        try:
            bits = int.from_bytes(_pton(_AF_INET, mask), "big")
        except OSError:
            bits = -1
        if bits >= 0:
            inverted = ~bits & _V4_MAX
            if inverted & (inverted + 1) == 0:  # ones then zeros: contiguous
                prefix = 32 - inverted.bit_length()
                return prefix, f"dotted mask '{mask}' read as /{prefix}"
            msg = (f"mask '{mask}' is not contiguous (its one-bits must come first); "
                   f"write a prefix length instead, e.g. '{text.split('/')[0]}/24'")
            raise NetworkError(msg)
    msg = f"invalid mask {mask!r}: expected a prefix length (e.g. '/24') or a dotted mask"
    raise NetworkError(msg)


def parse_network(text: object, *, partial_ipv4: bool = False) -> Network:
    """Parse one trusted-proxy value strictly.

    Args:
        text: an address (``192.0.2.7``, ``2001:db8::1``) or a network
            (``10.0.0.0/8``, ``10.0.0.0/255.0.0.0``, ``2001:db8::/32``).
        partial_ipv4: accept ``127.0.0`` as ``127.0.0.0/24``, as mod_wsgi's
            directives do (only directive strings set this).

    Raises:
        NetworkError: with a message saying what is wrong and what would be valid.
    """
    if not isinstance(text, str):
        msg = f"expected a string holding {_EXAMPLES}, not {type(text).__name__}"
        raise NetworkError(msg)
    if not text:
        msg = f"empty value: expected {_EXAMPLES}"
        raise NetworkError(msg)
    is_v6 = ":" in text
    # The checks below explain a bad character; a value made only of address
    # characters (the usual case, and every one of a long list) needs none.
    chars = set(text)
    if not chars <= _V6_CHARS and (text != text.strip() or any(c.isspace() for c in text)):
        msg = "white space inside a value: write one address or network per list item"
        raise NetworkError(msg)
    if "," in chars:
        msg = "one address or network per list item: split the value at its commas"
        raise NetworkError(msg)
    if "%" in chars:
        msg = "zone ids ('%eth0') are not allowed: zones are ignored when matching peers"
        raise NetworkError(msg)
    if not chars <= (_V6_CHARS if is_v6 else _V4_CHARS):
        msg = (f"not an IP address or network (host names are never looked up): "
               f"expected {_EXAMPLES}")
        raise NetworkError(msg)
    address, slash, mask = text.partition("/")
    if "/" in mask:
        msg = f"more than one '/': expected {_EXAMPLES}"
        raise NetworkError(msg)
    notes: list[str] = []
    if is_v6:
        try:
            value = int.from_bytes(_pton(_AF_INET6, address), "big")
        except (OSError, ValueError):
            msg = f"not a valid IPv6 address: expected {_EXAMPLES}"
            raise NetworkError(msg) from None
        if address != address.lower():
            notes.append("upper-case IPv6 (mod_wsgi rejects it)")
        width, base = 128, V6
    else:
        try:
            value = int.from_bytes(_pton(_AF_INET, address), "big")
        except OSError:
            if partial_ipv4 and not slash and _PARTIAL_V4.fullmatch(address):
                return _partial(address)
            reason = _v4_problem(address, slash + mask)
            if _PARTIAL_V4.fullmatch(address) and not slash:
                octets = address.split(".")
                guess = ".".join(octets + ["0"] * (4 - len(octets))) + f"/{8 * len(octets)}"
                reason = f"a partial IPv4 address; did you mean '{guess}'?"
            raise NetworkError(reason) from None
        width, base = 32, 0
    if slash and mask.isdigit() and len(mask) <= 3 and mask.isascii():  # the usual '/24'
        prefix, note = int(mask), None
    elif slash:
        prefix, note = _prefix_from_mask(mask, text)
    if slash:
        if note:
            if is_v6:
                msg = "dotted masks are for IPv4 only: write an IPv6 prefix length, e.g. '/64'"
                raise NetworkError(msg)
            notes.append(note)
        if prefix > width:
            msg = f"prefix length must be 0-{width} for IPv{4 if width == 32 else 6}"
            raise NetworkError(msg)
    else:
        prefix = width
    host_bits = width - prefix
    network = value >> host_bits << host_bits
    if network != value:
        notes.append(f"host bits set: read as {_cidr_text(network, prefix, is_v6)}")
    if is_v6 and value >> 32 == 0xFFFF and prefix >= 96:
        # IPv4-mapped: fold into the IPv4 space, where mapped peers are matched.
        v4_prefix = prefix - 96
        v4 = network & _V4_MAX
        notes.append(f"IPv4-mapped IPv6 read as {_cidr_text(v4, v4_prefix, False)}")
        return Network(v4, v4 | ((1 << (32 - v4_prefix)) - 1), _cidr_text(v4, v4_prefix, False),
                       tuple(notes))
    last = network | ((1 << host_bits) - 1)
    if not (is_v6 or notes) and slash and mask == str(prefix):
        canonical = text  # inet_pton took the dotted quad, so it is canonical already
    else:
        canonical = _cidr_text(network, prefix, is_v6)
    return Network(base + network, base + last, canonical, tuple(notes))


def _partial(address: str) -> Network:
    octets = address.split(".")
    if any(int(o) > 255 for o in octets):
        msg = "each part of an IPv4 address must be 0-255"
        raise NetworkError(msg)
    if any(len(o) > 1 and o[0] == "0" for o in octets):
        raise NetworkError(_leading_zeros_problem(octets, ""))
    prefix = 8 * len(octets)
    value = 0
    for octet in octets + ["0"] * (4 - len(octets)):
        value = value << 8 | int(octet)
    text = _cidr_text(value, prefix, False)
    return Network(value, value | ((1 << (32 - prefix)) - 1), text,
                   (f"partial IPv4 address read as {text}, as mod_wsgi reads it",))


def ipv6_text(value: int) -> str:
    """Write the 128-bit IPv6 *value* in RFC 5952 form: lower-case hex, the
    longest run of two or more zero groups (the first, on a tie) written ``::``.

    Only an IPv4-mapped address gets a dotted tail (``::ffff:10.0.0.1``). An
    address in ``::/96`` is written in hex (``::a00:1``), never ``::10.0.0.1``
    as ``inet_ntop`` and netaddr write it: mod_wsgi refuses the dotted form.
    The text is the same on every platform.
    """
    if value >> 32 == 0xFFFF:
        return "::ffff:" + ".".join(str(value >> shift & 0xFF) for shift in (24, 16, 8, 0))
    import ipaddress  # only for ::/96 networks and hints: not at import time

    return str(ipaddress.IPv6Address(value))  # RFC 5952; dotted only when mapped


def _cidr_text(value: int, prefix: int, is_v6: bool) -> str:
    if is_v6:
        # inet_ntop (fast, as a policy of 50,000 IPv6 networks needs) writes RFC
        # 5952 text but for the dotted tail it gives ::/96: ipv6_text for those.
        text = socket.inet_ntop(_AF_INET6, value.to_bytes(16, "big"))
        if "." in text and value >> 32 != 0xFFFF:
            text = ipv6_text(value)
        return f"{text}/{prefix}"
    return socket.inet_ntop(_AF_INET, value.to_bytes(4, "big")) + f"/{prefix}"


def merge(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Merge overlapping and adjacent key intervals into a sorted, minimal tuple.

    An interval that merges with none is kept as the very tuple given, so a
    long list of distinct networks costs no copies.
    """
    merged: list[tuple[int, int]] = []
    for interval in sorted(intervals):
        # IPv4 and IPv6 keys never touch: V6 lies far above the IPv4 space.
        if merged and interval[0] <= merged[-1][1] + 1:
            if interval[1] > merged[-1][1]:
                merged[-1] = (merged[-1][0], interval[1])
        else:
            merged.append(interval)
    return tuple(merged)


def format_interval(first: int, last: int) -> list[str]:
    """Write one merged key interval as the CIDR networks that cover it exactly."""
    import netaddr  # only here: importing trustedproxy (and serving requests) needs none

    if first >= V6:
        start, end = netaddr.IPAddress(first - V6, 6), netaddr.IPAddress(last - V6, 6)
    else:
        start, end = netaddr.IPAddress(first, 4), netaddr.IPAddress(last, 4)
    if first < V6:
        return [str(cidr).removesuffix("/32") for cidr in netaddr.iprange_to_cidrs(start, end)]
    # netaddr, like inet_ntop, writes ::/96 with a dotted tail ('::10.0.0.1'): write hex
    return [_cidr_text(cidr.first, cidr.prefixlen, True).removesuffix("/128")
            for cidr in netaddr.iprange_to_cidrs(start, end)]
