"""The ASGI adapter, property-tested on random policies and requests.

Three invariants:

* the compiled decision (the WSGI request path run on a small environ, when
  the speedups are built) and the Python engine give the application the same
  scope, the same originals and an equal Decision, cold or warm;
* the header rewrite (one pass that notes where the known headers stand, then
  edits only those) agrees with a plain model that lower-cases every name;
* ASGI and WSGI agree on the same request: the scope the application sees is
  the environ the WSGI application sees, field for field, as the table in
  ``trustedproxy.asgi``'s docstring maps them.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_speedups import PEERS, decision_data, norm, policy_kwargs

from trustedproxy import TrustPolicy
from trustedproxy import asgi as asgi_module
from trustedproxy.asgi import EXTENSION_KEY, TrustedProxyMiddleware, _PurePythonMiddleware
from trustedproxy.headers import HEADERS, environ_key
from trustedproxy.values import text_from_wsgi, wsgi_from_text
from trustedproxy.wsgi import DECISION_KEY, ORIG_KEY, SPEEDUPS
from trustedproxy.wsgi import _PurePythonMiddleware as WsgiReference

SETTINGS = settings(max_examples=300, deadline=timedelta(seconds=2),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CUSTOM_NAMES = ["CF-Connecting-IP", "X-Original-Proto", "X-Original-Host", "X-Original-Server",
                "X-Original-Port", "X-Original-Prefix"]
# Other spellings of known headers: the same CGI key, a different name.
OTHER_SPELLINGS = ["X_Forwarded_For", "x_forwarded_proto", "X-Forwarded_Host",
                   "x-forwarded-\xdfl", "CF_Connecting_IP", "x_real_ip"]
NAMES = [spec.name for spec in HEADERS.values()] + CUSTOM_NAMES + OTHER_SPELLINGS + [
    "Host", "User-Agent", "X-Other", "Accept", "X_Other"]
VALUES = ["203.0.113.9", "10.0.0.1", "203.0.113.9, 10.0.0.1", "198.51.100.7,10.1.2.3, 10.0.0.2",
          "[2001:db8::1]:443", "2001:db9::1", "https", "HTTP", "wss", "on", "off", "example.com",
          "example.com:8443", "[::1]:80", "443", "99999", "/app", "/a//b/", "/", "", "/..",
          "for=203.0.113.9;proto=https;host=shop.example", "for=10.0.0.1, for=198.51.100.7",
          "junk", "x" * 200, "caf\u00e9", "/pr\u00e9fixe", " 10.0.0.1 ", "1.2.3",
          "/\u00e9t\u00e9".encode().decode("latin-1")]  # UTF-8 bytes (the others are not)


@st.composite
def header_name(draw: st.DrawFn) -> bytes:
    """A header name, lower-case as ASGI servers send them, now and then not."""
    name = draw(st.sampled_from(NAMES))
    case = draw(st.integers(0, 7))
    name = name.upper() if case == 0 else name if case == 1 else name.lower()
    return name.encode("latin-1")


@st.composite
def scopes(draw: st.DrawFn) -> dict[str, Any]:
    """A random http or websocket scope, as an ASGI server builds it."""
    kind = draw(st.sampled_from(["http", "http", "websocket"]))
    peer = draw(st.sampled_from([*PEERS, None, "10.0.0.1", "10.1.2.3", "192.0.2.10"]))
    root = draw(st.sampled_from(["", "", "/mnt", "/app"]))
    route = draw(st.sampled_from(["", "/", "/x", "/app", "/app/x", "/apple", "/a/b",
                                  "/\u00e9t\u00e9/x"]))
    headers = [(draw(header_name()), draw(st.sampled_from(VALUES)).encode("latin-1"))
               for _ in range(draw(st.integers(0, 8)))]
    scope: dict[str, Any] = {
        "type": kind, "asgi": {"version": "3.0"}, "http_version": "1.1",
        "client": (peer, 51000) if peer is not None else None,
        "scheme": draw(st.sampled_from(["http", "https"])), "root_path": root,
        "path": root + route, "query_string": b"", "headers": headers,
    }
    if kind == "websocket":
        scope["scheme"] = {"http": "ws", "https": "wss"}[scope["scheme"]]
    if draw(st.integers(0, 4)):
        scope["server"] = ("backend", draw(st.sampled_from([80, 8000, 443])))
    if draw(st.integers(0, 4)):
        scope["raw_path"] = quote(root + route).encode("ascii")
        if draw(st.booleans()) and route.count("/") > 1:  # the route's last "/" sent as %2F
            head, _, tail = scope["raw_path"].rpartition(b"/")
            scope["raw_path"] = head + b"%2F" + tail
    if draw(st.booleans()):
        scope["extensions"] = {"http.response.trailers": {}}
    return scope


def raw_suffix(raw: bytes, decoded: int) -> bytes:
    """The end of the percent-encoded *raw* that decodes to its last *decoded* bytes."""
    tokens = re.findall(rb"%[0-9A-Fa-f]{2}|.", raw, re.DOTALL)  # each decodes to one byte
    return b"".join(tokens[len(tokens) - decoded:]) if decoded else b""


class Pair(tuple):  # type: ignore[type-arg]
    """A ``server`` pair that is not exactly a tuple."""


class Extensions(Mapping[str, Any]):
    """``scope["extensions"]`` as a mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


ODD_SHAPES = ["headers tuple", "header lists", "bytearray value", "str name", "no headers",
              "headers None", "no client", "client list", "client empty", "server list",
              "server None", "server Pair", "extensions mapping", "dict subclass",
              "many headers", "path without root_path"]


class ScopeDict(dict):  # type: ignore[type-arg]
    """A scope that is not exactly a dict."""


@st.composite
def odd_scopes(draw: st.DrawFn) -> dict[str, Any]:
    """A scope of a shape servers seldom build (the compiled path leaves most
    of these to Python, before or after the decision)."""
    scope = draw(scopes())
    headers = scope["headers"]
    shapes = draw(st.sets(st.sampled_from(ODD_SHAPES), min_size=1, max_size=3))
    for shape in shapes:
        if shape == "headers tuple":
            scope["headers"] = tuple(headers)
        elif shape == "header lists":
            scope["headers"] = [[name, value] for name, value in headers]
        elif shape == "bytearray value" and headers:
            i = draw(st.integers(0, len(headers) - 1))
            headers[i] = (headers[i][0], bytearray(headers[i][1]))
        elif shape == "str name" and headers:
            i = draw(st.integers(0, len(headers) - 1))
            headers[i] = (headers[i][0].decode("latin-1"), headers[i][1])
        elif shape == "no headers":
            scope.pop("headers")
        elif shape == "headers None":
            scope["headers"] = None
        elif shape == "no client":
            scope.pop("client")
        elif shape == "client list" and scope.get("client"):
            scope["client"] = list(scope["client"])
        elif shape == "client empty":
            scope["client"] = ()
        elif shape == "server list" and scope.get("server"):
            scope["server"] = list(scope["server"])
        elif shape == "server None":
            scope["server"] = None
        elif shape == "server Pair" and scope.get("server"):
            scope["server"] = Pair(scope["server"])
        elif shape == "extensions mapping":
            scope["extensions"] = Extensions({"http.response.trailers": {}})
        elif shape == "path without root_path":  # as servers before uvicorn 0.26 built it
            scope["path"] = scope["path"][len(scope["root_path"]):]
            if "raw_path" in scope:
                scope["raw_path"] = quote(scope["path"]).encode("ascii")
        elif shape == "many headers":  # more than the compiled path notes down
            headers += [(b"x-forwarded-for", b"10.0.0.1")] * 70
    return ScopeDict(scope) if "dict subclass" in shapes else scope


@st.composite
def asgi_cases(draw: st.DrawFn, scope: st.SearchStrategy[dict[str, Any]] | None = None
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    kwargs = draw(policy_kwargs())
    return kwargs, draw(st.lists(scopes() if scope is None else scope, min_size=1, max_size=3))


class Recorder:
    """An ASGI application that keeps each scope it is called with."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)


def call(middleware: Any, scope: dict[str, Any]) -> dict[str, Any]:
    """The scope the application saw for *scope* (and *scope* left as it was)."""
    before = copy.deepcopy(scope)
    coro = middleware(scope, None, None)
    try:
        coro.send(None)
    except StopIteration:
        pass
    else:  # pragma: no cover (nothing in the middleware waits)
        raise AssertionError("the middleware awaited something")
    assert scope == before, "the caller's scope was changed"
    seen: dict[str, Any] = middleware.app.scopes.pop()
    return seen


def seen_data(seen: dict[str, Any]) -> Any:
    """A seen scope as comparable data, the decision as data."""
    extension = seen["extensions"][EXTENSION_KEY]
    rest = {k: v for k, v in seen.items() if k != "extensions"}
    others = {k: v for k, v in seen["extensions"].items() if k != EXTENSION_KEY}
    return (norm(rest), norm(others), norm(extension["orig"]),
            decision_data(extension["decision"]))


@SETTINGS
@given(asgi_cases(st.one_of(scopes(), odd_scopes())))
def test_compiled_decision_matches_python_engine(
        case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Invariant: the compiled path (decision and rewrite) and the Python one
    give the application the same scope, originals and Decision (``removed``
    as a set), cold, warm, and with an engine warmed by the other; for scopes
    as servers build them and for odd shapes the compiled path leaves to
    Python."""
    kwargs, requests = case
    reference_policy = TrustPolicy(**kwargs)
    reference = _PurePythonMiddleware(Recorder(), reference_policy)
    compiled = [TrustedProxyMiddleware(Recorder(), TrustPolicy(**kwargs)),
                TrustedProxyMiddleware(Recorder(), reference_policy)]
    for _ in range(3):
        for scope in requests:
            expected = seen_data(call(reference, scope))
            for middleware in compiled:
                assert seen_data(call(middleware, scope)) == expected


def model_headers(decision: Any, headers: list[tuple[bytes, bytes]],
                  specs: Iterable[Any]) -> list[Any]:
    """The header rewrite, the plain way: every name lower-cased and looked at;
    a name with a known header's (one of *specs*) CGI key that is not that
    header is dropped."""
    drop = {name.encode("latin-1") for name in decision.removed}
    known = {spec.environ_key: spec.key.encode("latin-1") for spec in specs}
    replace = {b"host": decision.host, b"x-forwarded-for": decision.forwarded_for,
               b"forwarded": decision.forwarded}
    replace.update((name.encode("latin-1"), trimmed) for name, trimmed in decision.aligned)
    replace = {name: value for name, value in replace.items() if value is not None}
    out: list[Any] = []
    done: set[bytes] = set()
    for pair in headers:
        lower = pair[0].lower()
        spelling = known.get(environ_key(pair[0].decode("latin-1")))
        if lower in drop or lower in done or (spelling is not None and spelling != lower):
            continue
        if lower in replace:
            done.add(lower)
            out.append((lower, replace[lower].encode("latin-1")))
        else:
            out.append(pair)
    out += [(name, value.encode("latin-1")) for name, value in replace.items()
            if name not in done]
    return out


#: Found by hypothesis: a hop-aligned X-Forwarded-Host is trimmed to the value
#: taken (``decision.aligned``), which the model once left out.
_ALIGNED_HOST = ({"trusted_proxies": ["10.0.0.0/8"], "hop_aligned": True, "max_hops": 1,
                  "trusted_headers": ["X-Forwarded-For", "X-Forwarded-Host"]},
                 [{"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                   "client": ("10.0.0.1", 51000), "scheme": "http", "root_path": "",
                   "path": "/x", "query_string": b"",
                   "headers": [(b"X-FORWARDED-HOST", b"203.0.113.9, 10.0.0.1"),
                               (b"X-FORWARDED-FOR", b"203.0.113.9")]}])


@SETTINGS
@given(asgi_cases())
@example(_ALIGNED_HOST)
def test_header_rewrite_matches_plain_model(
        case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Invariant: the headers the application sees are the model's, and the
    original list is in ``orig`` exactly when they differ from it."""
    kwargs, requests = case
    for middleware in (_PurePythonMiddleware(Recorder(), TrustPolicy(**kwargs)),
                       TrustedProxyMiddleware(Recorder(), TrustPolicy(**kwargs))):
        for _ in range(2):
            for scope in requests:
                seen = call(middleware, scope)
                extension = seen["extensions"][EXTENSION_KEY]
                want = model_headers(extension["decision"], scope["headers"],
                                     middleware.policy.headers.values())
                assert seen["headers"] == want
                changed = want != scope["headers"]
                assert ("headers" in extension["orig"]) == changed
                if changed:
                    assert extension["orig"]["headers"] is scope["headers"]


def as_environ(scope: dict[str, Any], *, drop_odd_names: bool = True) -> dict[str, Any]:
    """The WSGI environ a server would build for the request of *scope*: one
    that drops header names of other characters than letters, digits and
    ``-`` (gunicorn, waitress, mod_wsgi); with *drop_odd_names* false, the
    ``HTTP_*`` keys an ASGI application that maps names to CGI keys itself
    (Django's ``ASGIRequest``, asgiref's WSGI bridge) reads."""
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "wsgi.url_scheme":
                               {"ws": "http", "wss": "https"}.get(scope["scheme"],
                                                                  scope["scheme"]),
                               "SCRIPT_NAME": wsgi_from_text(scope["root_path"]),
                               "PATH_INFO": wsgi_from_text(scope["path"][len(scope["root_path"]):])}
    if scope["client"] is not None:
        environ["REMOTE_ADDR"] = scope["client"][0]
    if "server" in scope:
        environ["SERVER_NAME"], port = scope["server"]
        environ["SERVER_PORT"] = str(port)
    for name, value in scope["headers"]:
        if drop_odd_names and not re.fullmatch(rb"[A-Za-z0-9-]+", name):
            continue
        key = environ_key(name.decode("latin-1"))
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]}, {text}" if key in environ else text
    return environ


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    return [b""]


@SETTINGS
@given(asgi_cases())
def test_asgi_and_wsgi_agree_on_the_same_request(
        case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Invariant: behind the same policy, a request seen as an ASGI scope and
    as a WSGI environ gets an equal Decision, and the two applications see the
    same client, scheme, host, server, root path and path, and the same
    forwarded headers with the same values (and ``raw_path`` keeps an encoded
    ``/`` of the route), also to an application that maps
    header names to CGI keys itself (so another spelling of a forwarded
    header, which a WSGI server drops, never reaches it)."""
    kwargs, requests = case
    asgi = TrustedProxyMiddleware(Recorder(), TrustPolicy(**kwargs))
    wsgi = WsgiReference(wsgi_app, TrustPolicy(**kwargs))
    known = {spec.environ_key for spec in asgi.policy.headers.values()}
    for scope in requests:
        seen = call(asgi, scope)
        environ = as_environ(scope)
        wsgi(environ, None)
        decision = seen["extensions"][EXTENSION_KEY]["decision"]
        assert decision_data(decision) == decision_data(environ[DECISION_KEY])
        client = seen["client"]
        assert (client[0] if client else None) == environ.get("REMOTE_ADDR")
        if decision.client is not None:
            assert client == (decision.client, 0)
        scheme = {"ws": "http", "wss": "https"}.get(seen["scheme"], seen["scheme"])
        assert scheme == environ["wsgi.url_scheme"]
        assert seen["type"] != "websocket" or seen["scheme"] in ("ws", "wss")
        forwarded = as_environ(seen)
        mapped = as_environ(seen, drop_odd_names=False)
        for key in known | {"HTTP_HOST"}:
            assert forwarded.get(key) == environ.get(key), key
            assert mapped.get(key) == environ.get(key), key
        if "server" in scope:  # an IPv6 name: bracketed in WSGI, bare in ASGI
            name = environ["SERVER_NAME"]
            bare = name[1:-1] if name.startswith("[") else name
            assert seen["server"] == (bare, int(environ["SERVER_PORT"]))
        # root_path and path are text; SCRIPT_NAME and PATH_INFO hold bytes as latin-1.
        assert seen["root_path"] == text_from_wsgi(environ["SCRIPT_NAME"])
        assert seen["path"] == text_from_wsgi(environ["SCRIPT_NAME"] + environ["PATH_INFO"])
        if "raw_path" in seen:  # the path, percent-encoded (the prefix as UTF-8)
            assert unquote_to_bytes(seen["raw_path"]) == seen["path"].encode("utf-8")
            # and the route's bytes as received: an encoded "/" in the route stays
            # encoded (one in a stripped prefix went into root_path, as text)
            route = seen["path"][len(seen["root_path"]):].encode("utf-8")
            assert seen["raw_path"].endswith(raw_suffix(scope["raw_path"], len(route)))
        assert environ[ORIG_KEY]["REMOTE_ADDR"] == (scope["client"] or (None,))[0]


def test_custom_header_from_untrusted_peer_is_removed() -> None:
    """A custom header sent by an untrusted peer is removed (it used to raise
    KeyError in the ASGI adapter, a 500 for every such request)."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["CF-Connecting-IP"],
                         custom_headers={"CF-Connecting-IP": "client"})
    for middleware in (TrustedProxyMiddleware(Recorder(), policy),
                       _PurePythonMiddleware(Recorder(), policy)):
        for _ in range(3):
            scope = {"type": "http", "client": ("203.0.113.9", 1), "path": "/",
                     "root_path": "", "headers": [(b"cf-connecting-ip", b"1.2.3.4"),
                                                  (b"CF-Connecting-IP", b"5.6.7.8"),
                                                  (b"accept", b"*/*")]}
            seen = call(middleware, scope)
            assert seen["headers"] == [(b"accept", b"*/*")]
            assert seen["client"] == ("203.0.113.9", 1)
            assert set(seen["extensions"][EXTENSION_KEY]["decision"].removed) == {
                "cf-connecting-ip"}


def test_asyncio_runs_the_middleware() -> None:
    """The coroutine driving used above is what an event loop does too."""
    middleware = TrustedProxyMiddleware(Recorder(), TrustPolicy(
        trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"]))
    scope = {"type": "http", "client": ("10.0.0.1", 1), "path": "/", "root_path": "",
             "headers": [(b"x-forwarded-for", b"203.0.113.9")]}
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    assert middleware.app.scopes[-1]["client"] == ("203.0.113.9", 0)  # type: ignore[attr-defined]


def test_replaced_header_with_its_name_not_lower_case_counts_as_changed() -> None:
    """A kept X-Forwarded-For (or host) field whose value stays but whose
    name was not lower-case is written lower-case, and the list counts as
    changed: the original goes to ``orig``."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                         trusted_headers=["X-Forwarded-For", "X-Forwarded-Host"])
    for middleware in (TrustedProxyMiddleware(Recorder(), policy),
                       _PurePythonMiddleware(Recorder(), policy)):
        for headers, want in (
                ([(b"X-Forwarded-For", b"203.0.113.9")], [(b"x-forwarded-for", b"203.0.113.9")]),
                ([(b"Host", b"a.example"), (b"x-forwarded-host", b"a.example")],
                 [(b"host", b"a.example"), (b"x-forwarded-host", b"a.example")])):
            for _ in range(3):
                scope = {"type": "http", "client": ("10.0.0.1", 1), "path": "/",
                         "root_path": "", "headers": headers}
                seen = call(middleware, scope)
                assert seen["headers"] == want
                assert seen["extensions"][EXTENSION_KEY]["orig"]["headers"] is headers
        unchanged = [(b"x-forwarded-for", b"203.0.113.9"), (b"host", b"a.example")]
        scope = {"type": "http", "client": ("10.0.0.1", 1), "path": "/", "root_path": "",
                 "headers": unchanged}
        seen = call(middleware, scope)
        assert seen["headers"] is unchanged
        assert "headers" not in seen["extensions"][EXTENSION_KEY]["orig"]


compiled_only = pytest.mark.skipif(not SPEEDUPS, reason="the compiled path is not built")
TRUSTING = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                       trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto",
                                        "X-Forwarded-Host", "X-Forwarded-Port",
                                        "X-Forwarded-Prefix"])
FORWARDED = [(b"host", b"app.internal"), (b"x-forwarded-for", b"203.0.113.9, 10.0.0.2"),
             (b"x-forwarded-proto", b"https"), (b"x-forwarded-host", b"shop.example"),
             (b"x-forwarded-port", b"443"), (b"x-forwarded-prefix", b"/shop")]


def server_scope(**fields: Any) -> dict[str, Any]:
    """An http scope as a server builds it, with *fields* changed."""
    scope: dict[str, Any] = {"type": "http", "client": ("10.0.0.1", 5000), "scheme": "http",
                             "server": ("backend", 8000), "root_path": "", "path": "/x",
                             "raw_path": b"/x", "headers": list(FORWARDED)}
    scope.update(fields)
    return scope


def counted(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count the calls of owner.name (a function or method), which still runs."""
    calls: list[int] = []
    original = getattr(owner, name)

    def wrapper(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def compare_counting(monkeypatch: pytest.MonkeyPatch, scope: dict[str, Any]
                     ) -> tuple[dict[str, Any], list[int], list[int]]:
    """The scope a fresh compiled middleware gives the application for
    *scope*, checked equal to the Python path's, and the calls it made of
    ``_prepare_python`` and ``_rescan_apply``."""
    rescans = counted(monkeypatch, asgi_module, "_rescan_apply")  # before the middleware
    middleware = TrustedProxyMiddleware(Recorder(), TRUSTING)
    calls = counted(monkeypatch, middleware, "_prepare_python")
    expected = seen_data(call(_PurePythonMiddleware(Recorder(), TRUSTING), scope))
    seen = call(middleware, scope)
    assert seen_data(seen) == expected
    return seen, calls, rescans


def test_scopes_other_than_http_and_websocket_pass_through_as_they_are() -> None:
    """A lifespan scope (or one with no type) reaches the application itself,
    not a copy, from both paths."""
    for middleware in (TrustedProxyMiddleware(Recorder(), TRUSTING),
                       _PurePythonMiddleware(Recorder(), TRUSTING)):
        for scope in ({"type": "lifespan", "asgi": {"version": "3.0"}}, {"asgi": {}},
                      {"type": None}, {"type": "http.other", "headers": list(FORWARDED)}):
            assert call(middleware, scope) is scope


@compiled_only
def test_compiled_path_takes_the_scopes_servers_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scopes as servers build them (trusted or not, http or websocket, with
    or without forwarded headers) never reach the Python path, and the
    application sees what the Python path gives it."""
    middleware = TrustedProxyMiddleware(Recorder(), TRUSTING)
    reference = _PurePythonMiddleware(Recorder(), TRUSTING)
    calls = counted(monkeypatch, middleware, "_prepare_python")
    scopes = [server_scope(), server_scope(client=("203.0.113.7", 1)),
              server_scope(headers=[(b"host", b"a"), (b"accept", b"*/*")]),
              server_scope(type="websocket", scheme="ws"), server_scope(client=None),
              server_scope(headers=tuple(FORWARDED)), server_scope(headers=[])]
    for scope in scopes:
        assert seen_data(call(middleware, scope)) == seen_data(call(reference, scope))
    assert calls == []


@compiled_only
@pytest.mark.parametrize("shape", ["many headers", "bytearray value", "client list"])
def test_shapes_left_to_python_before_the_decision(monkeypatch: pytest.MonkeyPatch,
                                                    shape: str) -> None:
    """A scope the compiled path does not read (more known headers than it
    notes down, a value that is not bytes, a client that is not a tuple) goes
    whole to the Python path, which decides once and gives what the reference
    gives."""
    headers: list[Any] = list(FORWARDED)
    scope = server_scope(headers=headers)
    if shape == "many headers":
        headers += [(b"x-forwarded-for", b"10.0.0.3")] * 70
    elif shape == "bytearray value":
        headers[1] = (b"x-forwarded-for", bytearray(b"203.0.113.9"))
    else:
        scope["client"] = ["10.0.0.1", 5000]
    _, calls, rescans = compare_counting(monkeypatch, scope)
    assert (calls, rescans) == ([1], [])


@compiled_only
def test_shape_left_to_python_after_the_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``server`` that is a pair but not exactly a tuple or list is only met
    once the decision is taken: the rewrite is left to Python then (the
    decision is not taken twice), with the reference's result."""
    scope = server_scope(server=Pair(("backend", 8000)))
    seen, calls, rescans = compare_counting(monkeypatch, scope)
    assert seen["server"] == ("backend", 443)  # X-Forwarded-Port; the name stays
    assert (calls, rescans) == ([], [1])


@pytest.mark.parametrize(("root_path", "path", "new_path"), [
    ("/mnt", "/mnt/x", "/shop/mnt/x"), ("/mnt", "/mnt", "/shop/mnt"),
    ("/mnt", "/x", "/shop/mnt/x"), ("/mnt", "/mntx", "/shop/mnt/mntx"), ("", "/x", "/shop/x")])
def test_prefix_goes_in_front_of_root_path_whether_or_not_path_holds_it(
        root_path: str, path: str, new_path: str) -> None:
    """``path`` after ``root_path`` (on a segment boundary) is the route; a
    ``path`` that does not start with ``root_path`` is all route (servers that
    leave ``root_path`` out of ``path``). Both paths, same result."""
    scope = server_scope(root_path=root_path, path=path, raw_path=path.encode("ascii"))
    for middleware in (TrustedProxyMiddleware(Recorder(), TRUSTING),
                       _PurePythonMiddleware(Recorder(), TRUSTING)):
        seen = call(middleware, scope)
        assert (seen["root_path"], seen["path"], seen["raw_path"]) == (
            "/shop" + root_path, new_path, new_path.encode("ascii"))
