"""Fuzz targets for trustedproxy: what each one feeds in and what it asserts.

Each target is a function ``target(data: bytes) -> None`` that decodes the
fuzzer's bytes into an input, runs the library and raises ``AssertionError``
(or lets an unexpected exception escape) when an invariant breaks. The same
functions run under atheris (``fuzz/fuzz.py``) and in the regression tests
(``tests/test_fuzz_regressions.py``), which is why this module does not import
atheris: it decodes bytes with its own small :class:`Input` reader.

Targets (``TARGETS``):

``request``
    A TCP peer plus arbitrary header names and values (bytes decoded as
    servers decode them: latin-1) through ``TrustedProxyMiddleware`` under a
    few fixed policies.
``xff``
    The X-Forwarded-For walk (``TrustEngine.decide`` with only
    x-forwarded-for), checked against a slow reference walk written from
    SPEC.md section 4 with :mod:`ipaddress`.
``yaml``
    ``TrustPolicy.from_yaml(text)``: nothing but ``ConfigError`` escapes.
``directives``
    ``TrustPolicy.from_directives(text)``: nothing but ``ConfigError``
    escapes (present once ``trustedproxy/loaders/directives.py`` exists).
``express``
    ``TrustPolicy.from_express_args(argv)``, a shell string or an argument
    list: nothing but ``ConfigError`` escapes, and what loads reads back
    equal from ``to_express_args``.
``files``
    ``load_file(path, format=...)``: arbitrary bytes written to a file named
    ``policy``, ``x.yaml``, ``x.conf`` or ``x.args``, loaded with each
    ``format=`` (none, yaml, directives, express): nothing but ``ConfigError``
    escapes, ``detect_format`` never raises, and a file loaded with no format
    loads the same (or fails the same) with the format detected.
``asgi``
    The request target's inputs as an ASGI scope, through
    ``trustedproxy.asgi.TrustedProxyMiddleware`` (present once that module exists);
    now and then with a field or header entry of the wrong type or shape (a
    bytes or 3-item client, a str, bytearray or None in a header entry, an
    entry of one item, a dict of headers, a scheme, root_path, raw_path or
    server of another type), which must neither raise nor be trusted.
``forwarded``
    The RFC 7239 parser in ``trustedproxy/forwarded.py`` (present once that
    module exists): it never raises.
``speedups``
    The request target's inputs through the compiled ``TrustedProxyMiddleware``
    (``trustedproxy._speedups``) and the Python reference
    (``_PurePythonMiddleware``), each fresh and sent the request twice (cold,
    then warm caches): any difference in what the application saw, in the
    environ afterwards or in what was returned or raised is a finding, and so
    is a crash of the C code (libFuzzer saves the input on SIGSEGV), and so
    is an exception from either (one value of an unusual type included).
    Without the extension both sides are the Python path and it checks only that.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import ipaddress
import logging
import os
import pickle
import shlex
import socket
import string
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trustedproxy import ConfigError, TrustedProxyMiddleware, TrustPolicy
from trustedproxy.headers import HEADERS, environ_key
from trustedproxy.values import parse_host, parse_prefix

__all__ = ["POLICIES", "TARGETS", "Input", "check_request", "check_xff"]

ORIG_KEY = "trustedproxy.orig"
DECISION_KEY = "trustedproxy.decision"
_ENV_KEYS = {spec.environ_key: spec.key for spec in HEADERS.values()}


class Input:
    """Reads typed values off a byte string, never failing (zeros when exhausted).

    A tiny stand-in for ``atheris.FuzzedDataProvider`` with a fixed, documented
    decoding, so that a crashing input replays identically in plain pytest.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        """The next byte, or 0 when the data is exhausted."""
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def pick(self, options: tuple[Any, ...] | list[Any]) -> Any:
        """One of *options*, chosen by the next byte."""
        return options[self.byte() % len(options)]

    def raw(self, limit: int = 255) -> bytes:
        """A length byte, then that many bytes (at most *limit*)."""
        n = min(self.byte(), limit)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk

    def text(self, limit: int = 255) -> str:
        """Bytes decoded as a server decodes header bytes: latin-1."""
        return self.raw(limit).decode("latin-1")

    def rest(self) -> bytes:
        """Everything not read yet."""
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


# --------------------------------------------------------------------------- policies

#: Fixed policies the request target runs under; together they trust every
#: header of every group at least once and use every option.
POLICIES: tuple[TrustPolicy, ...] = (
    TrustPolicy(trusted_proxies=["10.0.0.0/8", "192.0.2.10", "2001:db8::/32"],
                trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                                 "X-Forwarded-Port", "X-Forwarded-Prefix"]),
    TrustPolicy(trusted_proxies=["127.0.0.1", "::1"],
                trusted_headers=["X-Real-IP", "X-Forwarded-SSL", "X-Host",
                                 "X-Forwarded-Server", "X-Script-Name"],
                strip_prefix_from_path=True),
    TrustPolicy(trusted_proxies=["0.0.0.0/0", "::/0"],
                trusted_headers=["X-Client-IP", "X-Scheme", "X-Forwarded-Script-Name",
                                 "X-Forwarded-Port"],
                script_name="/fixed", strip_prefix_from_path=True),
    TrustPolicy(trusted_proxies=["172.16.0.0/12"], trust_unix_socket=True,
                trusted_headers=["X-Forwarded-For", "Front-End-Https", "X-Forwarded-Host"]),
    TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=[]),
    TrustPolicy(trusted_proxies=["10.0.0.0/8", "2001:db8::/32", "127.0.0.1", "192.0.2.10"],
                trusted_headers=["Forwarded", "X-Forwarded-Port", "X-Forwarded-Prefix"]),
    TrustPolicy(trusted_proxies=["10.0.0.0/8", "2001:db8::/32", "192.0.2.10"],
                trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                                 "X-Forwarded-Port", "X-Forwarded-Prefix"],
                hop_aligned=True, max_hops=3),
)

PEERS = (
    "10.1.2.3", "10.0.0.1", "192.0.2.10", "127.0.0.1", "::1", "2001:db8::5",
    "::ffff:10.0.0.1", "::ffff:127.0.0.1", "fe80::1%eth0", "203.0.113.9", "172.16.0.9",
    "", "/run/app.sock", "unix:", "10.0.0.1 ", "010.0.0.1", "[::1]", None,
)

#: Address-like and separator tokens the value builder strings together, so
#: that the fuzzer reaches the walk's deeper branches quickly.
TOKENS = (
    "10.0.0.1", "10.9.8.7", "192.0.2.10", "203.0.113.5", "198.51.100.7", "127.0.0.1",
    "::1", "2001:db8::1", "[2001:db8::2]", "[2001:db8::3]:8443", "10.0.0.2:80",
    "::ffff:10.0.0.3", "fe80::1%eth0", "1.2.3", "01.2.3.4", "unknown", "_hidden",
    "https", "HTTP", "wss", "on", "0", "example.com", "example.com:8080", "[::1]:0",
    "/app", "/a//b/", "/..", "443", "99999", ",", ", ", " ", "\t", ";", "=", '"',
    "\r\n", "\x00", "\xff", "\u00e9", "for=", "For=", "proto=", "host=", "by=", "\\",
    '"[2001:db8::1]:80"', '"',
)

_NAMES = tuple(HEADERS.values())


def _name(inp: Input) -> str:
    """A header name: a known one in some spelling, or arbitrary latin-1."""
    mode = inp.byte() % 8
    if mode == 7:
        return inp.text(40)
    spec = inp.pick(_NAMES)
    name: str = spec.name
    if mode in (1, 2):
        name = name.lower() if mode == 1 else name.upper()
    elif mode == 3:
        name = name.replace("-", "_")  # X_Forwarded_For: same environ key
    return name


def _value(inp: Input) -> str:
    """A header value: latin-1 bytes, or tokens joined (biased to real syntax)."""
    if inp.byte() % 2:
        return inp.text()
    count = inp.byte() % 12
    return "".join(inp.pick(TOKENS) for _ in range(count))


def _environ_key(name: str) -> str:
    """The CGI key a server gives a header line (PEP 3333): ``HTTP_`` + upper, ``-`` to ``_``."""
    return "HTTP_" + name.upper().replace("-", "_")


def request_input(data: bytes) -> tuple[int, str | None, list[tuple[str, str]], dict[str, str]]:
    """Decode *data* into ``(policy index, peer, header lines, base environ)``."""
    inp = Input(data)
    policy = inp.byte() % len(POLICIES)
    peer: str | None = inp.pick(PEERS) if inp.byte() % 4 else inp.text(60)
    base = {"wsgi.url_scheme": inp.pick(("http", "https")),
            "SERVER_NAME": "backend", "SERVER_PORT": inp.pick(("80", "8000", "443")),
            "SCRIPT_NAME": inp.pick(("", "/mnt")), "PATH_INFO": inp.pick(("/", "/app/x", ""))}
    extras = inp.byte()
    if extras & 1:
        base["HTTP_HOST"] = "backend:8000"
    if extras & 2:
        base["REQUEST_SCHEME"] = base["wsgi.url_scheme"]
    if extras & 4:
        base["HTTPS"] = "on"
    headers = [(_name(inp), _value(inp)) for _ in range(inp.byte() % 10)]
    return policy, peer, headers, base


def build_environ(peer: str | None, headers: Iterable[tuple[str, str]],
                  base: dict[str, str]) -> dict[str, Any]:
    """The environ a server builds: repeated header lines joined with ``", "``."""
    environ: dict[str, Any] = dict(base)
    if peer is not None:
        environ["REMOTE_ADDR"] = peer
    for name, value in headers:
        key = _environ_key(name)
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    return environ


def _is_ip(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_SEEN: list[dict[str, Any]] = []
_MIDDLEWARES: dict[TrustPolicy, TrustedProxyMiddleware] = {}


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    _SEEN.append(environ)
    return [b""]


def _start_response(*args: Any) -> Callable[[bytes], object]:
    return lambda body: None


def _middleware(policy: TrustPolicy) -> TrustedProxyMiddleware:
    """One middleware per policy, built once (building one logs the policy's warnings)."""
    middleware = _MIDDLEWARES.get(policy)
    if middleware is None:
        middleware = _MIDDLEWARES[policy] = TrustedProxyMiddleware(_app, policy)
    return middleware


def check_request(policy: TrustPolicy, environ: dict[str, Any]) -> dict[str, Any]:
    """Run *environ* through the middleware under *policy*; assert the invariants.

    Returns the environ the application saw.

    Invariants: no exception; ``REMOTE_ADDR`` is a valid IP address or the
    unchanged peer; ``wsgi.url_scheme`` is http or https; ``SERVER_PORT`` is
    1-65535 or unchanged; ``HTTP_HOST`` and ``SCRIPT_NAME`` are well formed or
    unchanged; every forwarded header left is one the policy trusts, from a
    trusted peer; ``trustedproxy.orig`` plus the environ after rebuild the
    environ before; from an untrusted peer only forwarded headers (and the
    fixed ``script_name``) change.
    """
    before = dict(environ)
    _SEEN.clear()
    _middleware(policy)(environ, _start_response)
    assert [environ] == _SEEN
    assert _SEEN[0] is environ
    _SEEN.clear()
    orig = environ[ORIG_KEY]
    decision = environ[DECISION_KEY]

    peer = before.get("REMOTE_ADDR")
    addr = environ.get("REMOTE_ADDR")
    assert addr == peer or _is_ip(addr), f"REMOTE_ADDR {addr!r} from peer {peer!r}"
    assert environ["wsgi.url_scheme"] in ("http", "https"), environ["wsgi.url_scheme"]
    port = environ.get("SERVER_PORT")
    if port != before.get("SERVER_PORT"):
        assert isinstance(port, str), port
        assert port.isascii(), port
        assert port.isdigit(), port
        assert 1 <= int(port) <= 65535, port
        assert str(int(port)) == port, port
    host = environ.get("HTTP_HOST")
    if host != before.get("HTTP_HOST"):
        assert parse_host(host or "")[0] == host, f"HTTP_HOST {host!r}"
    if environ.get("SCRIPT_NAME") != before.get("SCRIPT_NAME"):
        script = environ["SCRIPT_NAME"]
        assert script.startswith("/"), script
        assert parse_prefix(script)[0] == script, script
    if environ.get("HTTPS") is not None:
        assert environ["HTTPS"] == before.get("HTTPS") or environ["HTTPS"] == "on"

    trusted_keys = {HEADERS[n.lower()].environ_key for n in policy.trusted_headers}
    for key in environ.keys() & _ENV_KEYS.keys():
        assert decision.trusted, f"{key} left from the untrusted peer {peer!r}"
        assert key in trusted_keys, f"{key} left in the environ but not trusted"
        if policy.hop_aligned and key not in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED"):
            # A hop-aligned list is trimmed as X-Forwarded-For is: no value
            # left of the one taken (a client's) stays for the application.
            hops = (decision.forwarded_for or "").count(",") + 1
            assert environ[key].count(",") < hops, f"{key} {environ[key]!r} not trimmed"

    rebuilt = {k: v for k, v in environ.items() if k not in (ORIG_KEY, DECISION_KEY)}
    for key, value in orig.items():
        if value is None:
            rebuilt.pop(key, None)
        else:
            rebuilt[key] = value
    assert rebuilt == before, "trustedproxy.orig does not rebuild the original environ"
    assert orig.get("REMOTE_ADDR", "absent") == peer, "orig REMOTE_ADDR is not the TCP peer"

    if not decision.trusted:
        expected = {k: v for k, v in before.items() if k not in _ENV_KEYS}
        after = {k: v for k, v in environ.items() if k not in (ORIG_KEY, DECISION_KEY)}
        if policy.script_name:
            for key in ("SCRIPT_NAME", "PATH_INFO"):
                expected.pop(key, None)
                after.pop(key, None)
        assert after == expected, "an untrusted peer changed more than forwarded headers"
    return environ


def request(data: bytes) -> None:
    """Target ``request``: see :func:`check_request`."""
    index, peer, headers, base = request_input(data)
    check_request(POLICIES[index], build_environ(peer, headers, base))


# --------------------------------------------------------------------------- asgi

_ASGI: dict[TrustPolicy, Any] = {}
_ASGI_SEEN: list[dict[str, Any]] = []
_ASGI_REFERENCE: dict[TrustPolicy, Any] = {}  # the Python path, compared with the compiled one


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    _ASGI_SEEN.append(scope)


def build_scope(peer: str | None, headers: Iterable[tuple[str, str]], base: dict[str, str],
                websocket: bool) -> dict[str, Any]:
    """The scope an ASGI server builds: one ``(name, value)`` entry per header
    line, names lower-cased, bytes as received (here: latin-1 of the text)."""
    scheme = base["wsgi.url_scheme"]
    root, route = base["SCRIPT_NAME"], base["PATH_INFO"] or "/"
    return {
        "type": "websocket" if websocket else "http",
        "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": {"http": "ws", "https": "wss"}[scheme] if websocket else scheme,
        "root_path": root, "path": root + route, "raw_path": (root + route).encode(),
        "query_string": b"",
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        "client": None if peer is None else (peer, 54321),
        "server": ("backend", int(base["SERVER_PORT"])),
    }


def _run_asgi(middleware: Any, scope: dict[str, Any]) -> dict[str, Any]:
    """The scope the application gets from *middleware* for *scope*."""
    _ASGI_SEEN.clear()
    coroutine = middleware(scope, None, None)
    try:
        coroutine.send(None)
    except StopIteration:
        pass
    else:  # pragma: no cover - the app never awaits
        coroutine.close()
        raise AssertionError("the middleware awaited something")
    assert len(_ASGI_SEEN) == 1
    return _ASGI_SEEN.pop()


def _asgi_result(new: dict[str, Any]) -> Any:
    """What the application got, as comparable data (``removed`` as a set)."""
    extensions = dict(new["extensions"])
    info = extensions.pop("trustedproxy")
    decision = dataclasses.asdict(info["decision"])
    decision["removed"] = frozenset(decision["removed"])
    return ({k: v for k, v in new.items() if k != "extensions"}, extensions, info["orig"],
            decision)


def check_asgi(policy: TrustPolicy, scope: dict[str, Any]) -> dict[str, Any]:
    """Run *scope* through the ASGI middleware under *policy*; assert the invariants.

    Invariants: no exception; the caller's scope is not changed; the
    application gets what the Python path (``_PurePythonMiddleware``) gives
    it, with an equal Decision; and a new scope whose ``client`` is ``(valid IP, 0)`` or
    unchanged (never rewritten from a client of the wrong shape), whose ``scheme``
    fits the scope type (or is unchanged), whose server port is
    1-65535 or unchanged (or None, for a server that had no port to keep),
    whose headers are ``(bytes, bytes)`` pairs holding
    no forwarded header the policy does not trust (none at all from an
    untrusted peer), or entries of the wrong type or shape passed on that name
    no known forwarded header; and the recorded originals rebuild the caller's scope.
    """
    asgi = importlib.import_module("trustedproxy.asgi")
    middleware = _ASGI.get(policy)
    if middleware is None:
        middleware = _ASGI[policy] = asgi.TrustedProxyMiddleware(_asgi_app, policy)
    reference = _ASGI_REFERENCE.get(policy)
    if reference is None:
        reference = _ASGI_REFERENCE[policy] = asgi._PurePythonMiddleware(_asgi_app, policy)
    before = copy.deepcopy(scope)
    new = _run_asgi(middleware, scope)
    assert scope == before, "the caller's scope was changed"
    assert new is not scope
    expected = _run_asgi(reference, copy.deepcopy(scope))
    assert _asgi_result(new) == _asgi_result(expected), "compiled and Python paths differ"
    info = new["extensions"][asgi.EXTENSION_KEY]
    orig, decision = info["orig"], info["decision"]

    client = new.get("client")
    if client is not scope.get("client"):
        assert isinstance(client, tuple), client
        assert _is_ip(client[0]), client
        assert client[1] == 0, client
        assert scope["client"] is None or isinstance(scope["client"], (list, tuple)), (
            "an unusable client was trusted")
    allowed = ("ws", "wss") if scope["type"] == "websocket" else ("http", "https")
    assert new["scheme"] in allowed or new["scheme"] is scope["scheme"], new["scheme"]
    if new.get("server") != scope.get("server"):
        port = new["server"][1]
        if port is None:  # a forwarded server name, and no port to keep: none before
            old = scope.get("server")
            assert not (isinstance(old, (list, tuple)) and len(old) == 2
                        and old[1] is not None), (old, new["server"])
        else:
            assert isinstance(port, int), port
            assert 1 <= port <= 65535, port
    trusted = {n.lower() for n in policy.trusted_headers}
    # Every header the policy knows (custom ones too), by the CGI key a WSGI
    # bridge (Django, asgiref) files it under: another spelling is read as it.
    known = {spec.environ_key: lower for lower, spec in policy.headers.items()}
    for pair in new["headers"]:
        if not (type(pair) in (tuple, list) and len(pair) == 2
                and type(pair[0]) in (bytes, bytearray) and type(pair[1]) in (bytes, bytearray)):
            # An entry of the wrong type or shape, passed on: never a known header's.
            name = pair[0] if type(pair) in (tuple, list) and pair else None
            if isinstance(name, (bytes, bytearray)):
                name = bytes(name).decode("latin-1")
            assert not isinstance(name, str) or environ_key(name) not in known, pair
            continue
        name, value = pair
        key = bytes(name).decode("latin-1")
        lower = known.get(environ_key(key))
        if lower is not None:
            assert key.lower() == lower, f"{key!r}, another spelling of {lower}, left"
            assert decision.trusted, f"{key} left from the untrusted peer"
            assert lower in trusted, f"{key} left but not trusted"
    rebuilt = {k: v for k, v in new.items() if k != "extensions"}
    for key, value in orig.items():
        if value is None:
            rebuilt.pop(key, None)
        else:
            rebuilt[key] = value
    # An ASGI key holding None means the same as an absent one ("client" may be
    # None), and orig's None means "absent": compare without None values.
    assert _without_none(rebuilt) == _without_none(before), (
        "the recorded originals do not rebuild the scope")
    return new


def _without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _first_entry(scope: dict[str, Any], change: Callable[[Any, Any], Any]) -> None:
    """Replace the first header entry ``(name, value)`` by ``change(name, value)``."""
    if scope["headers"]:
        scope["headers"][0] = change(*scope["headers"][0])


#: Values of the wrong type or shape a buggy server (or a middleware in front)
#: may put in a scope, one per transform.
_ODD_SCOPES: tuple[Callable[[dict[str, Any]], None], ...] = (
    lambda s: s.update(client=None if s["client"] is None else (s["client"][0].encode(), 1)),
    lambda s: s.update(client=None if s["client"] is None else (*s["client"], 0)),
    lambda s: s.update(client=5),
    lambda s: s.update(client=None if s["client"] is None else list(s["client"])),
    lambda s: _first_entry(s, lambda n, v: (n, v.decode("latin-1"))),
    lambda s: _first_entry(s, lambda n, v: (n.decode("latin-1"), v)),
    lambda s: _first_entry(s, lambda n, v: (n.decode("latin-1").upper(), v)),
    lambda s: _first_entry(s, lambda n, v: (bytearray(n), v)),
    lambda s: _first_entry(s, lambda n, v: (n, None)),
    lambda s: _first_entry(s, lambda n, v: (n,)),
    lambda s: _first_entry(s, lambda n, v: (n, v, b"x")),
    lambda s: s.update(headers=dict(s["headers"])),
    lambda s: s.update(scheme=None),
    lambda s: s.update(root_path=s["root_path"].encode()),
    lambda s: s.update(raw_path=s["path"]),
    lambda s: s.update(server=b"backend"),
)


def asgi(data: bytes) -> None:
    """Target ``asgi``: the request target's inputs as an ASGI scope (the last
    byte's low bit makes it a ``websocket`` scope; when its bits 1-3 are all
    set, its bits 4-7 pick a value of the wrong type from :data:`_ODD_SCOPES`)."""
    index, peer, headers, base = request_input(data)
    last = data[-1] if data else 0
    scope = build_scope(peer, headers, base, bool(last & 1))
    if last >> 1 & 7 == 7:
        _ODD_SCOPES[last >> 4](scope)
    check_asgi(POLICIES[index], scope)


# --------------------------------------------------------------------------- xff

XFF_POLICY = TrustPolicy(
    trusted_proxies=["10.0.0.0/8", "192.0.2.10", "2001:db8::/32", "127.0.0.1"],
    trusted_headers=["X-Forwarded-For"])
#: The same trust with a short walk, so that short inputs reach the cap.
XFF_POLICY_SHORT = TrustPolicy(trusted_proxies=XFF_POLICY.trusted_proxies,
                               trusted_headers=["X-Forwarded-For"], max_hops=2)
_XFF_NETS = [ipaddress.ip_network(n) for n in XFF_POLICY.trusted_proxies]


def _ref_parse(element: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str] | None:
    """SPEC.md section 4, written independently with :mod:`ipaddress`."""
    if not element.isascii() or "%" in element:
        return None  # zone ids are not valid in a list; only ASCII forms are addresses
    text = element
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        rest, text = text[end + 1 :], text[1:end]
        if ":" not in text:
            return None
        if rest and not (rest.startswith(":") and _ref_port(rest[1:])):
            return None
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
        if not _ref_port(port):
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address) and text.count(".") != 3:
        return None
    return address, text


def _ref_port(port: str) -> bool:
    return 1 <= len(port) <= 5 and all(c in string.digits for c in port) and 0 < int(port) < 65536


def _ref_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _XFF_NETS)


_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

from trustedproxy.forwarded import MAX_GAP  # noqa: E402

#: Commas, spaces and tabs: what separates the elements of a list.
_REF_SEPARATORS = ", \t"


def reference_walk(value: str, max_hops: int) -> tuple[_Address, str] | None:
    """The client address and trimmed header SPEC.md section 4 promises, or ``None``.

    Only the rightmost ``max_hops + 1`` elements are read. Empty elements are
    not elements: they are dropped and never counted, but at most ``MAX_GAP``
    separator characters in all (commas, spaces, tabs) are read past; a part
    longer than 256 characters is invalid (the read stops there); when all
    elements read are trusted proxies, the leftmost of them is the client.
    """
    # Read character by character from the right, as the bounds are written.
    elements: list[str] = []  # right to left
    end, gaps = len(value), MAX_GAP
    while True:
        start = end
        while start > 0 and value[start - 1] in _REF_SEPARATORS:
            start -= 1
        if end - start > gaps:
            break
        gaps -= end - start
        end = start
        if end == 0 or len(elements) == max_hops + 1:
            break
        comma = value.rfind(",", 0, end)
        if end - (comma + 1) > 256:
            elements.append("(overlong element)")
            break
        elements.append(value[comma + 1:end].strip(_REF_SEPARATORS))
        end = max(comma, 0)
    elements.reverse()
    if not elements:
        return None
    parsed = [_ref_parse(e) for e in elements]
    stop = None
    for i in range(len(elements) - 1, -1, -1):
        item = parsed[i]
        if item is None:
            if i == len(elements) - 1:
                return None
            stop = i + 1  # the last trusted hop reached reported the junk
            break
        if not _ref_trusted(item[0]):
            stop = i
            break
    else:
        stop = 0
    item = parsed[stop]
    assert item is not None
    return item[0], ", ".join(elements[stop:])


def check_xff(peer: str, value: str, policy: TrustPolicy = XFF_POLICY) -> None:
    """Walk *value* from *peer* and compare with :func:`reference_walk`.

    Invariants: no exception; a trusted peer's header yields exactly the
    reference client (canonical text) and trimmed header, or is ignored
    exactly when the reference finds no usable element; an untrusted peer's
    header is removed and nothing is set.
    """
    decision = policy.compile().decide(peer, {"x-forwarded-for": value})
    if not decision.trusted:
        assert decision.client is None
        assert decision.removed == ("x-forwarded-for",)
        return
    expected = reference_walk(value, getattr(policy, "max_hops", 1 << 30))
    if expected is None:
        assert decision.client is None, (value, decision.client)
        assert decision.removed == ("x-forwarded-for",)
        assert [i.header for i in decision.ignored] == ["X-Forwarded-For"]
        return
    address, trimmed = expected
    assert decision.forwarded_for == trimmed, (value, decision)
    assert decision.client is not None, (value, decision)
    assert _is_ip(decision.client), (value, decision)
    client = ipaddress.ip_address(decision.client)
    assert client == address, (value, decision)  # same family and value
    # Canonical text: what the platform writes for that address (no port, no brackets).
    assert decision.client == socket.inet_ntop(
        socket.AF_INET6 if client.version == 6 else socket.AF_INET, client.packed), decision
    assert decision.kept == ("x-forwarded-for",)
    verdicts = [hop.verdict for hop in decision.chain]
    assert verdicts.count("client") == 1, verdicts


def xff(data: bytes) -> None:
    """Target ``xff``: see :func:`check_xff`."""
    inp = Input(data)
    peer = inp.pick(("10.0.0.9", "127.0.0.1", "2001:db8::9", "::ffff:10.1.1.1", "8.8.8.8"))
    mode = inp.byte()
    policy = XFF_POLICY_SHORT if mode & 2 else XFF_POLICY
    value = _value(inp) if mode & 1 else inp.rest().decode("latin-1")
    check_xff(peer, value, policy)


# --------------------------------------------------------------------------- loaders

def _text(data: bytes) -> str:
    """Loader text: UTF-8 with replacement (files are read as UTF-8)."""
    text = data.decode("utf-8", errors="replace")
    # A one-line string naming a file is read as a path; keep these targets on text.
    return text if "\n" in text else text + "\n"


def check_loader(load: Callable[[str], TrustPolicy], text: str) -> None:
    """Nothing but ``ConfigError`` escapes a loader; what loads is a working policy.

    A loaded policy survives pickling, reads back equal from each of its
    written forms (``to_yaml``, ``to_directives``: SPEC.md section 3, "converting
    between them round-trips"), compiles, and answers a request without raising.
    """
    try:
        policy = load(text)
    except ConfigError as exc:
        problems = exc.problems
    else:
        problems = ()
    if problems:
        assert all(p.message for p in problems), problems
        return
    copy = pickle.loads(pickle.dumps(policy))
    assert copy == policy
    assert hash(copy) == hash(policy)
    for write, read in (("to_yaml", "from_yaml"), ("to_directives", "from_directives")):
        if hasattr(policy, write) and hasattr(TrustPolicy, read):
            try:
                written = getattr(policy, write)()
            except ConfigError:  # directives refuse what they cannot carry (README)
                if write == "to_directives" and (policy.custom_headers or (
                        policy.trusted_headers and not policy.trusted_proxies)):
                    continue
                raise
            assert getattr(TrustPolicy, read)(written) == policy, (write, written)
    policy.compile().evaluate("10.0.0.1", {"X-Forwarded-For": "1.2.3.4"})


def yaml(data: bytes) -> None:
    """Target ``yaml``: ``TrustPolicy.from_yaml(text)``."""
    check_loader(TrustPolicy.from_yaml, _text(data))


BLOCKS = (None, "Location /api", "VirtualHost *:80", "Directory /srv", "")


def directives(data: bytes) -> None:
    """Target ``directives``: ``TrustPolicy.from_directives(text, block=...)``.

    The first byte picks *block*; the rest is the directive text.
    """
    block = BLOCKS[data[0] % len(BLOCKS)] if data else None
    load = getattr(TrustPolicy, "from_directives")  # noqa: B009  (absent before the loader)
    check_loader(lambda text: load(text, block=block), _text(data[1:]))


def express_input(data: bytes) -> str | list[str]:
    """Decode *data* for the ``express`` target: an even first byte, the rest
    is one shell command line (UTF-8 with replacement, as a file is read); an
    odd one, an argument list, split at NUL bytes and decoded as Python
    decodes ``sys.argv`` (UTF-8, a byte that is not UTF-8 as a lone surrogate)."""
    if not data or data[0] % 2 == 0:
        return _text(data[1:])
    return [arg.decode("utf-8", "surrogateescape") for arg in data[1:].split(b"\0")]


def express(data: bytes) -> None:
    """Target ``express``: ``TrustPolicy.from_express_args(argv)``, a list or a
    shell string (see :func:`express_input`); what loads also reads back equal
    from ``to_express_args``, as a list and as a shell string."""
    argv = express_input(data)
    check_loader(TrustPolicy.from_express_args, argv)  # type: ignore[arg-type]
    try:
        policy = TrustPolicy.from_express_args(argv)
    except ConfigError:
        return
    args = policy.to_express_args()  # a policy read from arguments has no other option
    assert TrustPolicy.from_express_args(args) == policy, args
    assert TrustPolicy.from_express_args(shlex.join(args)) == policy, args


#: The names the ``files`` target writes its input under: no extension, and
#: each form's usual one.
FILE_NAMES = ("policy", "x.yaml", "x.conf", "x.args")
#: The ``format=`` values it loads with (``None``: told from the name or content).
FILE_FORMATS = (None, "yaml", "directives", "express")
_FILES_DIR: list[str] = []  # one scratch directory per process, made on first use
#: Paths a file's content may name (``trusted_proxies_files``) that a fuzzing
#: process must not open: a terminal's stdin would block the run.
_DEVICE_PATHS = (b"/dev", b"/proc", b"/sys")


def files_input(data: bytes) -> tuple[str, str | None, bytes]:
    """Decode *data* for the ``files`` target: the first byte picks the file
    name (bits 0-1, :data:`FILE_NAMES`) and the format (bits 2-3,
    :data:`FILE_FORMATS`); the rest is the file's bytes, written as they are
    (not UTF-8 too)."""
    first = data[0] if data else 0
    return FILE_NAMES[first & 3], FILE_FORMATS[first >> 2 & 3], data[1:]


def check_file(name: str, fmt: str | None, content: bytes) -> None:
    """Load *content* written to a file *name* with ``format=fmt``; assert the
    invariants.

    Invariants: ``detect_format`` never raises, and says the form the name's
    extension names; only ``ConfigError`` (each problem with a message) or a
    policy comes out, and a policy passes :func:`check_loader`'s checks
    (pickling, written forms read back, a request answered); loaded with no
    format, the file gives the same policy (or fails, as) loaded with the
    format detected.
    """
    from trustedproxy.loaders import read_text
    from trustedproxy.loaders.files import FORMATS, detect_format, load_file

    if not _FILES_DIR:
        _FILES_DIR.append(tempfile.mkdtemp(prefix="trustedproxy-fuzz-files-"))
    path = os.path.join(_FILES_DIR[0], name)
    with open(path, "wb") as out:
        out.write(content)
    try:
        try:
            text = read_text(path, "policy file")  # the text load_file reads
        except ConfigError:  # not UTF-8: detect_format still takes any text
            text = content.decode("utf-8-sig", errors="replace")
        detected = detect_format(path, text)
        assert detected in FORMATS, detected
        if name != "policy":
            assert detected == {"yaml": "yaml", "conf": "directives",
                                "args": "express"}[name.rpartition(".")[2]], detected
        check_loader(lambda _: load_file(path, format=fmt), "")
        if fmt is None:
            outcomes = []
            for said in (None, detected):
                try:
                    outcomes.append(load_file(path, format=said))
                except ConfigError as exc:
                    outcomes.append(tuple(p.message for p in exc.problems))
            loaded, as_detected = outcomes
            assert isinstance(loaded, TrustPolicy) == isinstance(as_detected, TrustPolicy), (
                detected, outcomes)
            if isinstance(loaded, TrustPolicy):
                assert loaded == as_detected, (detected, loaded, as_detected)
    finally:
        os.unlink(path)


def files(data: bytes) -> None:
    """Target ``files``: see :func:`check_file` and :func:`files_input`."""
    name, fmt, content = files_input(data)
    if any(device in content for device in _DEVICE_PATHS):
        return  # a ranges file there could block (stdin) or never end (/dev/zero)
    check_file(name, fmt, content)


def check_forwarded(value: str, max_elements: int | None = None) -> None:
    """The RFC 7239 parser never raises and what it accepts it can write back.

    Invariants: ``parse_forwarded`` returns at most *max_elements* elements
    plus one marker for those skipped; every reason is short whatever the
    input; ``element_node`` never raises and an address node holds a valid IP;
    a value whose elements are all valid (empty ones too) is written back by
    ``format_forwarded`` into a value that parses to the same elements.
    """
    forwarded = importlib.import_module("trustedproxy.forwarded")
    limit = forwarded.MAX_ELEMENTS if max_elements is None else max_elements
    elements = forwarded.parse_forwarded(value, max_elements=limit)
    assert isinstance(elements, tuple)
    assert len(elements) <= limit + 1
    for element in elements:
        if isinstance(element, forwarded.Invalid):
            assert len(element.reason) <= 300, element.reason
            continue
        assert all(name == name.lower() for name in element), element
        for parameter in ("for", "by"):
            node = forwarded.element_node(element, parameter)
            assert len(node.reason) <= 300, node.reason
            if node.kind is forwarded.NodeKind.ADDRESS:
                assert _is_ip(node.address), node
    if elements and all(not isinstance(e, forwarded.Invalid) for e in elements):
        written = forwarded.format_forwarded(elements)
        again = forwarded.parse_forwarded(written, max_elements=limit)
        assert [_show(e) for e in again] == [_show(e) for e in elements], (value, written)


def _show(element: object) -> object:
    """An element as comparable data: a dict, or the Invalid as it is."""
    return dict(element) if isinstance(element, Mapping) else element


def forwarded(data: bytes) -> None:
    """Target ``forwarded``: the first byte picks the element limit (or the
    default), the rest is the header value (latin-1)."""
    limit = (data[0] % 8) or None if data else None
    # A first byte >= 128: the value is built from tokens; otherwise raw latin-1.
    value = _value(Input(data[1:])) if data and data[0] >= 128 else data[1:].decode("latin-1")
    check_forwarded(value, limit)


# --------------------------------------------------------------------------- speedups

#: The request target's policies, plus what only the compiled path branches on:
#: custom headers, a fixed script_name without stripping, and a long list of
#: networks (the compiled matcher's slice tables).
SPEEDUP_POLICIES: tuple[TrustPolicy, ...] = (
    *POLICIES,
    TrustPolicy(trusted_proxies=["10.0.0.0/8", "::1", "127.0.0.1"],
                custom_headers={"CF-Connecting-IP": "client", "X-Original-Host": "host",
                                "X-Original-Prefix": "prefix"},
                trusted_headers=["CF-Connecting-IP", "X-Forwarded-Proto", "X-Original-Host",
                                 "X-Original-Prefix", "X-Forwarded-Server"],
                script_name="/fixed"),
    TrustPolicy(trusted_proxies=[f"10.{i // 256}.{i % 256}.0/24" for i in range(0, 600, 2)]
                + [f"2001:db8:{i:x}::/48" for i in range(300)] + ["192.0.2.10", "127.0.0.1"],
                trusted_headers=["X-Forwarded-For", "X-Forwarded-HTTPS", "X-Forwarded-Host",
                                 "X-Forwarded-Port", "X-Script-Name"], max_hops=4),
)


class _EnvironSub(dict):  # type: ignore[type-arg]
    """A dict subclass as the environ (the compiled path hands it to Python)."""


class _StrSub(str):
    """A str subclass as an environ value."""


_ODD_VALUES: tuple[Any, ...] = (None, b"10.0.0.1", _StrSub("10.0.0.1"), _StrSub("https"))
_ODD_KEYS = ("REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "SCRIPT_NAME",
             "HTTP_X_REAL_IP", "HTTPS", "HTTP_X_FORWARDED_PREFIX", "PATH_INFO")


def _data(value: Any) -> Any:
    """*value* as comparable data that keeps exact types (a Decision via
    ``dataclasses.asdict``, its ``removed`` as a set: its order is unspecified)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.asdict(value)
        removed = fields.pop("removed", ())
        return (type(value).__name__, _data(fields), frozenset(removed), len(removed))
    if isinstance(value, dict):
        return (type(value).__name__, {k: _data(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_data(v) for v in value))
    if value is None or isinstance(value, (str, bytes, int, float)):
        return (type(value).__name__, value)
    return (type(value).__name__,)


class _Recorder:
    """A WSGI application that keeps what it saw of each call."""

    def __init__(self) -> None:
        self.result = [b""]
        self.seen: list[Any] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.seen.append((id(environ), _data(dict(environ)), start_response is _start_response))
        return self.result


def _observe(middleware: TrustedProxyMiddleware, environ: dict[str, Any]) -> Any:
    """Call *middleware*; what came back or was raised, what the app saw, the environ after."""
    app = middleware.app
    assert isinstance(app, _Recorder)
    app.seen.clear()
    try:
        result: Any = ("returned", middleware(environ, _start_response) is app.result)
    except Exception as exc:  # the same exception is expected from both paths
        result = ("raised", type(exc).__name__, str(exc))
    seen = [(env_id == id(environ), *rest) for env_id, *rest in app.seen]
    return result, seen, type(environ).__name__, _data(dict(environ))


_PAIRS: dict[tuple[int, bool], tuple[Any, TrustedProxyMiddleware]] = {}


def _pair(index: int, shared: bool) -> tuple[Any, TrustedProxyMiddleware]:
    """The reference and the compiled middleware for ``SPEEDUP_POLICIES[index]``,
    each with an engine of its own (*shared*: the compiled one uses the
    reference's), built once (a long network list takes milliseconds), with
    every cache emptied: each input starts cold, so a finding replays alone."""
    pair = _PAIRS.get((index, shared))
    if pair is None:
        wsgi = importlib.import_module("trustedproxy.wsgi")
        policy = SPEEDUP_POLICIES[index]
        mine = pickle.loads(pickle.dumps(policy))  # equal, with an engine of its own
        other = mine if shared else pickle.loads(pickle.dumps(policy))
        log = logging.getLogger("trustedproxy")
        disabled, log.disabled = log.disabled, True  # the policies' warnings are known
        try:
            pair = (wsgi._PurePythonMiddleware(_Recorder(), mine),
                    TrustedProxyMiddleware(_Recorder(), other))
        finally:
            log.disabled = disabled
        _PAIRS[(index, shared)] = pair
    for middleware in pair:
        engine = middleware.engine
        # Emptied in place, as the engine empties a full cache.
        for cache in (engine._cache, engine._plain, engine._elements,
                      *(row[-1] for row in engine._trusted)):
            cache.clear()
    if getattr(importlib.import_module("trustedproxy.wsgi"), "SPEEDUPS", False):
        pair[1]._clear_caches()  # the compiled path's own caches too
    return pair


def speedups_input(data: bytes) -> tuple[int, int, dict[str, Any]]:
    """Decode *data* into ``(mode, policy index, environ)``: the first byte is
    the mode (bit 0: a dict subclass as environ; bit 1: the compiled middleware
    shares the reference's engine; bit 2: one value of an unusual type, its
    key chosen by bits 3-5, the value by bits 6-7), the rest is the request
    target's layout, whose first byte picks from :data:`SPEEDUP_POLICIES`."""
    mode = data[0] if data else 0
    _, peer, headers, base = request_input(data[1:])
    index = (data[1] if len(data) > 1 else 0) % len(SPEEDUP_POLICIES)
    environ: dict[str, Any] = build_environ(peer, headers, base)
    if mode & 4:
        environ[_ODD_KEYS[mode >> 3 & 7]] = _ODD_VALUES[mode >> 6]
    if mode & 1:
        environ = _EnvironSub(environ)
    return mode, index, environ


def check_speedups(index: int, environ: dict[str, Any], shared: bool = False) -> None:
    """Send *environ* twice through the reference and the compiled middleware
    of ``SPEEDUP_POLICIES[index]``, caches cold; assert the same answer each time.

    Invariant: for the same request, the compiled path and the Python
    reference return the application's value (neither raises), show the
    application the same environ object with the same contents, and
    leave the same environ (``trustedproxy.orig`` and the Decision included,
    ``Decision.removed`` compared as a set), cold caches and warm.
    """
    reference, compiled = _pair(index, shared)
    for sending in (1, 2):
        expected = _observe(reference, copy.deepcopy(environ))
        assert expected[0][0] == "returned", f"the reference raised: {expected[0]!r}"
        got = _observe(compiled, copy.deepcopy(environ))
        assert got == expected, (f"sending {sending}: the compiled path differs\n"
                                 f"policy: {reference.policy!r}\nenviron: {environ!r}\n"
                                 f"reference: {expected!r}\ncompiled:  {got!r}")


def speedups(data: bytes) -> None:
    """Target ``speedups``: see :func:`check_speedups` and :func:`speedups_input`."""
    mode, index, environ = speedups_input(data)
    check_speedups(index, environ, shared=bool(mode & 2))


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


#: Every target by name. ``directives`` and ``forwarded`` appear once the
#: modules they exercise exist.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "request": request,
    "xff": xff,
    "yaml": yaml,
    "speedups": speedups,
}
if module_exists("trustedproxy.loaders.express"):
    TARGETS["express"] = express
if hasattr(TrustPolicy, "from_directives") and module_exists(
        "trustedproxy.loaders.directives"):
    TARGETS["directives"] = directives
if module_exists("trustedproxy.forwarded"):
    TARGETS["forwarded"] = forwarded
if module_exists("trustedproxy.loaders.files"):
    TARGETS["files"] = files
if module_exists("trustedproxy.asgi"):
    TARGETS["asgi"] = asgi
