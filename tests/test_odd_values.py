"""Values of the wrong type in the environ or scope: never an exception, never trust.

PEP 3333 and the ASGI spec fix the types a server gives (``str`` environ
values; a ``(str, int)`` client and ``[bytes, bytes]`` header pairs), but a
buggy server, a test client or a middleware in front of ours can break them.
The rule (SECURITY.md guarantee 4): the middleware never raises for them and
fails closed.

* WSGI: a ``REMOTE_ADDR`` that is not a ``str`` (``None`` included) is no
  usable peer: untrusted, whatever ``trust_unix_socket`` says. A missing one is
  empty, as ASGI's ``client`` ``None``: a Unix socket's, as before. A known
  forwarded header whose value is not a ``str`` is never read: removed, and a
  trusted one is in ``Decision.ignored`` with a reason naming the type. Keys
  the rewrite reads (``HTTPS``, ``HTTP_HOST``, ...) holding another type are
  replaced, never compared; a ``SCRIPT_NAME`` of another type reads as absent,
  a ``PATH_INFO`` of another type is left as it is (nothing is cut from it).
* ASGI: a ``client`` that is not a ``[host, port]`` pair with a ``str`` host
  is no usable peer (untrusted, whatever ``trust_unix_socket`` says); ``None``
  stays a Unix socket's. A header entry that is not a pair of bytes-like
  (bytes, bytearray, memoryview) name and value is not read: if its name, of any type, spells a
  known forwarded header in any case, the header is removed (every entry of
  it) and, when trusted, ignored; any other such entry is passed on. A
  ``headers`` that is not a list or tuple is read once into a list (an empty
  one when it cannot be read), which the application gets.

Each case runs on the compiled path and on the Python reference.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_speedups import decision_data, norm

from trustedproxy import Decision, TrustPolicy
from trustedproxy import asgi as asgi_module
from trustedproxy.addresses import key_to_text, parse_element
from trustedproxy.headers import HEADERS, environ_key
from trustedproxy.wsgi import DECISION_KEY, ORIG_KEY, TrustedProxyMiddleware, _PurePythonMiddleware

PROXY = "127.0.0.1"
CLIENT = "203.0.113.9"
XFF_XFP = ["X-Forwarded-For", "X-Forwarded-Proto"]


def policy(headers: list[str] | None = None, **options: Any) -> TrustPolicy:
    return TrustPolicy(trusted_proxies=[PROXY], trusted_headers=headers or XFF_XFP, **options)


class StrSub(str):
    """A str subclass: a str, read as one."""


class Sticky(str):
    """A str subclass that says it equals everything."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


class Touchy:
    """A value that cannot be compared."""

    def __eq__(self, other: object) -> bool:
        raise ValueError("not comparable")

    def __ne__(self, other: object) -> bool:
        raise ValueError("not comparable")

    __hash__ = object.__hash__


#: Values of the wrong type for a str environ value (or a bytes header value).
WRONG = [None, b"203.0.113.9", bytearray(b"https"), 5, True, ["203.0.113.9"], ("https",),
         Touchy()]
WRONG_IDS = ["None", "bytes", "bytearray", "int", "bool", "list", "tuple", "uncomparable"]


# --------------------------------------------------------------------------- WSGI

WSGI_KINDS = pytest.mark.parametrize("kind", [TrustedProxyMiddleware, _PurePythonMiddleware],
                                     ids=["compiled", "pure"])


class WsgiApp:
    def __init__(self) -> None:
        self.environ: dict[str, Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.environ = environ
        return [b""]


def wsgi_run(kind: Any, the_policy: TrustPolicy, environ: dict[str, Any],
             times: int = 3) -> dict[str, Any]:
    """The environ the application saw, the last of *times* sendings (the
    compiled path finishes a request itself only once its caches are warm)."""
    app = WsgiApp()
    middleware = kind(app, the_policy)
    for _ in range(times):
        app.environ = None
        middleware(dict(environ), None)
    assert app.environ is not None
    return app.environ


def base_environ(peer: Any = PROXY, **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/x",
                               "SERVER_NAME": "backend", "SERVER_PORT": "8000",
                               "HTTP_HOST": "backend:8000", "wsgi.url_scheme": "http"}
    if peer is not MISSING:
        environ["REMOTE_ADDR"] = peer
    environ.update(extra)
    return environ


MISSING = object()


@WSGI_KINDS
@pytest.mark.parametrize("unix", [False, True], ids=["", "trust_unix_socket"])
@pytest.mark.parametrize("peer", [None, b"127.0.0.1", bytearray(b"127.0.0.1"), 5,
                                  ["127.0.0.1"], ("127.0.0.1", 80), Touchy()],
                         ids=["None", "bytes", "bytearray", "int", "list", "tuple",
                              "uncomparable"])
def test_wsgi_peer_of_the_wrong_type_is_untrusted(kind: Any, unix: bool, peer: Any) -> None:
    """A REMOTE_ADDR that is not a str is no peer: every forwarded header goes,
    REMOTE_ADDR stays the very object, with or without trust_unix_socket."""
    seen = wsgi_run(kind, policy(trust_unix_socket=unix),
                    base_environ(peer, HTTP_X_FORWARDED_FOR=CLIENT, HTTP_X_FORWARDED_PROTO="https"))
    assert seen["REMOTE_ADDR"] is peer
    assert "HTTP_X_FORWARDED_FOR" not in seen
    assert "HTTP_X_FORWARDED_PROTO" not in seen
    assert seen["wsgi.url_scheme"] == "http"
    assert seen[ORIG_KEY] == {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": CLIENT,
                              "HTTP_X_FORWARDED_PROTO": "https"}
    decision = seen[DECISION_KEY]
    assert (decision.peer, decision.trusted, decision.client) == ("", False, None)
    assert set(decision.removed) == {"x-forwarded-for", "x-forwarded-proto"}


@WSGI_KINDS
@pytest.mark.parametrize("peer", [None, b"127.0.0.1", 5])
def test_wsgi_peer_of_the_wrong_type_without_forwarded_headers(kind: Any, peer: Any) -> None:
    """With no forwarded header, such a peer changes nothing but the policy's own script_name."""
    seen = wsgi_run(kind, policy(trust_unix_socket=True, script_name="/mnt"), base_environ(peer))
    assert seen["REMOTE_ADDR"] is peer
    assert seen["SCRIPT_NAME"] == "/mnt"
    assert seen[DECISION_KEY] == Decision("", False, prefix="/mnt")
    assert seen[ORIG_KEY] == {"REMOTE_ADDR": peer, "SCRIPT_NAME": ""}


@WSGI_KINDS
def test_wsgi_missing_peer_is_a_unix_socket(kind: Any) -> None:
    """A missing REMOTE_ADDR is empty, a Unix socket's (as ASGI's client None):
    trusted with trust_unix_socket only."""
    environ = base_environ(MISSING, HTTP_X_FORWARDED_FOR=CLIENT)
    seen = wsgi_run(kind, policy(trust_unix_socket=True), environ)
    assert seen["REMOTE_ADDR"] == CLIENT
    assert seen[ORIG_KEY]["REMOTE_ADDR"] is None
    seen = wsgi_run(kind, policy(), environ)
    assert "REMOTE_ADDR" not in seen
    assert "HTTP_X_FORWARDED_FOR" not in seen


@WSGI_KINDS
@pytest.mark.parametrize("key", ["HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO"])
@pytest.mark.parametrize("value", WRONG, ids=WRONG_IDS)
def test_wsgi_trusted_header_of_the_wrong_type_is_ignored(kind: Any, key: str,
                                                          value: Any) -> None:
    """A trusted header whose value is not a str is ignored (the reason names
    its type) and removed; the other trusted header still applies."""
    other = "HTTP_X_FORWARDED_PROTO" if key == "HTTP_X_FORWARDED_FOR" else "HTTP_X_FORWARDED_FOR"
    good = {"HTTP_X_FORWARDED_FOR": CLIENT, "HTTP_X_FORWARDED_PROTO": "https"}[other]
    seen = wsgi_run(kind, policy(), base_environ(**{key: value, other: good}))
    assert key not in seen
    assert seen[ORIG_KEY][key] is value
    decision = seen[DECISION_KEY]
    header = {"HTTP_X_FORWARDED_FOR": "X-Forwarded-For",
              "HTTP_X_FORWARDED_PROTO": "X-Forwarded-Proto"}[key]
    (ignored,) = decision.ignored
    assert ignored.header == header
    assert ignored.reason == (f"a value of type {type(value).__name__}, not a str "
                              "(a malformed environ or scope)")
    assert isinstance(ignored.value, str)
    assert decision.trusted
    if other == "HTTP_X_FORWARDED_FOR":
        assert seen["REMOTE_ADDR"] == CLIENT
    else:
        assert seen["REMOTE_ADDR"] == PROXY
        assert seen["wsgi.url_scheme"] == "https"


@WSGI_KINDS
@pytest.mark.parametrize("value", WRONG, ids=WRONG_IDS)
def test_wsgi_untrusted_header_of_the_wrong_type_is_removed(kind: Any, value: Any) -> None:
    """A known header the policy does not trust goes, whatever its type, from any peer."""
    for peer in (PROXY, CLIENT):
        seen = wsgi_run(kind, policy(), base_environ(peer, HTTP_X_REAL_IP=value))
        assert "HTTP_X_REAL_IP" not in seen
        assert seen[ORIG_KEY]["HTTP_X_REAL_IP"] is value
        assert seen[DECISION_KEY].ignored == ()


def test_wsgi_ignored_value_of_the_wrong_type_is_logged(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    """The debug line names the header, shows the value briefly and gives the type."""
    with caplog.at_level(logging.DEBUG, logger="trustedproxy"):
        wsgi_run(_PurePythonMiddleware, policy(),
                 base_environ(HTTP_X_FORWARDED_FOR=b"203.0.113.9" * 100), times=1)
    (line,) = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert line.startswith("peer 127.0.0.1: ignored X-Forwarded-For: ")
    assert "b'203.0.113.9203.0.113.9" in line
    assert line.endswith("(a value of type bytes, not a str (a malformed environ or scope))")


FULL = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
        "X-Forwarded-Server"]
FULL_HEADERS = {"HTTP_X_FORWARDED_FOR": CLIENT, "HTTP_X_FORWARDED_PROTO": "https",
                "HTTP_X_FORWARDED_HOST": "shop.example", "HTTP_X_FORWARDED_PORT": "443",
                "HTTP_X_FORWARDED_SERVER": "shop.example"}
#: What each key the rewrite sets holds afterwards.
REWRITTEN = {"wsgi.url_scheme": "https", "HTTPS": "on", "REQUEST_SCHEME": "https",
             "HTTP_HOST": "shop.example", "SERVER_PORT": "443", "SERVER_NAME": "shop.example"}


@WSGI_KINDS
@pytest.mark.parametrize("key", sorted(REWRITTEN))
@pytest.mark.parametrize("value", [*WRONG, Sticky("http"), StrSub("http")],
                         ids=[*WRONG_IDS, "sticky", "str-subclass"])
def test_wsgi_rewritten_key_of_the_wrong_type_is_replaced(kind: Any, key: str,
                                                          value: Any) -> None:
    """A key the rewrite sets, holding another type than str (a str subclass
    too), is replaced by the exact str decided, never compared; the old
    value is kept in trustedproxy.orig."""
    seen = wsgi_run(kind, policy(FULL), base_environ(**FULL_HEADERS, **{key: value}))
    assert type(seen[key]) is str
    assert seen[key] == REWRITTEN[key]
    assert seen[ORIG_KEY][key] is value
    assert seen["REMOTE_ADDR"] == CLIENT


@WSGI_KINDS
@pytest.mark.parametrize("value", [*WRONG, StrSub("/mnt")], ids=[*WRONG_IDS, "str-subclass"])
@pytest.mark.parametrize("source", ["script_name", "header"])
def test_wsgi_script_name_of_the_wrong_type_reads_as_absent(kind: Any, value: Any,
                                                            source: str) -> None:
    """A SCRIPT_NAME that is not a str is replaced by the prefix alone (a str
    subclass is a str: the prefix goes in front of it)."""
    if source == "header":
        the_policy = policy(["X-Forwarded-Prefix"])
        environ = base_environ(SCRIPT_NAME=value, HTTP_X_FORWARDED_PREFIX="/p")
    else:
        the_policy = policy(script_name="/p")
        environ = base_environ(SCRIPT_NAME=value)
    seen = wsgi_run(kind, the_policy, environ)
    assert type(seen["SCRIPT_NAME"]) is str
    assert seen["SCRIPT_NAME"] == ("/p/mnt" if isinstance(value, str) else "/p")
    assert seen[ORIG_KEY]["SCRIPT_NAME"] is value
    assert seen["PATH_INFO"] == "/x"


@WSGI_KINDS
@pytest.mark.parametrize("value", WRONG, ids=WRONG_IDS)
def test_wsgi_path_info_of_the_wrong_type_is_left_alone(kind: Any, value: Any) -> None:
    """With strip_prefix_from_path, a PATH_INFO that is not a str is left as
    it is (nothing is cut from it); SCRIPT_NAME still gets the prefix."""
    seen = wsgi_run(kind, policy(["X-Forwarded-Prefix"], strip_prefix_from_path=True),
                    base_environ(PATH_INFO=value, HTTP_X_FORWARDED_PREFIX="/p"))
    assert seen["PATH_INFO"] is value
    assert "PATH_INFO" not in seen[ORIG_KEY]
    assert seen["SCRIPT_NAME"] == "/p"


@WSGI_KINDS
def test_wsgi_path_info_str_subclass_is_cut(kind: Any) -> None:
    """A str subclass PATH_INFO is a str: the prefix is cut from it."""
    seen = wsgi_run(kind, policy(["X-Forwarded-Prefix"], strip_prefix_from_path=True),
                    base_environ(PATH_INFO=StrSub("/p/x"), HTTP_X_FORWARDED_PREFIX="/p"))
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/p", "/x")


# --------------------------------------------------------------------------- ASGI

ASGI_KINDS = pytest.mark.parametrize(
    "kind", [asgi_module.TrustedProxyMiddleware, asgi_module._PurePythonMiddleware],
    ids=["compiled", "pure"])


class AsgiApp:
    def __init__(self) -> None:
        self.scope: dict[str, Any] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope


def asgi_run(kind: Any, the_policy: TrustPolicy, scope: dict[str, Any],
             times: int = 3) -> dict[str, Any]:
    """The scope the application saw, the last of *times* sendings; the
    caller's scope is never changed."""
    app = AsgiApp()
    middleware = kind(app, the_policy)
    for _ in range(times):
        app.scope = None
        coroutine = middleware(scope, None, None)
        with pytest.raises(StopIteration):
            coroutine.send(None)
    assert app.scope is not None
    return app.scope


def make_scope(client: Any = (PROXY, 50000), headers: Any = (), **extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "root_path": "", "path": "/x", "raw_path": b"/x",
        "query_string": b"", "server": ("backend", 8000), "client": client,
        "headers": [(b"host", b"backend:8000"), *headers, (b"user-agent", b"t")]}
    scope.update(extra)
    return scope


def info(seen: dict[str, Any]) -> tuple[dict[str, Any], Decision]:
    extension = seen["extensions"][asgi_module.EXTENSION_KEY]
    return extension["orig"], extension["decision"]


def names(seen: dict[str, Any]) -> list[Any]:
    return [entry[0] if isinstance(entry, (list, tuple)) and entry else entry
            for entry in seen["headers"]]


XFF_ENTRY = (b"x-forwarded-for", CLIENT.encode())


@ASGI_KINDS
@pytest.mark.parametrize("unix", [False, True], ids=["", "trust_unix_socket"])
@pytest.mark.parametrize("client", [
    (b"127.0.0.1", 1), b"127.0.0.1", 5, ("127.0.0.1",), ("127.0.0.1", 1, 2), (None, 1),
    [b"127.0.0.1", 1], (), "127.0.0.1", (Touchy(), 1)],
    ids=["bytes host", "bytes", "int", "one item", "three items", "None host", "list bytes",
         "empty", "str", "uncomparable host"])
def test_asgi_client_of_the_wrong_shape_is_untrusted(kind: Any, unix: bool, client: Any) -> None:
    """A client that is not a [host, port] pair with a str host is no peer:
    every forwarded header goes, the client stays the very object, with or
    without trust_unix_socket."""
    seen = asgi_run(kind, policy(trust_unix_socket=unix),
                    make_scope(client, [XFF_ENTRY, (b"x-forwarded-proto", b"https")]))
    assert seen["client"] is client
    assert names(seen) == [b"host", b"user-agent"]
    assert seen["scheme"] == "http"
    orig, decision = info(seen)
    assert orig["client"] is client
    assert (decision.peer, decision.trusted, decision.client) == ("", False, None)


@ASGI_KINDS
@pytest.mark.parametrize("client", [("127.0.0.1", None), ["127.0.0.1", 1],
                                    (StrSub("127.0.0.1"), 1), ("127.0.0.1", Touchy())],
                         ids=["port None", "list", "str subclass host", "uncomparable port"])
def test_asgi_client_pair_with_a_str_host_is_read(kind: Any, client: Any) -> None:
    """A [host, port] pair with a str host is a peer, whatever the port;
    the client is replaced (never compared with the old one)."""
    seen = asgi_run(kind, policy(), make_scope(client, [XFF_ENTRY]))
    assert seen["client"] == (CLIENT, 0)
    assert info(seen)[0]["client"] is client


@ASGI_KINDS
@pytest.mark.parametrize("peer", [PROXY, CLIENT, None], ids=["trusted", "untrusted", "no client"])
@pytest.mark.parametrize("value", [CLIENT, None, 5, ["x"], StrSub(CLIENT)],
                         ids=["str", "None", "int", "list", "str subclass"])
def test_asgi_header_value_of_the_wrong_type_is_removed(kind: Any, peer: str | None,
                                                        value: Any) -> None:
    """A known header whose value is not bytes is removed from every peer; a
    trusted one is ignored (a trusted peer's), with a reason naming the types."""
    client = None if peer is None else (peer, 1)
    seen = asgi_run(kind, policy(), make_scope(client, [(b"x-forwarded-for", value)]))
    assert names(seen) == [b"host", b"user-agent"]
    assert seen["client"] is client
    orig, decision = info(seen)
    assert orig["headers"][1] == (b"x-forwarded-for", value)
    assert "x-forwarded-for" in decision.removed
    if peer == PROXY:
        (ignored,) = decision.ignored
        assert ignored.header == "X-Forwarded-For"
        assert ignored.reason == (f"an ASGI header entry of a bytes name and a "
                                  f"{type(value).__name__} value, not bytes: not read")
    else:
        assert decision.ignored == ()


@ASGI_KINDS
@pytest.mark.parametrize("peer", [PROXY, CLIENT, None], ids=["trusted", "untrusted", "no client"])
@pytest.mark.parametrize("name", ["x-forwarded-for", "X-Forwarded-For", "X-FORWARDED-F\u00f6r"],
                         ids=["lower", "mixed", "not latin-1 lower"])
def test_asgi_str_name_of_a_known_header_is_removed(kind: Any, peer: str | None,
                                                    name: str) -> None:
    """An entry whose str name spells X-Forwarded-For in any case is never
    read and is removed, with every other entry of the header, from every
    peer; from a trusted peer the header is ignored (so the client stays)."""
    name = name.replace("F\u00f6r", "FOR")
    client = None if peer is None else (peer, 1)
    headers = [(name, b"198.51.100.7"), XFF_ENTRY]
    seen = asgi_run(kind, policy(trust_unix_socket=True), make_scope(client, headers))
    _, decision = info(seen)
    assert names(seen) == [b"host", b"user-agent"]
    assert seen["client"] is client
    assert "x-forwarded-for" in decision.removed
    if peer != CLIENT:
        (ignored,) = decision.ignored
        assert ignored.header == "X-Forwarded-For"
        assert ignored.reason == ("an ASGI header entry of a str name and a bytes value, "
                                  "not bytes: not read")
        assert ignored.value == "b'198.51.100.7'"


@ASGI_KINDS
@pytest.mark.parametrize("peer", [PROXY, CLIENT], ids=["trusted", "untrusted"])
@pytest.mark.parametrize("name", ["x_forwarded_for", b"X_Forwarded_For".decode()])
def test_asgi_str_name_of_another_spelling_is_removed(kind: Any, peer: str, name: str) -> None:
    """A str name of another spelling of a known header's CGI key is removed
    from every peer and never read, as the bytes one is; X-Forwarded-For itself
    is still read."""
    seen = asgi_run(kind, policy(), make_scope((peer, 1), [(name, b"198.51.100.7"), XFF_ENTRY]))
    if peer == PROXY:
        assert names(seen) == [b"host", b"x-forwarded-for", b"user-agent"]
        assert seen["client"] == (CLIENT, 0)
    else:
        assert names(seen) == [b"host", b"user-agent"]
    assert info(seen)[1].ignored == ()


@ASGI_KINDS
@pytest.mark.parametrize("peer", [PROXY, CLIENT], ids=["trusted", "untrusted"])
def test_asgi_bytearray_name_is_read(kind: Any, peer: str) -> None:
    """A bytearray name with a bytes value is a readable pair: the lines are joined."""
    headers = [(bytearray(b"X-Forwarded-For"), b"198.51.100.7"), XFF_ENTRY]
    seen = asgi_run(kind, policy(), make_scope((peer, 1), headers))
    if peer == PROXY:
        assert seen["client"] == (CLIENT, 0)
        assert [hop.element for hop in info(seen)[1].chain] == ["198.51.100.7", CLIENT]
        assert names(seen) == [b"host", b"x-forwarded-for", b"user-agent"]
    else:
        assert names(seen) == [b"host", b"user-agent"]


@ASGI_KINDS
def test_asgi_memoryview_pair_is_read(kind: Any) -> None:
    """A memoryview is bytes-like: a pair of memoryview name and value is read."""
    entry = (memoryview(b"X-Forwarded-For"), memoryview(b"198.51.100.7"))
    seen = asgi_run(kind, policy(), make_scope(headers=[entry, XFF_ENTRY]))
    assert seen["client"] == (CLIENT, 0)
    assert [hop.element for hop in info(seen)[1].chain] == ["198.51.100.7", CLIENT]
    assert names(seen) == [b"host", b"x-forwarded-for", b"user-agent"]


@ASGI_KINDS
def test_asgi_released_memoryview_is_unreadable(kind: Any) -> None:
    """A released memoryview cannot be read: as a value of a known header, the
    header is removed (ignored when trusted); as a name, it is passed on."""
    value = memoryview(b"198.51.100.7")
    value.release()
    seen = asgi_run(kind, policy(), make_scope(headers=[(b"x-forwarded-for", value), XFF_ENTRY]))
    assert names(seen) == [b"host", b"user-agent"]
    assert seen["client"] == (PROXY, 50000)
    (ignored,) = info(seen)[1].ignored
    assert ignored.reason == ("an ASGI header entry of a bytes name and a memoryview value, "
                              "not bytes: not read")
    name = memoryview(b"x-forwarded-for")
    name.release()
    entry = (name, b"198.51.100.7")
    seen = asgi_run(kind, policy(), make_scope(headers=[entry, XFF_ENTRY]))
    assert seen["headers"][1] is entry
    assert seen["client"] == (CLIENT, 0)


@ASGI_KINDS
def test_asgi_name_of_no_text_type_passes_on(kind: Any) -> None:
    """A name of no bytes-like or str type names nothing: passed on as it is."""
    entry = (5, b"198.51.100.7")
    seen = asgi_run(kind, policy(), make_scope(headers=[entry, XFF_ENTRY]))
    assert seen["headers"][1] is entry
    assert seen["client"] == (CLIENT, 0)


@ASGI_KINDS
@pytest.mark.parametrize("entry", [(b"x-forwarded-for",), (b"x-forwarded-for", b"1.2.3.4", b"x"),
                                   [b"X-Forwarded-For"]], ids=["one", "three", "list of one"])
def test_asgi_entry_that_is_no_pair_is_removed_when_known(kind: Any, entry: Any) -> None:
    """An entry that is no pair, whose first item names a known header, is
    removed with the header's other entries, and ignored when trusted."""
    seen = asgi_run(kind, policy(), make_scope(headers=[entry, XFF_ENTRY]))
    assert names(seen) == [b"host", b"user-agent"]
    (ignored,) = info(seen)[1].ignored
    assert "not a [name, value] pair" in ignored.reason


@ASGI_KINDS
@pytest.mark.parametrize("entry", [(b"x-other",), b"x-forwarded-for", 5, None, "ab",
                                   (b"x-other", "text"), ("host", b"evil.example")],
                         ids=["one", "bytes", "int", "None", "str", "str value", "str host"])
def test_asgi_other_unreadable_entries_pass_on(kind: Any, entry: Any) -> None:
    """An unreadable entry that names no known forwarded header is passed on
    as it is; the request is otherwise handled as usual."""
    seen = asgi_run(kind, policy(), make_scope(headers=[entry, XFF_ENTRY]))
    assert seen["headers"][1] is entry
    assert seen["client"] == (CLIENT, 0)


@ASGI_KINDS
def test_asgi_bytearray_pair_is_read(kind: Any) -> None:
    """A pair of bytearray name and value is read as bytes, and rewritten as bytes."""
    seen = asgi_run(kind, policy(), make_scope(headers=[
        (bytearray(b"X-Forwarded-For"), bytearray(b"203.0.113.9, 127.0.0.1"))]))
    assert seen["client"] == (CLIENT, 0)
    assert seen["headers"][1] == (b"x-forwarded-for", b"203.0.113.9, 127.0.0.1")


def pairs() -> Iterator[tuple[bytes, bytes]]:
    yield from [(b"host", b"backend:8000"), XFF_ENTRY]


class Exploding:
    def __iter__(self) -> Iterator[Any]:
        yield XFF_ENTRY
        raise OSError("gone")


@ASGI_KINDS
@pytest.mark.parametrize(("make", "expected", "client"), [
    (pairs, [(b"host", b"backend:8000"), XFF_ENTRY], (CLIENT, 0)),
    (lambda: {b"x-forwarded-for": b"1.2.3.4"}, [b"x-forwarded-for"], (PROXY, 50000)),
    (lambda: 5, [], (PROXY, 50000)),
    (lambda: b"", [], (PROXY, 50000)),
    (Exploding, [], (PROXY, 50000)),
], ids=["generator", "dict", "int", "bytes", "raises"])
def test_asgi_headers_not_a_list_are_read_into_one(kind: Any, make: Any, expected: Any,
                                                   client: Any) -> None:
    """headers of another type than list or tuple are read once into a list
    (an iterable is what the ASGI spec allows); one that cannot be read is an
    empty list. The original is kept in orig."""
    headers = make()
    scope = make_scope(headers=())
    scope["headers"] = headers
    seen = asgi_run(kind, policy(), scope, times=1)
    assert seen["headers"] == expected
    assert info(seen)[0]["headers"] is headers
    assert seen["client"] == client


@ASGI_KINDS
@pytest.mark.parametrize("value", [*WRONG, Sticky("http")], ids=[*WRONG_IDS, "sticky"])
def test_asgi_scheme_of_the_wrong_type_is_replaced(kind: Any, value: Any) -> None:
    seen = asgi_run(kind, policy(), make_scope(headers=[(b"x-forwarded-proto", b"https")],
                                               scheme=value))
    assert type(seen["scheme"]) is str
    assert seen["scheme"] == "https"
    assert info(seen)[0]["scheme"] is value


@ASGI_KINDS
@pytest.mark.parametrize("server", [b"backend", 5, ("backend",), ("backend", 80, 1),
                                    ("backend", Touchy()), (Touchy(), 80), ["backend", 80]],
                         ids=["bytes", "int", "one", "three", "uncomparable port",
                              "uncomparable host", "list"])
def test_asgi_server_of_the_wrong_shape(kind: Any, server: Any) -> None:
    """A server that is not a [host, port] pair reads as missing; a pair is
    replaced whole, never compared item by item with another type."""
    seen = asgi_run(kind, policy(["X-Forwarded-Server", "X-Forwarded-Port"]),
                    make_scope(server=server, headers=[(b"x-forwarded-server", b"shop.example"),
                                                       (b"x-forwarded-port", b"443")]))
    assert seen["server"] == ("shop.example", 443)
    assert info(seen)[0]["server"] is server


@ASGI_KINDS
@pytest.mark.parametrize("field", ["root_path", "path", "raw_path"])
@pytest.mark.parametrize("value", [b"/mnt/x", 5, ["/mnt"], "/mnt/x", bytearray(b"/x")],
                         ids=["bytes", "int", "list", "str", "bytearray"])
def test_asgi_path_fields_of_the_wrong_type(kind: Any, field: str, value: Any) -> None:
    """A root_path that is not a str reads as empty; a path that is not one is
    left as it is, with raw_path; a raw_path that is not bytes is made anew
    from the path."""
    scope = make_scope(headers=[(b"x-forwarded-prefix", b"/p")])
    scope[field] = value
    seen = asgi_run(kind, policy(["X-Forwarded-Prefix"]), scope)
    orig, _ = info(seen)
    if field == "root_path":
        assert seen["root_path"] == ("/p/mnt/x" if isinstance(value, str) else "/p")
        assert orig["root_path"] is value
    elif field == "path":
        if isinstance(value, str):
            assert (seen["root_path"], seen["path"]) == ("/p", "/p/mnt/x")
        else:
            assert seen["path"] is value
            assert seen["raw_path"] == b"/x"
            assert seen["root_path"] == "/p"
    else:
        assert (seen["root_path"], seen["path"]) == ("/p", "/p/x")
        assert seen["raw_path"] == (b"/p/mnt/x" if type(value) is bytes else b"/p/x")
        assert type(seen["raw_path"]) is bytes
        assert orig["raw_path"] is value


# --------------------------------------------------------------------------- properties

KNOWN = [spec.name for spec in HEADERS.values()]
SETTINGS = settings(max_examples=300, deadline=timedelta(seconds=2),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TEXTS = ["203.0.113.9", "127.0.0.1", "203.0.113.9, 127.0.0.1", "https", "on", "shop.example",
         "443", "/p", "for=203.0.113.9;proto=https", "junk", ""]


def odd(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """A value of any of the types a buggy server may give, built from *text*."""
    return st.one_of(
        text, text.map(StrSub), text.map(str.encode), text.map(lambda t: bytearray(t.encode())),
        st.integers(-1, 2**70), st.none(), st.booleans(), st.lists(text, max_size=2),
        st.builds(Touchy))


PEERS_ODD = odd(st.sampled_from(["127.0.0.1", "203.0.113.9", "", "/run/app.sock", "::1"]))
VALUES_ODD = odd(st.sampled_from(TEXTS))
POLICIES = st.builds(
    lambda headers, unix, strip: TrustPolicy(
        trusted_proxies=[PROXY, "::1"], trusted_headers=headers, trust_unix_socket=unix,
        strip_prefix_from_path=strip and "X-Forwarded-Prefix" in headers),
    st.sampled_from([XFF_XFP, ["X-Real-IP", "X-Forwarded-Host", "X-Forwarded-Prefix"],
                     ["Forwarded", "X-Forwarded-Port"], FULL]),
    st.booleans(), st.booleans())


def canonical(text: object) -> bool:
    """Whether *text* is an exact str holding an IP address in canonical form."""
    parsed = parse_element(text) if type(text) is str else None
    return parsed is not None and key_to_text(*parsed) == text


def vouched(decision: Decision, lower: str, value: object, original: object) -> bool:
    """Whether *value*, seen by the app for known header *lower*, is one the policy vouched for."""
    if not decision.trusted or lower not in decision.kept or not isinstance(value, str):
        return False
    if lower == "x-forwarded-for":
        return type(value) is str and value == decision.forwarded_for
    if lower == "forwarded":
        return type(value) is str and value == decision.forwarded
    return value is original


@st.composite
def odd_environs(draw: st.DrawFn) -> dict[str, Any]:
    environ: dict[str, Any] = base_environ(MISSING)
    if draw(st.integers(0, 9)):
        environ["REMOTE_ADDR"] = draw(PEERS_ODD)
    for name in draw(st.lists(st.sampled_from(KNOWN), max_size=4, unique=True)):
        environ[environ_key(name)] = draw(VALUES_ODD)
    for key in draw(st.lists(st.sampled_from(["SCRIPT_NAME", "PATH_INFO", "HTTPS", "HTTP_HOST",
                                              "SERVER_PORT", "REQUEST_SCHEME"]), max_size=2)):
        environ[key] = draw(odd(st.sampled_from(["/mnt", "on", "x", "80"])))
    return environ


@SETTINGS
@given(the_policy=POLICIES, environ=odd_environs())
def test_wsgi_property_odd_values(the_policy: TrustPolicy, environ: dict[str, Any]) -> None:
    """Invariant: for REMOTE_ADDR and known forwarded headers of any type (str,
    str subclass, bytes, bytearray, int, bool, None, list, an uncomparable
    object), the middleware never raises; the application sees a known
    forwarded header only when the policy vouched for it (a kept header of a
    trusted peer: X-Forwarded-For and Forwarded as the exact trimmed str, any
    other as the very value given); REMOTE_ADDR is the original object or a
    canonical address str; and the compiled path leaves the same environ and
    an equal Decision as the Python reference (cold and warm)."""
    answers = []
    for kind in (_PurePythonMiddleware, TrustedProxyMiddleware):
        app = WsgiApp()
        middleware = kind(app, the_policy)
        for _ in range(2):
            seen = copy.copy(environ)
            middleware(seen, None)
            assert app.environ is seen
            answers.append({k: decision_data(v) if k == DECISION_KEY else norm(v)
                            for k, v in seen.items()})
        decision = seen[DECISION_KEY]
        for lower, spec in the_policy.headers.items():
            if spec.environ_key in seen:
                assert vouched(decision, lower, seen[spec.environ_key],
                               environ.get(spec.environ_key)), spec.name
        peer = seen.get("REMOTE_ADDR")
        assert peer is environ.get("REMOTE_ADDR") or canonical(peer)
        if not isinstance(environ.get("REMOTE_ADDR", ""), str):
            assert not decision.trusted
    assert all(answer == answers[0] for answer in answers)


ASGI_NAMES = [*KNOWN, "Host", "User-Agent", "X_Forwarded_For"]


@st.composite
def odd_entries(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(ASGI_NAMES))
    name = draw(st.sampled_from([name, name.lower(), name.upper()]))
    typed = draw(st.sampled_from(["bytes", "bytes", "bytes", "bytearray", "memoryview", "str",
                                  "other"]))
    raw_name: Any = {"bytes": name.encode(), "bytearray": bytearray(name.encode()),
                     "memoryview": memoryview(name.encode()), "str": name, "other": 5}[typed]
    value = draw(odd(st.sampled_from(TEXTS)))
    if type(value) is str and draw(st.integers(0, 3)):
        value = value.encode("latin-1")  # mostly as a server gives it
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return (raw_name,)
    if shape == 1:
        return (raw_name, value, b"x")
    if shape == 2:
        return [raw_name, value]
    return (raw_name, value)


CLIENTS_ODD = st.one_of(st.none(), st.tuples(PEERS_ODD, st.integers(0, 65535)),
                        st.lists(PEERS_ODD, max_size=3), PEERS_ODD)


def spells_known(name: object, the_policy: TrustPolicy) -> str | None:
    """The known forwarded header an entry's name spells (any case, type or CGI spelling)."""
    if isinstance(name, (bytes, bytearray, memoryview)):
        name = bytes(name).decode("latin-1")
    if not isinstance(name, str):
        return None
    by_key = {spec.environ_key: lower for lower, spec in the_policy.headers.items()}
    return by_key.get(environ_key(name))


@SETTINGS
@given(the_policy=POLICIES, client=CLIENTS_ODD,
       headers=st.lists(odd_entries(), max_size=5))
def test_asgi_property_odd_values(the_policy: TrustPolicy, client: Any, headers: list[Any]
                                  ) -> None:
    """Invariant: for a client and header entries of any type and shape
    (names bytes, bytearray or str in any case; values of any type; entries
    of one, two or three items), the middleware never raises; every entry the
    application sees whose name spells a known forwarded header is a pair of
    bytes, from a trusted peer, of a header the policy kept, holding what it
    vouched for (X-Forwarded-For and Forwarded trimmed as decided); the client
    is the original object or (canonical address, 0); and the compiled path
    gives the same scope and an equal Decision as the Python one."""
    scope = make_scope(client, headers)
    answers = []
    for kind in (asgi_module._PurePythonMiddleware, asgi_module.TrustedProxyMiddleware):
        for _ in range(2):
            seen = asgi_run(kind, the_policy, scope, times=1)
            orig, decision = info(seen)
            answers.append((norm({k: v for k, v in seen.items() if k != "extensions"}),
                            norm(orig), decision_data(decision)))
        for entry in seen["headers"]:
            name = entry[0] if isinstance(entry, (list, tuple)) and entry else None
            lower = spells_known(name, the_policy)
            if lower is None:
                continue
            # A kept header's entries are passed on as they came, or rewritten.
            assert type(entry) in (tuple, list), entry
            assert len(entry) == 2, entry
            assert type(entry[0]) in (bytes, bytearray, memoryview), entry
            assert bytes(entry[0]).decode("latin-1").lower() == lower, entry
            assert type(entry[1]) in (bytes, bytearray, memoryview), entry
            assert decision.trusted, entry
            assert lower in decision.kept, entry
            text = bytes(entry[1]).decode("latin-1")
            if lower == "x-forwarded-for":
                assert text == decision.forwarded_for
            elif lower == "forwarded":
                assert text == decision.forwarded
        now = seen["client"]
        assert now is client or (type(now) is tuple and canonical(now[0]) and now[1] == 0)
        usable = client is None or (isinstance(client, (list, tuple)) and len(client) == 2
                                    and isinstance(client[0], str))
        if not usable:
            assert not decision.trusted
    assert all(answer == answers[0] for answer in answers)


@pytest.mark.parametrize("name", [None, 5, b"X-Forwarded-For", ("X-Forwarded-For",)])
def test_evaluate_ignores_header_names_that_are_no_str(name: Any) -> None:
    """``TrustEngine.evaluate`` (its docstring: nothing in the headers makes it
    raise) ignores a name that is not a ``str`` (``None`` and ints raised
    AttributeError), and decides on the others as without it."""
    engine = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                         trusted_headers=["X-Forwarded-For"]).compile()
    headers: dict[Any, Any] = {"X-Forwarded-For": "203.0.113.9", name: "198.51.100.1"}
    assert engine.evaluate("10.1.2.3", headers) == engine.evaluate(
        "10.1.2.3", {"X-Forwarded-For": "203.0.113.9"})
    assert engine.evaluate("10.1.2.3", headers).client == "203.0.113.9"


# --------------------------------------------------------------------------- lying subclasses


def _liar(base: type, hash_as: object, raising: bool) -> type:
    """A subclass of *base* (str or bytes) that hashes as *hash_as* and says
    it equals everything, or whose __hash__, __eq__ and the methods the
    adapters could call raise."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a method of the value's class ran")

    if raising:
        methods = {name: boom for name in ("__hash__", "__eq__", "__ne__", "__add__", "__radd__",
                                            "__len__", "__getitem__", "__iter__", "__bool__",
                                            "__bytes__", "startswith", "endswith", "strip",
                                            "split", "count", "lower", "decode", "encode")}
    else:
        methods = {"__hash__": lambda self: hash(hash_as), "__eq__": lambda self, other: True,
                   "__ne__": lambda self, other: False}
    return type(f"Liar{base.__name__}", (base,), methods)


LIE_TARGETS = ["127.0.0.1", "203.0.113.66", "https", "good.example", "/p"]


@st.composite
def liars(draw: st.DrawFn, text: st.SearchStrategy[str], base: type) -> Any:
    """A str or bytes subclass instance holding *text*, lying or raising."""
    cls = _liar(base, draw(st.sampled_from(LIE_TARGETS)), draw(st.booleans()))
    value = draw(text)
    return cls(value if base is str else value.encode("latin-1"))


@SETTINGS
@given(the_policy=POLICIES, data=st.data())
def test_wsgi_property_lying_subclasses_change_no_later_request(the_policy: TrustPolicy,
                                                                data: st.DataObject) -> None:
    """Invariant: an environ whose REMOTE_ADDR, known headers, SCRIPT_NAME or
    PATH_INFO are str subclasses that lie about their hash and equality, or
    whose methods raise, never makes the middleware raise, is decided as the
    same environ of exact strs, the same on the compiled and Python paths;
    and it changes no later ordinary request (the caches every request
    shares keep no such object): an untrusted peer's forwarded headers are
    still all removed and a trusted one's read as sent."""
    liar = liars(st.sampled_from(["127.0.0.1", "203.0.113.66", "203.0.113.9, 127.0.0.1", "https",
                                  "evil.example", "/p", "/p/x", ""]), str)
    keys = data.draw(st.lists(st.sampled_from(["REMOTE_ADDR", "SCRIPT_NAME", "PATH_INFO",
                                               *(environ_key(name) for name in KNOWN)]),
                              min_size=1, max_size=4, unique=True))
    environ = base_environ(PROXY)
    for key in keys:
        environ[key] = data.draw(liar)
    exact = {key: str.__str__(value) if isinstance(value, str) else value
             for key, value in environ.items()}
    for kind in (_PurePythonMiddleware, TrustedProxyMiddleware):
        app = WsgiApp()
        middleware = kind(app, the_policy)
        for _ in range(2):
            middleware(dict(environ), None)
            assert app.environ is not None
            liar_decision = app.environ[DECISION_KEY]
            middleware(dict(exact), None)
            assert decision_data(liar_decision) == decision_data(app.environ[DECISION_KEY])
        for peer in ("203.0.113.66", PROXY):
            later = base_environ(peer, HTTP_X_FORWARDED_FOR="198.51.100.7",
                                 HTTP_X_FORWARDED_HOST="good.example")
            middleware(later, None)
            decision = later[DECISION_KEY]
            assert decision.trusted is (peer == PROXY)
            if peer != PROXY:
                assert "HTTP_X_FORWARDED_FOR" not in later
                assert later["REMOTE_ADDR"] == peer
            elif "X-Forwarded-Host" in the_policy.trusted_headers:
                assert later["HTTP_HOST"] == "good.example"


@SETTINGS
@given(the_policy=POLICIES, data=st.data())
def test_asgi_property_lying_subclasses_change_no_later_request(the_policy: TrustPolicy,
                                                                data: st.DataObject) -> None:
    """Invariant: header entries whose names or values are bytes or str
    subclasses that lie about their hash and equality, or whose methods
    raise, and a client host of such a str, never make the middleware raise,
    give the same scope and Decision on the compiled and Python paths, and
    change no later ordinary scope: an untrusted peer's forwarded headers are
    still all removed (the names cache keeps exact bytes only)."""
    names_text = st.sampled_from(["x-forwarded-for", "X-Forwarded-Host", "user-agent", "host",
                                  "x_forwarded_for", "forwarded"])
    entries = st.lists(st.tuples(st.one_of(liars(names_text, bytes), liars(names_text, str),
                                           names_text.map(str.encode)),
                                 st.one_of(liars(st.sampled_from(TEXTS), bytes),
                                           st.sampled_from(TEXTS).map(str.encode))),
                       max_size=4)
    headers = data.draw(entries)
    client = data.draw(st.one_of(st.just((PROXY, 1)),
                                 st.builds(lambda host: (host, 1),
                                           liars(st.sampled_from([PROXY, "203.0.113.66"]), str))))
    scope = make_scope(client, headers)
    answers = []
    for kind in (asgi_module._PurePythonMiddleware, asgi_module.TrustedProxyMiddleware):
        app = AsgiApp()
        middleware = kind(app, the_policy)
        for _ in range(2):
            seen = asgi_run(kind, the_policy, scope, times=1)
            orig, decision = info(seen)
            answers.append((norm({k: v for k, v in seen.items() if k != "extensions"}),
                            norm(orig), decision_data(decision)))
            coroutine = middleware(scope, None, None)
            with pytest.raises(StopIteration):
                coroutine.send(None)
        for peer in ("203.0.113.66", PROXY):
            later = make_scope((peer, 1), [(b"x-forwarded-for", b"198.51.100.7"),
                                           (b"user-agent", b"u"), (b"x-forwarded-host", b"h")])
            coroutine = middleware(later, None, None)
            with pytest.raises(StopIteration):
                coroutine.send(None)
            assert app.scope is not None
            decision = info(app.scope)[1]
            assert decision.trusted is (peer == PROXY)
            kept = [entry[0] for entry in app.scope["headers"]
                    if entry[0] in (b"x-forwarded-for", b"x-forwarded-host")]
            if peer != PROXY:
                assert kept == []
            else:
                assert all(name.decode() in decision.kept for name in kept)
    assert all(answer == answers[0] for answer in answers)
