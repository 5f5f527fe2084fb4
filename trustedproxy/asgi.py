"""The ASGI adapter: the only module that reads or writes an ASGI scope.

It applies the same engine, and gives a :class:`~trustedproxy.Decision` the
same meaning, as the WSGI adapter (:mod:`trustedproxy.wsgi`):

==========================  =====================================================
WSGI environ                ASGI scope
==========================  =====================================================
``REMOTE_ADDR``             ``scope["client"]``: ``(Decision.client, 0)``
``wsgi.url_scheme``         ``scope["scheme"]``: ``http``/``https``, or ``ws``/``wss``
                            for a ``websocket`` scope
``HTTP_HOST``               the ``host`` header in ``scope["headers"]``
``SERVER_NAME``             ``scope["server"][0]`` (an IPv6 name without brackets)
``SERVER_PORT``             ``scope["server"][1]`` (an ``int``)
``SCRIPT_NAME``             ``scope["root_path"]`` (and ``scope["path"]``, see below)
``HTTP_X_FORWARDED_FOR``    the ``x-forwarded-for`` header, trimmed
``HTTP_FORWARDED``          the ``forwarded`` header, trimmed
hop-aligned ``HTTP_*``      the header, trimmed (``Decision.aligned``)
removed ``HTTP_*``          the header's entries are dropped from ``scope["headers"]``
``trustedproxy.orig``       ``scope["extensions"]["trustedproxy"]["orig"]``
``trustedproxy.decision``   ``scope["extensions"]["trustedproxy"]["decision"]``
==========================  =====================================================

The client's port is not known (forwarded headers carry an address; a port in
``X-Forwarded-For`` is the client's claim), so a rewritten client has port
``0``, as uvicorn's own proxy middleware does.

``path`` and ``root_path``: the ASGI spec has ``path`` hold the whole path,
``root_path`` included (uvicorn builds it so since 0.26; Starlette's routing
strips ``root_path`` from ``path``). The adapter keeps that form: the part of
``path`` after ``root_path`` is the route (``PATH_INFO``); the prefix goes in
front of ``root_path``; ``path`` becomes the new ``root_path`` followed by the
route. So a proxy that strips its prefix (``/app/x`` sent on as ``/x`` with
``X-Forwarded-Prefix: /app``) gives ``root_path="/app"``, ``path="/app/x"``;
with ``strip_prefix_from_path`` a proxy that passes ``/app/x`` through gives the
same. ``raw_path``, when present, gets the same (percent-encoded) prefix.

A header name that is a known forwarded header's in another spelling, one
with the same CGI key (``x_forwarded_for``), is removed from every peer and
never read: Django's ``ASGIRequest`` and asgiref's WSGI bridge would read it as
``HTTP_X_FORWARDED_FOR``.

Values of the wrong type (a server's, a test client's or another middleware's
mistake) never raise and are never trusted: a ``client`` that is not a
``[host, port]`` pair with a ``str`` host is no peer (untrusted, whatever
``trust_unix_socket`` says; ``None`` is a Unix socket's); a header entry that
is not a pair of bytes-like (``bytes``, ``bytearray``, ``memoryview``) name and
value is not read, and
is removed when its name, of any type and case, spells a known forwarded header
(with every other entry of that header; a trusted one is ignored, see
``Decision.ignored``); a ``headers`` that is not a list or tuple is read once
into a list (empty when it cannot be read), which the application gets. Other
fields of another type are replaced, never compared: a ``root_path`` reads as
empty, a ``path`` (and with it ``raw_path``) is left as it is, a ``raw_path``
that is not bytes is made anew from ``path``, a ``server`` that is not a pair
reads as missing, an ``extensions`` that ``dict()`` cannot read is replaced
by one holding ours alone (the value is kept in ``orig``). A ``str``,
``bytes`` or ``bytearray`` subclass (and a
``list`` or ``tuple`` subclass ``client`` or ``server``) is read from its
memory alone, none of its methods runs, and the names cache, shared by every
later request, remembers only exact ``bytes`` names.

The caller's scope is never changed: the application gets a new scope dict,
with a new ``extensions`` dict, and a new ``headers`` list when a header
changes. ``lifespan`` scopes (and any other type but ``http`` and
``websocket``, a ``type`` that is not a ``str`` included, never compared)
are passed on untouched.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from ._compiled import speedups
from .engine import Decision, Unreadable
from .headers import HEADERS, environ_key
from .policy import TrustPolicy, adapter_policy
from .values import join_prefix, text_from_wsgi
from .wsgi import (
    SPEEDUPS,
    log_ignored,
    reduce_middleware,
    refuse_wrapped_twice,
    restore_middleware,
)
from .wsgi import TrustedProxyMiddleware as _WsgiMiddleware

__all__ = [
    "EXTENSION_KEY",
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "TrustedProxyMiddleware",
    "apply_decision",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Key in ``scope["extensions"]`` of ``{"orig": {...}, "decision": Decision}``.
#: ``orig`` maps every scope key the middleware changed to its value before
#: (``None``: the key was absent); ``client`` (the TCP peer) is always in it,
#: and ``headers`` (the original list) whenever a header was changed or removed.
EXTENSION_KEY = "trustedproxy"

_WS_SCHEMES = {"http": "ws", "https": "wss"}
# Characters left as they are when the prefix is written into raw_path: the
# path characters of RFC 3986 (pchar and "/"); everything else is %-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_HOST = b"host"
# Header names remembered per middleware, and prefixes percent-encoded: both
# are bounded, since clients choose header names (and proxies prefixes).
_NAMES_CACHE_SIZE = 512
#: Longest header name remembered (a real one is far shorter).
_MAX_REMEMBERED_NAME = 64
_QUOTED_CACHE_SIZE = 64
_quoted: dict[str, bytes] = {}


def _hand_back(environ: dict[str, Any], start_response: Any) -> dict[str, Any]:
    """The "application" of the WSGI middleware used as the decision engine;
    never called, since only its ``_decide`` is used."""
    return environ


#: What _Names says of a header: (the key the found headers are filed under,
#: "" for host, ``None`` for another spelling of a known header; the engine's
#: name for it; its name in lower case).
_Entry = tuple[str | None, str, bytes]
_UNSEEN: _Entry = ("", "", b"")  # _Names.seen's default (compared by identity)


class _Names:
    """What each header name received means: an :data:`_Entry` for a known
    forwarded header or ``host``, ``None`` for any other header. Names are
    remembered as received (most servers send them lower-case already), so a
    name costs one dict lookup.

    Another spelling of a known header is a name that is not the header's in
    any case but has its CGI key (``x_forwarded_for``; ``X-Forwarded-\xdfl``,
    whose ``\xdf`` upper-cases to ``SS``): Django's ``ASGIRequest``, asgiref's
    and a2wsgi's WSGI bridges read it as the header itself, so it is always
    removed and never read (no proxy writes it; WSGI servers drop ``_`` names
    or merge them into the header, see SECURITY.md). Its entry's key is
    ``None``, which the compiled scan leaves to Python."""

    __slots__ = ("by_cgi", "by_lower", "seen")

    def __init__(self, known: Iterable[tuple[str, str]]) -> None:
        """*known*: (engine name, key to file it under) of each known header."""
        self.by_lower: dict[object, _Entry | None] = {_HOST: ("", "host", _HOST)}
        self.by_cgi: dict[str, str] = {}
        for name, key in known:
            raw = name.encode("latin-1")
            self.by_lower[raw] = (key, name, raw)
            self.by_cgi[environ_key(name)] = name
        self.seen = self.by_lower.copy()

    def odd(self, item: object, name: object) -> _Entry | None:
        """The meaning of the name of a header entry that is not a pair of
        bytes (*item*; *name* its first item, or ``_NOT_A_PAIR``): a known
        forwarded header's entry (in any case and spelling, the name bytes,
        ``bytearray``, ``memoryview`` or ``str``), ``host``'s excluded, or ``None``. Not
        remembered: a server's mistake, not the usual request."""
        if name is _NOT_A_PAIR:
            if not (isinstance(item, (list, tuple)) and type(item) in (list, tuple) and item):
                return None
            name = item[0]
        if isinstance(name, _BYTES_LIKE):
            raw = _exact_bytes(name)
            if raw is None:  # a released memoryview
                return None
            text = raw.decode("latin-1")
        elif isinstance(name, str):
            text = str.__str__(name)
        else:
            return None
        try:
            entry = self.by_lower.get(text.lower().encode("latin-1"))
        except UnicodeEncodeError:
            entry = None
        if entry is None:
            known = self.by_cgi.get(environ_key(text))
            entry = None if known is None else (None, known, known.encode("latin-1"))
        return None if entry is None or entry[0] == "" else entry

    def learn(self, name: Any) -> _Entry | None:
        """The meaning of *name*, bytes not seen before (any case).

        Only short names are remembered: clients choose them, and a server
        configured for large headers would otherwise let the cache keep
        :data:`_NAMES_CACHE_SIZE` names of any length.

        Raises:
            _OddEntry: *name* is not exactly bytes (never remembered: a
                subclass's __hash__ and __eq__ would run in every later
                lookup; :func:`_scan_careful` reads its entry)."""
        if type(name) is not bytes:
            raise _OddEntry
        lower = name.lower()
        entry = self.by_lower.get(lower)
        if entry is None:
            # The CGI key as Django and asgiref make it (latin-1, upper case).
            known = self.by_cgi.get(environ_key(name.decode("latin-1")))
            if known is not None:
                entry = (None, known, lower)
        if len(name) > _MAX_REMEMBERED_NAME:
            return entry
        if len(self.seen) >= _NAMES_CACHE_SIZE:
            self.seen = self.by_lower.copy()
        self.seen[name] = entry
        return entry


_NOT_A_PAIR = object()  # what _scan reads as the name of an entry that is no pair
_BYTES_LIKE = (bytes, bytearray, memoryview)  # what a readable entry's name and value are


def _exact_bytes(value: object) -> bytes | None:
    """A bytes-like value's bytes (an exact ``bytes``), read from its memory
    without calling anything its class defines (a subclass's ``__bytes__``,
    ``__getitem__``, ...); ``None`` when it is not bytes-like or cannot be
    read (a released memoryview)."""
    try:
        if isinstance(value, bytes):
            return bytes.__getitem__(value, slice(None))  # the very object when exact
        if isinstance(value, bytearray):
            return bytes(bytearray.copy(value))
        if isinstance(value, memoryview):
            return value.tobytes()
    except Exception:  # released, or a __class__ that lies
        pass
    return None


class _OddEntry(Exception):
    """A header entry of the wrong type or shape, met by :func:`_scan`'s
    fast pass, which leaves the scope to the careful one."""


def _type_name(value: object) -> str:
    return type(value).__name__


def _shown(value: object) -> str:
    """A short text for a value of an unreadable header entry, built
    without calling anything the value's class defines."""
    if isinstance(value, (str, bytes, bytearray)) and type(value) in (str, bytes, bytearray):
        return repr(value[:64]) + ("..." if len(value) > 64 else "")
    return f"({_type_name(value)} value)"


def _unreadable(item: object, name: object, value: object) -> Unreadable:
    """What the engine is given for a known header with an unreadable entry."""
    if name is _NOT_A_PAIR:
        size = f" of {len(item)} items" if type(item) in (list, tuple) else ""  # type: ignore[arg-type]
        return Unreadable(f"({_type_name(item)}{size})",
                          f"an ASGI header entry that is not a [name, value] pair but a "
                          f"{_type_name(item)}{size}: not read")
    return Unreadable(_shown(value),
                      f"an ASGI header entry of a {_type_name(name)} name and a "
                      f"{_type_name(value)} value, not bytes: not read")


def _scan(headers: list[Any] | tuple[Any, ...], names: _Names
          ) -> tuple[dict[str, Any], list[tuple[int, _Entry]]]:
    """One pass over *headers*: the known forwarded headers present (their
    fields joined with ``", "`` in the order received, RFC 9110 §5.3), by the
    key *names* files them under; and where each of them, each other spelling
    of one (not read) and ``host`` stands (index, entry).

    An entry that is not a pair of bytes-like (``bytes``, ``bytearray``,
    ``memoryview``) name and value (a malformed scope) is not read. When its name (``item[0]``),
    whatever its type, spells a known forwarded header in any case, the
    header is found as :class:`~trustedproxy.engine.Unreadable` (never
    trusted, so removed, every field of it) and the entry gets an entry of
    key ``None`` (removed from every peer); any other is passed on as it is.

    The usual scope (pairs of bytes) takes a fast pass, which stops at the
    first entry of another type or shape (an exception) for a careful one.
    """
    found: dict[str, Any] = {}
    # A header repeated: its fields, joined once at the end (joining as they
    # come would copy the text so far for each line: quadratic in the lines).
    repeated: dict[str, list[str]] = {}
    spots: list[tuple[int, _Entry]] = []
    seen = names.seen
    i = -1
    try:
        for name, value in headers:
            i += 1
            if type(name) is not bytes:  # looked up by its own __hash__ and __eq__
                raise _OddEntry
            entry = seen.get(name, _UNSEEN)
            if entry is _UNSEEN:
                entry = names.learn(name)
                seen = names.seen  # learn may start afresh
            if entry is None:
                continue
            spots.append((i, entry))
            key = entry[0]
            if key:
                if type(value) is not bytes:
                    raise _OddEntry
                text = value.decode("latin-1")
                if key not in found:
                    found[key] = text
                elif key in repeated:
                    repeated[key].append(text)
                else:
                    repeated[key] = [found[key], text]
    except Exception:  # not a pair, an unhashable name, _OddEntry: read again, carefully
        return _scan_careful(headers, names)
    for key, fields in repeated.items():
        found[key] = ", ".join(fields)
    return found, spots


def _bytes_text(value: object) -> str | None:
    """A bytes-like header value as text (latin-1), or ``None`` when it is none."""
    raw = _exact_bytes(value)
    return None if raw is None else raw.decode("latin-1")


def _scan_careful(headers: list[Any] | tuple[Any, ...], names: _Names
                  ) -> tuple[dict[str, Any], list[tuple[int, _Entry]]]:
    """:func:`_scan` of headers that hold an entry of the wrong type or shape."""
    found: dict[str, Any] = {}
    repeated: dict[str, list[str]] = {}
    spots: list[tuple[int, _Entry]] = []
    unread: set[str] = set()
    for i, item in enumerate(headers):
        try:
            name, value = item
        except Exception:  # not a pair
            name = value = _NOT_A_PAIR
        raw = _exact_bytes(name)  # None: no bytes-like name, or a released memoryview
        entry = _UNSEEN if raw is None else names.learn(raw)
        if entry is _UNSEEN:
            odd = names.odd(item, name)
            if odd is not None:  # a known header's entry, not read: removed
                spots.append((i, (None, odd[1], odd[2])))
                if odd[0]:
                    found[odd[0]] = _unreadable(item, name, value)
                    unread.add(odd[0])
            continue
        if entry is None:
            continue
        key = entry[0]
        text = None
        if key:
            text = _bytes_text(value)
            if text is None:
                spots.append((i, (None, entry[1], entry[2])))  # not read: removed
                found[key] = _unreadable(item, name, value)
                unread.add(key)
                continue
        spots.append((i, entry))
        if key and text is not None and key not in unread:
            if key not in found:
                found[key] = text
            elif key in repeated:
                repeated[key].append(text)
            else:
                repeated[key] = [found[key], text]
    for key, fields in repeated.items():
        if key not in unread:
            found[key] = ", ".join(fields)
    return found, spots


def _quote_prefix(text: str) -> bytes:
    """*text* percent-encoded for ``raw_path``, remembered (bounded)."""
    quoted = _quoted.get(text)
    if quoted is None:
        quoted = quote(text, safe=_PATH_SAFE).encode("ascii")
        if len(_quoted) >= _QUOTED_CACHE_SIZE:
            _quoted.clear()
        _quoted[text] = quoted
    return quoted


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _raw_tail(raw: bytes, route: str) -> bytes | None:
    """The end of *raw* that percent-decodes to *route*'s UTF-8 bytes (the
    route as received: an encoded ``/`` stays ``%2F``), or ``None`` when
    *raw* does not end with it."""
    if not isinstance(raw, bytes):
        return None
    try:
        want = route.encode("utf-8")
    except UnicodeEncodeError:  # a path with a lone surrogate, no server's
        return None
    decoded = unquote_to_bytes(raw)
    if not decoded.endswith(want):
        return None
    # Walk past the decoded bytes before the route: "%XX" is one, any other byte one.
    i, end = 0, len(raw)
    for _ in range(len(decoded) - len(want)):
        i += 3 if (raw[i] == 0x25 and i + 2 < end and raw[i + 1] in _HEX_DIGITS
                   and raw[i + 2] in _HEX_DIGITS) else 1
    return raw[i:]


def _apply_prefix(decision: Decision, scope: Scope, new: dict[str, Any],
                  orig: dict[str, Any]) -> None:
    """The prefix part of :func:`_apply`: ``root_path``, ``path`` and
    ``raw_path`` of *new* (originals in *orig*) for a non-empty
    ``decision.prefix``. The compiled path calls it too."""
    get = scope.get
    old_root, old_path = get("root_path"), get("path")
    # A root_path that is not a str (a server's mistake) reads as empty (the
    # prefix replaces it); a path that is not one is left as it is, with
    # raw_path: the route is not known.
    # A str subclass is read as its text alone (none of its methods runs).
    root = str.__str__(old_root) if isinstance(old_root, str) else ""
    if old_path is not None and not isinstance(old_path, str):
        prefix = text_from_wsgi(decision.prefix or "")
        orig["root_path"], new["root_path"] = old_root, join_prefix(prefix, root, "", False)[0]
        return
    path = "" if old_path is None else str.__str__(old_path)
    # A server that leaves root_path out of path: all of path is the route.
    inside = bool(root) and (path == root or path.startswith(root + "/"))
    route = path[len(root):] if inside else path
    # root_path and path are text: the prefix's bytes (latin-1 in the
    # decision, as in WSGI) read as UTF-8.
    prefix = text_from_wsgi(decision.prefix or "")
    root_path, route = join_prefix(prefix, root, route, decision.strip_prefix)
    # The prefix is not empty, so root_path differs from the old one.
    orig["root_path"], new["root_path"] = old_root, root_path
    new_path = root_path + route
    if new_path != path:  # then it differs from old_path too ("" when absent)
        orig["path"], new["path"] = old_path, new_path
        old_raw = get("raw_path")
        if old_raw is not None:
            # Its bytes, read without its class's methods (a subclass's).
            old_bytes = (_exact_bytes(old_raw) if isinstance(old_raw, (bytes, bytearray))
                         else None)
            if old_bytes is None:  # made anew from path
                raw = quote(new_path, safe=_PATH_SAFE).encode("ascii")
            elif new_path.endswith(path):
                raw = _quote_prefix(new_path[:len(new_path) - len(path)]) + old_bytes
            else:  # the prefix was cut from path: raw_path keeps the route's bytes
                tail = _raw_tail(old_bytes, route)
                raw = (quote(new_path, safe=_PATH_SAFE).encode("ascii") if tail is None
                       else _quote_prefix(root_path) + tail)
            if type(old_raw) is not bytes or old_raw != raw:
                orig["raw_path"], new["raw_path"] = old_raw, raw


def _apply(decision: Decision, scope: Scope, spots: list[tuple[int, _Entry]]
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`apply_decision`, given where the known headers and ``host``
    stand in ``scope["headers"]`` (from :func:`_scan`)."""
    get = scope.get
    new: dict[str, Any] = dict(scope)
    orig: dict[str, Any] = {"client": get("client")}

    # Headers: drop the removed ones, replace the rewritten ones (one field
    # each, where the first one stood; host is added when it was missing).
    replace: dict[str, str] = {}
    if decision.host is not None:
        replace["host"] = decision.host
    if decision.forwarded_for is not None:
        replace["x-forwarded-for"] = decision.forwarded_for
    if decision.forwarded is not None:
        replace["forwarded"] = decision.forwarded
    for name, trimmed in decision.aligned:  # hop-aligned lists, trimmed
        replace[name] = trimmed
    removed = decision.removed
    if replace or (spots and (removed or _other_spelling(spots))):
        headers = get("headers") or []
        rewritten = list(headers)
        gone: list[int] = []
        done: set[str] = set()
        changed = False
        for i, (key, name, lower) in spots:
            if key is None or name in removed:  # another spelling goes always
                gone.append(i)
                continue
            text = replace.get(name)
            if text is None:  # a header kept as it came
                continue
            if name in done:
                gone.append(i)  # a second field of a replaced header
                continue
            done.add(name)
            # Read again without the entry's own methods (a subclass's
            # __iter__ may answer differently, or raise, a second time).
            old_name, old_value = _pair(rewritten[i]) or (None, None)
            encoded = text.encode("latin-1")
            # A name or value of another type (a bytearray) is replaced, not compared.
            changed = (changed or type(old_value) is not bytes or encoded != old_value
                       or type(old_name) is not bytes or old_name != lower)
            rewritten[i] = (lower, encoded)
        if len(done) < len(replace):  # host, when none came
            for name, text in replace.items():
                if name not in done:
                    rewritten.append((name.encode("latin-1"), text.encode("latin-1")))
            changed = True
        if gone:
            changed = True
            # One pass (deleting one by one would shift the rest each time).
            drop = set(gone)
            rewritten = [item for i, item in enumerate(rewritten) if i not in drop]
        if changed:
            orig["headers"] = get("headers")
            new["headers"] = rewritten

    # The other fields; each is set (and its old value kept) only if it differs.
    # Old values are compared only as plain str, int and tuples of them:
    # another type (a server's mistake) is replaced, never compared.
    if decision.client is not None:
        client = (decision.client, 0)
        old = orig["client"]  # orig holds the client always
        if not (type(old) is tuple and len(old) == 2 and type(old[0]) is str
                and type(old[1]) is int and old == client):
            new["client"] = client
    if decision.scheme is not None:
        kind = get("type")  # a str subclass read as its text, as _prepare_python reads it
        websocket = isinstance(kind, str) and str.__str__(kind) == "websocket"
        value: object = _WS_SCHEMES[decision.scheme] if websocket else decision.scheme
        old = get("scheme")
        if type(old) is not str or old != value:
            orig["scheme"], new["scheme"] = old, value
    if decision.server is not None or decision.port is not None:
        old = get("server")
        # A server that is not a [host, port] pair reads as missing.
        pair = _pair(old)
        # A port alone needs a host to go with: not for a missing server, nor
        # for a Unix socket's (path, None).
        if decision.server is not None or (pair is not None and pair[1] is not None):
            host, port = pair if pair is not None else (decision.server, None)
            if decision.server is not None:  # an [IPv6] name bare, as servers give it
                host = decision.server.removeprefix("[").removesuffix("]")
            if decision.port is not None:
                port = int(decision.port)
            if not _same(old, (host, port)):
                orig["server"], new["server"] = old, (host, port)
    if decision.prefix:
        _apply_prefix(decision, scope, new, orig)
    return new, orig


def _pair(value: object) -> tuple[Any, Any] | None:
    """The two items of a list or tuple of two (a subclass's read from its
    memory, without its ``__len__`` or ``__getitem__``), or ``None``."""
    try:
        if isinstance(value, tuple):
            if tuple.__len__(value) == 2:
                return tuple.__getitem__(value, 0), tuple.__getitem__(value, 1)
        elif isinstance(value, list) and list.__len__(value) == 2:
            return list.__getitem__(value, 0), list.__getitem__(value, 1)
    except Exception:  # a __class__ that lies
        pass
    return None


def _same(old: object, value: tuple[Any, Any]) -> bool:
    """Whether *old* is the pair *value*: a tuple of the same items, each
    the very object or an equal plain str or int (nothing else is compared)."""
    if type(old) is not tuple or len(old) != 2:
        return False
    a, b = old
    c, d = value
    return ((a is c or (type(a) is type(c) and (type(a) is str or type(a) is int) and a == c))
            and (b is d or (type(b) is type(d) and (type(b) is str or type(b) is int)
                            and b == d)))


def _other_spelling(spots: list[tuple[int, _Entry]]) -> bool:
    """Whether *spots* hold another spelling of a known header (always removed)."""
    return any(entry[0] is None for _, entry in spots)


def _rescan_apply(decision: Decision, scope: Scope, names: _Names
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`_apply` with the spots found again: for the compiled path, when
    the scope has a shape it leaves to Python once the decision is taken."""
    _, spots = _scan(_header_list(scope.get("headers")), names)
    return _apply(decision, scope, spots)


def apply_decision(decision: Decision, scope: Scope) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply *decision* to a copy of *scope* (an ``http`` or ``websocket`` scope).

    Returns:
        ``(new scope, orig)``: the scope for the application, and a dict of
        every scope key changed, with its original value (``None`` when the
        key was absent). ``client`` is always in *orig*. *scope* itself is
        left as it was.
    """
    names = {*HEADERS, *decision.removed}
    headers = scope.get("headers")
    if headers is not None and not isinstance(headers, (list, tuple)):
        scope = _headers_as_list(scope, headers)
    _, spots = _scan(_header_list(scope.get("headers")),
                     _Names((name, name) for name in names))
    return _apply(decision, scope, spots)


class TrustedProxyMiddleware:
    """ASGI 3 middleware that believes forwarded headers only from trusted proxies.

    The same policy and engine as the WSGI
    :class:`trustedproxy.TrustedProxyMiddleware`, applied to ``http`` and
    ``websocket`` scopes (see the module docstring for what each field of the
    decision rewrites). From an untrusted peer every known forwarded header
    (and any other spelling of one's CGI key, such as ``x_forwarded_for``,
    which is removed from every peer) is removed from ``scope["headers"]`` and
    nothing else changes (but for the policy's own fixed ``script_name``,
    which applies to every request). The
    application gets a new scope; the server's is never changed. The original
    values and the decision are kept in
    ``scope["extensions"]["trustedproxy"]``. ``lifespan`` scopes pass through
    untouched.

    Args:
        app: the ASGI 3 application to call.
        policy: a :class:`TrustPolicy`, or the path of a policy file in any form
            (YAML, mod_wsgi directives, mod_wsgi-express arguments; see
            :meth:`TrustPolicy.from_file`).

    Raises:
        ConfigError: if *policy* is a file that does not hold a valid policy, or
            if *app* is itself a :class:`TrustedProxyMiddleware` (wrap once).
        TypeError: if *policy* is neither a :class:`TrustPolicy` nor a path.

    Example::

        from trustedproxy.asgi import TrustedProxyMiddleware

        app = TrustedProxyMiddleware(app, "trust.yaml")
    """

    _compiled = True  # whether to use the compiled decision when SPEEDUPS
    #: The attributes __init__ derives from the policy: a copy derives them anew.
    _derived = frozenset({"engine", "_decider", "_names", "_prepare", "_config"})

    def __init__(self, app: ASGIApp, policy: TrustPolicy | str | os.PathLike[str]) -> None:
        refuse_wrapped_twice(app, TrustedProxyMiddleware,
                             "trustedproxy.asgi.TrustedProxyMiddleware",
                             'scope["extensions"]["trustedproxy"]')
        policy = adapter_policy(policy)
        self.app = app
        self.policy = policy
        self.engine = policy.compile()
        # The decision comes from the WSGI middleware's request path (compiled,
        # when the speedups are built), deciding only (_decide) on a small
        # environ of the peer and the forwarded headers found, with the same
        # engine; else from the engine.
        compiled = SPEEDUPS and self._compiled
        self._decider: _WsgiMiddleware | None = (
            _WsgiMiddleware(_hand_back, policy) if compiled else None)  # type: ignore[arg-type]
        self._names = _Names((spec.key, spec.environ_key if compiled else spec.key)
                             for spec in policy.headers.values())
        # And the rest of the request too, for the scopes servers build.
        self._prepare: Callable[..., Scope | None] | None = None
        # Not for hop_aligned: the compiled rewrite knows only the headers
        # every policy may rewrite (the WSGI path leaves hop_aligned to Python too).
        if compiled and speedups is not None and not policy.hop_aligned:
            self._prepare = speedups.asgi_prepare
            self._config = (self._decider, self._names, _apply_prefix, _rescan_apply,
                            _quote_prefix)

    def __reduce__(self) -> tuple[Any, ...]:
        """Copies and pickles (:mod:`copy`, :mod:`pickle`): a new middleware of
        the same class, set up by ``__init__`` for (a copy of) the same ``app``
        and ``policy``, with every other attribute a subclass gave it (in its
        ``__dict__`` or ``__slots__``). The decider, the names cache and the
        compiled path are made anew, in the process that loads a pickle as
        its speedups allow (one made where they are used loads where they are
        not, ``TRUSTEDPROXY_PURE_PYTHON`` set, and the other way round)."""
        return reduce_middleware(self, self._derived)

    def __setstate__(self, state: tuple[dict[str, Any], dict[str, Any]]) -> None:
        """Set up a copy made by :meth:`__reduce__` (see
        :func:`trustedproxy.wsgi.restore_middleware`)."""
        restore_middleware(self, TrustedProxyMiddleware.__init__, state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Fix a copy of *scope* for this connection, then call the application."""
        prepare = self._prepare
        new = None if prepare is None else prepare(self._config, scope)
        if new is None:
            new = self._prepare_python(scope)
        await self.app(new, receive, send)

    def _prepare_python(self, scope: Scope) -> Scope:
        """The scope the application gets for *scope*: a fixed copy of an
        ``http`` or ``websocket`` scope, any other scope itself. The reference
        for the compiled ``_speedups.asgi_prepare``, and the path of scopes of
        a shape it leaves to Python."""
        kind = scope.get("type")
        if type(kind) is not str:
            # A str subclass is read as its text; any other type (a server's
            # mistake) is no http nor websocket scope, and is never compared
            # (its class could say it equals anything, or raise).
            if not isinstance(kind, str):
                return scope
            kind = str.__str__(kind)
        if kind != "http" and kind != "websocket":
            return scope
        client = scope.get("client")
        # No client (None) is a Unix socket's; a client that is not a [host,
        # port] pair with a str host (a server's mistake) is no usable peer:
        # untrusted, whatever trust_unix_socket says.
        if type(client) is tuple and len(client) == 2 and type(client[0]) is str:
            peer: str | None = client[0]  # the usual client
        elif client is None:
            peer = ""
        else:
            pair = _pair(client)
            # A str subclass host is read as its text (none of its methods runs).
            peer = (str.__str__(pair[0]) if pair is not None and isinstance(pair[0], str)
                    else None)
        headers = given = scope.get("headers")
        if type(headers) is not list:
            if headers is None:
                headers = ()
            elif not isinstance(headers, (list, tuple)):
                scope = _headers_as_list(scope, headers)
                headers = scope["headers"]
        found, spots = _scan(headers, self._names)
        any_found = bool(found)
        decider = self._decider
        if decider is not None:
            found["REMOTE_ADDR"] = peer  # the header keys all start with HTTP_
            decision = decider._decide(found)
        else:
            decision = (self.engine.decide(peer, found) if peer is not None
                        else self.engine._untrusted("", found))
            log_ignored(decision)
        if any_found or decision.prefix or (spots and _other_spelling(spots)):
            new, orig = _apply(decision, scope, spots)
        else:
            new, orig = dict(scope), {"client": client}
        if given is not None and headers is not given:
            orig["headers"] = given
        given_extensions = scope.get("extensions")
        if type(given_extensions) is dict:
            extensions = dict(given_extensions)
        else:
            extensions = _extensions(given_extensions, orig)
        extensions[EXTENSION_KEY] = {"orig": orig, "decision": decision}
        new["extensions"] = extensions
        return new


def _extensions(given: object, orig: dict[str, Any]) -> dict[str, Any]:
    """A new dict of *given*, a scope's ``extensions`` that is not a dict:
    empty for ``None``; else what ``dict()`` reads of it, or, when that
    raises (a server's mistake: not a mapping nor pairs), an empty one, with
    *given* kept in ``orig["extensions"]``."""
    if given is None:
        return {}
    try:
        return dict(given) if given else {}  # type: ignore[call-overload]
    except Exception:
        orig["extensions"] = given
        return {}


def _header_list(headers: object) -> list[Any] | tuple[Any, ...]:
    """*headers* when it is a list or tuple, else none (``()``: ``None``, or
    what :func:`_headers_as_list` made a list of)."""
    return headers if isinstance(headers, (list, tuple)) else ()


def _headers_as_list(scope: Scope, headers: object) -> Scope:
    """*scope* with its ``headers``, not a list or tuple (the ASGI spec
    allows any iterable, a server sends a list), read once into a list: a
    copy, whose ``headers`` the application gets in place of the original,
    which the extension's ``orig`` keeps (as ``orig["headers"]``, even if
    nothing else in them changes). One that cannot be read (not iterable, or
    raising while read) is an empty list: nothing in it is passed on."""
    try:
        items = list(headers)  # type: ignore[call-overload]
    except Exception:
        items = []
    return {**scope, "headers": items}


class _PurePythonMiddleware(TrustedProxyMiddleware):
    """:class:`TrustedProxyMiddleware` whose decisions always come from the
    Python engine (the reference the compiled decision is tested against)."""

    _compiled = False
