"""Attacks on session 13's request-path code (odd values, copies, the compiled call).

Each test here fails on main at abbe539 (a few parametrizations, kept as guards, pass there).

The common thread: a ``str``, ``bytes`` or ``bytearray`` subclass was read as
one *through its own methods*, and remembered. The engine's caches (peer
trust, parsed values) and the ASGI adapter's header-names cache are shared by
every later request of every middleware of the policy, and a dict compares a
key it holds with the stored key's ``__eq__``: one scope or environ with a
lying subclass made later ordinary requests, from other peers, trusted or
rewritten; one with a raising method made the middleware raise. Now a
subclass is read as its text (or bytes) alone, without calling anything its
class defines, and only exact ``str`` and ``bytes`` go into a cache.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from test_odd_values import (
    ASGI_KINDS,
    CLIENT,
    PROXY,
    WSGI_KINDS,
    WsgiApp,
    asgi_run,
    base_environ,
    info,
    make_scope,
    names,
    policy,
    wsgi_run,
)

from trustedproxy import TrustPolicy
from trustedproxy import asgi as asgi_module
from trustedproxy.wsgi import DECISION_KEY, ORIG_KEY
from trustedproxy.wsgi import TrustedProxyMiddleware as WSGI_BASE
from trustedproxy.wsgi import _PurePythonMiddleware as WSGI_PURE

ATTACKER = "203.0.113.66"


class PoseAs(str):
    """A str that hashes as ATTACKER and says it equals everything."""

    def __hash__(self) -> int:
        return hash(ATTACKER)

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False


class Boom(RuntimeError):
    """What the raising subclasses raise."""


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise Boom("a method of the value's class ran")


class RaisingStr(str):
    """A str each of whose overridable methods the adapters might call raises."""

    __hash__ = _boom  # type: ignore[assignment]
    __eq__ = _boom  # type: ignore[assignment]
    __ne__ = _boom  # type: ignore[assignment]
    __add__ = _boom  # type: ignore[assignment]
    __radd__ = _boom
    __len__ = _boom  # type: ignore[assignment]
    __bool__ = _boom
    __getitem__ = _boom  # type: ignore[assignment]
    __iter__ = _boom  # type: ignore[assignment]
    startswith = _boom  # type: ignore[assignment]
    endswith = _boom  # type: ignore[assignment]
    strip = _boom  # type: ignore[assignment]
    split = _boom  # type: ignore[assignment]
    count = _boom  # type: ignore[assignment]
    lower = _boom  # type: ignore[assignment]
    isascii = _boom  # type: ignore[assignment]
    encode = _boom  # type: ignore[assignment]


class RaisingBytes(bytes):
    """Bytes whose __bytes__ (what bytes() calls) and other methods raise."""

    __bytes__ = _boom
    __hash__ = _boom  # type: ignore[assignment]
    __eq__ = _boom  # type: ignore[assignment]
    __ne__ = _boom  # type: ignore[assignment]
    __add__ = _boom  # type: ignore[assignment]
    __radd__ = _boom
    __len__ = _boom  # type: ignore[assignment]
    __getitem__ = _boom  # type: ignore[assignment]
    lower = _boom  # type: ignore[assignment]
    decode = _boom  # type: ignore[assignment]


class RaisingBytearray(bytearray):
    """A bytearray whose __bytes__ and other methods raise."""

    __bytes__ = _boom
    __len__ = _boom  # type: ignore[assignment]
    __getitem__ = _boom  # type: ignore[assignment]
    copy = _boom  # type: ignore[assignment]
    decode = _boom  # type: ignore[assignment]


class RaisingList(list):  # type: ignore[type-arg]
    """A list whose __len__ and __getitem__ raise."""

    __len__ = _boom  # type: ignore[assignment]
    __getitem__ = _boom  # type: ignore[assignment]
    __iter__ = _boom  # type: ignore[assignment]


# --------------------------------------------------------------------------- WSGI


@WSGI_KINDS
@pytest.mark.parametrize("xff", [True, False], ids=["with XFF", "no header"])
def test_wsgi_subclass_peer_does_not_poison_the_trust_cache(kind: Any, xff: bool) -> None:
    """On main a str subclass REMOTE_ADDR holding a trusted address was kept as
    a key of the engine's peer-trust cache: a later request from ATTACKER (an
    untrusted peer, whose text hashes the same) found it, its __eq__ said
    equal, and ATTACKER was trusted: its X-Forwarded-For became REMOTE_ADDR."""
    app = WsgiApp()
    middleware = kind(app, policy(["X-Forwarded-For"]))
    first = base_environ(PoseAs(PROXY), HTTP_X_FORWARDED_FOR=CLIENT)
    middleware(first, None)
    assert first["REMOTE_ADDR"] == CLIENT  # the subclass is read as its text: a proxy
    assert type(first[DECISION_KEY].peer) is str
    for _ in range(3):
        environ = base_environ(ATTACKER, **({"HTTP_X_FORWARDED_FOR": "6.6.6.6"} if xff else {}))
        middleware(environ, None)
        assert environ["REMOTE_ADDR"] == ATTACKER
        assert not environ[DECISION_KEY].trusted
        assert "HTTP_X_FORWARDED_FOR" not in environ


@WSGI_KINDS
def test_wsgi_subclass_value_does_not_poison_the_value_cache(kind: Any) -> None:
    """On main a str subclass X-Forwarded-Host was remembered in the engine's
    parse cache under itself: a later request's ``good.example`` found it
    (same hash, its __eq__ said equal) and HTTP_HOST became ``evil.example``,
    a value no request of that peer had sent."""

    class HostPose(str):
        def __hash__(self) -> int:
            return hash("good.example")

        def __eq__(self, other: object) -> bool:
            return True

        def __ne__(self, other: object) -> bool:
            return False

    app = WsgiApp()
    middleware = kind(app, policy(["X-Forwarded-Host"]))
    first = base_environ(HTTP_X_FORWARDED_HOST=HostPose("evil.example"))
    middleware(first, None)
    assert first["HTTP_HOST"] == "evil.example"  # what that request's trusted proxy sent
    for _ in range(3):
        environ = base_environ(HTTP_X_FORWARDED_HOST="good.example")
        middleware(environ, None)
        assert environ["HTTP_HOST"] == "good.example"


@WSGI_KINDS
@pytest.mark.parametrize("key", ["REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
                                 "HTTP_X_FORWARDED_PREFIX", "SCRIPT_NAME", "PATH_INFO"])
@pytest.mark.parametrize("unix", [False, True], ids=["", "trust_unix_socket"])
def test_wsgi_subclass_methods_never_run(kind: Any, key: str, unix: bool) -> None:
    """A str subclass anywhere the middleware reads is read as its text: none
    of its methods runs (on main its __hash__, __eq__, __radd__, count or
    startswith ran, and raised out of the middleware), and the request is
    decided as for the exact str. Run twice in one middleware, and then an
    ordinary request, which a remembered subclass would make raise."""
    the_policy = policy(["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Prefix"],
                        strip_prefix_from_path=True, trust_unix_socket=unix)
    values = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": CLIENT,
              "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_PREFIX": "/p",
              "SCRIPT_NAME": "/s", "PATH_INFO": "/p/x"}
    plain = wsgi_run(kind, the_policy, base_environ(**values))
    odd = {**values, key: RaisingStr(values[key])}
    app = WsgiApp()
    middleware = kind(app, the_policy)
    for _ in range(2):
        seen = base_environ(**odd)
        middleware(seen, None)
        for name in ("REMOTE_ADDR", "wsgi.url_scheme", "SCRIPT_NAME", "PATH_INFO"):
            if seen[name] is not odd.get(name):
                assert type(seen[name]) is str
                assert str.__str__(seen[name]) == plain[name], name
        assert seen[DECISION_KEY] == plain[DECISION_KEY]
        assert seen[ORIG_KEY].keys() >= plain[ORIG_KEY].keys()  # a subclass is replaced
    again = base_environ(**values)
    middleware(again, None)
    assert again[DECISION_KEY] == plain[DECISION_KEY]


def test_engine_evaluate_and_is_trusted_read_a_subclass_peer_as_text() -> None:
    """The public engine API: a str subclass peer is read as its text, and the
    trust cache keeps exact str keys only."""
    engine = TrustPolicy(trusted_proxies=[PROXY], trusted_headers=["X-Forwarded-For"]).compile()
    assert engine.is_trusted(PoseAs(PROXY))
    assert not engine.is_trusted(ATTACKER)
    assert engine.evaluate(PoseAs(PROXY), {"X-Forwarded-For": CLIENT}).client == CLIENT
    assert not engine.evaluate(ATTACKER, {"X-Forwarded-For": "6.6.6.6"}).trusted
    assert all(type(key) is str for key in engine._cache)
    assert all(type(key) is str for key in engine._plain)


# --------------------------------------------------------------------------- ASGI


def raw(value: object) -> object:
    """A bytes or bytearray (subclass) value's bytes, read without its methods."""
    if isinstance(value, bytearray):
        return bytes(bytearray.copy(value))
    if isinstance(value, bytes):
        return bytes.__getitem__(value, slice(None))
    return value


class Flip(bytes):
    """A name that misses the names cache when looked up, then, stored,
    takes the slot of ``x-forwarded-for`` (its __eq__ says equal from the
    second call on) with its own meaning: ``user-agent``, no forwarded header."""

    def __hash__(self) -> int:
        return hash(b"x-forwarded-for")

    def __eq__(self, other: object) -> bool:
        calls = self.__dict__.setdefault("calls", [])
        calls.append(other)
        return len(calls) > 1

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)


@ASGI_KINDS
def test_asgi_subclass_name_does_not_poison_the_names_cache(kind: Any) -> None:
    """On main a bytes subclass name was remembered in the adapter's names
    cache, which every later request reads: Flip replaced the entry of
    ``x-forwarded-for`` with "not a forwarded header", and every later
    request's X-Forwarded-For, from an untrusted peer too, reached the
    application (compiled and Python paths both read that cache)."""
    app_scope: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        app_scope.append(scope)

    middleware = kind(app, policy(["X-Forwarded-For"]))

    def run(scope: dict[str, Any]) -> dict[str, Any]:
        coroutine = middleware(scope, None, None)
        with pytest.raises(StopIteration):
            coroutine.send(None)
        return app_scope[-1]

    run(make_scope((ATTACKER, 1), [(Flip(b"user-agent"), b"x")]))
    for _ in range(3):
        seen = run(make_scope((ATTACKER, 1), [(b"x-forwarded-for", b"6.6.6.6")]))
        assert names(seen) == [b"host", b"user-agent"]
        assert info(seen)[1].removed == ("x-forwarded-for",)


class Masked(bytes):
    """``x-forwarded-for`` that hashes and compares as ``user-agent``."""

    def __hash__(self) -> int:
        return hash(b"user-agent")

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False


class MaskedStr(str):
    """``x-forwarded-for`` as a str that hashes as ``user-agent`` bytes."""

    def __hash__(self) -> int:
        return hash(b"user-agent")

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False


@ASGI_KINDS
@pytest.mark.parametrize("make", [Masked, lambda text: MaskedStr(text.decode())],
                         ids=["bytes", "str"])
def test_asgi_masked_name_of_a_known_header_is_removed(kind: Any, make: Any) -> None:
    """A name whose text is ``x-forwarded-for`` but whose __hash__ and __eq__
    say ``user-agent`` (remembered as no forwarded header by an earlier
    request) passed the fast scan on main as "not a forwarded header", and
    reached the application from an untrusted peer. Names are now looked up
    only when exactly bytes; any other is read from its memory."""
    seen = asgi_run(kind, policy(["X-Forwarded-For"]),
                    make_scope((ATTACKER, 1), [(make(b"x-forwarded-for"), b"6.6.6.6")]))
    assert names(seen) == [b"host", b"user-agent"]
    assert info(seen)[1].removed == ("x-forwarded-for",)


@ASGI_KINDS
@pytest.mark.parametrize("cls", [RaisingBytes, RaisingBytearray])
@pytest.mark.parametrize("where", ["name", "value", "host name", "host value", "raw_path"])
@pytest.mark.parametrize("peer", [PROXY, ATTACKER], ids=["trusted", "untrusted"])
def test_asgi_bytes_subclass_methods_never_run(kind: Any, cls: Any, where: str,
                                                peer: str) -> None:
    """A bytes or bytearray subclass is read from its memory: its __bytes__
    (what ``bytes()`` calls, which raised out of the middleware on main for a
    forwarded header's value or a bytearray name) and other methods never
    run; a known header with such a name or value is read as its bytes, a
    forwarded header removed from an untrusted peer as any."""
    headers: list[Any] = [(b"host", b"backend:8000"), (b"x-forwarded-for", CLIENT.encode()),
                          (b"x-forwarded-prefix", b"/p")]
    extra: dict[str, Any] = {}
    if where == "name":
        headers[1] = (cls(b"x-forwarded-for"), CLIENT.encode())
    elif where == "value":
        headers[1] = (b"x-forwarded-for", cls(CLIENT.encode()))
    elif where == "host name":
        headers[0] = (cls(b"host"), b"backend:8000")
    elif where == "host value":
        headers[0] = (b"host", cls(b"backend:8000"))
    else:
        extra["raw_path"] = cls(b"/x")
    the_policy = policy(["X-Forwarded-For", "X-Forwarded-Prefix"])
    scope = make_scope((peer, 1), [], **extra)
    scope["headers"] = headers
    seen = asgi_run(kind, the_policy, scope)
    decision = info(seen)[1]
    assert decision.trusted is (peer == PROXY)
    known = [entry for entry in seen["headers"]
             if raw(entry[0]) in (b"x-forwarded-for", b"x-forwarded-prefix")]
    if peer == PROXY:
        assert decision.client == CLIENT
        assert seen["client"] == (CLIENT, 0)
        assert seen["root_path"] == "/p"
    else:
        assert known == []
        assert seen["client"] == (peer, 1)


@ASGI_KINDS
@pytest.mark.parametrize("field", ["client host", "client list", "server list", "root_path",
                                   "path"])
def test_asgi_subclass_fields_never_run_their_methods(kind: Any, field: str) -> None:
    """``client``, ``server``, ``root_path`` and ``path`` of a str or list
    subclass are read from their memory: on main a list subclass client or
    server's __len__, or a str subclass host's __hash__, raised out of the
    middleware."""
    headers = [(b"x-forwarded-for", CLIENT.encode()), (b"x-forwarded-prefix", b"/p"),
               (b"x-forwarded-port", b"8443")]
    scope = make_scope((PROXY, 1), headers)
    if field == "client host":
        scope["client"] = (RaisingStr(PROXY), 1)
    elif field == "client list":
        scope["client"] = RaisingList([PROXY, 1])
    elif field == "server list":
        scope["server"] = RaisingList(["backend", 8000])
    else:
        scope[field] = RaisingStr({"root_path": "", "path": "/x"}[field])
    the_policy = policy(["X-Forwarded-For", "X-Forwarded-Prefix", "X-Forwarded-Port"])
    seen = asgi_run(kind, the_policy, scope)
    decision = info(seen)[1]
    assert decision.trusted
    assert type(decision.peer) is str
    assert seen["client"] == (CLIENT, 0)
    assert seen["server"] == ("backend", 8443)
    assert seen["root_path"] == "/p"
    assert seen["path"] == "/p/x"


@ASGI_KINDS
def test_asgi_names_cache_holds_exact_bytes_only(kind: Any) -> None:
    """After scopes with names of every readable type, the shared names cache
    holds exact bytes keys only (what a dict lookup compares without running
    anything a client or server defined)."""
    middleware = kind(lambda *a: None, policy())
    entries = [(Masked(b"x-one"), b"v"), (bytearray(b"X-Two"), b"v"),
               (memoryview(b"x-three"), b"v"), ("x-four", b"v"), (b"X-Five", b"v")]
    for entry in entries:
        scope = make_scope(headers=[entry])
        prepare = middleware._prepare
        if prepare is None or prepare(middleware._config, scope) is None:
            middleware._prepare_python(scope)
    assert all(type(key) is bytes for key in middleware._names.seen)
    assert isinstance(middleware, asgi_module.TrustedProxyMiddleware)


# --------------------------------------------------------------------------- copies


class SlottedWsgi(WSGI_BASE):  # type: ignore[misc,valid-type]
    """A WSGI middleware subclass keeping attributes in __slots__ (one private)."""

    __slots__ = ("__secret", "tag")

    def secret(self) -> object:
        return self.__secret

    def set_secret(self, value: object) -> None:
        self.__secret = value


class SlottedPure(WSGI_PURE):  # type: ignore[misc,valid-type]
    """The same on the pure-Python path."""

    __slots__ = ("tag",)


@pytest.mark.parametrize("cls", [SlottedWsgi, SlottedPure], ids=["compiled", "pure"])
@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_wsgi_copy_keeps_a_subclass_slots(cls: Any, how: str) -> None:
    """``TrustedProxyMiddleware.__reduce__`` promises a copy "with every other
    attribute a subclass gave it": on main the attributes a subclass keeps in
    ``__slots__`` were lost (only ``vars(self)`` was copied)."""
    middleware = cls(WsgiApp(), policy())
    middleware.tag = ["t"]
    if isinstance(middleware, SlottedWsgi):
        middleware.set_secret("s")
    made = {"copy": copy.copy, "deepcopy": copy.deepcopy,
            "pickle": lambda m: pickle.loads(pickle.dumps(m))}[how](middleware)
    assert type(made) is cls
    assert made.tag == ["t"]
    assert (made.tag is middleware.tag) is (how == "copy")
    if isinstance(made, SlottedWsgi):
        assert made.secret() == "s"
    environ = base_environ(HTTP_X_FORWARDED_FOR=CLIENT)
    made(environ, None)
    assert environ["REMOTE_ADDR"] == CLIENT


# --------------------------------------------------------------------------- extensions


class RaisingBool:
    """An object whose truth value raises."""

    def __bool__(self) -> bool:
        raise Boom("__bool__ ran")


class RaisingKeys(dict):  # type: ignore[type-arg]
    """A dict subclass that cannot be copied by ``dict()``."""

    def keys(self) -> Any:
        raise Boom("keys ran")

    def __iter__(self) -> Any:
        raise Boom("__iter__ ran")


@ASGI_KINDS
@pytest.mark.parametrize("extensions", [5, ["x"], "ab", RaisingBool(), RaisingKeys(a=1)],
                         ids=["int", "list", "str", "raising bool", "raising dict"])
@pytest.mark.parametrize("peer", [PROXY, ATTACKER], ids=["trusted", "untrusted"])
def test_asgi_extensions_of_the_wrong_type(kind: Any, extensions: Any, peer: str) -> None:
    """A scope ``extensions`` that ``dict()`` cannot read raised out of the
    middleware on main (TypeError, ValueError, or what its methods raise),
    compiled and pure. Now the application gets an extensions dict holding
    ours alone, and the value given is kept in ``orig["extensions"]``."""
    scope = make_scope((peer, 1), [(b"x-forwarded-for", CLIENT.encode())],
                       extensions=extensions)
    seen = asgi_run(kind, policy(), scope)
    assert list(seen["extensions"]) == [asgi_module.EXTENSION_KEY]
    orig, decision = info(seen)
    assert orig["extensions"] is extensions
    assert decision.trusted is (peer == PROXY)
    assert scope["extensions"] is extensions


@ASGI_KINDS
@pytest.mark.parametrize("extensions", [None, {}, {"tls": {}}, (("tls", 1),)],
                         ids=["None", "empty", "dict", "pairs"])
def test_asgi_extensions_readable(kind: Any, extensions: Any) -> None:
    """Extensions ``dict()`` reads are copied as before; ``orig`` has no
    ``extensions`` then (a guard: passes on main)."""
    seen = asgi_run(kind, policy(), make_scope(headers=[(b"x-forwarded-for", b"1.2.3.4")],
                                               extensions=extensions))
    expected = dict(extensions or {})
    assert {k: v for k, v in seen["extensions"].items()
            if k != asgi_module.EXTENSION_KEY} == expected
    assert "extensions" not in info(seen)[0]


_LOAD_AND_RUN = """
import pickle, sys
middleware = pickle.loads(sys.stdin.buffer.read())
seen = []
async def app(scope, receive, send):
    seen.append(scope)
middleware.app = app
scope = {"type": "http", "client": ("127.0.0.1", 1), "headers": [(b"x-forwarded-for", b"%s")]}
coroutine = middleware(scope, None, None)
try:
    coroutine.send(None)
except StopIteration:
    pass
print(seen[0]["client"][0], middleware._prepare is None)
"""


@pytest.mark.skipif(not asgi_module.SPEEDUPS, reason="the compiled path is not in use here")
@pytest.mark.parametrize("kind", [asgi_module.TrustedProxyMiddleware,
                                  asgi_module._PurePythonMiddleware], ids=["compiled", "pure"])
def test_asgi_pickle_loads_where_the_speedups_are_not_used(kind: Any) -> None:
    """An ASGI middleware pickled where the compiled path is used, loaded in
    a process where it is not (``TRUSTEDPROXY_PURE_PYTHON=1``, or a platform
    that leaves the extension unused): on main the copy kept the compiled
    ``asgi_prepare`` and a decider without ``_decide``, and every request
    raised AttributeError. Now the copy is set up anew where it is loaded."""
    import operator
    import os
    import subprocess
    import sys
    from pathlib import Path

    middleware = kind(operator.truth, policy(["X-Forwarded-For"]))
    root = Path(asgi_module.__file__).resolve().parent.parent
    env = {**os.environ, "TRUSTEDPROXY_PURE_PYTHON": "1",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _LOAD_AND_RUN % CLIENT],
                          input=pickle.dumps(middleware), capture_output=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == [CLIENT, "True"]


class SaysEqual(str):
    """A str that says it equals, and differs from, everything."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


@ASGI_KINDS
@pytest.mark.parametrize("kind_text", ["http", "websocket"])
def test_asgi_type_str_subclass_is_read_as_its_text(kind: Any, kind_text: str) -> None:
    """On main a scope ``type`` that says it differs from ``http`` and from
    ``websocket`` (and equals ``http`` to the application) was passed on
    untouched: an untrusted peer's X-Forwarded-For reached the application;
    and an ``http`` one that says it equals ``websocket`` got ``wss``. Now a
    str subclass type is read as its text, and one of any other type is
    never compared (an object whose __ne__ raises made the middleware raise)."""
    the_policy = policy()
    scope = make_scope((ATTACKER, 1), [(b"x-forwarded-for", b"6.6.6.6")],
                       type=SaysEqual(kind_text))
    seen = asgi_run(kind, the_policy, scope)
    assert names(seen) == [b"host", b"user-agent"]
    trusted = asgi_run(kind, the_policy, make_scope(
        (PROXY, 1), [(b"x-forwarded-proto", b"https")], type=SaysEqual(kind_text)))
    assert trusted["scheme"] == ("wss" if kind_text == "websocket" else "https")


class RaisingCompare:
    """A value whose comparisons raise."""

    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__ ran")

    def __ne__(self, other: object) -> bool:
        raise Boom("__ne__ ran")

    __hash__ = object.__hash__


@ASGI_KINDS
def test_asgi_type_of_another_type_is_never_compared(kind: Any) -> None:
    """A ``type`` that is not a str is no http nor websocket scope: passed on
    as the very scope (as ``lifespan``), its comparisons never run (they
    raised out of the pure-Python middleware on main)."""
    scope = make_scope((ATTACKER, 1), [], type=RaisingCompare())
    app_scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        app_scopes.append(scope)

    coroutine = kind(app, policy())(scope, None, None)
    with pytest.raises(StopIteration):
        coroutine.send(None)
    assert app_scopes[0] is scope


def test_is_trusted_reads_a_str_subclass_by_its_text() -> None:
    """``TrustEngine.is_trusted`` given a str subclass that lies about its hash
    and equality answers for its text: the cache of peers seen before is not
    asked through the subclass's ``__hash__``/``__eq__`` (it answered with a
    trusted peer's entry before)."""
    from trustedproxy import TrustPolicy

    class PoseAs(str):
        def __hash__(self) -> int:
            return hash("127.0.0.1")

        def __eq__(self, other: object) -> bool:
            return True

        __ne__ = None  # type: ignore[assignment]

    engine = TrustPolicy(trusted_proxies=["127.0.0.1"],
                         trusted_headers=["X-Forwarded-For"]).compile()
    assert engine.is_trusted("127.0.0.1")  # remembered
    assert engine.is_trusted(PoseAs("203.0.113.66")) is False
    assert engine.is_trusted("203.0.113.66") is False
