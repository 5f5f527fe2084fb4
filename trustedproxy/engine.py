"""The compiled trust engine: a peer and some header values in, a Decision out.

This module knows nothing of WSGI, ASGI or sockets (a test checks that it
never imports an adapter). It is pure: the same inputs always give the same
:class:`Decision`, and nothing a client sends can make it raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from ._compiled import speedups
from .addresses import Matcher, is_socket_peer, key_to_text, parse_element, parse_peer
from .forwarded import (
    MAX_GAP,
    SEPARATORS,
    Invalid,
    Node,
    NodeKind,
    element_node,
    format_element,
    parse_forwarded,
    skip_separators,
)
from .headers import Kind
from .values import (
    parse_host,
    parse_port,
    parse_prefix,
    parse_scheme_bool,
    parse_scheme_word,
    parse_server,
    wsgi_from_text,
)

if TYPE_CHECKING:
    from .policy import TrustPolicy

__all__ = ["Decision", "Hop", "Ignored", "TrustEngine", "Unreadable"]

#: How many distinct peers the engine remembers the trust of. Clients choose
#: none of these keys (the peer is the TCP peer), but a busy server sees many.
CACHE_SIZE = 4096

#: How many X-Forwarded-For elements, and how many values of each
#: single-valued header, the engine remembers the parse of. Clients choose
#: these keys, so each cache is cleared when full rather than allowed to grow,
#: and only short keys are kept (a valid element or usual value is short).
VALUE_CACHE_SIZE = 1024
_MAX_CACHED_LENGTH = 256
#: Longest X-Forwarded-For value the fast walk splits whole (longer: see _tail).
_MAX_FAST_HEADER = 1024

#: Longest single-valued header value parsed; a longer one is ignored unread,
#: so a huge header costs no more than a normal one.
MAX_VALUE_LENGTH = 2048


#: Longest comma-separated part of a list header that is looked at. A valid
#: element is far shorter; a longer part is invalid and is never stripped or
#: copied: the walk stops there as at any junk.
_REACH = 256
#: What stands in the walk for such an overlong part: an invalid element.
_OVERLONG = "(overlong element)"


def _tail(raw: str, count: int) -> tuple[str, bool]:
    """The last *count* non-empty comma-separated parts of *raw*, joined with
    ``,``, and whether anything left of them was not read.

    Bounded whatever *raw* is: at most *count* parts are read from the right,
    and the rest of the header is never split or copied. Empty parts (``a,,b``,
    dropped by SPEC.md §4) are not counted: they are skipped by string scans,
    at most :data:`~trustedproxy.forwarded.MAX_GAP` characters of them in all.
    A part longer than :data:`_REACH` ends the read as an invalid
    :data:`_OVERLONG` marker.
    """
    parts: list[str] = []  # right to left
    end, gaps = len(raw), MAX_GAP
    while True:
        if end and raw[end - 1] in SEPARATORS:  # empty parts, or blanks before a comma
            stop = skip_separators(raw, end, gaps)
            if stop < 0:  # more empty parts than any proxy writes: not read further
                break
            gaps -= end - stop
            end = stop
        if end == 0 or len(parts) == count:
            break
        start = raw.rfind(",", max(0, end - _REACH - 1), end)
        if start < 0 and end > _REACH:  # the part is longer than any element
            parts.append(_OVERLONG)
            break
        parts.append(raw[start + 1:end])
        end = max(start, 0)
    parts.reverse()
    return ",".join(parts), end > 0


@dataclass(frozen=True, slots=True)
class Ignored:
    """A forwarded header that was present but not used, and why.

    Attributes:
        header: the header's name, e.g. ``X-Forwarded-Port``.
        value: the value, or the part of it, that was refused.
        reason: why, e.g. ``not a port: expected a number from 1 to 65535``.
    """

    header: str
    value: str
    reason: str


# Hop and Decision are built on every request, so they have no __slots__: a
# frozen dataclass's __init__ sets each field through object.__setattr__
# (about 1 us for Decision's 15 fields), whereas _hop() and _decision() install
# a prepared dict as the instance's __dict__ in one step, and fields left out
# read the class-level defaults that dataclass puts on the class.
@dataclass(frozen=True)
class Hop:
    """One X-Forwarded-For (or ``Forwarded``) element as the right-to-left walk saw it.

    Attributes:
        element: the element's text (for a part never read, a summary such as
            ``(8 more characters)``).
        verdict: ``trusted`` (a trusted proxy: the walk went on), ``client``
            (the first untrusted address, or the hop where the walk stopped:
            the walk stopped), ``invalid`` (not an address: the walk stopped),
            ``unvisited`` (left of the stop) or ``unexamined`` (beyond the
            policy's ``max_hops``, or past too many empty elements: never read).
    """

    element: str
    verdict: str


@dataclass(frozen=True)
class Decision:
    """What the engine decided for one request.

    Fields that are ``None`` leave the corresponding value alone.

    Attributes:
        peer: the TCP peer as given.
        trusted: whether the peer is a trusted proxy.
        client: the client address for ``REMOTE_ADDR``.
        forwarded_for: the trimmed X-Forwarded-For value.
        scheme: ``http`` or ``https``.
        host: the value for ``HTTP_HOST``.
        server: the value for ``SERVER_NAME``.
        port: the value for ``SERVER_PORT``.
        prefix: the path prefix to put in front of ``SCRIPT_NAME``, as a WSGI
            native string (bytes as latin-1, like the header values; a
            non-ASCII ``script_name`` is held as its UTF-8 bytes).
        strip_prefix: whether to remove *prefix* from the front of ``PATH_INFO``.
        kept: lower-case names of the forwarded headers left in place.
        removed: lower-case names of the forwarded headers to remove.
        ignored: headers that were present and trusted but invalid.
        sources: ``(field, header name)`` for each value set.
        chain: the X-Forwarded-For (or Forwarded) walk, left to right.
        forwarded: the trimmed ``Forwarded`` value, when it was trusted.
        aligned: ``(lower-case name, trimmed value)`` of each hop-aligned
            list used (``hop_aligned``): the value taken and those right of
            it, joined with ``", "``, as ``forwarded_for`` trims
            X-Forwarded-For; what a client prepended is not in it.
    """

    peer: str
    trusted: bool
    client: str | None = None
    forwarded_for: str | None = None
    scheme: str | None = None
    host: str | None = None
    server: str | None = None
    port: str | None = None
    prefix: str | None = None
    strip_prefix: bool = False
    kept: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    chain: tuple[Hop, ...] = field(default=())
    forwarded: str | None = None
    aligned: tuple[tuple[str, str], ...] = ()


_new = object.__new__
_set = object.__setattr__


def _hop(element: str, verdict: str) -> Hop:
    """``Hop(element, verdict)``, built the fast way (see above)."""
    hop = _new(Hop)
    _set(hop, "__dict__", {"element": element, "verdict": verdict})
    return hop


def _decision(fields: dict[str, object]) -> Decision:
    """A :class:`Decision` from its non-default fields, built the fast way (see
    above); *fields* must hold ``peer`` and ``trusted`` and is taken over."""
    decision = _new(Decision)
    _set(decision, "__dict__", fields)
    return decision


_FOR_LIST, _FORWARDED = Kind.FOR_LIST, Kind.FORWARDED  # read once per header in decide()
_ABSENT = object()  # a header not in decide()'s headers
_Parser = Callable[[str], "tuple[str | None, str]"]
_SINGLE: dict[Kind, tuple[str, _Parser]] = {
    Kind.SCHEME_WORD: ("scheme", parse_scheme_word),
    Kind.SCHEME_BOOL: ("scheme", parse_scheme_bool),
    Kind.HOST: ("host", parse_host),
    Kind.SERVER: ("server", parse_server),
    Kind.PORT: ("port", parse_port),
    Kind.PREFIX: ("prefix", parse_prefix),
}


class Unreadable(NamedTuple):
    """What an adapter passes to :meth:`TrustEngine.decide` for a known
    header it could not read (in ASGI, a header entry that is not a pair of
    bytes): never trusted, so ignored and removed, with *shown* as the
    :attr:`Ignored.value` and *reason* as the reason."""

    shown: str
    reason: str


#: How many items of a bytes value of the wrong type an Ignored shows.
_SHOWN_BYTES = 64


def not_text(raw: object) -> tuple[str, str]:
    """``(value shown, reason)`` for a header value that is not a ``str``
    (a server's mistake, or an adapter's :class:`Unreadable`): a short text
    naming its type, built without calling anything the value's class defines."""
    if isinstance(raw, Unreadable):
        return raw.shown, raw.reason
    name = type(raw).__name__
    if isinstance(raw, (bytes, bytearray)) and type(raw) in (bytes, bytearray):
        shown = repr(bytes(raw[:_SHOWN_BYTES])) + ("..." if len(raw) > _SHOWN_BYTES else "")
    elif raw is None or type(raw) is bool:
        shown = repr(raw)
    else:
        shown = f"({name} value)"
    return shown, f"a value of type {name}, not a str (a malformed environ or scope)"


class _Element(NamedTuple):  # a tuple: built on every new client address, so cheaply
    """A valid X-Forwarded-For element as the walk needs it: its text (white
    space stripped), its canonical address, whether it is a trusted proxy, and
    its hop in the chain if the walk stops at it or passes it."""

    text: str
    canonical: str
    trusted: bool
    hop: Hop

    def as_client(self) -> _Element:
        """The same element as the client (the leftmost of an all-trusted list)."""
        return _Element(self.text, self.canonical, False, _hop(self.text, "client"))


def _parse_address(raw: str) -> tuple[str | None, str]:
    value = raw.strip(" \t")
    if "," in value:
        return None, "a list of values in a single-valued header"
    parsed = parse_element(value)
    if parsed is None:
        return None, "not an IP address (optionally with a port)"
    return key_to_text(*parsed), ""


class TrustEngine:
    """A :class:`~trustedproxy.TrustPolicy` compiled for fast evaluation.

    Build it with :meth:`TrustPolicy.compile`. It is immutable apart from
    bounded caches (of peer trust, of parsed elements and values), which
    change no decision, and it is safe to share between threads.

    Args:
        policy: the policy to compile (kept as :attr:`policy`).
    """

    __slots__ = ("_aligned", "_cache", "_elements", "_fast", "_fixed_prefix", "_matcher",
                 "_max_hops", "_plain", "_strip", "_trusted", "_unix", "policy")

    def __init__(self, policy: TrustPolicy) -> None:
        self.policy = policy
        self._matcher = Matcher(policy.intervals)
        # The compiled matcher (when built): the same networks as packed bounds.
        self._fast = None if speedups is None else speedups.Matcher(self._matcher._bounds)
        self._unix = policy.trust_unix_socket
        self._strip = policy.strip_prefix_from_path
        # As SCRIPT_NAME holds it: the UTF-8 bytes of the text, as latin-1.
        self._fixed_prefix = wsgi_from_text(policy.script_name) or None
        self._max_hops = policy.max_hops
        self._aligned = policy.hop_aligned
        self._cache: dict[str, bool] = {}
        # Bounded caches (see CACHE_SIZE, VALUE_CACHE_SIZE): the decision for a
        # peer that sent no forwarded header, by peer; and the parse of an
        # X-Forwarded-For element, by its text between commas.
        self._plain: dict[str, Decision] = {}
        self._elements: dict[str, _Element | None] = {}
        # One row per trusted header, in table order: (lower-case name, kind,
        # the Decision field it sets, its entry in Decision.sources, its parser,
        # a bounded cache of that parser's results by raw value).
        rows = []
        for name in policy.trusted_headers:
            spec = policy.headers[name.lower()]
            # X-Forwarded-For is walked, not parsed; X-Real-IP and the like are one address.
            target, parse = _SINGLE.get(spec.kind, ("client", _parse_address))
            cache: dict[str, tuple[str | None, str]] = {}
            rows.append((spec.key, spec.kind, target, (target, spec.name), parse, cache))
        self._trusted = tuple(rows)

    def __reduce__(self) -> tuple[type[TrustEngine], tuple[TrustPolicy]]:
        """Copies and pickles are compiled anew from :attr:`policy`, with empty
        caches (which change no decision), whether or not the compiled fast
        path is in use (its lookup tables are not picklable objects)."""
        return (TrustEngine, (self.policy,))

    def is_trusted(self, peer: str) -> bool:
        """Whether *peer* is a trusted proxy.

        A zone id (``fe80::1%eth0``) is ignored; an IPv4-mapped IPv6 peer
        matches IPv4 networks. A peer that is not an IP address (empty, a
        Unix socket path) is trusted only with ``trust_unix_socket``, and a
        malformed address (``127.0.0.1:8080``, ``[::1]``) never is (see
        :func:`~trustedproxy.addresses.is_socket_peer`).

        Args:
            peer: a TCP peer address as a server reports it (``REMOTE_ADDR``);
                a str subclass is read as its text (its methods never run).
        """
        if type(peer) is not str:  # its text: not its __hash__ and __eq__ (see decide)
            peer = str.__str__(peer)
        cached = self._cache.get(peer)
        if cached is not None:
            return cached
        fast = self._fast
        if fast is not None:
            found = fast.peer(peer)
        else:
            key = parse_peer(peer)
            found = None if key is None else key in self._matcher
        trusted = (self._unix and is_socket_peer(peer)) if found is None else found
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()  # bounded: forget everything rather than grow
        self._cache[peer] = trusted
        return trusted

    def address_is_trusted(self, key: int) -> bool:
        """Whether a parsed address is trusted.

        Args:
            key: the address as an integer key (see :mod:`~trustedproxy.addresses`).
        """
        return key in self._matcher

    def evaluate(self, peer: str, headers: Mapping[str, str]) -> Decision:
        """Decide what a request from *peer* with *headers* may change.

        Args:
            peer: the TCP peer address (``REMOTE_ADDR`` as the server set it;
                a ``str`` subclass is read as its text, none of its methods run).
            headers: header values by name (any case); names that are not
                forwarded headers (a name that is not a ``str`` included) are
                ignored, and a value that is not a ``str`` is never read.

        Returns:
            The frozen :class:`Decision`. Nothing in *headers* can make it raise.
        """
        if type(peer) is not str and isinstance(peer, str):  # its text (its methods never run)
            peer = str.__str__(peer)
        table = self.policy.headers
        given: Iterable[tuple[object, object]] = headers.items()  # what callers may pass
        known = {name.lower(): value for name, value in given
                 if isinstance(name, str) and name.lower() in table}
        return self.decide(peer, known)

    def decide(self, peer: str, headers: Mapping[str, object]) -> Decision:
        """Like :meth:`evaluate`, for adapters.

        Args:
            peer: the TCP peer address (``REMOTE_ADDR`` as the server set it).
            headers: only known forwarded headers, by lower-case name. A
                value that is not a ``str`` (a malformed environ or scope, or
                an adapter's :class:`Unreadable`) is never read: a trusted
                header's is ignored, with its type as the reason, and removed.
                A ``str`` subclass value is read as its text alone (none of
                its methods runs), and the caches, shared by every request,
                keep only exact ``str`` keys (adapters pass the peer so).

        Returns:
            The frozen :class:`Decision` (one shared object per peer for a
            request with no forwarded header).
        """
        if not headers:  # the usual request: one shared decision per peer
            plain = self._plain.get(peer)
            return plain if plain is not None else self._plain_decision(peer)
        trusted = self._cache.get(peer)  # is_trusted(peer), without the call when remembered
        if trusted is None:
            trusted = self.is_trusted(peer)
        if not trusted:
            return self._untrusted(peer, headers)
        fields: dict[str, object] = {"peer": peer, "trusted": True,
                                     "strip_prefix": self._strip}
        kept: list[str] = []
        ignored: list[Ignored] = []
        sources: list[tuple[str, str]] = []
        aligned = self._aligned
        trimmed_lists: list[tuple[str, str]] = []
        for name, kind, target, source, parse, cache in self._trusted:
            raw = headers.get(name, _ABSENT)
            if raw is _ABSENT:
                continue
            if type(raw) is not str:
                if not isinstance(raw, str):
                    # A value of the wrong type (a malformed environ or scope):
                    # never read, so ignored, and removed as every value not kept.
                    ignored.append(Ignored(source[1], *not_text(raw)))
                    continue
                # A str subclass: its text, read without its methods, so that
                # its __hash__ and __eq__ never run, nor stay in a cache.
                raw = str.__str__(raw)
            # The usual single value, valid and seen before, first: only a
            # single-valued header's cache is ever filled (see below).
            parsed = cache.get(raw)
            if parsed is not None and parsed[0] is not None and not aligned:
                fields[target] = parsed[0]
                sources.append(source)
                kept.append(name)
                continue
            if kind is _FOR_LIST:
                client, trimmed, chain, reason = self._walk_fast(raw)
                fields["chain"] = chain
                if client is None or trimmed is None:
                    ignored.append(Ignored(source[1], raw, reason))
                    continue
                fields["client"], fields["forwarded_for"] = client, trimmed
            elif kind is _FORWARDED:
                if not self._forwarded(raw, fields, sources, ignored):
                    continue
                kept.append(name)
                continue
            elif len(raw) > MAX_VALUE_LENGTH:
                ignored.append(Ignored(source[1], raw[:64] + "...",
                                       f"longer than {MAX_VALUE_LENGTH} characters"))
                continue
            else:
                trimmed_list, given = None, raw
                if aligned and "," in raw and "forwarded_for" in fields:
                    selected = self._aligned_value(raw, str(fields["forwarded_for"]))
                    if selected is None:
                        ignored.append(Ignored(source[1], given,
                                               "fewer values than X-Forwarded-For hops"))
                        continue
                    raw, trimmed_list = selected
                # The parsers are pure, so a remembered result is the same result.
                parsed = cache.get(raw)
                if parsed is None:
                    parsed = parse(raw)
                    if len(raw) <= _MAX_CACHED_LENGTH:
                        if len(cache) >= VALUE_CACHE_SIZE:
                            cache.clear()
                        cache[raw] = parsed
                value, reason = parsed
                if value is None:
                    ignored.append(Ignored(source[1], given, reason))
                    continue
                fields[target] = value
                if trimmed_list is not None:  # "" too: the one value taken was empty
                    trimmed_lists.append((name, trimmed_list))
            sources.append(source)
            kept.append(name)
        fields["prefix"] = fields.get("prefix", self._fixed_prefix) or None
        fields["kept"] = tuple(kept)
        fields["removed"] = (tuple(n for n in headers if n not in kept)
                             if len(kept) < len(headers) else ())
        fields["ignored"] = tuple(ignored)
        fields["sources"] = tuple(sources)
        if trimmed_lists:
            fields["aligned"] = tuple(trimmed_lists)
        return _decision(fields)

    def _untrusted(self, peer: str, headers: Mapping[str, object]) -> Decision:
        """The decision for an untrusted peer: every header in *headers* is
        removed, nothing else changes but the policy's own ``script_name``.

        What :meth:`decide` gives an untrusted peer, and what adapters use,
        without asking the policy, for a peer they cannot use: a
        ``REMOTE_ADDR`` or ASGI ``client`` of the wrong type, which is no
        address and not a Unix socket either (``trust_unix_socket`` does not
        cover it).

        Args:
            peer: the peer as :attr:`Decision.peer` shows it.
            headers: the known forwarded headers present, by lower-case name.
        """
        return _decision({"peer": peer, "trusted": False, "prefix": self._fixed_prefix,
                          "strip_prefix": self._strip, "removed": tuple(headers)})

    @staticmethod
    def _aligned_value(raw: str, forwarded_for: str) -> tuple[str, str] | None:
        """Hop-aligned selection (SPEC.md §5): each proxy appends one value to
        the list as it appends one address to X-Forwarded-For, so the value the
        outermost trusted proxy wrote stands as far from the right as the client
        stands in the trimmed X-Forwarded-For.

        An empty value counts as one: a proxy mounted at the root appends an
        empty X-Forwarded-Prefix, and skipping it (as X-Forwarded-For's empty
        elements are skipped) would take the value one hop further left, a
        client's. *raw* is at most MAX_VALUE_LENGTH characters.

        Returns that value and the list trimmed to it and the values right of
        it (white space stripped, joined with ``", "``): what the trusted
        proxies wrote, without what a client prepended. ``None`` when the
        list is too short to have one."""
        depth = forwarded_for.count(",") + 1
        parts = raw.rsplit(",", depth)
        if len(parts) < depth:
            return None
        parts = [part.strip(" \t") for part in parts[-depth:]]
        return parts[0], ", ".join(parts)

    def _forwarded(self, raw: str, fields: dict[str, object], sources: list[tuple[str, str]],
                   ignored: list[Ignored]) -> bool:
        """Walk a trusted ``Forwarded`` header (RFC 7239, SPEC.md §6) from the
        right, as X-Forwarded-For is walked; ``proto`` and ``host`` come from
        the element of the chosen client. Fills *fields*; returns whether the
        header is usable (and so kept)."""
        elements = parse_forwarded(raw, max_elements=self._max_hops + 1)
        if not elements:
            ignored.append(Ignored("Forwarded", raw, "no elements"))
            return False
        nodes: dict[int, Node] = {}

        def key(i: int) -> int | None:
            nodes[i] = node = element_node(elements[i])
            return node.key if node.kind is NodeKind.ADDRESS else None

        stop, verdicts = self._choose(len(elements), key)
        first = elements[0]
        if isinstance(first, Invalid) and first.unread:
            verdicts[0] = "unexamined"  # past the read's bounds, as X-Forwarded-For says it
        texts = [e.text if isinstance(e, Invalid) else format_element(e) for e in elements]
        fields["chain"] = tuple(_hop(t, v) for t, v in zip(texts, verdicts, strict=True))
        if stop == len(elements):
            ignored.append(Ignored("Forwarded", raw[:200], f"the last element is not usable: "
                                                            f"{nodes[stop - 1].reason}"))
            return False
        element = elements[stop]
        assert not isinstance(element, Invalid)
        fields["client"] = nodes[stop].address
        fields["forwarded"] = ", ".join(texts[stop:])
        sources.append(("client", "Forwarded"))
        for parameter, target, parse in (("proto", "scheme", parse_scheme_word),
                                         ("host", "host", parse_host)):
            given = element.get(parameter)
            if given is None:
                continue
            value, why = parse(given)
            if value is None:
                ignored.append(Ignored("Forwarded", f"{parameter}={given}", why))
            else:
                fields[target] = value
                sources.append((target, "Forwarded"))
        return True

    def _plain_decision(self, peer: str) -> Decision:
        """The decision for *peer* when it sent no forwarded header, remembered."""
        if type(peer) is not str:  # remembered by its text alone
            peer = str.__str__(peer)
        decision = Decision(peer, self.is_trusted(peer), prefix=self._fixed_prefix,
                            strip_prefix=self._strip)
        if len(self._plain) >= CACHE_SIZE:
            self._plain.clear()
        self._plain[peer] = decision
        return decision

    def _element(self, part: str) -> _Element | None:
        """Parse one X-Forwarded-For element (its text between commas) and
        remember it; callers look in ``_elements`` first.

        ``None`` means the element is empty or invalid: the walk then takes
        the general path, which says why.
        """
        element = None
        text = part.strip(" \t")
        parsed = parse_element(text) if text else None
        if parsed is not None:
            key, bare = parsed
            trusted = key in self._matcher
            element = _Element(text, key_to_text(key, bare), trusted,
                               _hop(text, "trusted" if trusted else "client"))
        if len(part) <= _MAX_CACHED_LENGTH:
            if len(self._elements) >= VALUE_CACHE_SIZE:
                self._elements.clear()
            self._elements[part] = element
        return element

    def _walk_fast(self, raw: str) -> tuple[str | None, str | None, tuple[Hop, ...], str]:
        """:meth:`_walk` for the usual header, from remembered elements.

        Handles a header whose elements from the right up to the client are
        all valid addresses; anything else (an empty or invalid element on the
        way) it hands to :meth:`_walk`, with the part of the header already read.
        """
        # Split whole when that reads what _tail would: few enough commas, and
        # no part longer than _REACH (which _tail reads as invalid).
        parts = None
        if len(raw) <= _MAX_FAST_HEADER and raw.count(",") <= self._max_hops:
            parts = raw.split(",")
            if len(raw) > _REACH and max(map(len, parts)) > _REACH:
                parts = None
        if parts is not None:
            tail, cut = raw, False
        else:  # as _walk: the last max_hops + 1 elements, the rest never split
            tail, cut = _tail(raw, self._max_hops + 1)
            parts = tail.split(",")
        hops: list[Hop] = []
        trimmed: list[str] = []
        remembered, parse = self._elements.get, self._element
        i = len(parts) - 1
        while True:
            element = remembered(parts[i]) or parse(parts[i])
            if element is None:  # the general walk decides, from the same tail
                return self._walk(raw, (tail, cut))
            if not element.trusted:
                break
            if i == 0:  # every element is a trusted proxy: the leftmost is the client
                element = element.as_client()
                break
            hops.append(element.hop)
            trimmed.append(element.text)
            i -= 1
        hops.append(element.hop)
        trimmed.append(element.text)
        left = [_hop(e, "unvisited") for e in (p.strip(" \t") for p in parts[:i]) if e] if i else []
        if cut:
            left.insert(0, _hop(f"({len(raw) - len(tail)} more characters)", "unexamined"))
        hops.reverse()
        trimmed.reverse()
        return element.canonical, ", ".join(trimmed), (*left, *hops), ""

    def _choose(self, count: int, key: Callable[[int], int | None]) -> tuple[int, list[str]]:
        """The right-to-left walk of SPEC.md §4, for X-Forwarded-For and Forwarded.

        *key(i)* gives the address key of element *i* of *count*, left to right
        (``None``: not an address); it is asked only for the elements the walk
        reaches. A trusted proxy continues the walk; the first untrusted
        address is the client; if every element is trusted, the leftmost is.
        Junk stops the walk, and the last trusted hop reached (the one that
        reported the junk) is the client. Returns the client's index
        (*count* when the rightmost element is junk: there is none) and
        each element's verdict.
        """
        matcher = self._matcher
        verdicts = ["unvisited"] * count
        stop = reached = count
        for i in range(count - 1, -1, -1):
            address = key(i)
            if address is None:
                verdicts[i] = "invalid"
                stop = reached
                break
            if address not in matcher:
                stop = i
                break
            verdicts[i], reached = "trusted", i
        else:
            stop = 0
        if stop < count:
            verdicts[stop] = "client"
        return stop, verdicts

    def _walk(self, raw: str, read: tuple[str, bool] | None = None
              ) -> tuple[str | None, str | None, tuple[Hop, ...], str]:
        """Walk X-Forwarded-For from the right (SPEC.md §4).

        Returns ``(client, trimmed header, hops, reason)``; ``client`` is
        ``None`` when the header is not usable, and *reason* says why.

        At most ``max_hops`` trusted elements are walked (plus the one that
        stops the walk); the rest of the header is never looked at.
        """
        tail, cut = read or _tail(raw, self._max_hops + 1)
        elements = [e for e in (part.strip(" \t") for part in tail.split(",")) if e]
        if not elements:
            return None, None, (), "no addresses in the list"
        parsed: dict[int, tuple[int, str] | None] = {}

        def key(i: int) -> int | None:
            parsed[i] = found = parse_element(elements[i])
            return found[0] if found else None

        stop, verdicts = self._choose(len(elements), key)
        hops = tuple(_hop(e, v) for e, v in zip(elements, verdicts, strict=True))
        if cut:
            hops = (_hop(f"({len(raw) - len(tail)} more characters)", "unexamined"), *hops)
        chosen = parsed.get(stop)
        if chosen is None:
            return None, None, hops, (
                f"the last element {elements[-1][:64]!r} is not an IP address")
        return key_to_text(*chosen), ", ".join(elements[stop:]), hops, ""
