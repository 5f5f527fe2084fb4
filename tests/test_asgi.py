"""Tests for trustedproxy.asgi: directly on scopes, and through a real uvicorn server."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import logging
import socket
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from realservers import ManagedServer, free_port, make_server_dir, raw_request
from support import cgi_view

from trustedproxy import Decision, TrustPolicy
from trustedproxy.asgi import (
    EXTENSION_KEY,
    TrustedProxyMiddleware,
    _PurePythonMiddleware,
    apply_decision,
)

PROXY = "10.0.0.2"
CLIENT = "203.0.113.9"
EVERYTHING = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Server",
              "X-Forwarded-Port", "X-Forwarded-Prefix"]


def policy(headers: list[str] | None = None, **options: Any) -> TrustPolicy:
    """A policy trusting 10.0.0.0/8 and *headers* (default: one of each group but Forwarded)."""
    return TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                       trusted_headers=EVERYTHING if headers is None else headers, **options)


def make_scope(peer: str | None = PROXY,
               headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
               *, type_: str = "http", path: str = "/path", root_path: str = "",
               **extra: Any) -> dict[str, Any]:
    """A scope as uvicorn builds it for ``GET {root_path}{path}`` on port 8000."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    scope: dict[str, Any] = {
        "type": type_,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": (peer, 51000) if peer is not None else None,
        "scheme": "ws" if type_ == "websocket" else "http",
        "root_path": root_path,
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "query_string": b"",
        "headers": [(b"host", b"backend.internal:8000"),
                    *((n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in pairs),
                    (b"user-agent", b"test")],
        "state": {"from": "lifespan"},
    }
    if type_ == "http":
        scope["method"] = "GET"
    else:
        scope["extensions"] = {"websocket.http.response": {}}
    scope.update(extra)
    return scope


class Recorder:
    """An ASGI app that keeps the scope it was called with."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope


def run(the_policy: TrustPolicy, scope: dict[str, Any]) -> dict[str, Any]:
    """Send *scope* through the middleware; return the scope the app saw (and check
    that the caller's scope was left exactly as it was)."""
    before = copy.deepcopy(scope)
    recorder = Recorder()

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        return None

    asyncio.run(TrustedProxyMiddleware(recorder, the_policy)(scope, receive, send))
    assert scope == before, "the caller's scope was changed"
    assert recorder.scope is not None
    return recorder.scope


def header(scope: Mapping[str, Any], name: str) -> list[str]:
    """Every value of header *name* in *scope*."""
    return [v.decode("latin-1") for n, v in scope["headers"] if n == name.encode()]


def info(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The ``trustedproxy`` extension of a scope."""
    result: dict[str, Any] = scope["extensions"][EXTENSION_KEY]
    return result


# --------------------------------------------------------------------------- on scopes


def test_untrusted_peer_loses_forwarded_headers_only() -> None:
    """From an untrusted peer every known forwarded header goes; nothing else changes."""
    scope = make_scope("192.0.2.50", {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https",
                                      "Forwarded": "for=198.51.100.1", "X-Real-IP": CLIENT,
                                      "X-Custom": "kept"})
    seen = run(policy(), scope)
    assert seen["client"] == ("192.0.2.50", 51000)
    assert seen["scheme"] == "http"
    assert seen["headers"] == [(b"host", b"backend.internal:8000"), (b"x-custom", b"kept"),
                               (b"user-agent", b"test")]
    for key in ("server", "path", "root_path", "raw_path", "state", "query_string", "method"):
        assert seen[key] == scope[key]
    assert info(seen)["orig"] == {"client": ("192.0.2.50", 51000), "headers": scope["headers"]}
    decision = info(seen)["decision"]
    assert isinstance(decision, Decision)
    assert not decision.trusted
    assert set(decision.removed) == {"x-forwarded-for", "x-forwarded-proto", "forwarded",
                                     "x-real-ip"}


def test_trusted_peer_rewrites_everything() -> None:
    """Each trusted header rewrites its scope field, as its WSGI twin rewrites the environ."""
    scope = make_scope(PROXY, {
        "X-Forwarded-For": f"198.51.100.1, {CLIENT}, 10.0.0.1",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "www.example.com",
        "X-Forwarded-Server": "front.example.com",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Prefix": "/app/",
        "X-Real-IP": "192.0.2.1",  # not trusted: removed
    })
    seen = run(policy(), scope)
    assert seen["client"] == (CLIENT, 0)
    assert seen["scheme"] == "https"
    assert header(seen, "host") == ["www.example.com"]
    assert seen["server"] == ("front.example.com", 443)
    assert seen["root_path"] == "/app"
    assert seen["path"] == "/app/path"
    assert seen["raw_path"] == b"/app/path"
    assert header(seen, "x-forwarded-for") == [f"{CLIENT}, 10.0.0.1"]
    assert header(seen, "x-real-ip") == []
    assert header(seen, "x-forwarded-proto") == ["https"]  # trusted headers stay
    assert header(seen, "user-agent") == ["test"]
    assert info(seen)["orig"] == {
        "client": (PROXY, 51000), "scheme": "http", "server": ("127.0.0.1", 8000),
        "root_path": "", "path": "/path", "raw_path": b"/path", "headers": scope["headers"]}
    assert info(seen)["decision"].trusted


@pytest.mark.parametrize(("proto", "http", "websocket"), [
    pytest.param("https", "https", "wss", id="https"),
    pytest.param("http", "http", "ws", id="http"),
    pytest.param("wss", "https", "wss", id="wss"),
    pytest.param("WS", "http", "ws", id="ws any case"),
])
def test_scheme(proto: str, http: str, websocket: str) -> None:
    """The scheme is http/https for http scopes and ws/wss for websocket scopes."""
    the_policy = policy(["X-Forwarded-Proto"])
    assert run(the_policy, make_scope(headers={"X-Forwarded-Proto": proto}))["scheme"] == http
    ws = run(the_policy, make_scope(headers={"X-Forwarded-Proto": proto}, type_="websocket"))
    assert ws["scheme"] == websocket


def test_scheme_websocket_from_https_server() -> None:
    """A trusted 'http' turns a wss scope into ws (the proxy terminated nothing)."""
    seen = run(policy(["X-Forwarded-Proto"]),
               make_scope(headers={"X-Forwarded-Proto": "http"}, type_="websocket",
                          scheme="wss"))
    assert seen["scheme"] == "ws"
    assert info(seen)["orig"]["scheme"] == "wss"


def test_invalid_values_are_ignored_and_removed() -> None:
    """A trusted header with an invalid value changes nothing and is removed."""
    scope = make_scope(headers={"X-Forwarded-Proto": "ftp", "X-Forwarded-Port": "99999",
                                "X-Forwarded-Host": "a b", "X-Forwarded-For": "junk"})
    seen = run(policy(), scope)
    assert seen["scheme"] == "http"
    assert seen["server"] == ("127.0.0.1", 8000)
    assert seen["client"] == (PROXY, 51000)
    assert header(seen, "host") == ["backend.internal:8000"]
    for name in ("x-forwarded-proto", "x-forwarded-port", "x-forwarded-host", "x-forwarded-for"):
        assert header(seen, name) == []
    assert {i.header for i in info(seen)["decision"].ignored} == {
        "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Host", "X-Forwarded-For"}


def test_host_header_added_and_deduplicated() -> None:
    """A trusted host replaces every host field with one, or is added when none came."""
    the_policy = policy(["X-Forwarded-Host"])
    scope = make_scope(headers=[("Host", "second"), ("X-Forwarded-Host", "example.com:8443")])
    seen = run(the_policy, scope)
    assert header(seen, "host") == ["example.com:8443"]
    assert seen["headers"][0] == (b"host", b"example.com:8443")  # where the first one stood
    scope = make_scope(headers={"X-Forwarded-Host": "example.com"})
    scope["headers"] = [pair for pair in scope["headers"] if pair[0] != b"host"]
    seen = run(the_policy, scope)
    assert header(seen, "host") == ["example.com"]


def test_repeated_fields_are_joined_for_the_engine() -> None:
    """Two X-Forwarded-For fields are one list (RFC 9110 §5.3), in the order received;
    two X-Forwarded-Proto fields are a list too, so they are refused."""
    scope = make_scope(headers=[("X-Forwarded-For", "198.51.100.7"),
                                ("X-Forwarded-For", "10.0.0.1"),
                                ("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")])
    seen = run(policy(), scope)
    assert seen["client"] == ("198.51.100.7", 0)
    assert header(seen, "x-forwarded-for") == ["198.51.100.7, 10.0.0.1"]
    assert seen["scheme"] == "http"
    assert header(seen, "x-forwarded-proto") == []


def test_header_names_in_any_case_are_found() -> None:
    """A server that passes header names not lower-cased still has them stripped."""
    scope = make_scope("192.0.2.50")
    scope["headers"] = [(b"X-Forwarded-For", b"1.2.3.4"), (b"X-REAL-IP", b"1.2.3.4"),
                        (b"Other", b"x")]
    seen = run(policy(), scope)
    assert seen["headers"] == [(b"Other", b"x")]


def test_server_without_server_in_scope() -> None:
    """With no server in the scope, a server name makes one; a port alone changes nothing."""
    seen = run(policy(), make_scope(headers={"X-Forwarded-Server": "front"}, server=None))
    assert seen["server"] == ("front", None)
    seen = run(policy(), make_scope(headers={"X-Forwarded-Port": "8443"}, server=None))
    assert seen["server"] is None  # no host to pair the port with (README)
    assert info(seen)["decision"].port == "8443"  # where the application finds it
    assert "server" not in info(seen)["orig"]
    seen = run(policy(), make_scope(headers={"X-Forwarded-Port": "8443"}))
    assert seen["server"] == ("127.0.0.1", 8443)


@pytest.mark.parametrize("kind", [TrustedProxyMiddleware, _PurePythonMiddleware])
@pytest.mark.parametrize("server", [("127.0.0.1", 8000), None])
def test_ipv6_server_name_is_bare_in_the_scope(kind: type[TrustedProxyMiddleware],
                                               server: tuple[str, int] | None) -> None:
    """A trusted X-Forwarded-Server of ``[2001:db8::1]`` puts ``2001:db8::1`` in
    ``scope["server"]``, as ASGI servers write an IPv6 host there, on both paths
    (warm and cold); the decision keeps the header's form."""
    middleware = kind(Recorder(), policy())
    for _ in range(3):
        scope = make_scope(headers={"X-Forwarded-Server": "[2001:db8::1]",
                                    "X-Forwarded-Port": "443"}, server=server)
        asyncio.run(middleware(scope, _receive, _send))
        seen = middleware.app.scope  # type: ignore[attr-defined]
        assert seen["server"] == ("2001:db8::1", 443)
        assert info(seen)["decision"].server == "[2001:db8::1]"
        assert info(seen)["orig"]["server"] == server


@pytest.mark.parametrize("kind", [TrustedProxyMiddleware, _PurePythonMiddleware])
def test_port_alone_leaves_a_unix_socket_server_alone(kind: type[TrustedProxyMiddleware]) -> None:
    """A Unix socket's ``server`` (``(path, None)`` in the ASGI spec) has no
    host for a trusted X-Forwarded-Port alone to go with: it stays as it was
    (not ``(path, 443)``), on both paths, warm and cold; a trusted server name
    with it makes a whole new ``server``."""
    middleware = kind(Recorder(), policy())
    for _ in range(3):
        for headers, expected in (({"X-Forwarded-Port": "443"}, ("/run/app.sock", None)),
                                  ({"X-Forwarded-Port": "443", "X-Forwarded-Server": "front"},
                                   ("front", 443))):
            scope = make_scope(headers=headers, server=("/run/app.sock", None))
            asyncio.run(middleware(scope, _receive, _send))
            seen = middleware.app.scope  # type: ignore[attr-defined]
            assert seen["server"] == expected
            assert ("server" in info(seen)["orig"]) is (expected[1] is not None)
            assert info(seen)["decision"].port == "443"


async def _receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def _send(message: Any) -> None:
    return None


PREFIXES = [
    pytest.param({}, "", "/x", "/app", "/app/x", b"/app/x", id="proxy strips the prefix"),
    pytest.param({"strip_prefix_from_path": True}, "", "/app/x", "/app", "/app/x", b"/app/x",
                 id="strip: proxy passes the full path"),
    pytest.param({"strip_prefix_from_path": True}, "", "/apps/x", "/app", "/app/apps/x",
                 b"/app/apps/x", id="strip only on a segment boundary"),
    pytest.param({}, "/r", "/x", "/app/r", "/app/r/x", b"/app/r/x",
                 id="server root_path kept after the prefix"),
    pytest.param({"strip_prefix_from_path": True}, "", "/app", "/app", "/app", b"/app",
                 id="strip: the prefix alone"),
]


@pytest.mark.parametrize(("options", "root", "path", "new_root", "new_path", "raw"), PREFIXES)
def test_prefix(options: dict[str, Any], root: str, path: str, new_root: str, new_path: str,
                raw: bytes) -> None:
    """The prefix goes in front of root_path, and path holds root_path then the route."""
    the_policy = policy(["X-Forwarded-Prefix"], **options)
    seen = run(the_policy, make_scope(headers={"X-Forwarded-Prefix": "/app"}, root_path=root,
                                      path=path))
    assert (seen["root_path"], seen["path"], seen["raw_path"]) == (new_root, new_path, raw)


def test_prefix_old_style_server() -> None:
    """A server that leaves root_path out of path gets path in the spec's form."""
    scope = make_scope(headers={"X-Forwarded-Prefix": "/app"}, root_path="/r")
    scope["path"], scope["raw_path"] = "/x", b"/x"
    seen = run(policy(["X-Forwarded-Prefix"]), scope)
    assert (seen["root_path"], seen["path"], seen["raw_path"]) == ("/app/r", "/app/r/x",
                                                                   b"/app/r/x")


@pytest.mark.parametrize(("root", "path", "raw", "new_raw"), [
    pytest.param("/r", "/r/app/a/b", b"/r/app/a%2Fb", b"/app/r/a%2Fb", id="root_path in path"),
    pytest.param("/r", "/app/a/b", b"/app/a%2Fb", b"/app/r/a%2Fb", id="old-style server"),
    pytest.param("/r", "/r/app/%7Ex/a%2Fb", b"/r/app/%257Ex/a%252Fb", b"/app/r/%257Ex/a%252Fb",
                 id="percent signs in path"),
    pytest.param("/r", "/r/app", b"/r/app", b"/app/r", id="nothing after the prefix"),
    pytest.param("/r", "/r/app/x", b"/elsewhere/x", b"/app/r/x", id="raw_path not the path"),
])
def test_strip_keeps_the_route_of_raw_path(root: str, path: str, raw: bytes,
                                           new_raw: bytes) -> None:
    """With strip_prefix_from_path, when the prefix is moved in front of a
    server's root_path, raw_path keeps the route's bytes as received (an
    encoded ``/`` stays ``%2F``), not the path percent-encoded anew; only a
    raw_path that does not end with the route is written from the path."""
    the_policy = policy(["X-Forwarded-Prefix"], strip_prefix_from_path=True)
    for cls in (TrustedProxyMiddleware, _PurePythonMiddleware):
        recorder = Recorder()
        scope = make_scope(headers={"X-Forwarded-Prefix": "/app"}, root_path=root)
        scope["path"], scope["raw_path"] = path, raw
        asyncio.run(cls(recorder, the_policy)(scope, None, None))  # type: ignore[arg-type]
        seen = recorder.scope
        assert seen is not None
        assert seen["root_path"] == "/app" + root
        assert seen["raw_path"] == new_raw
        assert info(seen)["orig"]["raw_path"] == raw


def utf8_header(text: str) -> str:
    """*text*'s UTF-8 bytes as make_scope sends a header value (latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def test_prefix_is_percent_encoded_in_raw_path() -> None:
    """root_path and path get the prefix header's UTF-8 bytes as text; raw_path gets the
    same bytes percent-encoded (a % in the header is a character, as in SCRIPT_NAME)."""
    seen = run(policy(["X-Forwarded-Prefix"]),
               make_scope(headers={"X-Forwarded-Prefix": utf8_header("/caf\u00e9%25")},
                          path="/x y", raw_path=b"/x%20y"))
    assert seen["root_path"] == "/caf\u00e9%25"
    assert seen["path"] == "/caf\u00e9%25/x y"
    assert seen["raw_path"] == b"/caf%C3%A9%2525/x%20y"


def test_prefix_bytes_not_utf8_become_replacement_characters() -> None:
    """A prefix header whose bytes are not UTF-8 (here a latin-1 \xe9) is decoded as an
    ASGI server decodes such a path: each bad byte becomes U+FFFD, in raw_path too."""
    seen = run(policy(["X-Forwarded-Prefix"]),
               make_scope(headers={"X-Forwarded-Prefix": "/caf\u00e9"}, path="/x"))
    assert (seen["root_path"], seen["path"]) == ("/caf\ufffd", "/caf\ufffd/x")
    assert seen["raw_path"] == b"/caf%EF%BF%BD/x"
    decision = seen["extensions"][EXTENSION_KEY]["decision"]
    assert decision.prefix == "/caf\u00e9"  # the bytes, as latin-1


@pytest.mark.parametrize("strip", [False, True])
def test_non_ascii_script_name_and_header_agree(strip: bool) -> None:
    """A fixed non-ASCII script_name (text) gives the scope that a trusted prefix header
    carrying its UTF-8 bytes gives, and strip_prefix_from_path finds it in path."""
    route = "/\u00e9t\u00e9/x" if strip else "/x"
    raw = "/%C3%A9t%C3%A9/x" if strip else "/x"
    fixed = run(policy(["X-Forwarded-For"], script_name="/\u00e9t\u00e9",
                       strip_prefix_from_path=strip),
                make_scope(path=route, raw_path=raw.encode()))
    sent = run(policy(["X-Forwarded-Prefix"], strip_prefix_from_path=strip),
               make_scope(headers={"X-Forwarded-Prefix": utf8_header("/\u00e9t\u00e9")},
                          path=route, raw_path=raw.encode()))
    for seen in (fixed, sent):
        assert (seen["root_path"], seen["path"], seen["raw_path"]) == (
            "/\u00e9t\u00e9", "/\u00e9t\u00e9/x", b"/%C3%A9t%C3%A9/x")


def test_fixed_script_name_applies_to_every_peer() -> None:
    """The operator's script_name is the prefix for untrusted peers as well."""
    the_policy = policy(["X-Forwarded-For"], script_name="/fixed")
    seen = run(the_policy, make_scope("192.0.2.50", {"X-Forwarded-For": CLIENT}))
    assert (seen["root_path"], seen["path"], seen["raw_path"]) == ("/fixed", "/fixed/path",
                                                                   b"/fixed/path")
    assert seen["client"] == ("192.0.2.50", 51000)
    assert header(seen, "x-forwarded-for") == []
    plain = run(the_policy, make_scope("192.0.2.50"))
    assert plain["root_path"] == "/fixed"
    assert info(plain)["orig"] == {"client": ("192.0.2.50", 51000), "root_path": "",
                                   "path": "/path", "raw_path": b"/path"}


def test_forwarded_header() -> None:
    """A trusted Forwarded sets client, scheme and host from the client's element and is
    trimmed like X-Forwarded-For."""
    value = f'for=192.0.2.1, for="{CLIENT}:4711";proto=https;host=example.com, for=10.0.0.1'
    seen = run(policy(["Forwarded"]), make_scope(headers={"Forwarded": value},
                                                 type_="websocket"))
    assert seen["client"] == (CLIENT, 0)
    assert seen["scheme"] == "wss"
    assert header(seen, "host") == ["example.com"]
    assert header(seen, "forwarded") == [
        f'for="{CLIENT}:4711";proto=https;host=example.com, for=10.0.0.1']


def test_no_forwarded_headers() -> None:
    """A request with no forwarded header keeps every field and still gets the extension."""
    scope = make_scope()
    seen = run(policy(), scope)
    assert {k: v for k, v in seen.items() if k != "extensions"} == scope
    assert info(seen)["orig"] == {"client": (PROXY, 51000)}
    assert info(seen)["decision"].trusted


def test_server_extensions_are_kept_and_not_changed() -> None:
    """The server's extensions stay; ours is added to a copy."""
    scope = make_scope(headers={"X-Forwarded-For": CLIENT}, type_="websocket")
    extensions = scope["extensions"]
    seen = run(policy(), scope)
    assert seen["extensions"]["websocket.http.response"] == {}
    assert extensions == {"websocket.http.response": {}}
    assert seen["state"] is scope["state"]  # the server's per-request copy, passed on


def test_unix_socket_peer() -> None:
    """A scope with no client (a Unix socket) is trusted only with trust_unix_socket."""
    headers = {"X-Forwarded-For": CLIENT}
    seen = run(policy(["X-Forwarded-For"]), make_scope(None, headers))
    assert seen["client"] is None
    assert header(seen, "x-forwarded-for") == []
    unix = TrustPolicy(trusted_headers=["X-Forwarded-For"], trust_unix_socket=True)
    seen = run(unix, make_scope(None, headers))
    assert seen["client"] == (CLIENT, 0)
    assert info(seen)["orig"]["client"] is None


@pytest.mark.parametrize("type_", ["lifespan", "something-else"])
def test_other_scopes_pass_through_untouched(type_: str) -> None:
    """lifespan (and unknown) scopes reach the app as the very same object."""
    scope = {"type": type_, "asgi": {"version": "3.0"}, "state": {}}
    recorder = Recorder()

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        return None

    asyncio.run(TrustedProxyMiddleware(recorder, policy())(scope, receive, send))
    assert recorder.scope is scope
    assert scope == {"type": type_, "asgi": {"version": "3.0"}, "state": {}}


def test_apply_decision_directly() -> None:
    """apply_decision returns a new scope and the originals, leaving its input alone."""
    scope = make_scope()
    decision = Decision(PROXY, True, client=CLIENT, scheme="https", removed=("x-real-ip",))
    new, orig = apply_decision(decision, scope)
    assert new is not scope
    assert new["client"] == (CLIENT, 0)
    assert new["scheme"] == "https"
    assert orig == {"client": (PROXY, 51000), "scheme": "http"}
    assert scope["client"] == (PROXY, 51000)


def test_policy_forms(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A YAML path works as the policy; its warnings are logged; other types are refused."""
    path = tmp_path / "trust.yaml"
    path.write_text("trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [X-Forwarded-For]\n")
    middleware = TrustedProxyMiddleware(Recorder(), str(path))
    assert middleware.policy == policy(["X-Forwarded-For"])
    assert TrustedProxyMiddleware(Recorder(), path).policy == middleware.policy
    with caplog.at_level(logging.WARNING, logger="trustedproxy"):
        TrustedProxyMiddleware(Recorder(), TrustPolicy(trusted_proxies=["10.0.0.0/8"]))
    assert "trusted proxies but no trusted headers" in caplog.text
    with pytest.raises(TypeError, match="policy must be a TrustPolicy or a path, not dict"):
        TrustedProxyMiddleware(Recorder(), {"trusted_proxies": []})  # type: ignore[arg-type]


def test_ignored_values_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    """Each ignored header is one debug line naming the peer, header, value and reason."""
    with caplog.at_level(logging.DEBUG, logger="trustedproxy"):
        run(policy(), make_scope(headers={"X-Forwarded-Port": "99999"}))
    assert f"peer {PROXY}: ignored X-Forwarded-Port: '99999'" in caplog.text


# --------------------------------------------------------------------------- real uvicorn

APP = '''
import json
from trustedproxy import TrustPolicy
from trustedproxy.asgi import EXTENSION_KEY, TrustedProxyMiddleware

started = []


def view(scope):
    ext = scope["extensions"][EXTENSION_KEY]
    return {
        "type": scope["type"], "client": scope["client"], "scheme": scope["scheme"],
        "server": scope["server"], "root_path": scope["root_path"], "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "orig_client": ext["orig"]["client"], "trusted": ext["decision"].trusted,
        "lifespan_started": started == ["yes"],
    }


async def inner(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                started.append("yes")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        body = json.dumps(view(scope)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(view(scope))})
        await send({"type": "websocket.close", "code": 1000})


app = TrustedProxyMiddleware(inner, TrustPolicy(
    trusted_proxies=["127.0.0.1"],
    trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                     "X-Forwarded-Prefix"],
))
'''


@pytest.fixture(scope="module", params=["websockets", "websockets-sansio"])
def uvicorn_server(request: pytest.FixtureRequest) -> Iterator[ManagedServer]:
    """A uvicorn server (its own proxy handling off) on 127.0.0.1 serving APP, stopped by PID."""
    backend = request.param
    for module in ("uvicorn", "websockets"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    if backend == "websockets-sansio" and importlib.util.find_spec(
            "uvicorn.protocols.websockets.websockets_sansio_impl") is None:
        pytest.skip("this uvicorn has no websockets-sansio backend")
    directory = make_server_dir("uvicorn")
    (directory / "asgi_app.py").write_text(textwrap.dedent(APP), encoding="utf-8")
    port = free_port()
    repo = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
            "--no-proxy-headers", "--lifespan", "on", "--ws", backend,
            "--app-dir", str(directory), "--no-access-log", "asgi_app:app"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo), "PYTHONUNBUFFERED": "1"}
    server = ManagedServer(f"uvicorn-{backend}", argv, directory=directory, host="127.0.0.1",
                           port=port, env=env, cwd=directory)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()  # stopped by PID, its directory removed


def http_get(server: ManagedServer, headers: list[tuple[str, str]], source: str,
             target: str = "/x") -> dict[str, Any]:
    response = raw_request(server.host, server.port, "GET", target, headers, source=source,
                           timeout=10.0)
    assert response.status == 200, response
    result: dict[str, Any] = response.json()
    return result


def test_uvicorn_http_trusted(uvicorn_server: ManagedServer) -> None:
    """Through uvicorn, a trusted peer's headers rewrite client, scheme, host and prefix."""
    seen = http_get(uvicorn_server, [("X-Forwarded-For", f"{CLIENT}, 127.0.0.1"),
                                     ("X-Forwarded-Proto", "https"),
                                     ("X-Forwarded-Host", "www.example.com"),
                                     ("X-Forwarded-Prefix", "/app"), ("X-Real-IP", "1.2.3.4")],
                    source="127.0.0.1")
    assert seen["trusted"] is True
    assert seen["client"] == [CLIENT, 0]
    assert seen["orig_client"][0] == "127.0.0.1"
    assert seen["scheme"] == "https"
    assert (seen["root_path"], seen["path"], seen["raw_path"]) == ("/app", "/app/x", "/app/x")
    names = [n for n, _ in seen["headers"]]
    assert ["host", "www.example.com"] in seen["headers"]
    assert names.count("host") == 1
    assert "x-real-ip" not in names
    assert seen["lifespan_started"] is True


def test_uvicorn_http_untrusted(uvicorn_server: ManagedServer) -> None:
    """Through uvicorn, an untrusted peer (127.0.0.2) loses its forwarded headers."""
    seen = http_get(uvicorn_server, [("X-Forwarded-For", CLIENT),
                                     ("X-Forwarded-Proto", "https"),
                                     ("X-Forwarded-Prefix", "/app")], source="127.0.0.2")
    assert seen["trusted"] is False
    assert seen["client"][0] == "127.0.0.2"
    assert seen["scheme"] == "http"
    assert (seen["root_path"], seen["path"]) == ("", "/x")
    assert not [n for n, _ in seen["headers"] if n.startswith("x-forwarded")]


def websocket_view(server: ManagedServer, headers: list[tuple[str, str]],
                   source: str) -> dict[str, Any]:
    from websockets.sync.client import connect

    sock = socket.create_connection((server.host, server.port), timeout=10.0,
                                    source_address=(source, 0))
    with connect(f"ws://{server.host}:{server.port}/ws", sock=sock, additional_headers=headers,
                 open_timeout=10, close_timeout=5) as websocket:
        message = websocket.recv(timeout=10)
    result: dict[str, Any] = json.loads(message)
    return result


def test_uvicorn_websocket(uvicorn_server: ManagedServer) -> None:
    """Through uvicorn, a websocket scope gets wss and the client; untrusted gets nothing."""
    pytest.importorskip("websockets")
    headers = [("X-Forwarded-For", CLIENT), ("X-Forwarded-Proto", "https")]
    seen = websocket_view(uvicorn_server, headers, "127.0.0.1")
    assert seen["type"] == "websocket"
    assert (seen["client"], seen["scheme"], seen["trusted"]) == ([CLIENT, 0], "wss", True)
    seen = websocket_view(uvicorn_server, headers, "127.0.0.2")
    assert (seen["client"][0], seen["scheme"], seen["trusted"]) == ("127.0.0.2", "ws", False)
    assert not [n for n, _ in seen["headers"] if n.startswith("x-forwarded")]


# --------------------------------------------------------------------------- other spellings


OTHER_SPELLINGS = [(b"x_forwarded_for", b"198.51.100.66"), (b"X_Forwarded_Proto", b"https"),
                   (b"x-forwarded_host", b"evil.example"), (b"x-forwarded-\xdfl", b"on"),
                   (b"cf_connecting_ip", b"198.51.100.67")]


@pytest.mark.parametrize("peer", ["192.0.2.50", PROXY])
def test_other_spellings_of_forwarded_headers_are_removed(peer: str) -> None:
    """A name that is a known forwarded header's CGI key in another spelling
    (``_`` for ``-``; ``ß``, which upper-cases to ``SS``) is removed from every
    peer and never read: Django, asgiref and a2wsgi would read it as the
    header itself (``HTTP_X_FORWARDED_FOR``), the client's own value. The
    decision is the one for the request without those lines."""
    the_policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                             trusted_headers=["CF-Connecting-IP", "X-Forwarded-Proto"],
                             custom_headers={"CF-Connecting-IP": "client"})
    plain = make_scope(peer, [("CF-Connecting-IP", CLIENT)])
    scope = make_scope(peer, [("CF-Connecting-IP", CLIENT)])
    scope["headers"][1:1] = OTHER_SPELLINGS
    for cls in (TrustedProxyMiddleware, _PurePythonMiddleware):
        for _ in range(2):  # cold, then with the names remembered
            recorder = Recorder()
            asyncio.run(cls(recorder, the_policy)(copy.deepcopy(scope), None, None))  # type: ignore[arg-type]
            seen = recorder.scope
            assert seen is not None
            recorder = Recorder()
            asyncio.run(cls(recorder, the_policy)(plain, None, None))  # type: ignore[arg-type]
            assert recorder.scope is not None
            assert seen["headers"] == recorder.scope["headers"]
            assert seen["client"] == recorder.scope["client"]
            assert seen["scheme"] == "http"
            assert info(seen)["decision"] == info(recorder.scope)["decision"]
            assert info(seen)["orig"]["headers"] == scope["headers"]
            view = cgi_view(seen)
            assert "HTTP_X_FORWARDED_FOR" not in view
            assert "HTTP_X_FORWARDED_PROTO" not in view
            assert "HTTP_X_FORWARDED_HOST" not in view
            assert "HTTP_X_FORWARDED_SSL" not in view
            if peer == PROXY:
                assert view["HTTP_CF_CONNECTING_IP"] == CLIENT
            else:
                assert "HTTP_CF_CONNECTING_IP" not in view


def test_apply_decision_removes_other_spellings() -> None:
    """apply_decision drops another spelling of a known header too."""
    scope = make_scope(headers=[("X-Forwarded-For", CLIENT)])
    scope["headers"].append((b"x_forwarded_for", b"198.51.100.66"))
    decision = Decision(PROXY, True, client=CLIENT, forwarded_for=CLIENT)
    new, orig = apply_decision(decision, scope)
    assert header(new, "x-forwarded-for") == [CLIENT]
    assert header(new, "x_forwarded_for") == []
    assert orig["headers"] is scope["headers"]
