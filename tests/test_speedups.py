"""The compiled request path (``trustedproxy._speedups``) against the Python reference.

``TrustedProxyMiddleware.__call__`` is the compiled ``_speedups.Core.__call__``
when the extension is built (``SPEEDUPS``); ``_PurePythonMiddleware`` always
takes the Python reference, ``_call_python``. The compiled path handles a
request itself only when the engine's caches are warm, so every request here
is sent several times to the same middleware, and each answer is compared
with the reference's: the environ the application saw (every key), the
originals in ``trustedproxy.orig``, the Decision (``removed`` as a set: its
order is unspecified) and what the call returned or raised.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import random
import sys
import threading
import tracemalloc
import weakref
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import run_threads

from trustedproxy import Decision, TrustPolicy
from trustedproxy.headers import HEADERS, Group
from trustedproxy.wsgi import SPEEDUPS, TrustedProxyMiddleware, _PurePythonMiddleware

pytestmark = pytest.mark.skipif(
    not SPEEDUPS, reason="trustedproxy._speedups is not built (no C compiler at install "
                         "time) or TRUSTEDPROXY_PURE_PYTHON is set: no compiled path to test")

ORIG_KEY = "trustedproxy.orig"
DECISION_KEY = "trustedproxy.decision"
MISSING = object()  # a key left out of the environ


class StrSub(str):
    """A str subclass, as an unusual environ value."""


class Sticky(str):
    """A str subclass that never compares unequal."""

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


class Touchy:
    """A value that cannot be compared."""

    def __ne__(self, other: object) -> bool:
        raise ValueError("not comparable")

    def __eq__(self, other: object) -> bool:
        raise ValueError("not comparable")

    __hash__ = object.__hash__


class EnvironSub(dict):  # type: ignore[type-arg]
    """A plain dict subclass, as a server might pass for an environ."""


class WatchedEnviron(dict):  # type: ignore[type-arg]
    """A dict subclass whose reads and writes go through overridden methods
    (the Python reference uses ``get``, ``[]``, ``pop`` and ``[] =``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: set[str] = set()
        self.popped: set[str] = set()

    def __setitem__(self, key: str, value: Any) -> None:
        self.written.add(key)
        super().__setitem__(key, value)

    def pop(self, key: str, *default: Any) -> Any:
        self.popped.add(key)
        return super().pop(key, *default)

    def get(self, key: str, default: Any = None) -> Any:
        # Reads the value through the subclass: a value stored as "@x" reads as "x".
        value = super().get(key, default)
        return value[1:] if isinstance(value, str) and value.startswith("@") else value

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return value[1:] if isinstance(value, str) and value.startswith("@") else value


# --------------------------------------------------------------------------- comparing


def norm(value: Any) -> Any:
    """*value* as comparable data that keeps its exact type (a str subclass
    is not a str, True is not 1)."""
    if isinstance(value, dict):
        return ("dict", type(value).__qualname__,
                {norm(k): norm(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value).__qualname__, tuple(norm(v) for v in value))
    if value is None or isinstance(value, (str, bytes, int, float)):
        return (type(value).__qualname__, value)
    return (type(value).__qualname__,)  # an object: its type only (runs use copies)


def decision_data(decision: Any) -> Any:
    """The Decision as data (``dataclasses.asdict``), ``removed`` as a set."""
    if not isinstance(decision, Decision):
        return ("not a Decision", norm(decision))
    data = dataclasses.asdict(decision)
    removed = data.pop("removed")
    return (type(decision).__qualname__, norm(data), type(removed).__qualname__,
            frozenset(norm(r) for r in removed), len(removed))


def snapshot(environ: dict[str, Any]) -> dict[str, Any]:
    """Everything in *environ*, the decision as :func:`decision_data`."""
    out = {}
    for key, value in dict.items(environ):
        out[key] = decision_data(value) if key == DECISION_KEY else norm(value)
    return out


class App:
    """A WSGI application that records what it was called with."""

    def __init__(self, result: Any = None, error: BaseException | None = None,
                 record: bool = True) -> None:
        self.result = [b"body"] if result is None else result
        self.error = error
        self.record = record
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.record:
            self.calls.append((environ, type(environ), snapshot(environ), start_response))
        if self.error is not None:
            raise self.error
        return self.result


def start_response(status: str, headers: list[tuple[str, str]],
                   exc_info: Any = None) -> Callable[[bytes], None]:
    return lambda body: None


def outcome(middleware: TrustedProxyMiddleware, environ: dict[str, Any]) -> Any:
    """Call *middleware* with *environ*; what the app saw, what came back, and
    the environ afterwards, as comparable data."""
    app = middleware.app
    assert isinstance(app, App)
    app.calls.clear()
    try:
        returned = middleware(environ, start_response)
    except Exception as exc:  # the same exception is expected from both paths
        result: Any = ("raised", type(exc).__qualname__, str(exc))
    else:
        result = ("returned", returned is app.result)
    seen = [(env is environ, kind.__qualname__, snap, sr is start_response)
            for env, kind, snap, sr in app.calls]
    return result, seen, type(environ).__qualname__, snapshot(environ)


def middlewares(policy_kwargs: dict[str, Any]
                ) -> tuple[TrustedProxyMiddleware, list[TrustedProxyMiddleware]]:
    """The reference middleware and compiled ones: one with an engine of its
    own (cold caches), one sharing the reference's engine (caches the
    reference filled)."""
    reference_policy = TrustPolicy(**policy_kwargs)
    reference = _PurePythonMiddleware(App(), reference_policy)
    own = TrustedProxyMiddleware(App(), TrustPolicy(**policy_kwargs))
    assert own.engine is not reference.engine
    shared = TrustedProxyMiddleware(App(), reference_policy)
    assert type(own).__call__ is not type(reference).__call__
    return reference, [own, shared]


def clone(environ: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of *environ*, of its type (a WatchedEnviron starts unwatched)."""
    if isinstance(environ, WatchedEnviron):
        return WatchedEnviron(copy.deepcopy(dict(environ)))
    return copy.deepcopy(environ)


def assert_same(policy_kwargs: dict[str, Any], environs: Iterable[dict[str, Any]],
                rounds: int = 3) -> list[Any]:
    """Send each environ *rounds* times (interleaved) through the reference and
    the compiled middlewares; assert every answer is the same. Returns the
    reference's answers, last round."""
    reference, compiled = middlewares(policy_kwargs)
    environs = list(environs)
    answers: list[Any] = []
    for round_ in range(rounds):
        answers = []
        for i, environ in enumerate(environs):
            expected = outcome(reference, clone(environ))
            # No value in the environ, of any type, makes the middleware raise.
            assert expected[0] == ("returned", True), (
                f"round {round_ + 1}, request {i}: {expected[0]}\n"
                f"policy: {policy_kwargs!r}\nenviron: {environ!r}")
            for which, middleware in zip(("own engine", "shared engine"), compiled,
                                         strict=True):
                got = outcome(middleware, clone(environ))
                assert got == expected, (
                    f"round {round_ + 1}, request {i} ({which}): compiled path differs\n"
                    f"policy: {policy_kwargs!r}\nenviron: {environ!r}")
            answers.append(expected)
    return answers


def seen_environ(answer: Any) -> dict[str, Any]:
    """The environ the application saw, from an :func:`outcome` (values plain)."""
    (_, seen, _, _) = answer
    assert len(seen) == 1
    return {k: (v if k == DECISION_KEY else v[1] if len(v) == 2 else v)
            for k, v in seen[0][2].items()}


# --------------------------------------------------------------------------- strategies

TRUSTED_V4 = ["10.0.0.1", "10.0.0.2", "10.1.2.3", "10.255.255.255", "192.0.2.10", "127.0.0.1",
              "172.16.0.9"]
TRUSTED_V6 = ["::1", "2001:db8::1", "2001:DB8::A", "2001:db8:0:0:0:0:0:2", "::ffff:10.0.0.3",
              "::ffff:a00:4", "fe80::1"]
UNTRUSTED = ["203.0.113.9", "198.51.100.7", "8.8.8.8", "0.0.0.0", "255.255.255.255",
             "2001:db9::1", "::ffff:203.0.113.1", "::", "::10.0.0.1", "2001:db8:1::9"]
PROXIES = ["10.0.0.0/8", "10.1.2.3", "192.0.2.10", "127.0.0.1", "172.16.0.0/12",
           "2001:db8::/32", "2001:db8::5", "::1", "fe80::/10", "::ffff:10.0.0.0/104",
           "203.0.113.0/24", "0.0.0.0/0", "::/0", "loopback"]
JUNK = ["unknown", "_hidden", "1.2.3", "01.2.3.4", "1.2.3.4.5", "256.1.1.1", "example.com",
        "[1.2.3.4]", "[::1", "::1]", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:080",
        "1.2.3.4:+80", "1.2.3.4:\u0668\u0660", "[::1]:", "[::1]x", "[::1]:99999",
        "fe80::1%eth0", "10.0.0.1\x00", "10.0.0.1\x00junk", "\udc80", "\uff11.2.3.4",
        "10.0.0.1\u00a0", "\u00e9", "x" * 300, "1" * 50, "10.0.0.1 10.0.0.2", "::ffff:1.2.3.4.5",
        "10.0.0.1\r", "\x0b10.0.0.1", "1.2.3.4:80:80", "2001:db8::1:80:80:80:80:80:80",
        "[]", ":", "-", "0x0a.0.0.1", "10.0.0.01", "1e1.0.0.1"]
CUSTOM = {"CF-Connecting-IP": "client", "X-Original-Proto": "scheme",
          "X-Original-Host": "host", "X-Original-Server": "server",
          "X-Original-Port": "port", "X-Original-Prefix": "prefix"}
CUSTOM_ENV = {"HTTP_" + name.upper().replace("-", "_"): group for name, group in CUSTOM.items()}


@st.composite
def address(draw: st.DrawFn) -> str:
    """One address-list element: an address in some form, or junk."""
    kind = draw(st.integers(0, 9))
    if kind >= 8:
        return draw(st.sampled_from(JUNK))
    text = draw(st.sampled_from(TRUSTED_V4 + TRUSTED_V6 + UNTRUSTED))
    if ":" in text:
        form = draw(st.integers(0, 3))
        if form == 1:
            text = f"[{text}]"
        elif form == 2:
            text = f"[{text}]:{draw(st.sampled_from(['443', '1', '65535', '0080']))}"
    elif draw(st.booleans()):
        text = f"{text}:{draw(st.sampled_from(['80', '8443', '1', '65535']))}"
    pad = st.sampled_from(["", "", " ", "\t", "  \t"])
    return draw(pad) + text + draw(pad)


@st.composite
def address_list(draw: st.DrawFn) -> str:
    """X-Forwarded-For-like values: short lists, many hops, very long values."""
    kind = draw(st.integers(0, 9))
    separators = st.sampled_from([",", ", ", " ,", ",\t", ",,", " , , ", "\t,\t", ", ,"])
    if kind <= 6:
        parts = draw(st.lists(address(), max_size=6))
        value = ""
        for i, part in enumerate(parts):
            value += (draw(separators) if i else "") + part
        if draw(st.integers(0, 5)) == 0:
            value = draw(st.sampled_from([",", ", ", " ", ",,"])) + value
        if draw(st.integers(0, 5)) == 0:
            value += draw(st.sampled_from([",", ", ", " ", ",,"]))
        return value
    if kind == 7:  # many hops: trusted proxies, a client further left
        hops = draw(st.integers(2, 45))
        return ", ".join([draw(st.sampled_from(UNTRUSTED))] +
                         [draw(st.sampled_from(TRUSTED_V4 + TRUSTED_V6)) for _ in range(hops)])
    if kind == 8:  # long: past the fast walk's whole-header limit and the value limit
        element = draw(address())
        count = draw(st.sampled_from([70, 150, 260, 400]))
        return ", ".join([element] * count) + ", " + draw(address())
    return draw(st.text(alphabet="0123456789abcdef:.[], \t;_%x", max_size=60))


WORDS = ["http", "https", "HTTP", "HTTPS", "Https", "hTtPs", "ws", "wss", "WSS", "Ws", "ftp",
         "", " https ", "\thttps", "https,http", "https, http", "http , https", "h ttps",
         "https\x00", "\uff28TTPS", "https\r", "http\u017f"]
BOOLS = ["on", "off", "ON", "oN", "true", "True", "FALSE", "1", "0", "yes", "", "  on", "on,off",
         "01", "\u00f6n", "on\x00"]
HOSTS = ["example.com", "example.com:8080", "EXAMPLE.COM", "shop.example:443", "a.b.c.",
         "[::1]", "[::1]:80", "[2001:db8::1]:443", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536",
         "::1", "host:", "exa mple.com", "ex_ample.com", "-a.com", "a..b",
         "xn--bcher-kva.example", "\u00e9.example", "a" * 64 + ".com", "example.com, evil.com",
         "1.2.3", "999.1.1.1", "h:080", "", " example.com ", "[::1", "[1.2.3.4]", "a" * 300]
PORTS = ["443", "80", "1", "0", "65535", "65536", "080", "00443", " 443", "+1", "-1",
         "\u0663", "", "443,80", "1e3", "99999", "443 "]
PREFIXES = ["/app", "/app/", "/a//b/", "", "/", "app", "/..", "/a/../b", "/a/./b", "/a?b",
            "/a#b", "/a b", "/a\\b", "/a\x00", "/\u00e9", "//", "/app, /other", "/a\t",
            "/" + "x" * 3000, " /app", "/ap"]
FORWARDED = ["for=203.0.113.9", "for=203.0.113.9;proto=https;host=shop.example",
             "for=203.0.113.9, for=10.0.0.1", 'for="[2001:db8::1]:443";proto=http',
             'For=10.0.0.2;PROTO=HTTPS;Host="a.example:8080"', "for=unknown",
             "for=_hidden, for=10.0.0.1", 'for="10.0.0.1, for=1.2.3.4"',
             'for=1.2.3.4;host="a,b", for=10.0.0.1', "", ";", "garbage",
             "for=10.0.0.1;proto=ftp", "for=10.0.0.1;host=bad_host", 'for="\\"quoted"',
             "for=198.51.100.7;proto=wss, for=[2001:db8::5], for=10.0.0.9"]

GRAMMARS: dict[str, st.SearchStrategy[str]] = {
    "for-list": address_list(),
    "address": st.one_of(address(), address_list()),
    "scheme-word": st.sampled_from(WORDS),
    "scheme-bool": st.sampled_from(BOOLS),
    "host": st.sampled_from(HOSTS),
    "server": st.sampled_from(HOSTS),
    "port": st.sampled_from(PORTS),
    "prefix": st.sampled_from(PREFIXES),
    "forwarded": st.one_of(
        st.sampled_from(FORWARDED),
        st.lists(address(), min_size=1, max_size=4).map(
            lambda parts: ", ".join(f"for={p.strip()}" for p in parts))),
}
#: Well-formed values only, as proxies send them: requests the compiled path
#: finishes itself once the caches are warm.
BARE = TRUSTED_V4 + TRUSTED_V6 + UNTRUSTED
CLEAN: dict[str, st.SearchStrategy[str]] = {
    "for-list": st.lists(st.sampled_from(BARE), min_size=1, max_size=4).flatmap(
        lambda parts: st.sampled_from([", ", ","]).map(lambda sep: sep.join(parts))),
    "address": st.sampled_from(BARE),
    "scheme-word": st.sampled_from(["http", "https", "HTTPS", "wss", "ws"]),
    "scheme-bool": st.sampled_from(["on", "off", "1", "0", "TRUE"]),
    "host": st.sampled_from(["example.com", "example.com:8080", "[::1]:80", "shop.example"]),
    "server": st.sampled_from(["example.com", "backend2"]),
    "port": st.sampled_from(["443", "80", "8443"]),
    "prefix": st.sampled_from(["/app", "/shop/", "", "/a//b", "/"]),
    "forwarded": st.sampled_from(FORWARDED[:5]),
}
ANY_VALUE = st.one_of(*GRAMMARS.values(), st.text(max_size=30))
GROUP_KIND = {"client": "address", "scheme": "scheme-word", "host": "host",
              "server": "server", "port": "port", "prefix": "prefix"}
#: Every header an environ may carry, built-in or custom, with its value grammar.
ENV_KIND = {**{spec.environ_key: spec.kind.value for spec in HEADERS.values()},
            **{key: GROUP_KIND[group] for key, group in CUSTOM_ENV.items()}}

PEERS = [*TRUSTED_V4, "::1", "2001:db8::5", "2001:DB8::5", "::ffff:10.0.0.1",
         "::ffff:192.0.2.10", "fe80::1%eth0", "2001:db8::5%1", *UNTRUSTED[:4], "2001:db9::1",
         "", "/run/app.sock", "unix:/tmp/x", " 10.0.0.1", "010.0.0.1", "[::1]", "10.0.0.1:80",
         "10.0.0.1\x00", "\udc80"]
ODD_PEERS = [MISSING, None, b"10.0.0.1", 167772161, StrSub("10.0.0.1"), StrSub("203.0.113.9"),
             bytearray(b"10.0.0.1"), ["10.0.0.1"], ("10.0.0.1", 80), True, Touchy()]
ODD_VALUES = [None, b"https", 443, StrSub("https"), StrSub("10.0.0.1"), ("10.0.0.1",),
              bytearray(b"10.0.0.1"), ["https"], False, Sticky("https"), Touchy()]


@st.composite
def policy_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments of a valid random TrustPolicy."""
    custom = {name: group for name, group in CUSTOM.items() if draw(st.booleans())}
    by_group: dict[str, list[str]] = {g.value: [] for g in Group}
    for spec in HEADERS.values():
        if spec.kind.value != "forwarded":
            (group,) = spec.groups
            by_group[group.value].append(spec.name)
    for name, group in custom.items():
        by_group[group].append(name)
    headers: list[str] = []
    groups = list(by_group)
    if draw(st.integers(0, 4)) == 0:
        headers.append("Forwarded")
        groups = [g for g in groups if g not in ("client", "scheme", "host")]
    for group in groups:
        if group == "client" and draw(st.booleans()):
            headers.append("X-Forwarded-For")  # the usual one, walked in C
        elif draw(st.integers(0, 2)):
            headers.append(draw(st.sampled_from(by_group[group])))
    proxies = draw(st.lists(st.sampled_from(PROXIES), max_size=4, unique=True))
    if draw(st.integers(0, 3)) and "10.0.0.0/8" not in proxies:
        proxies.append("10.0.0.0/8")  # most clean requests then come from a trusted peer
    unix = draw(st.booleans())
    if headers and not proxies and not unix:
        proxies = ["10.0.0.0/8"]
    kwargs: dict[str, Any] = {
        "trusted_proxies": proxies, "trusted_headers": draw(st.permutations(headers)),
        "custom_headers": custom, "trust_unix_socket": unix,
        "script_name": draw(st.sampled_from(["", "", "/app", "/a/b/", "/mnt", "/\u00e9t\u00e9"])),
        "strip_prefix_from_path": draw(st.integers(0, 3)) == 0,  # then prefixes go to Python
        "max_hops": draw(st.sampled_from([1, 2, 3, 5, 32, 32, 32])),
    }
    if "X-Forwarded-For" in headers:
        kwargs["hop_aligned"] = draw(st.integers(0, 3)) == 0  # then every request does
    return kwargs


@st.composite
def environs(draw: st.DrawFn, trusted: tuple[str, ...] = ()) -> dict[str, Any]:
    """A random WSGI environ: peer, forwarded headers, server-set keys; a clean
    one carries mostly the *trusted* headers (names), with well-formed values."""
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "wsgi.input": None}
    odd = draw(st.integers(0, 19)) == 0  # now and then, a value of an unusual type
    clean = draw(st.booleans())  # half the requests: well-formed, from a trusted peer mostly
    if odd and draw(st.booleans()):
        peer = draw(st.sampled_from(ODD_PEERS))
    elif clean:
        peer = draw(st.sampled_from(["10.0.0.1", "10.1.2.3", "10.255.255.255", *TRUSTED_V4,
                                     *TRUSTED_V6, "2001:db8::5", *UNTRUSTED[:2]]))
    else:
        peer = draw(st.sampled_from(PEERS))
    if peer is not MISSING:
        environ["REMOTE_ADDR"] = peer
    for key, value in (
        ("wsgi.url_scheme", draw(st.sampled_from(["http", "http", "https", MISSING]))),
        ("HTTPS", draw(st.sampled_from([MISSING, MISSING, "on", "off", "ON", "1"]))),
        ("REQUEST_SCHEME", draw(st.sampled_from([MISSING, "http", "https", "HTTP"]))),
        ("SCRIPT_NAME", draw(st.sampled_from([MISSING, "", "", "/mnt", "/app"]))),
        ("PATH_INFO", draw(st.sampled_from([MISSING, "", "/", "/app", "/app/x", "/apple",
                                            "/a/b/c", "/mnt/app"]))),
        ("SERVER_NAME", draw(st.sampled_from([MISSING, "backend", "backend"]))),
        ("SERVER_PORT", draw(st.sampled_from([MISSING, "80", "8000", "443"]))),
        ("HTTP_HOST", draw(st.sampled_from([MISSING, "backend:8000", "example.com"]))),
    ):
        if value is not MISSING:
            environ[key] = value
    keys = draw(st.lists(st.sampled_from(sorted(ENV_KIND)), max_size=7, unique=True))
    if clean and trusted:
        wanted = ["HTTP_" + name.upper().replace("-", "_") for name in trusted]
        keys = draw(st.lists(st.sampled_from(wanted), unique=True)) + keys[:draw(
            st.integers(0, 1))]
    for key in dict.fromkeys(keys):
        if clean:
            environ[key] = draw(CLEAN[ENV_KIND[key]])
        else:
            grammar = GRAMMARS[ENV_KIND[key]]
            environ[key] = draw(st.one_of(grammar, grammar, grammar, ANY_VALUE))
    if odd and draw(st.booleans()):
        key = draw(st.sampled_from([*keys, "SCRIPT_NAME", "PATH_INFO", "HTTPS", "HTTP_HOST",
                                    "SERVER_PORT", "wsgi.url_scheme", "REQUEST_SCHEME"]))
        environ[key] = draw(st.sampled_from(ODD_VALUES))
    if draw(st.integers(0, 9)) == 0:
        environ = EnvironSub(environ)
    return environ


# --------------------------------------------------------------------------- the property


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A policy and 1-3 requests, clean ones carrying the headers it trusts."""
    kwargs = draw(policy_kwargs())
    trusted = tuple(kwargs["trusted_headers"])
    return kwargs, draw(st.lists(environs(trusted), min_size=1, max_size=3))


@settings(max_examples=400, deadline=timedelta(seconds=2),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_compiled_path_matches_python_reference(
        case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Invariant: for every policy and every request, values of unusual types
    (None, bytes, bytearray, ints, lists, str subclasses, uncomparable objects)
    included, neither path raises, and the compiled path and the
    Python reference leave the same environ (every key, values of the same
    type), the same ``trustedproxy.orig`` and an equal Decision (``removed``
    compared as a set), return the application's value, and call the
    application with the same environ object and
    start_response, whether the caches are cold (first sending), warm (second
    and third sendings), or warmed by the reference itself (a compiled
    middleware sharing its engine)."""
    kwargs, requests = case
    assert_same(kwargs, requests)


def decided(middleware: TrustedProxyMiddleware, environ: dict[str, Any]) -> Any:
    """``middleware._decide(environ)`` as comparable data (or the exception),
    checking that it called no application."""
    app = middleware.app
    assert isinstance(app, App)
    app.calls.clear()
    try:
        result: Any = ("decided", decision_data(middleware._decide(environ)))
    except Exception as exc:
        result = ("raised", type(exc).__qualname__, str(exc))
    assert app.calls == [], "_decide called the application"
    return result


@settings(max_examples=300, deadline=timedelta(seconds=2),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_deciding_only_gives_the_decision_of_a_full_call(
        case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Invariant: ``_decide(environ)`` (the compiled request path deciding
    only, which the ASGI adapter uses) returns a Decision equal to the one the
    Python reference stores in the environ for the same request, or raises the
    same exception, and never calls the application, whether the caches are
    cold or warm (three sendings, interleaved with full calls)."""
    kwargs, requests = case
    reference, compiled = middlewares(kwargs)
    for round_ in range(3):
        for i, environ in enumerate(requests):
            result, _, _, after = outcome(reference, clone(environ))
            expected = (("decided", after[DECISION_KEY]) if result[0] == "returned"
                        else result)
            for which, middleware in zip(("own engine", "shared engine"), compiled,
                                         strict=True):
                assert decided(middleware, clone(environ)) == expected, (
                    f"round {round_ + 1}, request {i} ({which}): _decide differs\n"
                    f"policy: {kwargs!r}\nenviron: {environ!r}")
                outcome(middleware, clone(environ))  # and warm what a full call warms


# --------------------------------------------------------------------------- the paths, by hand

FULL = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
        "X-Forwarded-Prefix"]
POLICY = {"trusted_proxies": ["10.0.0.0/8", "192.0.2.10", "2001:db8::/32", "::1"],
          "trusted_headers": FULL}


def environ_for(peer: Any = "10.1.2.3", headers: dict[str, Any] | None = None,
                **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/app/x",
        "SERVER_NAME": "backend", "SERVER_PORT": "8000", "HTTP_HOST": "backend:8000",
        "wsgi.url_scheme": "http", "REQUEST_SCHEME": "http"}
    if peer is not MISSING:
        environ["REMOTE_ADDR"] = peer
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.update(extra)
    return environ


def test_no_forwarded_header_trusted_and_untrusted_peer() -> None:
    """The usual request: nothing changes but ``trustedproxy.orig`` and the decision."""
    for peer in ("10.1.2.3", "203.0.113.9", "::1", "2001:db9::1", "", "/run/app.sock"):
        seen = seen_environ(assert_same(POLICY, [environ_for(peer)])[0])
        assert seen[ORIG_KEY] == ("dict", "dict", {("str", "REMOTE_ADDR"): ("str", peer)})
        assert seen["REMOTE_ADDR"] == peer
        assert seen["SCRIPT_NAME"] == ""
        assert seen["PATH_INFO"] == "/app/x"


def test_untrusted_peer_with_forged_headers() -> None:
    """Every known forwarded header from an untrusted peer goes; nothing else changes."""
    forged = {spec.name: "10.0.0.1" for spec in HEADERS.values()}
    (answer,) = assert_same(POLICY, [environ_for("203.0.113.9", forged)])
    seen = seen_environ(answer)
    assert not any(key in seen for key in (s.environ_key for s in HEADERS.values()))
    assert seen["REMOTE_ADDR"] == "203.0.113.9"
    assert seen["wsgi.url_scheme"] == "http"


def test_trusted_one_and_three_hops_full_set() -> None:
    """One and three hops with X-Forwarded-For/-Proto/-Host/-Port/-Prefix."""
    full = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example",
            "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/shop"}
    one, three = assert_same(POLICY, [
        environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9", **full}),
        environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9, 10.0.0.7, 10.0.0.8",
                                 **full})])
    for answer, xff in ((one, "203.0.113.9"), (three, "203.0.113.9, 10.0.0.7, 10.0.0.8")):
        seen = seen_environ(answer)
        assert seen["REMOTE_ADDR"] == "203.0.113.9"
        assert seen["HTTP_X_FORWARDED_FOR"] == xff
        assert seen["wsgi.url_scheme"] == "https"
        assert seen["REQUEST_SCHEME"] == "https"
        assert seen["HTTPS"] == "on"
        assert seen["HTTP_HOST"] == "shop.example"
        assert seen["SERVER_PORT"] == "443"
        assert seen["SCRIPT_NAME"] == "/shop"


def test_ipv6_chains_and_mapped_addresses() -> None:
    """IPv6 peers and elements, brackets, ports and IPv4-mapped forms."""
    answers = assert_same(POLICY, [
        environ_for("::1", {"X-Forwarded-For": "[2001:DB9::1]:443, 2001:db8::7"}),
        environ_for("2001:db8::5", {"X-Forwarded-For": "2001:db9:0:0:0:0:0:1, ::ffff:10.0.0.1"}),
        environ_for("::ffff:10.0.0.1", {"X-Forwarded-For": "::ffff:203.0.113.1"}),
        environ_for("fe80::1%eth0", {"X-Forwarded-For": "203.0.113.9"}),
    ])
    assert seen_environ(answers[0])["REMOTE_ADDR"] == "2001:db9::1"
    assert seen_environ(answers[1])["REMOTE_ADDR"] == "2001:db9::1"
    assert seen_environ(answers[2])["REMOTE_ADDR"] == "::ffff:203.0.113.1"
    assert seen_environ(answers[3])["REMOTE_ADDR"] == "fe80::1%eth0"  # untrusted


def test_all_trusted_chain_and_junk() -> None:
    """Every element trusted: the leftmost is the client; junk stops the walk;
    NUL, surrogates and non-ASCII digits are not addresses."""
    answers = assert_same(POLICY, [
        environ_for("10.1.2.3", {"X-Forwarded-For": "10.0.0.1, 10.0.0.2"}),
        environ_for("10.1.2.3", {"X-Forwarded-For": "1.2.3.4, unknown, 10.0.0.3"}),
        environ_for("10.1.2.3", {"X-Forwarded-For": "10.0.0.3, _hidden"}),
        environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9\x00junk"}),
        environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9, 10.0.0.1\x00"}),
        environ_for("10.1.2.3", {"X-Forwarded-For": "\udc80, 10.0.0.1"}),
        environ_for("10.1.2.3", {"X-Forwarded-For": "\uff12\uff10\uff13.0.113.9"}),
        environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9,\u00a010.0.0.1"}),
    ])
    remote = [seen_environ(a)["REMOTE_ADDR"] for a in answers]
    assert remote == ["10.0.0.1", "10.0.0.3", "10.1.2.3", "10.1.2.3", "10.1.2.3", "10.0.0.1",
                      "10.1.2.3", "10.1.2.3"]


def test_many_distinct_elements_evict_cleanly() -> None:
    """More distinct X-Forwarded-For elements than any bounded cache holds,
    each request sent again after others have evicted its elements: the
    answers stay the reference's (no stale or mixed-up cache entry)."""
    requests = []
    for i in range(700):
        client = f"198.51.{i // 250}.{i % 250}" if i % 3 else f"2001:db9::{i:x}"
        hops = [f"10.{i % 7}.{i // 7 % 250}.{i % 250}", f"10.200.{i % 13}.{i % 200}"]
        xff = ", ".join([client, *hops[:i % 3]])
        requests.append(environ_for("10.1.2.3", {"X-Forwarded-For": xff}))
    answers = assert_same(POLICY, requests, rounds=2)
    assert seen_environ(answers[1])["REMOTE_ADDR"] == "198.51.0.1"
    assert seen_environ(answers[3])["REMOTE_ADDR"] == "2001:db9::3"


def test_max_hops_boundaries_and_element_roles() -> None:
    """Lists just under, at and over ``max_hops``; one address as the client of
    an all-trusted list, as a trusted hop and alone, in turn (its remembered
    parse must not carry one role into another)."""
    for max_hops in (1, 2, 3):
        lists = [", ".join(["203.0.113.9", *[f"10.0.0.{i}" for i in range(1, n)]])
                 for n in range(1, max_hops + 3)]
        lists += [", ".join([f"10.0.0.{i}" for i in range(1, n + 1)])
                  for n in range(1, max_hops + 3)]
        assert_same({**POLICY, "max_hops": max_hops},
                    [environ_for("10.1.2.3", {"X-Forwarded-For": value}) for value in lists])
    roles = ["10.0.0.5, 10.0.0.6", "203.0.113.9, 10.0.0.5", "10.0.0.5", "10.0.0.6, 10.0.0.5",
             "10.0.0.5,10.0.0.6", " 10.0.0.5 ,\t10.0.0.6", "2001:db8::7, 2001:DB8::7",
             "2001:DB8::7", "2001:db9::1, 2001:DB8::7"]
    answers = assert_same(POLICY, [environ_for("10.1.2.3", {"X-Forwarded-For": v})
                                   for v in roles])
    assert [seen_environ(a)["REMOTE_ADDR"] for a in answers] == [
        "10.0.0.5", "203.0.113.9", "10.0.0.5", "10.0.0.6", "10.0.0.5", "10.0.0.5",
        "2001:db8::7", "2001:db8::7", "2001:db9::1"]


@pytest.mark.parametrize("extra", [45, 46, 47, 80])
def test_many_custom_headers(extra: int) -> None:
    """With 18 built-in headers and *extra* custom ones (around 64 keys, the
    most the compiled path tracks per request, and well past it), requests
    carrying the last-registered headers answer as the reference does."""
    groups = ["client", "scheme", "host", "server", "port", "prefix"]
    custom = {f"X-Custom-{i}": groups[i % 6] for i in range(extra)}
    last = [f"X-Custom-{i}" for i in range(extra - 6, extra)]
    policy = {"trusted_proxies": ["10.0.0.0/8"], "custom_headers": custom,
              "trusted_headers": ["X-Forwarded-For",  # and a custom one in every other group
                                  *(n for n in last if custom[n] != "client")]}
    values = {"client": "203.0.113.5", "scheme": "https", "host": "h.example",
              "server": "s.example", "port": "8443", "prefix": "/c"}
    headers = {name: values[custom[name]] for name in last}
    requests = [environ_for(peer, {**headers, "X-Forwarded-For": "203.0.113.9",
                                   "X-Custom-0": "1.2.3.4", "Forwarded": "for=1.2.3.4"})
                for peer in ("10.1.2.3", "203.0.113.9")]
    requests += [environ_for("10.1.2.3", {name: headers[name]}) for name in last]
    answers = assert_same(policy, requests)
    seen = seen_environ(answers[0])
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == ("203.0.113.9", "https")


def test_stacked_middlewares() -> None:
    """A middleware wrapping another through some other wrapper (the inner one
    sees the outer one's environ, ``trustedproxy.orig`` and decision included)
    answers as the reference stack does. (Given the inner middleware itself,
    the outer one refuses: tests/test_wrapping.py.)"""
    inner_policy = {**POLICY, "trusted_headers": ["X-Forwarded-Proto"],
                    "script_name": "/inner"}
    stacks = []
    for kind in (_PurePythonMiddleware, TrustedProxyMiddleware):
        app = App()
        inner = kind(app, TrustPolicy(**inner_policy))

        def between(environ: dict[str, Any], start_response: Any,
                    inner: Any = inner) -> Any:
            return inner(environ, start_response)

        stacks.append((kind(between, TrustPolicy(**POLICY)), app))
    requests = [environ_for("10.1.2.3"), environ_for("203.0.113.9", {"X-Forwarded-For": "1.2.3.4"}),
                environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9, 10.0.0.1",
                                         "X-Forwarded-Proto": "https"})]
    for _ in range(3):
        for environ in requests:
            seen = []
            for outer, app in stacks:
                app.calls.clear()
                passed = copy.deepcopy(environ)
                returned = outer(passed, start_response)
                (call,) = app.calls
                seen.append((returned is app.result, call[0] is passed, call[2]))
            assert seen[0] == seen[1]


def test_compiled_decisions_behave_like_reference_ones() -> None:
    """A Decision (and its hops) built by the compiled path compares, hashes,
    prints, pickles, copies and refuses assignment like the reference's."""
    import pickle

    reference, (compiled, _) = middlewares(POLICY)
    full = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example",
            "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/shop"}
    for environ in (environ_for("10.1.2.3"), environ_for("203.0.113.9", {"X-Real-IP": "1.2.3.4"}),
                    environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9, 10.0.0.7", **full}),
                    environ_for("::1", {"X-Forwarded-For": "10.0.0.1, 10.0.0.2"})):
        expected = copy.deepcopy(environ)
        reference(expected, start_response)
        for _ in range(2):  # cold, then warm (the compiled path's own)
            got = copy.deepcopy(environ)
            compiled(got, start_response)
        want, decision = expected[DECISION_KEY], got[DECISION_KEY]
        assert type(decision) is Decision
        if decision.removed == want.removed:
            assert decision == want
            assert hash(decision) == hash(want)
            assert repr(decision) == repr(want)
        assert pickle.loads(pickle.dumps(decision)) == decision
        assert copy.deepcopy(decision) == decision
        assert dataclasses.replace(decision) == decision
        assert set(vars(decision)) <= {f.name for f in dataclasses.fields(Decision)}
        with pytest.raises(dataclasses.FrozenInstanceError):
            decision.client = "1.2.3.4"  # type: ignore[misc]
        for hop in decision.chain:
            assert pickle.loads(pickle.dumps(hop)) == hop
            with pytest.raises(dataclasses.FrozenInstanceError):
                hop.verdict = "trusted"  # type: ignore[misc]


def test_warm_usual_requests_stay_in_compiled_path() -> None:
    """Once the caches are warm, the usual requests are finished by the
    compiled path itself (no call to ``_call_python``): the differential
    tests above do exercise it."""
    middleware = TrustedProxyMiddleware(App(), TrustPolicy(**POLICY))
    reference = middleware._call_python
    handed: list[dict[str, Any]] = []

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        handed.append(environ)
        return reference(environ, start_response)

    middleware._call_python = counting  # type: ignore[method-assign]
    full = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example",
            "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/shop"}
    usual = [environ_for("10.1.2.3"), environ_for("203.0.113.9"),
             environ_for("203.0.113.9", {"X-Forwarded-For": "10.0.0.1", **full}),
             environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9", **full}),
             environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9, 10.0.0.7, 10.0.0.8",
                                      **full}),
             environ_for("::1", {"X-Forwarded-For": "2001:db9::1, 2001:db8::7"})]
    for environ in usual:
        middleware(dict(environ), start_response)
    handed.clear()
    for environ in usual:
        middleware(dict(environ), start_response)
    assert handed == []


class Collider:
    """An environ key with the hash of a known header's key, whose comparison
    raises while ``armed`` (so that copying environs for the test works)."""

    armed = False

    def __init__(self, twin: str) -> None:
        self.twin = twin

    def __hash__(self) -> int:
        return hash(self.twin)

    def __eq__(self, other: object) -> bool:
        if Collider.armed:
            raise ValueError("not comparable")
        return self is other


@pytest.mark.parametrize("peer", ["203.0.113.9", "10.1.2.3"])
def test_uncomparable_environ_key_raises_and_leaves_environ_as_it_was(peer: str) -> None:
    """A key the environ cannot compare with a known header's key makes both
    paths raise the same error, warm or cold, and leaves the environ as it was
    (the compiled path takes an untrusted peer's headers out as it finds
    them, and puts them back)."""
    compiled = TrustedProxyMiddleware(App(), TrustPolicy(**POLICY))
    reference = _PurePythonMiddleware(App(), TrustPolicy(**POLICY))
    order = compiled._key_order
    twin = max(order, key=order.__getitem__)  # looked up last: the others go first
    forged = {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "https",
              "X-Forwarded-Host": "evil.example"}
    for _ in range(3):  # cold, then with the peer's trust cached
        for middleware in (compiled, reference):
            middleware(environ_for(peer, forged), start_response)  # warms the caches
            environ = environ_for(peer, forged)
            key = Collider(twin)
            environ[key] = "x"
            before = list(environ.items())
            Collider.armed = True
            try:
                with pytest.raises(ValueError, match="not comparable"):
                    middleware(environ, start_response)
            finally:
                Collider.armed = False
            assert sorted(environ.items(), key=repr) == sorted(before, key=repr)
            assert ORIG_KEY not in environ
            assert DECISION_KEY not in environ


def test_value_cache_keeps_each_header_apart() -> None:
    """The same text in two headers that read it differently: X-Forwarded-Host
    takes ``name:port``, X-Forwarded-Server refuses it. Sent for many sites
    (more than the compiled path's cache of values holds, so texts of the two
    headers meet in its slots), each answer stays the reference's."""
    policy = {"trusted_proxies": ["10.0.0.0/8"],
              "trusted_headers": ["X-Forwarded-Host", "X-Forwarded-Server"]}
    requests = []
    for i in range(300):
        text = f"site{i}.example:{8000 + i}"
        requests.append(environ_for("10.1.2.3", {"X-Forwarded-Host": text,
                                                  "X-Forwarded-Server": text}))
        requests.append(environ_for("10.1.2.3", {"X-Forwarded-Server": text}))
    answers = assert_same(policy, requests, rounds=2)
    fields = seen_environ(answers[0])[DECISION_KEY][1][2]
    assert fields[("str", "host")] == ("str", "site0.example:8000")
    assert fields[("str", "server")] == ("NoneType", None)
    assert seen_environ(answers[0])["HTTP_HOST"] == "site0.example:8000"
    assert seen_environ(answers[0])["SERVER_NAME"] == "backend"  # the server header was refused


class Meddler(Collider):
    """A :class:`Collider` whose comparison, once, runs *hook* instead of
    raising (as any Python code in a comparison may let another thread's
    request run in between)."""

    hook: Callable[[], None] | None = None

    __hash__ = Collider.__hash__

    def __eq__(self, other: object) -> bool:
        hook, Meddler.hook = Meddler.hook, None
        if hook is not None:
            hook()
        return isinstance(other, Meddler) and other.twin == self.twin

    def __repr__(self) -> str:
        return f"Meddler({self.twin!r})"


@pytest.mark.parametrize("untrusted", [False, True])
def test_peer_cache_entry_taken_by_another_request_midway(untrusted: bool) -> None:
    """A request whose peer the compiled path remembers, during which other
    requests (from 300 other peers, sent the same headers) take every slot
    of its cache of peers: the request still gets its own peer's decision,
    not the one the slot holds by then."""
    compiled = TrustedProxyMiddleware(App(), TrustPolicy(**POLICY))
    reference = _PurePythonMiddleware(App(), TrustPolicy(**POLICY))
    forged = {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "https"} if untrusted else {}
    peer = "198.51.100.7" if untrusted else "10.1.2.3"
    others = [f"198.51.{100 + i // 200}.{i % 200 + 10}" if untrusted else f"10.9.{i // 200}.{i}"
              for i in range(300)]

    def others_run() -> None:
        app = compiled.app  # the outer request's App records only its own call
        compiled.app = lambda environ, start_response: []
        try:
            for _ in range(2):  # once to fill the engine's caches, once to be remembered
                for other in others:
                    compiled(environ_for(other, forged), start_response)
        finally:
            compiled.app = app

    twin = max(compiled._key_order, key=compiled._key_order.__getitem__)
    answers = []
    for middleware in (compiled, reference):
        for _ in range(2):  # warm: the peer is remembered
            middleware(environ_for(peer, forged), start_response)
        environ = environ_for(peer, forged)
        environ[Meddler(twin)] = "x"
        Meddler.hook = others_run if middleware is compiled else None
        answers.append(outcome(middleware, environ))
        assert Meddler.hook is None, "the hook did not run: nothing was tested"
    got, expected = answers
    assert got == expected
    seen = seen_environ(got)
    assert seen[DECISION_KEY][1][2][("str", "peer")] == ("str", peer)
    assert seen["REMOTE_ADDR"] == peer


@pytest.mark.parametrize("peer", ["198.51.100.7", "10.1.2.3"])
def test_caches_cleared_midway(peer: str) -> None:
    """Python code run in the middle of a request (here by an environ key's
    comparison) that empties the compiled path's caches leaves the request's
    answer the reference's, warm or cold."""
    compiled = TrustedProxyMiddleware(App(), TrustPolicy(**POLICY))
    reference = _PurePythonMiddleware(App(), TrustPolicy(**POLICY))
    forged = {"X-Forwarded-For": "203.0.113.9, 10.0.0.1", "X-Forwarded-Proto": "https",
              "X-Forwarded-Host": "shop.example", "X-Forwarded-Port": "443"}
    twin = max(compiled._key_order, key=compiled._key_order.__getitem__)
    for warm in range(3):
        answers = []
        for middleware in (compiled, reference):
            for _ in range(warm):
                middleware(environ_for(peer, forged), start_response)
            environ = environ_for(peer, forged)
            environ[Meddler(twin)] = "x"
            Meddler.hook = compiled._clear_caches if middleware is compiled else None
            answers.append(outcome(middleware, environ))
            assert Meddler.hook is None, "the hook did not run: nothing was tested"
        assert answers[0] == answers[1]


def test_set_up_again_midway_is_refused() -> None:
    """Python code run in the middle of a request that sets the middleware up
    again gets a RuntimeError (its tables are in use), and the middleware
    decides as before afterwards."""
    compiled = TrustedProxyMiddleware(App(), TrustPolicy(**POLICY))
    twin = max(compiled._key_order, key=compiled._key_order.__getitem__)
    forged = {"X-Forwarded-For": "203.0.113.9"}

    def set_up_again() -> None:
        compiled.__init__(App(), TrustPolicy(trusted_proxies=["192.0.2.1"]))  # type: ignore[misc]

    environ = environ_for("10.1.2.3", forged)
    environ[Meddler(twin)] = "x"
    Meddler.hook = set_up_again
    with pytest.raises(RuntimeError, match="already set up"):
        compiled(environ, start_response)
    assert Meddler.hook is None
    environ = environ_for("10.1.2.3", forged)
    compiled(environ, start_response)
    assert environ["REMOTE_ADDR"] == "203.0.113.9"


def test_peer_cache_slot_given_away_while_its_old_entry_is_released() -> None:
    """Remembering a peer releases the decisions its slot held for the peer
    before, which may run Python code (here a weakref callback; in a server,
    another thread's request) that gives the slot to yet another peer. The
    request still gets its own peer's decision, not that peer's."""
    compiled = TrustedProxyMiddleware(lambda environ, start_response: [], TrustPolicy(**POLICY))

    def decision(peer: str) -> Any:
        environ = environ_for(peer)
        compiled(environ, start_response)
        return environ[DECISION_KEY]

    for _ in range(2):  # cold, then remembered with its no-header decision
        first = decision("10.1.2.3")
    compiled.engine._plain.clear()  # now only the peer's slot holds that decision
    others = [f"10.9.{i // 200}.{i % 200 + 1}" for i in range(600)]
    ran = []

    def others_run(_: object) -> None:  # the slot's old decision is being released
        ran.append(True)
        for _ in range(2):  # once to fill the engine's caches, once to be remembered
            for other in others:
                decision(other)

    watch = weakref.ref(first, others_run)
    del first
    for i in range(2000):  # untrusted peers, until one takes the first peer's slot
        peer = f"198.51.{100 + i // 200}.{i % 200 + 10}"
        got = [decision(peer) for _ in range(2)]  # cold, then remembered
        if ran:
            break
    assert watch() is None, "no peer took the first one's slot: nothing was tested"
    assert [(d.peer, d.trusted) for d in got] == [(peer, False)] * 2
    assert [(decision(p).peer, decision(p).trusted) for p in (peer, others[0])] == [
        (peer, False), (others[0], True)]


def test_element_cache_slot_rewritten_whole_before_the_evicted_hop_goes() -> None:
    """Evicting an element from the compiled path's cache of X-Forwarded-For
    elements releases its Hop, which may run Python code (here a weakref
    callback; in a server, another thread's request). A request run then,
    through the element taking the slot, is walked as the reference walks it:
    the slot never pairs the new element with the old one's verdict."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"])
    seen: list[dict[str, Any]] = []
    compiled = TrustedProxyMiddleware(
        lambda environ, start_response: seen.append(environ) or [], policy)
    reference = _PurePythonMiddleware(lambda environ, start_response: [], policy)

    def through(middleware: Any, xff: str) -> str:
        environ = {"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": xff}
        middleware(environ, start_response)
        return str(environ["REMOTE_ADDR"])

    for _ in range(2):  # cold, then walked by the compiled path, which remembers it
        through(compiled, "198.51.100.7")  # an untrusted element: its verdict is "client"
    hop = seen[-1][DECISION_KEY].chain[-1]
    assert hop.element == "198.51.100.7"
    taking = [""]  # the element being remembered
    nested: list[tuple[str, str]] = []

    def walk_through_it(_: object) -> None:  # the evicted Hop is being released
        xff = f"203.0.113.9, {taking[0]}"  # taking[0] is a trusted proxy
        nested.append((through(compiled, xff), through(reference, xff)))

    watch = weakref.ref(hop, walk_through_it)
    del hop
    seen.clear()
    for i in range(4000):  # trusted elements, until one takes the untrusted one's slot
        taking[0] = f"10.2.{i // 250}.{i % 250 + 1}"
        through(compiled, taking[0])
        seen.clear()
        if nested:
            break
    assert watch() is None, "no element took the slot: nothing was tested"
    assert nested == [("203.0.113.9", "203.0.113.9")]


def test_script_name_policy_and_strip_prefix() -> None:
    """A fixed script_name applies to every peer; strip_prefix_from_path
    removes a trusted prefix from PATH_INFO on a segment boundary."""
    fixed = {**POLICY, "script_name": "/fixed"}
    answers = assert_same(fixed, [environ_for("203.0.113.9"), environ_for("10.1.2.3"),
                                  environ_for("203.0.113.9", {"X-Forwarded-Prefix": "/x"})])
    assert [seen_environ(a)["SCRIPT_NAME"] for a in answers] == ["/fixed"] * 3
    strip = {**POLICY, "strip_prefix_from_path": True}
    answers = assert_same(strip, [
        environ_for("10.1.2.3", {"X-Forwarded-Prefix": "/app"}),
        environ_for("10.1.2.3", {"X-Forwarded-Prefix": "/ap"}),
        environ_for("10.1.2.3", {"X-Forwarded-Prefix": "/app"}, PATH_INFO="/app"),
        environ_for("10.1.2.3", {"X-Forwarded-Prefix": "/app"}, SCRIPT_NAME="/mnt"),
    ])
    assert [(seen_environ(a)["SCRIPT_NAME"], seen_environ(a)["PATH_INFO"]) for a in answers] == [
        ("/app", "/x"), ("/ap", "/app/x"), ("/app", ""), ("/app/mnt", "/x")]
    both = {**POLICY, "script_name": "/fixed", "strip_prefix_from_path": True}
    assert_same(both, [environ_for("10.1.2.3", PATH_INFO="/fixed/y"),
                       environ_for("203.0.113.9", PATH_INFO="/fixed")])


@pytest.mark.parametrize("environ_type", [EnvironSub, WatchedEnviron])
def test_dict_subclass_as_environ(environ_type: type[dict[str, Any]]) -> None:
    """A dict subclass is passed on as itself, and read and written as the
    reference reads and writes it (through its own methods)."""
    requests = [environ_type(environ_for("10.1.2.3")),
                environ_type(environ_for("203.0.113.9", {"X-Forwarded-For": "10.0.0.1"})),
                environ_type(environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9",
                                                      "X-Forwarded-Proto": "https"})),
                environ_type(environ_for("@10.1.2.3", {"X-Forwarded-For": "@203.0.113.9"}))]
    assert_same(POLICY, requests)
    if environ_type is WatchedEnviron:
        reference, compiled = middlewares(POLICY)
        for environ in requests:
            expected = clone(environ)
            reference(expected, start_response)
            for middleware in compiled:
                for _ in range(3):
                    got = clone(environ)
                    middleware(got, start_response)
                    assert (got.written, got.popped) == (expected.written, expected.popped)


def test_environ_values_of_unusual_types() -> None:
    """Values a server should not send (None, bytes, ints, str subclasses,
    tuples) get the same answer from both paths, and neither raises."""
    requests = [environ_for(None), environ_for(MISSING), environ_for(b"10.1.2.3"),
                environ_for(167772161), environ_for(StrSub("10.1.2.3")),
                environ_for(StrSub("203.0.113.9"), {"X-Forwarded-For": "10.0.0.1"})]
    for value in ODD_VALUES:
        requests += [environ_for("10.1.2.3", {"X-Forwarded-For": value}),
                     environ_for("10.1.2.3", {"X-Forwarded-Proto": value}),
                     environ_for("10.1.2.3", {"X-Forwarded-Prefix": "/p"}, SCRIPT_NAME=value),
                     environ_for("10.1.2.3", {"X-Forwarded-Proto": "https"}, HTTPS=value),
                     environ_for("203.0.113.9", {"X-Forwarded-Host": value})]
    assert_same(POLICY, requests)
    assert_same({**POLICY, "script_name": "/fixed"},
                [environ_for("203.0.113.9", SCRIPT_NAME=None),
                 environ_for("10.1.2.3", PATH_INFO=b"/x")])
    # Values whose comparison is overridden or raises, where the rewrite sets a
    # value: replaced, never compared.
    full = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "shop.example", "X-Forwarded-Port": "443"}
    odd = []
    for key in ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_PORT", "HTTPS",
                "REQUEST_SCHEME", "HTTP_X_FORWARDED_FOR"):
        for value in (Sticky("x"), Touchy()):
            environ = environ_for("10.1.2.3", full)
            if key == "REMOTE_ADDR":
                environ = environ_for("10.1.2.3", {**full, "X-Forwarded-For": "10.1.2.3"})
            else:
                environ[key] = value
            odd.append(environ)
    assert_same(POLICY, odd)


FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"


def test_fuzz_corpus_replays_the_same_on_both_paths() -> None:
    """Every input in ``fuzz/corpus/speedups`` (the seeds, and what fuzzing
    added), replayed through the ``speedups`` fuzz target: the compiled path
    and the reference answer each the same, cold and warm."""
    sys.path.insert(0, str(FUZZ_DIR))
    try:
        import targets
    finally:
        sys.path.remove(str(FUZZ_DIR))
    inputs = sorted((FUZZ_DIR / "corpus" / "speedups").iterdir())
    assert len(inputs) >= 10
    for path in inputs:
        targets.speedups(path.read_bytes())


# --------------------------------------------------------------------------- the call itself


class Boom(Exception):
    pass


def test_application_exception_propagates_unchanged() -> None:
    """The application's exception reaches the caller as the same object, cold and warm."""
    error = Boom("from the app")
    middleware = TrustedProxyMiddleware(App(error=error), TrustPolicy(**POLICY))
    for environ in (environ_for("10.1.2.3"), environ_for("10.1.2.3", {"X-Forwarded-For":
                                                                      "203.0.113.9"})):
        for _ in range(3):
            with pytest.raises(Boom) as info:
                middleware(dict(environ), start_response)
            assert info.value is error


def test_return_value_and_start_response_pass_through() -> None:
    """The application's return value comes back as the same object, and the
    application gets the caller's start_response and environ objects."""
    result = iter([b"x"])
    app = App(result=result)
    middleware = TrustedProxyMiddleware(app, TrustPolicy(**POLICY))
    for environ in (environ_for("10.1.2.3"), environ_for("203.0.113.9"),
                    environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9"})):
        for _ in range(3):
            app.calls.clear()
            passed = dict(environ)
            assert middleware(passed, start_response) is result
            (call,) = app.calls
            assert call[0] is passed
            assert call[3] is start_response


def test_app_attribute_is_read_at_each_call() -> None:
    """As in the reference (``self.app`` per request), replacing ``middleware.app``
    after warm-up takes effect on the next request."""
    first, second = App(), App()
    middleware = TrustedProxyMiddleware(first, TrustPolicy(**POLICY))
    environs = [environ_for("10.1.2.3"), environ_for("10.1.2.3", {"X-Forwarded-For": "1.2.3.4"})]
    for environ in environs * 3:
        middleware(dict(environ), start_response)
    middleware.app = second
    for environ in environs:
        middleware(dict(environ), start_response)
    assert (len(first.calls), len(second.calls)) == (6, 2)
    del middleware.app  # then, as in the reference, AttributeError: no crash
    for environ in environs:
        with pytest.raises(AttributeError):
            middleware(dict(environ), start_response)


CALL_SHAPES = [
    ((), {}),
    (("environ",), {}),
    (("environ", "start_response", "extra"), {}),
    (("environ", "start_response"), {"extra": 1}),
    (("environ", "start_response"), {"environ": 1}),
    ((), {"environ": "environ", "start_response": "start_response"}),
    (("environ",), {"start_response": "start_response"}),
    ((), {"start_response": "start_response"}),
    (("environ", "start_response"), {}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALL_SHAPES)
def test_call_shapes_bind_as_the_reference_does(args: tuple[str, ...], kwargs: dict[str, Any]
                                                ) -> None:
    """Every call shape (keywords, missing, extra or repeated arguments) gets
    what the reference gets: the same request handling, or the same TypeError
    raised before the application is called or the environ is touched."""
    reference, compiled = middlewares(POLICY)
    environ = environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9"})
    answers = []
    for middleware in [reference, *compiled]:
        for _ in range(2):  # warm the caches first
            middleware(dict(environ), start_response)
        app = middleware.app
        assert isinstance(app, App)
        app.calls.clear()
        values = {"environ": dict(environ), "start_response": start_response}
        try:
            returned = middleware(*(values.get(a, a) for a in args),
                                  **{k: values.get(k, v) for k, v in kwargs.items()})
        except TypeError as exc:
            answers.append(("raised", str(exc),
                            values["environ"] == environ, app.calls))
        else:
            answers.append(("returned", returned is app.result, values["environ"]["REMOTE_ADDR"],
                            [call[2] for call in app.calls]))
    assert answers[1:] == [answers[0]] * 2
    assert answers[0][0] == ("returned" if sorted([*args, *kwargs]) == ["environ",
                                                                        "start_response"]
                             and len(args) + len(kwargs) == 2 else "raised")
    # An empty keyword dict is no keyword argument.
    app = compiled[0].app
    assert compiled[0](dict(environ), start_response, **{}) is app.result  # type: ignore[union-attr]


VECTORCALL_FLAG = 1 << 11  # Py_TPFLAGS_HAVE_VECTORCALL


def test_middleware_is_called_without_an_argument_tuple() -> None:
    """The middleware class (and a subclass that keeps its __call__) takes the
    vectorcall protocol; the reference class, whose __call__ is Python, does not."""
    class Keeps(TrustedProxyMiddleware):
        pass

    class Overrides(TrustedProxyMiddleware):
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            return "overridden"

    assert TrustedProxyMiddleware.__flags__ & VECTORCALL_FLAG
    assert Keeps.__flags__ & VECTORCALL_FLAG
    assert not Overrides.__flags__ & VECTORCALL_FLAG
    assert not _PurePythonMiddleware.__flags__ & VECTORCALL_FLAG
    policy = TrustPolicy(**POLICY)
    environ = environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9"})
    for cls in (Keeps, Overrides):
        app = App()
        result = cls(app, policy)(dict(environ), start_response)
        if cls is Overrides:
            assert (result, app.calls) == ("overridden", [])
        else:
            assert result is app.result
            assert app.calls[0][2]["REMOTE_ADDR"] == ("str", "203.0.113.9")


def test_call_assigned_after_the_class_is_made_is_honoured() -> None:
    """Assigning ``__call__`` on a subclass after it was created takes effect,
    with the arguments passed as given (keywords included), even where the
    interpreter keeps the class marked for vectorcall (before Python 3.12)."""
    class Patched(TrustedProxyMiddleware):
        pass

    seen: list[tuple[Any, ...]] = []

    def replacement(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((self, args, kwargs))
        return "patched"

    middleware = Patched(App(), TrustPolicy(**POLICY))
    Patched.__call__ = replacement  # type: ignore[method-assign]
    assert middleware("e", "s") == "patched"
    assert middleware("e", start_response="s") == "patched"
    assert middleware() == "patched"
    assert seen == [(middleware, ("e", "s"), {}), (middleware, ("e",), {"start_response": "s"}),
                    (middleware, (), {})]
    del Patched.__call__  # back to the compiled __call__
    app = App()
    middleware.app = app
    assert middleware(environ_for("10.1.2.3"), start_response) is app.result


def test_subclass_keywords_are_refused_like_objects() -> None:
    """Class keywords reach ``__init_subclass__``, which takes none, as
    ``object.__init_subclass__`` does."""
    with pytest.raises(TypeError, match="takes no arguments"):
        type("WithKeyword", (TrustedProxyMiddleware,), {}, flavour="x")


def test_call_through_tp_call_and_functools_partial() -> None:
    """Callers that pass an argument tuple and keyword dict
    (``type(m).__call__(m, ...)``, ``functools.partial``, C code using
    ``PyObject_Call``) get the same answer as a direct call."""
    import functools

    app = App()
    middleware = TrustedProxyMiddleware(app, TrustPolicy(**POLICY))
    environ = environ_for("10.1.2.3", {"X-Forwarded-For": "203.0.113.9"})
    calls = [lambda e: type(middleware).__call__(middleware, e, start_response),
             lambda e: functools.partial(middleware, e)(start_response),
             lambda e: middleware(*[e, start_response])]
    for call in calls:
        assert call(dict(environ)) is app.result
    assert type(middleware).__call__(middleware, dict(environ),
                                     start_response=start_response) is app.result
    assert [c[2]["REMOTE_ADDR"] for c in app.calls] == [("str", "203.0.113.9")] * 4
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        type(middleware).__call__(middleware, dict(environ))


def test_app_replaced_during_its_own_call() -> None:
    """An application that replaces ``middleware.app`` (dropping the last
    reference to itself) finishes its call; the next request goes to the new
    one. The compiled path holds the application for the length of the call."""
    second = App()

    class Replacing:
        calls = 0

        def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
            Replacing.calls += 1
            middleware.app = second
            gc.collect()
            return [b"first"]

    middleware = TrustedProxyMiddleware(Replacing(), TrustPolicy(**POLICY))
    environ = environ_for("10.1.2.3", {"X-Forwarded-For": "1.2.3.4"})
    assert middleware(dict(environ), start_response) == [b"first"]
    assert middleware(dict(environ), start_response) is second.result
    assert (Replacing.calls, len(second.calls)) == (1, 1)


def test_setup_runs_once() -> None:
    """The compiled tables are set once: a second ``_setup`` (which would free
    tables a request in flight may be reading) raises, and the middleware goes
    on deciding with the tables it has."""
    app = App()
    middleware = TrustedProxyMiddleware(app, TrustPolicy(**POLICY))
    environ = environ_for("10.1.2.3", {"X-Forwarded-For": "1.2.3.4"})
    middleware(dict(environ), start_response)
    with pytest.raises(RuntimeError, match="already set up"):
        middleware._setup_speedups()
    middleware(dict(environ), start_response)
    assert [call[0]["REMOTE_ADDR"] for call in app.calls] == ["1.2.3.4", "1.2.3.4"]


def test_uninitialised_middleware_raises_not_crashes() -> None:
    """A middleware whose __init__ never ran raises an exception, as the
    reference does, instead of crashing the process."""
    middleware = TrustedProxyMiddleware.__new__(TrustedProxyMiddleware)
    with pytest.raises(Exception):  # noqa: B017, PT011  (any exception, just no crash)
        middleware(environ_for("10.1.2.3"), start_response)


# --------------------------------------------------------------------------- leaks and threads

LEAK_POLICY = {"trusted_proxies": ["10.0.0.0/8", "192.0.2.10", "2001:db8::/32"],
               "trusted_headers": FULL}


def mixed_requests() -> list[dict[str, Any]]:
    """A fixed mix of usual and unusual requests (each a template: copy before use)."""
    full = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example",
            "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/shop"}
    requests = []
    for peer in ("10.1.2.3", "192.0.2.10", "2001:db8::5", "203.0.113.9", "::ffff:10.0.0.1",
                 "", "/run/app.sock"):
        requests += [
            environ_for(peer),
            environ_for(peer, {"X-Forwarded-For": "203.0.113.9"}),
            environ_for(peer, {"X-Forwarded-For": "203.0.113.9, 10.0.0.7, 10.0.0.8", **full}),
            environ_for(peer, {"X-Forwarded-For": "[2001:db9::1]:443, 2001:db8::7",
                               "X-Forwarded-Proto": "http"}, HTTPS="on"),
            environ_for(peer, {"X-Forwarded-For": "10.0.0.1, 10.0.0.2"}),
            environ_for(peer, {"X-Forwarded-For": "junk, 10.0.0.1", "X-Forwarded-Port": "x"}),
            environ_for(peer, {"X-Forwarded-For": ",, ,", "X-Real-IP": "1.2.3.4",
                               "Forwarded": "for=1.2.3.4"}),
            environ_for(peer, {"X-Forwarded-Host": "a..b", "X-Forwarded-Prefix": "/a/../b"}),
        ]
    return requests


@pytest.mark.parametrize("deciding", [False, True], ids=["call", "decide only"])
def test_no_memory_growth_and_stable_refcounts(deciding: bool) -> None:
    """After warm-up, 50,000 mixed requests through the compiled middleware
    (full calls, or ``_decide``) allocate nothing that stays, and the objects
    it holds (policy, engine, application) and the request values it reads
    keep their reference counts."""
    app = App(record=False)
    middleware = TrustedProxyMiddleware(app, TrustPolicy(**LEAK_POLICY))
    templates = mixed_requests()
    result = app.result
    send: Callable[[dict[str, Any]], Any] = (
        middleware._decide if deciding else lambda env: middleware(env, start_response))
    for _ in range(5):
        for template in templates:
            send(dict(template))
    watched = [middleware, middleware.policy, middleware.engine, app, start_response,
               result]
    watched += [value for t in templates for value in t.values()
                if isinstance(value, str) and value.isascii() and len(value) > 1]
    watched += [key for key in templates[0]]
    gc.collect()
    before = [sys.getrefcount(obj) for obj in watched]
    tracemalloc.start()
    try:
        gc.collect()
        first = tracemalloc.take_snapshot()
        count = len(templates)
        for i in range(50_000):
            send(dict(templates[i % count]))
        gc.collect()
        second = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    after = [sys.getrefcount(obj) for obj in watched]
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    grown = sum(stat.size_diff for stat in second.filter_traces(ignore).compare_to(
        first.filter_traces(ignore), "filename"))
    assert grown < 64 * 1024, f"{grown} bytes kept after 50,000 requests"
    changed = [(repr(obj)[:60], b, a) for obj, b, a in zip(watched, before, after, strict=True)
               if a != b]
    assert changed == [], "reference counts changed (object, before, after)"


def test_threads_get_single_threaded_answers() -> None:
    """8 threads sending mixed requests through one compiled middleware each
    get the answer the reference gives single-threaded."""
    templates = mixed_requests()
    templates += [environ_for("10.1.2.3", {"X-Forwarded-For": f"198.51.{i // 250}.{i % 250}, "
                                                             f"10.9.{i // 250}.{i % 250}"})
                  for i in range(600)]  # more elements than the caches hold
    reference = _PurePythonMiddleware(App(), TrustPolicy(**LEAK_POLICY))
    expected = [outcome(reference, copy.deepcopy(t)) for t in templates]

    def fast_signature(environ: dict[str, Any]) -> Any:
        decision = environ.pop(DECISION_KEY)
        fields = tuple(frozenset(decision.removed) if f.name == "removed"
                       else getattr(decision, f.name) for f in dataclasses.fields(Decision))
        return environ, fields

    expected_fast = []
    for template in templates:
        environ = copy.deepcopy(template)
        reference(environ, start_response)
        expected_fast.append(fast_signature(environ))
    app = App(record=False)
    middleware = TrustedProxyMiddleware(app, TrustPolicy(**LEAK_POLICY))
    failures: list[str] = []
    barrier = threading.Barrier(8)

    def hammer(seed: int) -> None:
        order = list(range(len(templates))) * 4
        random.Random(seed).shuffle(order)
        barrier.wait()
        for i in order:
            environ = dict(templates[i])
            middleware(environ, start_response)
            if fast_signature(environ) != expected_fast[i]:
                failures.append(f"thread {seed}, request {i}: {templates[i]!r}")

    run_threads(hammer, 8, timeout=60)
    assert failures == []
    # And after the threads, single-threaded answers are still the reference's, in full.
    app.record = True
    for template, answer in zip(templates, expected, strict=True):
        assert outcome(middleware, copy.deepcopy(template)) == answer
