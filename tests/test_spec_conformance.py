"""SPEC.md, sentence by sentence, on every request path.

Each request-handling promise is checked on the four request paths: the WSGI
compiled middleware (``trustedproxy.wsgi.TrustedProxyMiddleware`` with
``SPEEDUPS``), the WSGI pure-Python reference (``wsgi._PurePythonMiddleware``),
and the ASGI adapter with its compiled decision
(``trustedproxy.asgi.TrustedProxyMiddleware``) and its pure-Python one
(``asgi._PurePythonMiddleware``). The compiled paths handle a request
themselves only once the engine's caches are warm, so :func:`through` sends
every request several times to one middleware and checks the answers agree.
Some requests (Forwarded, hop_aligned, strip_prefix_from_path, invalid values,
X-Forwarded-For elements with ports or brackets) the compiled code hands to
the reference by design; test_the_compiled_path_takes_these_requests_itself
checks that the ordinary ones it does not.

A request is written once, WSGI-style (peer, headers, a few environ keys); it
is turned into an environ or a scope, and what the application saw is turned
back into one :data:`View` (environ-like keys), so one expectation serves every
path. ``HTTPS`` and ``REQUEST_SCHEME`` have no ASGI counterpart: they are
compared on the WSGI paths only.

Configuration promises are checked in every form a policy can be written in:
``TrustPolicy`` keyword arguments, YAML, mod_wsgi directive strings and
mod_wsgi-express arguments.

Sections follow SPEC.md's numbering.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import run_threads

from trustedproxy import ConfigError, Decision, TrustPolicy
from trustedproxy import asgi as asgi_mod
from trustedproxy import wsgi as wsgi_mod
from trustedproxy.addresses import parse_ip
from trustedproxy.headers import HEADERS, Group, Kind, environ_key
from trustedproxy.values import parse_host, parse_prefix

# --------------------------------------------------------------------------- the paths

PATHS = ["wsgi-compiled", "wsgi-pure", "asgi-compiled", "asgi-pure"]
WSGI_ONLY = frozenset({"HTTPS", "REQUEST_SCHEME"})
KNOWN_KEYS = frozenset(spec.environ_key for spec in HEADERS.values())
ROUNDS = 3  # the compiled paths take over once the caches are warm
ABSENT = None  # in an expectation: the key must not be in the view

View = dict[str, str]


@dataclass
class Request:
    """One request, WSGI-style: the TCP peer, the forwarded headers (in order;
    a name given twice is two header lines) and environ keys to set."""

    peer: str | None = "10.0.0.2"
    headers: Iterable[tuple[str, str]] | Mapping[str, str] = ()
    environ: dict[str, str] = field(default_factory=dict)

    def header_lines(self) -> list[tuple[str, str]]:
        return list(self.headers.items() if isinstance(self.headers, Mapping) else self.headers)

    def wsgi_environ(self) -> dict[str, Any]:
        """The environ a WSGI server builds for ``GET /path`` on port 8000."""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/path",
            "QUERY_STRING": "", "SERVER_NAME": "backend.internal", "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "backend.internal:8000",
            "HTTP_USER_AGENT": "test", "wsgi.url_scheme": "http", "wsgi.version": (1, 0),
        }
        if self.peer is not None:
            environ["REMOTE_ADDR"] = self.peer
        for name, value in self.header_lines():
            key = environ_key(name)
            # Servers join repeated lines with a comma (RFC 9110 §5.3).
            environ[key] = environ[key] + ", " + value if key in environ else value
        environ.update(self.environ)
        return environ

    def asgi_scope(self) -> dict[str, Any]:
        """The scope an ASGI server builds for the same request."""
        base = self.wsgi_environ()
        root = base["SCRIPT_NAME"]
        headers = [(b"host", base["HTTP_HOST"].encode("latin-1"))]
        headers += [(n.lower().encode("latin-1"), v.encode("latin-1"))
                    for n, v in self.header_lines()]
        headers.append((b"user-agent", b"test"))
        peer = base.get("REMOTE_ADDR")
        return {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1", "method": "GET",
            "server": (base["SERVER_NAME"], int(base["SERVER_PORT"])),
            # A Unix socket (or no peer): uvicorn gives client None.
            "client": (peer, 51000) if peer and not peer.startswith("/") else None,
            "scheme": base["wsgi.url_scheme"], "root_path": root,
            "path": root + base["PATH_INFO"],
            "raw_path": (root + base["PATH_INFO"]).encode("latin-1"),
            "query_string": b"", "headers": headers,
        }


def wsgi_view(environ: Mapping[str, Any]) -> View:
    """The environ keys a promise talks about."""
    view = {k: v for k, v in environ.items()
            if k == "wsgi.url_scheme"
            or (isinstance(v, str) and not k.startswith(("trustedproxy.", "wsgi.")))}
    if not view.get("REMOTE_ADDR"):
        view.pop("REMOTE_ADDR", None)  # "" and absent: no IP peer either way
    for key in ("REQUEST_METHOD", "QUERY_STRING", "SERVER_PROTOCOL"):
        view.pop(key, None)
    return view


def asgi_view(scope: Mapping[str, Any]) -> View:
    """A scope as the environ keys its fields stand for."""
    view: View = {}
    client = scope.get("client")
    if client and client[0]:
        view["REMOTE_ADDR"] = client[0]
    view["wsgi.url_scheme"] = scope["scheme"]
    server = scope.get("server")
    if server is not None:  # an IPv6 name is bare in ASGI, bracketed in WSGI
        name = server[0]
        view["SERVER_NAME"] = f"[{name}]" if isinstance(name, str) and ":" in name else name
        view["SERVER_PORT"] = str(server[1])
    root, path = scope.get("root_path", ""), scope.get("path", "")
    view["SCRIPT_NAME"] = root
    view["PATH_INFO"] = path[len(root):] if path.startswith(root) else path
    for name, value in scope.get("headers") or ():
        key = environ_key(name.decode("latin-1"))
        text = value.decode("latin-1")
        view[key] = view[key] + ", " + text if key in view else text
    return view


@dataclass
class Outcome:
    """What one path made of a request: the view the application saw, the
    originals kept, the decision, and the input and output raw (environ or scope)."""

    path: str
    view: View
    orig: dict[str, Any]
    decision: Decision
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def wsgi(self) -> bool:
        return self.path.startswith("wsgi")


def skip_without_speedups(path: str) -> None:
    if path.endswith("compiled") and not wsgi_mod.SPEEDUPS:
        pytest.skip("trustedproxy._speedups is not built or TRUSTEDPROXY_PURE_PYTHON is set")


async def receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def send(message: Any) -> None:
    return None


def drive(coroutine: Any) -> None:
    """Run an ASGI call whose application never waits (no event loop needed,
    so threads can share one middleware cheaply)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise AssertionError("the ASGI call waited on something")


class Runner:
    """One middleware of a path, for one policy: the request goes through it
    :data:`ROUNDS` times, and every round must give the same answer."""

    def __init__(self, path: str, policy: TrustPolicy) -> None:
        skip_without_speedups(path)
        self.path = path
        self.local = threading.local()  # what the app saw, per thread
        if path.startswith("wsgi"):
            kind = (wsgi_mod.TrustedProxyMiddleware if path == "wsgi-compiled"
                    else wsgi_mod._PurePythonMiddleware)

            def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
                self.local.seen.append(dict(environ))
                return [b""]

            self.middleware: Any = kind(app, policy)
        else:
            akind = (asgi_mod.TrustedProxyMiddleware if path == "asgi-compiled"
                     else asgi_mod._PurePythonMiddleware)

            async def aapp(scope: Any, receive: Any, send: Any) -> None:
                self.local.seen.append(scope)

            self.middleware = akind(aapp, policy)

    def once(self, request: Request) -> Outcome:
        """*request* through the middleware once (thread-safe)."""
        self.local.seen = []
        if self.path.startswith("wsgi"):
            before = request.wsgi_environ()
            self.middleware(dict(before), lambda status, headers, exc_info=None: None)
            (after,) = self.local.seen
            return Outcome(self.path, wsgi_view(after), after["trustedproxy.orig"],
                           after["trustedproxy.decision"], before, after)
        scope = request.asgi_scope()
        before = copy.deepcopy(scope)
        drive(self.middleware(scope, receive, send))
        assert scope == before, "the ASGI adapter changed the caller's scope"
        (after,) = self.local.seen
        info = after["extensions"][asgi_mod.EXTENSION_KEY]
        return Outcome(self.path, asgi_view(after), info["orig"], info["decision"], before,
                       after)

    def __call__(self, request: Request) -> Outcome:
        first = last = self.once(request)
        for round_ in range(1, ROUNDS):
            last = self.once(request)
            assert (last.view, last.orig) == (first.view, first.orig), (
                f"{self.path}: round {round_ + 1} differs from round 1 for {request!r}")
            assert last.decision == first.decision
        return last


def through(path: str, policy: TrustPolicy, request: Request) -> Outcome:
    """*request* through a new middleware of *path* for *policy* (several rounds)."""
    return Runner(path, policy)(request)


def before_view(path: str, request: Request) -> View:
    """The view of *request* as it reached the middleware."""
    return (wsgi_view(request.wsgi_environ()) if path.startswith("wsgi")
            else asgi_view(request.asgi_scope()))


def check(outcome: Outcome, expected: Mapping[str, str | None]) -> None:
    """Every key of *expected* has its value in the view (``ABSENT``: no key)."""
    got = {}
    want = {}
    for key, value in expected.items():
        if key in WSGI_ONLY and not outcome.wsgi:
            continue
        want[key] = value
        got[key] = outcome.view.get(key, ABSENT)
    assert got == want, f"{outcome.path}: {outcome.view}"


path_param = pytest.mark.parametrize("path", PATHS)

PROXIES = ["10.0.0.0/8", "2001:db8::/32"]
PROXY = "10.0.0.2"
CLIENT = "203.0.113.9"


def policy(*headers: str, proxies: list[str] | None = None, **options: Any) -> TrustPolicy:
    return TrustPolicy(trusted_proxies=PROXIES if proxies is None else proxies,
                       trusted_headers=list(headers), **options)


#: A valid, ordinary value of every known header.
TYPICAL: dict[str, str] = {
    "X-Forwarded-For": CLIENT, "X-Real-IP": CLIENT, "X-Client-IP": CLIENT,
    "X-Forwarded-Proto": "https", "X-Forwarded-Scheme": "https", "X-Scheme": "https",
    "X-Forwarded-HTTPS": "on", "X-Forwarded-SSL": "on", "X-HTTPS": "on",
    "Front-End-Https": "on", "X-Forwarded-Host": "shop.example:8443",
    "X-Host": "shop.example:8443", "X-Forwarded-Server": "shop.example",
    "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/app", "X-Script-Name": "/app",
    "X-Forwarded-Script-Name": "/app",
    "Forwarded": f"for={CLIENT};proto=https;host=shop.example:8443",
}
assert set(TYPICAL) == {spec.name for spec in HEADERS.values()}


# =========================================================================== §1 the promise

UNTRUSTED_PEERS = ["198.51.100.7", "2001:db9::1", "::ffff:198.51.100.7", "10.0.0.2x", "",
                   "/run/proxy.sock", None]
EVERY_GROUP = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
               "X-Forwarded-Server", "X-Forwarded-Port", "X-Forwarded-Prefix")
CUSTOM = {"CF-Connecting-IP": "client"}


@path_param
@pytest.mark.parametrize("peer", UNTRUSTED_PEERS, ids=repr)
def test_untrusted_peer_loses_every_known_header_and_nothing_else(path: str,
                                                                 peer: str | None) -> None:
    """§1: when the peer is not a trusted proxy, every known forwarded header (a
    registered custom one included) is removed and nothing else in the request
    changes."""
    the_policy = TrustPolicy(trusted_proxies=PROXIES,
                             trusted_headers=[*EVERY_GROUP[1:], "CF-Connecting-IP"],
                             custom_headers=CUSTOM)
    request = Request(peer, {**TYPICAL, "CF-Connecting-IP": CLIENT, "X-Other": "kept"})
    outcome = through(path, the_policy, request)
    before = before_view(path, request)
    assert outcome.view == {k: v for k, v in before.items()
                            if k not in KNOWN_KEYS and k != "HTTP_CF_CONNECTING_IP"}
    assert not outcome.decision.trusted


@path_param
@pytest.mark.parametrize("peer", ["198.51.100.7", PROXY, None], ids=repr)
def test_fixed_script_name_is_the_one_change_for_any_peer(path: str, peer: str | None) -> None:
    """§1, §5: the operator's own script_name applies to every request, trusted
    peer or not, since no client sent it; it is the only change an untrusted
    peer's request gets."""
    the_policy = policy("X-Forwarded-For", script_name="/fixed")
    request = Request(peer, {"X-Forwarded-For": CLIENT})
    outcome = through(path, the_policy, request)
    expected = dict(before_view(path, request), SCRIPT_NAME="/fixed")
    if peer == PROXY:
        expected["REMOTE_ADDR"] = CLIENT
    else:
        del expected["HTTP_X_FORWARDED_FOR"]
    assert outcome.view == expected


@path_param
def test_trusted_peer_valid_rewrites_invalid_goes_others_go(path: str) -> None:
    """§1: from a trusted proxy each trusted header is parsed strictly: a valid
    one rewrites the request (and stays), an invalid one is ignored and removed,
    and every known header the policy does not trust is removed."""
    the_policy = policy("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                        "X-Forwarded-Port")
    headers = dict(TYPICAL, **{"X-Forwarded-Proto": "ftp", "X-Forwarded-Port": "99999"})
    outcome = through(path, the_policy, Request(PROXY, headers))
    left = {k for k in outcome.view if k in KNOWN_KEYS}
    assert left == {"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST"}
    check(outcome, {"REMOTE_ADDR": CLIENT, "HTTP_HOST": "shop.example:8443",
                    "wsgi.url_scheme": "http", "SERVER_PORT": "8000",
                    "SERVER_NAME": "backend.internal", "SCRIPT_NAME": ""})
    ignored = {item.header: item.value for item in outcome.decision.ignored}
    assert ignored == {"X-Forwarded-Proto": "ftp", "X-Forwarded-Port": "99999"}


# Random policies and requests, for the general promises of §1.

TRUSTED_PEERS = ["10.1.2.3", "::ffff:10.9.8.7", "2001:db8::1", "2001:DB8::abcd%eth0"]
BY_GROUP = {group: [s.name for s in HEADERS.values()
                    if group in s.groups and s.kind is not Kind.FORWARDED] for group in Group}
_elements = st.one_of(
    st.sampled_from(["10.0.0.5", "203.0.113.7", "[2001:db8::5]:80", "1.2.3.4:8080", "unknown",
                     "010.0.0.1", "::ffff:10.0.0.9", "2001:DB8::7", "_hidden", "", "1.2.3",
                     "[::ffff:1.2.3.4]", "fe80::1%eth0"]),
    st.ip_addresses().map(str),
    st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=8),
)
_values = st.one_of(
    st.lists(_elements, max_size=5).map(", ".join),
    st.sampled_from(["https", "HTTP", "wss", "on", "0", "443", "99999", "example.com:8443",
                     "[::1]:80", "/myapp/", "/a/../b", "junk", "", "a, b", "/x y",
                     'for=1.2.3.4;proto=https;host="h.example"', 'for="[2001:db8::1]:80"',
                     'for=_x;host="a,b", for=10.0.0.1', "/caf\xc3\xa9", "/\xff"]),
    st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=20),
)
_header_sets = st.dictionaries(
    st.sampled_from([s.name for s in HEADERS.values()] + ["CF-Connecting-IP", "X-Other"]),
    _values, max_size=8)


@st.composite
def _policies(draw: st.DrawFn) -> TrustPolicy:
    """At most one header per group (Forwarded alone for client/scheme/host, or
    none), a custom client header sometimes, and random options."""
    chosen: list[str] = []
    custom = draw(st.booleans())
    forwarded = draw(st.booleans())
    if forwarded:
        chosen.append("Forwarded")
    for group in Group:
        if forwarded and group in (Group.CLIENT, Group.SCHEME, Group.HOST):
            continue
        names = BY_GROUP[group] + (["CF-Connecting-IP"] if custom and group is Group.CLIENT
                                   else [])
        name = draw(st.none() | st.sampled_from(names))
        if name:
            chosen.append(name)
    return TrustPolicy(
        trusted_proxies=PROXIES, trusted_headers=chosen,
        custom_headers=CUSTOM if custom else {},
        script_name=draw(st.sampled_from(["", "/fixed"])),
        strip_prefix_from_path=draw(st.booleans()),
        trust_unix_socket=draw(st.booleans()),
        hop_aligned="X-Forwarded-For" in chosen and draw(st.booleans()),
        max_hops=draw(st.sampled_from([1, 2, 32])))


_requests = st.builds(
    Request,
    st.sampled_from(TRUSTED_PEERS + [p for p in UNTRUSTED_PEERS if p is not None]),
    _header_sets,
    st.fixed_dictionaries({}, optional={
        "SCRIPT_NAME": st.sampled_from(["", "/mount"]),
        "PATH_INFO": st.sampled_from(["", "/", "/fixed/x", "/app", "/app/x", "/applied"]),
        "HTTPS": st.just("on"), "REQUEST_SCHEME": st.sampled_from(["http", "https"]),
        "wsgi.url_scheme": st.sampled_from(["http", "https"])}))

PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def well_formed(outcome: Outcome) -> None:
    """The rewritten values are well-formed (raises AssertionError if not)."""
    view = outcome.view
    remote = view.get("REMOTE_ADDR")
    client = outcome.before.get("client")
    peer = outcome.before.get("REMOTE_ADDR") if outcome.wsgi else client and client[0]
    assert remote is None or remote == peer or parse_ip(remote) is not None, (peer, remote)
    assert view["wsgi.url_scheme"] in ("http", "https")
    assert 1 <= int(view["SERVER_PORT"]) <= 65535
    assert parse_host(view["HTTP_HOST"]) == (view["HTTP_HOST"], "")
    if outcome.wsgi:
        assert parse_prefix(view["SCRIPT_NAME"]) == (view["SCRIPT_NAME"], "")
        assert (view.get("HTTPS") == "on") == (view["wsgi.url_scheme"] == "https") or (
            outcome.decision.scheme is None)
    else:
        assert parse_prefix(view["SCRIPT_NAME"], text=True) == (view["SCRIPT_NAME"], "")


@path_param
@PROPERTY
@given(the_policy=_policies(), request=_requests)
def test_nothing_a_client_sends_can_raise_or_malform(path: str, the_policy: TrustPolicy,
                                                     request: Request) -> None:
    """§1: whatever headers a client (or a trusted proxy) sends, no path raises,
    every rewritten value is well-formed (a canonical IP address, http/https,
    a port 1-65535, a valid Host, a valid prefix), and every path agrees with
    the WSGI pure-Python reference."""
    outcome = through(path, the_policy, request)
    well_formed(outcome)
    reference = through("wsgi-pure", the_policy, request)
    if (not outcome.wsgi and (request.peer or "").startswith("/")
            and reference.view.get("REMOTE_ADDR") == request.peer):
        # An ASGI server gives no client for a Unix socket; a WSGI one its path.
        del reference.view["REMOTE_ADDR"]
    for key in set(outcome.view) | set(reference.view):
        if key in WSGI_ONLY and not outcome.wsgi:
            continue
        if key == "SCRIPT_NAME" or key == "PATH_INFO":
            continue  # ASGI holds text where WSGI holds latin-1 native strings
        assert outcome.view.get(key) == reference.view.get(key), key


@path_param
@PROPERTY
@given(the_policy=_policies(), request=_requests)
def test_only_forwarded_headers_from_untrusted_peers_go(path: str, the_policy: TrustPolicy,
                                                        request: Request) -> None:
    """§1: from a peer the policy does not trust, the request after equals the
    request before minus the known forwarded headers (the fixed script_name
    aside)."""
    untrusted = not the_policy.compile().is_trusted(request.peer or "")
    outcome = through(path, the_policy, request)
    known = {spec.environ_key for spec in the_policy.headers.values()}
    left = {k for k in outcome.view if k in known}
    trusted_keys = {the_policy.headers[n.lower()].environ_key
                    for n in the_policy.trusted_headers}
    assert left <= trusted_keys
    if not untrusted:
        return
    assert not left
    before = {k: v for k, v in before_view(path, request).items() if k not in known}
    after = dict(outcome.view)
    if the_policy.script_name:
        after.pop("SCRIPT_NAME")
        after.pop("PATH_INFO", None)
        before.pop("SCRIPT_NAME")
        before.pop("PATH_INFO", None)
    assert after == before


def rebuilt_before(outcome: Outcome) -> dict[str, Any]:
    """The request before, from the request after and the originals kept."""
    rebuilt = dict(outcome.after)
    if outcome.wsgi:
        for key in ("trustedproxy.orig", "trustedproxy.decision"):
            del rebuilt[key]
    else:
        extensions = dict(rebuilt.pop("extensions"))
        del extensions[asgi_mod.EXTENSION_KEY]
        if extensions:
            rebuilt["extensions"] = extensions
    for key, value in outcome.orig.items():
        if value is None:
            rebuilt.pop(key, None)  # None: the key was absent
        else:
            rebuilt[key] = value
    return rebuilt


def without_nones(request: dict[str, Any]) -> dict[str, Any]:
    """An ASGI scope without its None fields: for the ASGI spec a missing
    ``client`` or ``server`` is None, so the two are the same scope."""
    return {k: v for k, v in request.items() if v is not None}


@path_param
@PROPERTY
@given(the_policy=_policies(), request=_requests)
def test_every_value_changed_or_removed_is_kept_in_orig(path: str, the_policy: TrustPolicy,
                                                        request: Request) -> None:
    """§1, §7: the originals kept (environ["trustedproxy.orig"], or the ASGI
    extension's "orig") hold every value changed or removed, so the request
    after plus the originals is the request before; the TCP peer is always
    among them."""
    outcome = through(path, the_policy, request)
    if outcome.wsgi:
        assert rebuilt_before(outcome) == outcome.before
    else:
        assert without_nones(rebuilt_before(outcome)) == without_nones(outcome.before)
    peer_key = "REMOTE_ADDR" if outcome.wsgi else "client"
    assert peer_key in outcome.orig
    assert outcome.orig[peer_key] == outcome.before.get(peer_key)


# =========================================================================== tables of cases


@dataclass(frozen=True)
class Case:
    """One sentence of SPEC.md as a request: the policy, the request, and the
    values the application must see (``ABSENT``: the key must be gone)."""

    id: str
    policy: TrustPolicy
    request: Request
    expected: Mapping[str, str | None]


def cases_param(cases: list[Case]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])


def run_case(path: str, case: Case) -> Outcome:
    outcome = through(path, case.policy, case.request)
    check(outcome, case.expected)
    return outcome


def one(name: str, value: str, **environ: str) -> Request:
    """A request from the trusted proxy with one header."""
    return Request(PROXY, [(name, value)], environ)


# =========================================================================== §2 header groups

HTTPS_ON = {"HTTPS": "on", "wsgi.url_scheme": "https"}
HTTPS_OFF = {"HTTPS": ABSENT, "wsgi.url_scheme": "http"}


def _group_rows() -> list[Case]:
    rows: list[Case] = []
    for name in ("X-Forwarded-For", "X-Real-IP", "X-Client-IP"):
        rows.append(Case(f"client:{name}", policy(name), one(name, CLIENT),
                         {"REMOTE_ADDR": CLIENT}))
    rows.append(Case("client:X-Forwarded-For-trimmed", policy("X-Forwarded-For"),
                     one("X-Forwarded-For", f"198.51.100.1, {CLIENT}, 10.0.0.1"),
                     {"REMOTE_ADDR": CLIENT, "HTTP_X_FORWARDED_FOR": f"{CLIENT}, 10.0.0.1"}))
    for name in ("X-Forwarded-Proto", "X-Forwarded-Scheme", "X-Scheme"):
        rows.append(Case(f"scheme-word:{name}:https", policy(name), one(name, "https"),
                         HTTPS_ON))
        rows.append(Case(f"scheme-word:{name}:http", policy(name),
                         one(name, "http", HTTPS="on", **{"wsgi.url_scheme": "https"}),
                         HTTPS_OFF))
    for name in ("X-Forwarded-HTTPS", "X-Forwarded-SSL", "X-HTTPS", "Front-End-Https"):
        rows.append(Case(f"scheme-bool:{name}:on", policy(name), one(name, "on"), HTTPS_ON))
        rows.append(Case(f"scheme-bool:{name}:off", policy(name),
                         one(name, "off", HTTPS="on", **{"wsgi.url_scheme": "https"}),
                         HTTPS_OFF))
    rows.append(Case("scheme:REQUEST_SCHEME-rewritten-when-present",
                     policy("X-Forwarded-Proto"),
                     one("X-Forwarded-Proto", "https", REQUEST_SCHEME="http"),
                     {**HTTPS_ON, "REQUEST_SCHEME": "https"}))
    rows.append(Case("scheme:REQUEST_SCHEME-not-invented", policy("X-Forwarded-Proto"),
                     one("X-Forwarded-Proto", "https"), {**HTTPS_ON, "REQUEST_SCHEME": ABSENT}))
    for name in ("X-Forwarded-Host", "X-Host"):
        rows.append(Case(f"host:{name}", policy(name), one(name, "shop.example:8443"),
                         {"HTTP_HOST": "shop.example:8443", "SERVER_NAME": "backend.internal",
                          "SERVER_PORT": "8000"}))
    rows.append(Case("server:X-Forwarded-Server", policy("X-Forwarded-Server"),
                     one("X-Forwarded-Server", "shop.example"),
                     {"SERVER_NAME": "shop.example", "HTTP_HOST": "backend.internal:8000"}))
    rows.append(Case("port:X-Forwarded-Port", policy("X-Forwarded-Port"),
                     one("X-Forwarded-Port", "8443"),
                     {"SERVER_PORT": "8443", "HTTP_HOST": "backend.internal:8000"}))
    for name in ("X-Forwarded-Prefix", "X-Script-Name", "X-Forwarded-Script-Name"):
        rows.append(Case(f"prefix:{name}", policy(name), one(name, "/app"),
                         {"SCRIPT_NAME": "/app", "PATH_INFO": "/path"}))
    rows.append(Case("rfc7239:Forwarded-is-client-scheme-and-host", policy("Forwarded"),
                     one("Forwarded", f"for={CLIENT};proto=https;host=shop.example"),
                     {"REMOTE_ADDR": CLIENT, **HTTPS_ON, "HTTP_HOST": "shop.example"}))
    return rows


@path_param
@cases_param(_group_rows())
def test_each_header_rewrites_what_its_group_row_says(path: str, case: Case) -> None:
    """§2 table: each header of a group, when trusted and valid, rewrites what
    its row names: client -> REMOTE_ADDR (and X-Forwarded-For trimmed); scheme ->
    wsgi.url_scheme, HTTPS set to "on" or removed, REQUEST_SCHEME only when
    present; host -> HTTP_HOST; server -> SERVER_NAME; port -> SERVER_PORT;
    prefix -> SCRIPT_NAME; Forwarded -> client, scheme and host at once."""
    run_case(path, case)


@cases_param([case for case in _group_rows() if not case.id.startswith("rfc7239")])
def test_the_compiled_path_takes_these_requests_itself(case: Case,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Not vacuous: once warm, the compiled WSGI path handles the usual requests
    of the §2 table itself (the pure-Python reference is not called), so the
    "wsgi-compiled" runs above test the compiled code. (Forwarded, hop_aligned,
    strip_prefix_from_path and invalid values are handed to the reference by
    design: see the header of _speedups.c.)"""
    skip_without_speedups("wsgi-compiled")
    runner = Runner("wsgi-compiled", case.policy)
    runner.once(case.request)
    runner.once(case.request)
    calls: list[object] = []
    reference = wsgi_mod.TrustedProxyMiddleware._call_python

    def counted(self: Any, environ: Any, start_response: Any) -> Any:
        calls.append(environ)
        return reference(self, environ, start_response)

    monkeypatch.setattr(wsgi_mod.TrustedProxyMiddleware, "_call_python", counted)
    check(runner.once(case.request), case.expected)
    assert not calls


@pytest.mark.parametrize("name", [spec.name for spec in HEADERS.values()])
def test_the_table_has_each_header_in_its_groups(name: str) -> None:
    """§2 table: the groups of each header are the ones SPEC lists, and the
    headers mod_wsgi does not know are exactly X-Forwarded-Prefix, Forwarded
    and Front-End-Https."""
    rows = {
        Group.CLIENT: {"X-Forwarded-For", "X-Real-IP", "X-Client-IP", "Forwarded"},
        Group.SCHEME: {"X-Forwarded-Proto", "X-Forwarded-Scheme", "X-Scheme",
                       "X-Forwarded-HTTPS", "X-Forwarded-SSL", "X-HTTPS", "Front-End-Https",
                       "Forwarded"},
        Group.HOST: {"X-Forwarded-Host", "X-Host", "Forwarded"},
        Group.SERVER: {"X-Forwarded-Server"},
        Group.PORT: {"X-Forwarded-Port"},
        Group.PREFIX: {"X-Forwarded-Prefix", "X-Script-Name", "X-Forwarded-Script-Name"},
    }
    spec = HEADERS[name.lower()]
    assert spec.groups == {group for group, names in rows.items() if name in names}
    assert spec.in_mod_wsgi == (name not in ("X-Forwarded-Prefix", "Forwarded",
                                             "Front-End-Https"))


@pytest.mark.parametrize("other", ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"])
def test_forwarded_counts_in_three_groups_at_load_time(other: str) -> None:
    """§2: Forwarded counts as a member of client, scheme and host at once, so
    trusting it with any header of those groups is two headers of one group."""
    with pytest.raises(ConfigError, match=rf"'Forwarded' and '{other}' are both in the "
                                          r"\w+ group: trust one header per group"):
        policy(other, "Forwarded")


@path_param
@pytest.mark.parametrize("spelling", ["x-forwarded-for", "X-FORWARDED-FOR", "X-Forwarded-For",
                                      "x-FoRwArDeD-fOr"])
def test_header_names_are_case_insensitive(path: str, spelling: str) -> None:
    """§2: header names are case-insensitive, in the policy (every form) and on
    the wire (WSGI servers upper-case them; ASGI names are matched in any case)."""
    forms = [TrustPolicy(trusted_proxies=PROXIES, trusted_headers=[spelling]),
             TrustPolicy.from_yaml(f"trusted_proxies: [10.0.0.0/8, 2001:db8::/32]\n"
                                   f"trusted_headers: [{spelling}]\n"),
             TrustPolicy.from_directives(f"WSGITrustedProxies 10.0.0.0/8 2001:db8::/32\n"
                                         f"WSGITrustedProxyHeaders {spelling}\n"),
             TrustPolicy.from_express_args(["--trust-proxy", "10.0.0.0/8", "--trust-proxy",
                                            "2001:db8::/32", "--trust-proxy-header", spelling])]
    assert all(form == forms[0] == policy("X-Forwarded-For") for form in forms)
    outcome = through(path, forms[0], Request(PROXY, [(spelling, CLIENT)]))
    check(outcome, {"REMOTE_ADDR": CLIENT})


CUSTOM_GROUPS = [("CF-Connecting-IP", "client", CLIENT, {"REMOTE_ADDR": CLIENT}),
                 ("X-Original-Proto", "scheme", "https", HTTPS_ON),
                 ("X-Original-Host", "host", "shop.example", {"HTTP_HOST": "shop.example"}),
                 ("X-Original-Server", "server", "shop.example",
                  {"SERVER_NAME": "shop.example"}),
                 ("X-Original-Port", "port", "8443", {"SERVER_PORT": "8443"}),
                 ("X-Original-Prefix", "prefix", "/app", {"SCRIPT_NAME": "/app"})]


@path_param
@pytest.mark.parametrize(("name", "group", "value", "expected"), CUSTOM_GROUPS,
                         ids=[c[1] for c in CUSTOM_GROUPS])
def test_registered_names_join_their_group(path: str, name: str, group: str, value: str,
                                           expected: dict[str, str]) -> None:
    """§2: users may register further names into a group: trusted, the name
    rewrites what its group rewrites; not trusted (or from an untrusted peer),
    it is removed like a built-in header."""
    trusting = TrustPolicy(trusted_proxies=PROXIES, trusted_headers=[name],
                           custom_headers={name: group})
    assert trusting == TrustPolicy.from_yaml(
        f"trusted_proxies: [10.0.0.0/8, 2001:db8::/32]\ntrusted_headers: [{name}]\n"
        f"custom_headers:\n  {name}: {group}\n")
    outcome = through(path, trusting, Request(PROXY, {name: value}))
    check(outcome, {**expected, environ_key(name): value})
    outcome = through(path, trusting, Request("198.51.100.7", {name: value}))
    check(outcome, {environ_key(name): ABSENT, "REMOTE_ADDR": "198.51.100.7",
                    "wsgi.url_scheme": "http", "HTTP_HOST": "backend.internal:8000"})
    not_trusting = TrustPolicy(trusted_proxies=PROXIES, trusted_headers=["X-Forwarded-For"],
                               custom_headers={name: group})
    check(through(path, not_trusting, Request(PROXY, {name: value})),
          {environ_key(name): ABSENT})


# =========================================================================== §3 configuration

FORMS = ["kwargs", "yaml", "directives", "express"]
#: The forms again, as files loaded by TrustPolicy.from_file (errors name file:line).
FILE_FORMS = {"yaml-file": "trust.yaml", "directives-file": "trust.conf",
              "express-file": "trust.args"}
ALL_FORMS = FORMS + list(FILE_FORMS)


def form_text(form: str, proxies: list[str], headers: list[str]) -> str:
    """*proxies* and *headers* as the text of a file or string of *form*: one
    value per YAML line, a directive line each, one express option per line."""
    if form.startswith("yaml"):
        text = ""
        if proxies:
            text += "trusted_proxies:\n" + "".join(f"  - '{p}'\n" for p in proxies)
        if headers:
            text += "trusted_headers:\n" + "".join(f"  - '{h}'\n" for h in headers)
        return text
    if form.startswith("directives"):
        text = f"WSGITrustedProxies {' '.join(proxies)}\n" if proxies else ""
        return text + (f"WSGITrustedProxyHeaders {' '.join(headers)}\n" if headers else "")
    options = [f"--trust-proxy {p}" for p in proxies]
    options += [f"--trust-proxy-header {h}" for h in headers]
    return " \\\n".join(options) + "\n"


def written(form: str, proxies: list[str], headers: list[str],
            directory: Path | None = None) -> TrustPolicy:
    """The policy of *proxies* and *headers*, written in *form* (file forms in
    *directory*)."""
    if form == "kwargs":
        return TrustPolicy(trusted_proxies=proxies, trusted_headers=headers)
    if form == "yaml":
        return TrustPolicy.from_yaml(form_text(form, proxies, headers))
    if form == "directives":
        return TrustPolicy.from_directives(form_text(form, proxies, headers))
    if form == "express":
        argv: list[str] = []
        for proxy in proxies:
            argv += ["--trust-proxy", proxy]
        for header in headers:
            argv += ["--trust-proxy-header", header]
        return TrustPolicy.from_express_args(argv)
    assert directory is not None
    path = directory / FILE_FORMS[form]
    path.write_text(form_text(form, proxies, headers))
    return TrustPolicy.from_file(path)


def where(form: str, field: str, index: int, proxies: list[str],
          directory: Path | None = None) -> str:
    """The source an error about item *index* of *field* must name, as a regex."""
    if form == "kwargs":
        return rf"{field}\[{index}\]"
    names = {"yaml": "<yaml>", "directives": "<directives>", "express": "argv"}
    if form in FILE_FORMS:
        assert directory is not None
        names[form] = re.escape(str(directory / FILE_FORMS[form]))
    name = names[form]
    if form.startswith("yaml"):
        line = 2 + index if field == "trusted_proxies" else (
            (len(proxies) + 1 if proxies else 0) + 2 + index)
        return f"{name}:{line}"
    if form.startswith("directives"):
        line = 1 if field == "trusted_proxies" or not proxies else 2
        directive = ("WSGITrustedProxies" if field == "trusted_proxies"
                     else "WSGITrustedProxyHeaders")
        return f"{name}:{line}: {directive}"
    option = "--trust-proxy" if field == "trusted_proxies" else "--trust-proxy-header"
    number = index if field == "trusted_proxies" else len(proxies) + index
    if form == "express":
        return rf"argv\[{2 * number + 1}\]: {option}"
    return f"{name}:{number + 1}: {option}"


@dataclass(frozen=True)
class Refused:
    """A configuration SPEC §3 makes an error: the bad item (field, index), its
    value, and (a regex of) what the message says would be valid."""

    id: str
    proxies: list[str]
    headers: list[str]
    field: str
    index: int
    hint: str


REFUSED = [
    Refused("two-headers-of-one-group", ["10.0.0.0/8"], ["X-Forwarded-For", "X-Real-IP"],
            "trusted_headers", 1, "both in the client group: trust one header per group"),
    Refused("two-headers-of-one-group-forwarded", ["10.0.0.0/8"], ["X-Forwarded-Proto",
                                                                    "Forwarded"],
            "trusted_headers", 1, "both in the scheme group: trust one header per group"),
    Refused("unknown-header-did-you-mean", ["10.0.0.0/8"], ["X-Forwarded-Fro"],
            "trusted_headers", 0, "unknown header .*did you mean 'X-Forwarded-For'"),
    Refused("unknown-header-no-close-match", ["10.0.0.0/8"], ["X-Nothing-Like-It"],
            "trusted_headers", 0, "unknown header .*known headers: X-Forwarded-For"),
    Refused("underscore-in-name", ["10.0.0.0/8"], ["X_Forwarded_For"],
            "trusted_headers", 0, "use '-', not '_' .*did you mean 'X-Forwarded-For'"),
    Refused("comma-in-name", ["10.0.0.0/8"], ["X-Forwarded-For,X-Forwarded-Proto"],
            "trusted_headers", 0, "one header name per entry"),
    Refused("other-character-in-name", ["10.0.0.0/8"], ["X-Forwarded.For"],
            "trusted_headers", 0, "only letters, digits and '-'"),
    Refused("host-name-as-proxy", ["proxy.example.com"], ["X-Forwarded-For"],
            "trusted_proxies", 0, "host names are never looked up.*expected an IPv4 or IPv6"),
    Refused("prefix-too-long", ["10.0.0.0/33"], ["X-Forwarded-For"],
            "trusted_proxies", 0, "invalid trusted proxy '10.0.0.0/33'"),
    Refused("not-an-address", ["300.1.1.1"], ["X-Forwarded-For"],
            "trusted_proxies", 0, "invalid trusted proxy '300.1.1.1'"),
    Refused("star", ["*"], ["X-Forwarded-For"],
            "trusted_proxies", 0, "invalid trusted proxy '\\*'.*expected an IPv4 or IPv6"),
    Refused("non-contiguous-mask", ["10.0.0.0/255.0.255.0"], ["X-Forwarded-For"],
            "trusted_proxies", 0, "not contiguous.*write a prefix length instead"),
]


@pytest.mark.parametrize("form", ALL_FORMS)
@pytest.mark.parametrize("refused", REFUSED, ids=[r.id for r in REFUSED])
def test_errors_name_source_value_and_what_is_valid(form: str, refused: Refused,
                                                    tmp_path: Path) -> None:
    """§3: each configuration SPEC makes an error is a ConfigError in every
    form (TrustPolicy, YAML, directives, express arguments), naming the source
    (file:line, directive or argument), the bad value and what would be valid."""
    bad = (refused.proxies if refused.field == "trusted_proxies" else refused.headers)[
        refused.index]
    source = where(form, refused.field, refused.index, refused.proxies, tmp_path)
    with pytest.raises(ConfigError, match=rf"^{source}: .*{refused.hint}") as info:
        written(form, refused.proxies, refused.headers, tmp_path)
    assert info.value.value == bad
    assert bad in str(info.value)


def load_yaml_form(source: str | Path) -> TrustPolicy:
    """YAML text, or a YAML file by its path."""
    return TrustPolicy.from_file(source) if isinstance(source, Path) else (
        TrustPolicy.from_yaml(source))


@pytest.mark.parametrize(("flow", "value"), [
    ("[::1]", "::1"), ("[127.0.0.1, ::1]", "::1"), ("[::/0]", "::/0"),
    ("[10.0.0.0/8,\n    ::ffff:10.0.0.0/104]", "::ffff:10.0.0.0/104")])
def test_yaml_unquoted_ipv6_in_a_flow_list_says_to_quote_it(flow: str, value: str,
                                                           tmp_path: Path) -> None:
    """§3: an error names the bad value and what would be valid, YAML syntax
    errors included: an IPv6 address starting with ':' unquoted in a YAML flow
    list (``[127.0.0.1, ::1]``, which YAML cannot parse) is named, with the
    quoted spelling to write."""
    text = f"trusted_proxies: {flow}\ntrusted_headers: [X-Forwarded-For]\n"
    line = 1 + flow.count("\n")
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    for source, name in ((text, "<yaml>"), (path, re.escape(str(path)))):
        with pytest.raises(ConfigError, match=rf"^{name}:{line}: invalid YAML: .*an IPv6 "
                                              rf"address that starts with ':' must be "
                                              rf"quoted in YAML: write '{re.escape(value)}'"
                           ) as info:
            load_yaml_form(source)
        assert info.value.value == value
    quoted = flow.replace(value, f"'{value}'")
    assert TrustPolicy.from_yaml(f"trusted_proxies: {quoted}\ntrusted_headers: "
                                 f"[X-Forwarded-For]\n").compile().is_trusted(
        value.split("/")[0] if value != "::/0" else "2001:db8::1")


@pytest.mark.parametrize("form", FORMS)
def test_headers_without_proxies_fail_closed(form: str) -> None:
    """§3: trusted headers with no trusted proxies are an error in every form
    (mod_wsgi would trust every peer), naming where the headers were given and
    saying how to trust every peer explicitly."""
    source = {"kwargs": "trusted_headers", "yaml": "<yaml>:1",
              "directives": "<directives>:1", "express": r"argv\[1\]"}[form]
    explicit = ("'0.0.0.0/0' and '::/0'" if form in ("kwargs", "yaml")
                else "'0.0.0.0/1 128.0.0.0/1 ::/1 8000::/1'")
    with pytest.raises(ConfigError, match=rf"^{source}: .*no trusted proxies|"
                                          rf"^{source}: .*without"):
        written(form, [], ["X-Forwarded-For"])
    with pytest.raises(ConfigError, match=f"write {explicit} explicitly"):
        written(form, [], ["X-Forwarded-For"])


@pytest.mark.parametrize("form", FORMS)
def test_trusting_every_peer_written_out_warns(form: str) -> None:
    """§3: trusting every peer must be written out, and draws a warning (in the
    directive forms, which cannot hold a /0, as two halves of each family)."""
    proxies = (["0.0.0.0/0", "::/0"] if form in ("kwargs", "yaml")
               else ["0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"])
    the_policy = written(form, proxies, ["X-Forwarded-For"])
    messages = [p.message for p in the_policy.warnings()]
    assert any("every IPv4 address" in m for m in messages), messages
    assert any("every IPv6 address" in m for m in messages), messages
    assert the_policy.compile().is_trusted("198.51.100.7")


def test_no_dns_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    """§3: a host name is refused without a DNS lookup (no resolver call at all)."""
    import socket

    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("DNS lookup attempted")

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        monkeypatch.setattr(socket, name, no_dns)
    for form in FORMS:
        with pytest.raises(ConfigError, match="host names are never looked up"):
            written(form, ["localhost"], ["X-Forwarded-For"])


#: Values accepted for compatibility: (value, what it means, the warning, the
#: forms that accept it). The other forms refuse it, saying what to write.
COMPATIBLE = [
    ("10.0.0.1/8", "10.0.0.0/8", "host bits set: read as 10.0.0.0/8", FORMS),
    ("10.0.0.0/255.0.0.0", "10.0.0.0/8", "dotted mask '255.0.0.0' read as /8", FORMS),
    ("2001:DB8::/32", "2001:db8::/32", "upper-case IPv6", ["kwargs", "yaml"]),
    ("::ffff:10.0.0.0/104", "10.0.0.0/8", "IPv4-mapped IPv6 read as 10.0.0.0/8",
     ["kwargs", "yaml"]),
    ("127.0.0", "127.0.0.0/24", "partial IPv4 address read as 127.0.0.0/24",
     ["directives", "express"]),
]
REFUSAL = {"2001:DB8::/32": "mod_wsgi rejects upper-case IPv6: write '2001:db8::/32'",
           "::ffff:10.0.0.0/104": "mod_wsgi rejects IPv4-mapped IPv6 addresses: write the "
                                  "IPv4 address or network itself",
           "127.0.0": "a partial IPv4 address; did you mean '127.0.0.0/24'"}


@pytest.mark.parametrize("form", ALL_FORMS)
@pytest.mark.parametrize(("value", "meaning", "warning", "accepted"), COMPATIBLE,
                         ids=[c[0] for c in COMPATIBLE])
def test_compatibility_values_load_with_a_warning(form: str, value: str, meaning: str,
                                                  warning: str, accepted: list[str],
                                                  tmp_path: Path) -> None:
    """§3: host bits set, contiguous dotted masks, upper-case IPv6, IPv4-mapped
    IPv6 and (in directive strings) partial IPv4 are accepted with a warning
    naming the value and its meaning. Upper-case and IPv4-mapped IPv6 are
    refused in the two mod_wsgi forms, since mod_wsgi refuses them (a file
    trustedproxy loaded would then stop Apache); partial IPv4 is refused outside
    them, with the network it would mean."""
    source = where(form, "trusted_proxies", 0, [value], tmp_path)
    if form.removesuffix("-file") not in accepted:
        with pytest.raises(ConfigError, match=rf"^{source}: .*{REFUSAL[value]}"):
            written(form, [value], ["X-Forwarded-For"], tmp_path)
        return
    the_policy = written(form, [value], ["X-Forwarded-For"], tmp_path)
    assert the_policy.trusted_proxies == (meaning,)
    (problem,) = the_policy.warnings()
    assert re.fullmatch(source.split(": ")[0], problem.source)
    assert value in problem.message
    assert warning in problem.message


@pytest.mark.parametrize("value", ["10.0.0.0/255.0.255.0", "10.0.0.0/0.255.255.255"])
def test_non_contiguous_mask_is_an_error(value: str) -> None:
    """§3: a non-contiguous dotted mask is an error (mod_wsgi accepts it)."""
    for form in FORMS:
        with pytest.raises(ConfigError, match="is not contiguous"):
            written(form, [value], ["X-Forwarded-For"])


@pytest.mark.parametrize(("proxies", "headers", "warning"), [
    (["0.0.0.0/0"], ["X-Forwarded-For"], "trusts every IPv4 address"),
    (["10.0.0.0/8"], [], "trusted proxies but no trusted headers: nothing is rewritten"),
    (["8.8.8.0/24"], ["X-Forwarded-For"], "8.8.8.0/24 is (partly) a public range"),
], ids=["every-address", "no-headers", "public-range"])
def test_check_shows_the_warnings(tmp_path: Any, capsys: pytest.CaptureFixture[str],
                                  proxies: list[str], headers: list[str], warning: str) -> None:
    """§3: trusting every address, proxies with no headers, and a trusted public
    range are warnings, not errors: `trustedproxy check` shows them (and fails
    only with --strict)."""
    from trustedproxy.cli import main

    path = tmp_path / "trust.yaml"
    path.write_text(f"trusted_proxies: {proxies}\ntrusted_headers: {headers}\n")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr()
    assert warning in out.out + out.err
    assert f"{path}" in out.out + out.err
    assert main(["check", "--strict", str(path)]) == 1


@pytest.mark.parametrize("form", FORMS)
def test_the_forms_make_the_same_policy_and_round_trip(form: str) -> None:
    """§3: the front-ends produce the same policy object, and converting between
    them round-trips."""
    base = policy("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                  "X-Forwarded-Port", "X-Script-Name")
    again = written(form, list(base.trusted_proxies), list(base.trusted_headers))
    assert again == base
    assert TrustPolicy.from_yaml(again.to_yaml()) == base
    assert TrustPolicy.from_directives(again.to_directives()) == base
    assert TrustPolicy.from_express_args(again.to_express_args()) == base


# =========================================================================== §4 client address

XFF = policy("X-Forwarded-For")


def xff(value: str, peer: str | None = PROXY) -> Request:
    return Request(peer, {"X-Forwarded-For": value})


def client(remote: str, forwarded_for: str | None) -> dict[str, str | None]:
    return {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded_for}


PEER_CASES = [
    Case("mapped-peer-matches-ipv4-network", XFF, xff(CLIENT, "::ffff:10.0.0.2"),
         client(CLIENT, CLIENT)),
    Case("ipv4-peer-matches-mapped-network",
         policy("X-Forwarded-For", proxies=["::ffff:10.0.0.0/104"]), xff(CLIENT),
         client(CLIENT, CLIENT)),
    Case("mapped-peer-matches-mapped-network",
         policy("X-Forwarded-For", proxies=["::ffff:10.0.0.0/104"]),
         xff(CLIENT, "::ffff:10.0.0.2"), client(CLIENT, CLIENT)),
    Case("zone-id-ignored-for-matching", XFF, xff(CLIENT, "2001:db8::1%eth0"),
         client(CLIENT, CLIENT)),
    Case("upper-case-ipv6-peer", XFF, xff(CLIENT, "2001:DB8::1"), client(CLIENT, CLIENT)),
    Case("ipv6-network-does-not-match-ipv4-peer", policy("X-Forwarded-For", proxies=["::1"]),
         xff(CLIENT, "127.0.0.1"), client("127.0.0.1", ABSENT)),
    Case("empty-peer-untrusted", XFF, xff(CLIENT, ""), {"HTTP_X_FORWARDED_FOR": ABSENT}),
    Case("unix-socket-peer-untrusted", XFF, xff(CLIENT, "/run/proxy.sock"),
         {"HTTP_X_FORWARDED_FOR": ABSENT}),
    Case("no-peer-untrusted", XFF, xff(CLIENT, None), {"HTTP_X_FORWARDED_FOR": ABSENT}),
    Case("unix-socket-peer-trusted-when-said",
         TrustPolicy(trusted_headers=["X-Forwarded-For"], trust_unix_socket=True),
         xff(CLIENT, "/run/proxy.sock"), client(CLIENT, CLIENT)),
    Case("empty-peer-trusted-when-said",
         TrustPolicy(trusted_headers=["X-Forwarded-For"], trust_unix_socket=True),
         xff(CLIENT, ""), client(CLIENT, CLIENT)),
    Case("unix-socket-option-does-not-trust-a-malformed-address",
         TrustPolicy(trusted_headers=["X-Forwarded-For"], trust_unix_socket=True),
         xff(CLIENT, "127.0.0.1:8080"), {"HTTP_X_FORWARDED_FOR": ABSENT}),
    Case("unix-socket-option-trusts-unix-colon-peer",
         TrustPolicy(trusted_headers=["X-Forwarded-For"], trust_unix_socket=True),
         xff(CLIENT, "unix:"), client(CLIENT, CLIENT)),
    Case("unix-socket-option-does-not-trust-ip-peers",
         TrustPolicy(trusted_headers=["X-Forwarded-For"], trust_unix_socket=True),
         xff(CLIENT, "10.0.0.2"), client("10.0.0.2", ABSENT)),
]


@path_param
@cases_param(PEER_CASES)
def test_the_peer(path: str, case: Case) -> None:
    """§4: the peer is REMOTE_ADDR as the server set it; an IPv4-mapped IPv6
    peer matches IPv4 networks and an IPv4 peer IPv4-mapped ones; a zone id is
    ignored for matching; a peer that is not an IP address (empty, a Unix
    socket) is untrusted unless trust_unix_socket is set."""
    run_case(path, case)


WALK_CASES = [
    # Split on commas, trim, drop empty elements.
    Case("split-trim-drop-empty", XFF, xff(f" , {CLIENT} ,,\t10.0.0.3 , "),
         client(CLIENT, f"{CLIENT}, 10.0.0.3")),
    Case("no-space-after-comma", XFF, xff(f"198.51.100.1,{CLIENT},10.0.0.3"),
         client(CLIENT, f"{CLIENT}, 10.0.0.3")),
    Case("only-empty-elements-invalid", XFF, xff(" , ,, "), client(PROXY, ABSENT)),
    # Valid forms of an element.
    Case("ipv4-with-port", XFF, xff(f"{CLIENT}:8080"), client(CLIENT, f"{CLIENT}:8080")),
    Case("ipv6", XFF, xff("2001:db9::1"), client("2001:db9::1", "2001:db9::1")),
    Case("ipv6-upper-case", XFF, xff("2001:DB9::A"), client("2001:db9::a", "2001:DB9::A")),
    Case("ipv6-brackets", XFF, xff("[2001:db9::1]"), client("2001:db9::1", "[2001:db9::1]")),
    Case("ipv6-brackets-port", XFF, xff("[2001:db9::1]:443"),
         client("2001:db9::1", "[2001:db9::1]:443")),
    Case("ipv6-non-canonical", XFF, xff("2001:0db9:0:0:0:0:0:1"),
         client("2001:db9::1", "2001:0db9:0:0:0:0:0:1")),
    Case("ipv6-dotted-tail", XFF, xff("::ffff:198.51.100.7"),
         client("::ffff:198.51.100.7", "::ffff:198.51.100.7")),
    Case("trusted-hop-with-port", XFF, xff(f"{CLIENT}, 10.0.0.3:8080"),
         client(CLIENT, f"{CLIENT}, 10.0.0.3:8080")),
    # Invalid forms: the rightmost invalid -> the peer is the client, header gone.
    *(Case(f"invalid-rightmost:{junk}", XFF, xff(f"{CLIENT}, {junk}"), client(PROXY, ABSENT))
      for junk in ["010.0.0.1", "10.0.1", "167772161", "0x0a000001", "1.2.3.4.5",
                   "256.1.1.1", "proxy.example", "unknown", "_hidden", "fe80::1%eth0",
                   "1.2.3.4:0", "1.2.3.4:65536", "[1.2.3.4]", "[2001:db8::1", "1.2.3.4:",
                   "\xb9.2.3.4", "1.2.3.4\xa0"]),
    # The walk from the right.
    Case("walk-first-untrusted-is-client", XFF, xff(f"198.51.100.1, {CLIENT}, 10.0.0.1"),
         client(CLIENT, f"{CLIENT}, 10.0.0.1")),
    Case("walk-invalid-stops-at-last-trusted", XFF, xff(f"{CLIENT}, junk, 10.0.0.1, 10.0.0.3"),
         client("10.0.0.1", "10.0.0.1, 10.0.0.3")),
    Case("walk-invalid-left-of-client-unread", XFF, xff(f"junk, {CLIENT}, 10.0.0.1"),
         client(CLIENT, f"{CLIENT}, 10.0.0.1")),
    Case("walk-all-trusted-leftmost-is-client", XFF, xff("10.0.0.5, 10.0.0.1"),
         client("10.0.0.5", "10.0.0.5, 10.0.0.1")),
    Case("walk-mapped-element-is-trusted", XFF, xff(f"{CLIENT}, ::ffff:10.0.0.9"),
         client(CLIENT, f"{CLIENT}, ::ffff:10.0.0.9")),
    Case("walk-ipv6-hops", XFF, xff(f"{CLIENT}, [2001:db8::5]:443, 2001:DB8::6"),
         client(CLIENT, f"{CLIENT}, [2001:db8::5]:443, 2001:DB8::6")),
    # X-Real-IP / X-Client-IP: one valid address, port allowed.
    *(Case(f"single:{name}:{value}", policy(name), one(name, value),
           {"REMOTE_ADDR": result, environ_key(name): value if result != PROXY else ABSENT})
      for name in ("X-Real-IP", "X-Client-IP")
      for value, result in [(CLIENT, CLIENT), (f"{CLIENT}:8080", CLIENT),
                            ("[2001:db9::1]:80", "2001:db9::1"), ("2001:DB9::1", "2001:db9::1"),
                            (f"{CLIENT}, 198.51.100.1", PROXY), ("junk", PROXY),
                            ("010.0.0.1", PROXY), ("", PROXY)]),
]


@path_param
@cases_param(WALK_CASES)
def test_the_client_address(path: str, case: Case) -> None:
    """§4: X-Forwarded-For is split on commas, trimmed, empty elements dropped;
    an element is valid only as a strict dotted quad or an IPv6 address (any
    case, optional brackets), with an optional port; the walk from the right
    passes trusted elements, the first valid untrusted one is the client; an
    invalid element stops it at the last trusted address reached, or at the
    peer when it is the rightmost; every element trusted: the leftmost.
    REMOTE_ADDR is the address alone in canonical text, and
    HTTP_X_FORWARDED_FOR is the client and the hops right of it (each as
    written, trimmed), joined with ", ". X-Real-IP / X-Client-IP: one valid
    address (port allowed), or the header is ignored."""
    run_case(path, case)


@path_param
@settings(max_examples=100, deadline=None)
@given(hops=st.lists(st.sampled_from(["10.0.0.5", "10.0.0.6", "2001:db8::9", "::ffff:10.1.1.1"]),
                     max_size=4),
       chain=st.lists(st.sampled_from(["203.0.113.1", "198.51.100.2", "2001:db9::3"]),
                      min_size=1, max_size=3),
       junk=st.sampled_from(["", "junk, ", "010.0.0.1, ", "10.0.0.7, "]))
def test_whatever_a_client_prepends_the_client_is_what_the_first_proxy_saw(
        path: str, hops: list[str], chain: list[str], junk: str) -> None:
    """§4: whatever a client writes into X-Forwarded-For (to the left of what the
    trusted proxies appended), REMOTE_ADDR is the address the first trusted
    proxy saw: the rightmost untrusted element."""
    value = junk + ", ".join(chain + hops)
    outcome = through(path, XFF, xff(value))
    check(outcome, client(chain[-1], ", ".join([chain[-1], *hops])))


# =========================================================================== §5 scheme ... prefix

ALL_FIVE = policy("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                  "X-Forwarded-Server", "X-Forwarded-Port", "X-Forwarded-Prefix")
UNCHANGED = {"wsgi.url_scheme": "http", "HTTPS": ABSENT, "HTTP_HOST": "backend.internal:8000",
             "SERVER_NAME": "backend.internal", "SERVER_PORT": "8000", "SCRIPT_NAME": "",
             "PATH_INFO": "/path"}


def ignored(name: str, value: str, the_policy: TrustPolicy = ALL_FIVE, **environ: str) -> Case:
    """A trusted header whose value is invalid: ignored (nothing changes) and removed."""
    return Case(f"invalid:{name}:{value!r}", the_policy, one(name, value, **environ),
                {**UNCHANGED, environ_key(name): ABSENT})


def valid(name: str, value: str, expected: Mapping[str, str | None],
          the_policy: TrustPolicy = ALL_FIVE, **environ: str) -> Case:
    return Case(f"valid:{name}:{value!r}", the_policy, one(name, value, **environ),
                {**expected, environ_key(name): value})


LISTS = [ignored(name, value) for name, value in [
    ("X-Forwarded-Proto", "https, http"), ("X-Forwarded-Proto", "https,https"),
    ("X-Forwarded-Host", "a.example, b.example"), ("X-Forwarded-Server", "a.example,b.example"),
    ("X-Forwarded-Port", "443, 80"), ("X-Forwarded-Prefix", "/a, /b")]] + [
    ignored(name, value, policy(name)) for name, value in [
        ("X-Forwarded-SSL", "on, off"), ("X-Real-IP", f"{CLIENT}, 198.51.100.1")]]

HOP_ALIGNED = policy("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                     "X-Forwarded-Port", hop_aligned=True)
HOP_CASES = [
    Case("hop-aligned:outermost-trusted-proxy-wrote-it", HOP_ALIGNED,
         Request(PROXY, {"X-Forwarded-For": f"{CLIENT}, 10.0.0.1",
                         "X-Forwarded-Proto": "https, http",
                         "X-Forwarded-Host": "shop.example, inner.internal",
                         "X-Forwarded-Port": "443, 8080"}),
         {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "https", "HTTP_HOST": "shop.example",
          "SERVER_PORT": "443"}),
    Case("hop-aligned:client-padding-left-is-ignored", HOP_ALIGNED,
         Request(PROXY, {"X-Forwarded-For": f"6.6.6.6, {CLIENT}, 10.0.0.1",
                         "X-Forwarded-Proto": "http, https, http"}),
         {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "https"}),
    Case("hop-aligned:lists-align-from-the-right", HOP_ALIGNED,
         Request(PROXY, {"X-Forwarded-For": f"6.6.6.6, {CLIENT}, 10.0.0.1",
                         "X-Forwarded-Proto": "https, http"}),
         {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "https"}),
    Case("hop-aligned:list-shorter-than-the-chain-ignored", HOP_ALIGNED,
         Request(PROXY, {"X-Forwarded-For": f"{CLIENT}, 10.0.0.1, 10.0.0.3",
                         "X-Forwarded-Proto": "https, http"}),
         {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "http", "HTTP_X_FORWARDED_PROTO": ABSENT}),
    Case("hop-aligned:invalid-chosen-value-ignored", HOP_ALIGNED,
         Request(PROXY, {"X-Forwarded-For": f"{CLIENT}, 10.0.0.1",
                         "X-Forwarded-Proto": "ftp, https"}),
         {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "http", "HTTP_X_FORWARDED_PROTO": ABSENT}),
    Case("hop-aligned:single-value-still-works", HOP_ALIGNED,
         Request(PROXY, {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}),
         {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "https"}),
]

SCHEMES = [
    *(valid("X-Forwarded-Proto", word, {"wsgi.url_scheme": scheme})
      for word, scheme in [("https", "https"), ("HTTPS", "https"), ("hTtPs", "https"),
                           ("http", "http"), ("HTTP", "http"), ("wss", "https"),
                           ("WSS", "https"), ("ws", "http"), ("Ws", "http")]),
    *(ignored("X-Forwarded-Proto", word)
      for word in ["ftp", "", "https\x00", "h ttps", "httpss", "1", "on"]),
    *(valid("X-Forwarded-HTTPS", word, {"wsgi.url_scheme": scheme},
            policy("X-Forwarded-HTTPS"), **({"HTTPS": "on", "wsgi.url_scheme": "https"}
                                            if scheme == "http" else {}))
      for word, scheme in [("on", "https"), ("ON", "https"), ("true", "https"),
                           ("True", "https"), ("1", "https"), ("off", "http"),
                           ("OFF", "http"), ("false", "http"), ("FaLsE", "http"),
                           ("0", "http")]),
    *(ignored("X-Forwarded-HTTPS", word, policy("X-Forwarded-HTTPS"))
      for word in ["yes", "no", "2", "", "https", "o n", "01"]),
]

HOSTS = [
    *(valid("X-Forwarded-Host", value, {"HTTP_HOST": value})
      for value in ["shop.example", "shop.example:8443", "localhost", "a-b.example",
                    "192.0.2.1", "192.0.2.1:80", "[2001:db8::1]", "[2001:db8::1]:443",
                    "shop.example:1", "shop.example:65535"]),
    *(ignored("X-Forwarded-Host", value)
      for value in ["shop.example:0", "shop.example:65536", "shop.example:", "sh op.example",
                    "shop.example:abc", "2001:db8::1", "[2001:db8::1", "[shop.example]",
                    "-bad.example", "bad_.example", "", "a/b", "shop.example:443:1",
                    "user@shop.example"]),
    valid("X-Forwarded-Server", "shop.example", {"SERVER_NAME": "shop.example"}),
    valid("X-Forwarded-Server", "192.0.2.1", {"SERVER_NAME": "192.0.2.1"}),
    valid("X-Forwarded-Server", "[2001:db8::1]", {"SERVER_NAME": "[2001:db8::1]"}),
    *(ignored("X-Forwarded-Server", value)
      for value in ["shop.example:8443", "[2001:db8::1]:80", "", "bad host"]),
    *(valid("X-Forwarded-Port", value, {"SERVER_PORT": value})
      for value in ["1", "80", "8443", "65535"]),
    *(ignored("X-Forwarded-Port", value)
      for value in ["0", "65536", "99999", "-1", "+1", "8a", "", "1e3", "\xb9"]),
]

PREFIX = policy("X-Forwarded-Prefix")
STRIP = policy("X-Forwarded-Prefix", strip_prefix_from_path=True)
PREFIXES = [
    valid("X-Forwarded-Prefix", "/app", {"SCRIPT_NAME": "/app", "PATH_INFO": "/path"}, PREFIX),
    valid("X-Forwarded-Prefix", "/app/", {"SCRIPT_NAME": "/app"}, PREFIX),
    valid("X-Forwarded-Prefix", "//a//b//", {"SCRIPT_NAME": "/a/b"}, PREFIX),
    valid("X-Forwarded-Prefix", "", {"SCRIPT_NAME": ""}, PREFIX),
    valid("X-Forwarded-Prefix", "/", {"SCRIPT_NAME": ""}, PREFIX),
    *(ignored("X-Forwarded-Prefix", value, PREFIX)
      for value in ["app", "/a/../b", "/..", "/a/..", "/a?b", "/a#b", "/a b", "/a\tb",
                    "/a\x00", "/a\x7f", "/a\x85", "/a\xa0", "http://evil.example/"]),
    # Prepended to the server's SCRIPT_NAME (mod_wsgi replaces it).
    valid("X-Forwarded-Prefix", "/app", {"SCRIPT_NAME": "/app/mount", "PATH_INFO": "/path"},
          PREFIX, SCRIPT_NAME="/mount"),
    # strip_prefix_from_path: from the front of PATH_INFO, on a segment boundary.
    valid("X-Forwarded-Prefix", "/app", {"SCRIPT_NAME": "/app", "PATH_INFO": "/x"}, STRIP,
          PATH_INFO="/app/x"),
    Case("strip:whole-path", STRIP, one("X-Forwarded-Prefix", "/app", PATH_INFO="/app"),
         {"SCRIPT_NAME": "/app", "PATH_INFO": ""}),
    Case("strip:not-on-a-segment-boundary", STRIP,
         one("X-Forwarded-Prefix", "/app", PATH_INFO="/application"),
         {"SCRIPT_NAME": "/app", "PATH_INFO": "/application"}),
    Case("strip:path-without-the-prefix", STRIP,
         one("X-Forwarded-Prefix", "/app", PATH_INFO="/other/x"),
         {"SCRIPT_NAME": "/app", "PATH_INFO": "/other/x"}),
    Case("no-strip:path-kept", PREFIX, one("X-Forwarded-Prefix", "/app", PATH_INFO="/app/x"),
         {"SCRIPT_NAME": "/app", "PATH_INFO": "/app/x"}),
    # script_name: fixed, for every request; a valid trusted prefix header wins.
    Case("script-name:no-header", policy("X-Forwarded-Prefix", script_name="/fixed"),
         Request(PROXY), {"SCRIPT_NAME": "/fixed", "PATH_INFO": "/path"}),
    Case("script-name:valid-header-wins", policy("X-Forwarded-Prefix", script_name="/fixed"),
         one("X-Forwarded-Prefix", "/hdr"), {"SCRIPT_NAME": "/hdr"}),
    Case("script-name:valid-empty-header-wins", policy("X-Forwarded-Prefix", script_name="/fixed"),
         one("X-Forwarded-Prefix", ""), {"SCRIPT_NAME": "", "PATH_INFO": "/path"}),
    Case("script-name:root-header-wins", policy("X-Forwarded-Prefix", script_name="/fixed"),
         one("X-Forwarded-Prefix", "/"), {"SCRIPT_NAME": "", "PATH_INFO": "/path"}),
    Case("script-name:invalid-header-falls-back",
         policy("X-Forwarded-Prefix", script_name="/fixed"), one("X-Forwarded-Prefix", "bad"),
         {"SCRIPT_NAME": "/fixed", "HTTP_X_FORWARDED_PREFIX": ABSENT}),
    Case("script-name:untrusted-header-does-not-win",
         policy("X-Forwarded-Prefix", script_name="/fixed"),
         Request("198.51.100.7", {"X-Forwarded-Prefix": "/hdr"}),
         {"SCRIPT_NAME": "/fixed", "HTTP_X_FORWARDED_PREFIX": ABSENT}),
    Case("script-name:stripped-too", TrustPolicy(script_name="/fixed",
                                                 strip_prefix_from_path=True),
         Request("198.51.100.7", environ={"PATH_INFO": "/fixed/x"}),
         {"SCRIPT_NAME": "/fixed", "PATH_INFO": "/x"}),
]


@path_param
@cases_param(LISTS + HOP_CASES)
def test_lists_in_single_valued_headers(path: str, case: Case) -> None:
    """§5: a comma-separated list in a single-valued header is invalid (ignored
    and removed), unless hop_aligned is on: then the element the outermost
    trusted proxy wrote is taken, located by the X-Forwarded-For walk."""
    run_case(path, case)


@path_param
@cases_param(SCHEMES)
def test_scheme_values(path: str, case: Case) -> None:
    """§5: scheme words http/https in any case, ws/wss meaning http/https;
    booleans on/true/1 and off/false/0 in any case; anything else is ignored
    (and removed)."""
    run_case(path, case)


@path_param
@cases_param(HOSTS)
def test_host_server_port_values(path: str, case: Case) -> None:
    """§5: Host is host[:port] (a DNS name, an IPv4 address or [IPv6]; port
    1-65535); Server is a host without a port; Port is digits, 1-65535."""
    run_case(path, case)


@path_param
@cases_param(PREFIXES)
def test_prefix_values_and_options(path: str, case: Case) -> None:
    """§5: a prefix is empty or starts with '/', without control characters,
    white space, '..' segments, '?' or '#'; a trailing '/' is dropped and
    repeated '/' collapse; it is put in front of the server's SCRIPT_NAME;
    strip_prefix_from_path removes it from the front of PATH_INFO on a segment
    boundary; script_name is a fixed prefix for every request, which a valid
    trusted prefix header overrides."""
    run_case(path, case)


# =========================================================================== §6 Forwarded

FWD = policy("Forwarded")


def fwd(value: str, expected: Mapping[str, str | None], name: str = "") -> Case:
    return Case(name or f"forwarded:{value!r}", FWD, one("Forwarded", value), expected)


FORWARDED_CASES = [
    fwd(f"for={CLIENT}", {"REMOTE_ADDR": CLIENT}),
    fwd(f"for={CLIENT};proto=https;host=shop.example",
        {"REMOTE_ADDR": CLIENT, **HTTPS_ON, "HTTP_HOST": "shop.example"}),
    fwd(f'For={CLIENT};PROTO=HTTPS;HoSt="shop.example:8443"',
        {"REMOTE_ADDR": CLIENT, **HTTPS_ON, "HTTP_HOST": "shop.example:8443"},
        "parameter-names-case-insensitive"),
    fwd('for="[2001:db9::1]:4711"', {"REMOTE_ADDR": "2001:db9::1"}, "quoted-v6-with-port"),
    fwd('for="[2001:DB9::1]"', {"REMOTE_ADDR": "2001:db9::1"}, "quoted-v6-canonical"),
    fwd(f'for="{CLIENT}:8080"', {"REMOTE_ADDR": CLIENT}, "quoted-v4-with-port"),
    fwd(f"for={CLIENT};host=\"a,b.example\", for=10.0.0.1",
        {"REMOTE_ADDR": CLIENT, "HTTP_HOST": "backend.internal:8000"},
        "quoted-comma-does-not-split-elements"),
    fwd(f'for={CLIENT};ext="x, for=6.6.6.6";proto=https, for=10.0.0.1',
        {"REMOTE_ADDR": CLIENT, **HTTPS_ON}, "quoted-comma-in-an-extension"),
    fwd(f'for={CLIENT};ext="a\\"b, for=6.6.6.6";proto=https',
        {"REMOTE_ADDR": CLIENT, **HTTPS_ON}, "escaped-quote-inside-quotes"),
    fwd(f'for="\\{CLIENT[0]}{CLIENT[1:]}"', {"REMOTE_ADDR": CLIENT}, "escape-of-a-plain-character"),
    fwd("for=unknown", {"REMOTE_ADDR": PROXY, "HTTP_FORWARDED": ABSENT}, "unknown-rightmost"),
    fwd("for=_hidden", {"REMOTE_ADDR": PROXY, "HTTP_FORWARDED": ABSENT}, "obfuscated-rightmost"),
    fwd(f"for={CLIENT}, for=unknown, for=10.0.0.1", {"REMOTE_ADDR": "10.0.0.1"},
        "unknown-stops-the-walk"),
    fwd(f"for={CLIENT}, for=_hidden, for=10.0.0.1", {"REMOTE_ADDR": "10.0.0.1"},
        "obfuscated-stops-the-walk"),
    fwd(f"for=198.51.100.1, for={CLIENT}, for=10.0.0.1", {"REMOTE_ADDR": CLIENT},
        "walk-as-x-forwarded-for"),
    fwd("for=10.0.0.5, for=10.0.0.1", {"REMOTE_ADDR": "10.0.0.5"}, "all-trusted-leftmost"),
    fwd(f"for={CLIENT};proto=https;host=a.example, for=10.0.0.1;proto=http;host=b.example",
        {"REMOTE_ADDR": CLIENT, **HTTPS_ON, "HTTP_HOST": "a.example"},
        "proto-and-host-from-the-client-element"),
    fwd(f"for=6.6.6.6;proto=https;host=evil.example, for={CLIENT}, for=10.0.0.1",
        {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "http",
         "HTTP_HOST": "backend.internal:8000"}, "client-written-element-left-of-client-unread"),
    fwd(f"for={CLIENT};proto=ftp;host=shop.example",
        {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "http", "HTTP_HOST": "shop.example"},
        "bad-proto-ignored-alone"),
    fwd(f"for={CLIENT};host=bad_host", {"REMOTE_ADDR": CLIENT,
                                        "HTTP_HOST": "backend.internal:8000"},
        "bad-host-ignored-alone"),
    fwd("garbage", {"REMOTE_ADDR": PROXY, "HTTP_FORWARDED": ABSENT}, "not-forwarded-syntax"),
    fwd(f'for="{CLIENT}', {"REMOTE_ADDR": PROXY, "HTTP_FORWARDED": ABSENT}, "unclosed-quote"),
]


@path_param
@cases_param(FORWARDED_CASES)
def test_forwarded(path: str, case: Case) -> None:
    """§6: Forwarded is parsed with quoted strings and escapes honoured (a quoted
    comma does not split elements), parameter names in any case; for= may be
    "[v6]:port", unknown or obfuscated (both invalid for the walk); the client
    is chosen by §4's walk, and proto and host are read from that element."""
    run_case(path, case)


# =========================================================================== §7 what apps rely on


@path_param
def test_the_decision_record(path: str) -> None:
    """§7: a decision record the CLI and logs can print: the peer, trusted or
    not, the chain walked (each element's verdict), which header supplied each
    value, and what was ignored and why."""
    the_policy = policy("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host")
    request = Request(PROXY, {"X-Forwarded-For": f"6.6.6.6, {CLIENT}, 10.0.0.1",
                              "X-Forwarded-Proto": "https, http",
                              "X-Forwarded-Host": "shop.example", "X-Real-IP": "1.2.3.4"})
    decision = through(path, the_policy, request).decision
    assert isinstance(decision, Decision)
    assert (decision.peer, decision.trusted) == (PROXY, True)
    assert [(hop.element, hop.verdict) for hop in decision.chain] == [
        ("6.6.6.6", "unvisited"), (CLIENT, "client"), ("10.0.0.1", "trusted")]
    assert dict(decision.sources) == {"client": "X-Forwarded-For", "host": "X-Forwarded-Host"}
    (item,) = decision.ignored
    assert (item.header, item.value) == ("X-Forwarded-Proto", "https, http")
    assert "list" in item.reason
    assert set(decision.removed) == {"x-forwarded-proto", "x-real-ip"}
    untrusted = through(path, the_policy, Request("198.51.100.7", request.headers)).decision
    assert (untrusted.peer, untrusted.trusted, untrusted.chain) == ("198.51.100.7", False, ())


@path_param
@pytest.mark.parametrize(("name", "value"), [("X-Forwarded-Proto", "ftp"),
                                             ("X-Forwarded-For", "10.0.0.1, junk"),
                                             ("X-Forwarded-Port", "443, 80")])
def test_ignored_values_are_logged(path: str, name: str, value: str,
                                   caplog: pytest.LogCaptureFixture) -> None:
    """§7: the decision record is what the logs print: every request with an
    ignored value logs one DEBUG line naming the peer, the header, the value
    and why (never above DEBUG: a client must not be able to flood the logs)."""
    import logging

    the_policy = policy("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port")
    runner = Runner(path, the_policy)
    caplog.set_level(logging.DEBUG, logger="trustedproxy")
    for _ in range(ROUNDS):
        caplog.clear()
        outcome = runner.once(one(name, value))
        records = [r for r in caplog.records if r.name == "trustedproxy"]
        assert [r.levelno for r in records] == [logging.DEBUG]
        (item,) = outcome.decision.ignored
        text = records[0].getMessage()
        assert PROXY in text
        assert name in text
        assert repr(value) in text
        assert item.reason in text


THREAD_REQUESTS = [
    Request(peer, headers, environ)
    for peer in [PROXY, "10.9.9.9", "::ffff:10.0.0.7", "2001:db8::5", "198.51.100.7", ""]
    for headers in [{}, {"X-Forwarded-For": f"6.6.6.6, {CLIENT}, 10.0.0.1",
                         "X-Forwarded-Proto": "https"},
                    {"X-Forwarded-For": "junk, 10.0.0.3", "X-Forwarded-Host": "a.example:8443",
                     "X-Forwarded-Prefix": "/app/"},
                    {"X-Forwarded-For": "2001:db9::1", "X-Forwarded-Port": "443, 80",
                     "X-Forwarded-Proto": "ftp", "X-Real-IP": CLIENT}]
    for environ in [{}, {"PATH_INFO": "/app/x"}]
]


@path_param
def test_one_middleware_shared_by_threads(path: str) -> None:
    """§7: a compiled policy is immutable and shared by all threads and requests:
    threads sending mixed requests through one middleware each get the answer
    a single-threaded run gives."""
    the_policy = policy("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                        "X-Forwarded-Port", "X-Forwarded-Prefix", strip_prefix_from_path=True)
    expected = [through(path, the_policy, r).view for r in THREAD_REQUESTS]
    shared = Runner(path, the_policy)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(seed: int) -> None:
        try:
            barrier.wait(timeout=30)
            for round_ in range(25):
                for i in range(len(THREAD_REQUESTS)):
                    index = (i * (2 * seed + 1) + round_) % len(THREAD_REQUESTS)
                    got = shared.once(THREAD_REQUESTS[index]).view
                    assert got == expected[index], (path, THREAD_REQUESTS[index], got)
        except BaseException as exc:  # reported below, never lost in a thread
            errors.append(exc)

    run_threads(worker, 4)
    assert not errors, errors[:2]


# =========================================================================== mod_wsgi agreement


def _differential_configs() -> list[Any]:
    from differential.cases import CONFIGS

    return [pytest.param(config, id=config.name) for config in CONFIGS]


@pytest.mark.parametrize("config", _differential_configs())
def test_differential_cases_agree_on_every_path(config: Any) -> None:
    """The differential suite (tests/differential, real mod_wsgi) proves the
    WSGI reference path equal to mod_wsgi, or to SPEC where SPEC deviates on
    purpose. It sends each request through one middleware once, so here every
    one of its requests, from the trusted and the untrusted source, goes
    through the other paths too (warm), which must give the same result."""
    from differential.cases import CASES, SOURCES

    the_policy = TrustPolicy.from_express_args(config.express_args())
    runners = {path: Runner(path, the_policy) for path in PATHS
               if wsgi_mod.SPEEDUPS or not path.endswith("compiled")}
    checked = 0
    for case in CASES:
        if any(not re.fullmatch(r"[A-Za-z0-9-]+", name) for name, _ in case.headers):
            continue  # servers drop or keep such names apart: tests/test_smuggling.py
        for source in SOURCES:
            environ = {"PATH_INFO": case.path}
            if case.host is not None:
                environ["HTTP_HOST"] = case.host
            request = Request(source, case.headers, environ)
            reference = runners["wsgi-pure"](request)
            for path, runner in runners.items():
                outcome = runner(request)
                got = {k: v for k, v in outcome.view.items() if k not in WSGI_ONLY}
                want = {k: v for k, v in reference.view.items() if k not in WSGI_ONLY}
                assert got == want, (path, case.id, source)
                if outcome.wsgi:
                    assert outcome.view == reference.view, (path, case.id, source)
            checked += 1
    assert checked > 500
