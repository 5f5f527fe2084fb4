"""Both middlewares under real Granian: ``--interface wsgi`` and ``--interface asgi``.

Granian (the ``test`` extra) serves, on 127.0.0.1, the e2e Flask app in
``TrustedProxyMiddleware`` (and bare, ``plain``) through its WSGI interface,
and an ASGI app in ``trustedproxy.asgi.TrustedProxyMiddleware`` (under
``/bare/`` without it) through its ASGI interface, each once without and once
with ``--url-path-prefix``. As in the other end-to-end tests, untrusted
clients connect from 127.0.0.2 and the trusted proxy from 127.0.0.1.

What Granian (2.8) does, as measured here:

- WSGI: a header name with ``_`` is filed under the CGI key of its ``-``
  spelling (``X_Forwarded_For`` becomes ``HTTP_X_FORWARDED_FOR``). Lines of one
  spelling are joined with ``","`` (no space); of two spellings with one key,
  the spelling whose first line comes *later* replaces the other (uWSGI joins
  them). From a trusted peer the middleware cannot tell the two apart: a
  client's ``X_Forwarded_For`` or ``X_Forwarded_Proto`` that a front-end
  passes on after its own header replaces it, so the client chooses the
  address or the scheme. Caddy's ``reverse_proxy`` and nginx with
  ``underscores_in_headers on`` pass such lines on in that order.
- ASGI: header names arrive lower-cased, otherwise as sent; ``x_forwarded_for``
  is a name of its own, which the middleware never reads and removes; repeated
  lines are separate entries. ``server`` and ``client`` hold their ports as
  text (``("127.0.0.1", "8000")``; the ASGI spec says ``int``): the middleware
  leaves Granian's values as they are, and writes ``int`` ports of its own.
- Neither interface reads a forwarded header itself: ``wsgi.url_scheme`` and
  ``scheme`` stay ``http``/``ws`` and ``REMOTE_ADDR``/``client`` the peer,
  whatever any peer sends (``X-Forwarded-Proto: https://evil.example/#``
  included). Granian has no proxy-header option on its command line; its
  ``granian.utils.proxies.wrap_wsgi_with_proxy_headers`` and
  ``wrap_asgi_with_proxy_headers`` are opt-in wrappers in the application's
  code. Outside the middleware such a wrapper decides first (believing any
  text in X-Forwarded-For), and the middleware then sees the client as the
  peer, trusts nothing and removes the rest (host, port, prefix are lost);
  inside it, the wrapper sees the fixed request and does nothing.
- ``--url-path-prefix /myapp``: WSGI ``SCRIPT_NAME`` is ``/myapp`` and
  ``PATH_INFO`` the rest; ASGI ``root_path`` is ``/myapp`` and ``path`` the
  whole path. A trusted ``X-Forwarded-Prefix`` goes in front (SPEC 5).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from realservers import ManagedServer, require, start_granian

from e2e.backend import ASGI_ECHO_APP, ASGI_ECHO_IMPORTS
from e2e.test_frontends import (
    CLIENT,
    FORGED,
    FORWARDED_ENV_KEYS,
    PUBLIC_HOST,
    forwarded_left,
    seen,
    started,
)
from e2e.test_hypercorn import host_header, http_view, names, websocket_view
from e2e.test_uwsgi import (
    FORGED_CLIENT,
    PROXY,
    SCHEME_CASES,
    SCHEME_IDS,
    TRUST,
    backend_files,
    send,
    start_front,
)

pytestmark = [pytest.mark.realserver, pytest.mark.e2e]

REAL_CLIENT = "198.51.100.7"
PUBLIC = "www.example.test:8443"

#: Granian's own proxy handling, opt-in, around the WSGI app (``outside``) or
#: inside the middleware (``inside``): what turning it on does.
WSGI_WRAPPED = '''\
from flask import Flask

from granian.utils.proxies import wrap_wsgi_with_proxy_headers
from trustedproxy import TrustedProxyMiddleware

import e2e_app

outside = wrap_wsgi_with_proxy_headers(e2e_app.application, "127.0.0.1")

inside = e2e_app.create_app(None)
inside.wsgi_app = TrustedProxyMiddleware(
    wrap_wsgi_with_proxy_headers(inside.wsgi_app, "127.0.0.1"),
    str(e2e_app.HERE / "policy.yaml"))
'''

ASGI_APP = ASGI_ECHO_IMPORTS + '''\
from granian.utils.proxies import wrap_asgi_with_proxy_headers
from trustedproxy import TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware
''' + ASGI_ECHO_APP + '''


POLICY = TrustPolicy(
    trusted_proxies=["127.0.0.1"],
    trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                     "X-Forwarded-Server", "X-Forwarded-Port", "X-Forwarded-Prefix"],
)
wrapped = TrustedProxyMiddleware(inner, POLICY)
#: Granian's opt-in proxy handling, outside the middleware and inside it.
granian_outside = wrap_asgi_with_proxy_headers(wrapped, "127.0.0.1")
granian_inside = TrustedProxyMiddleware(wrap_asgi_with_proxy_headers(inner, "127.0.0.1"), POLICY)
ROUTES = {"/bare/": inner, "/granian-outside/": granian_outside,
          "/granian-inside/": granian_inside}


async def app(scope, receive, send):
    """/bare/: no middleware (what Granian itself hands over); /granian-outside/
    and /granian-inside/: with Granian's own proxy wrapper; else the middleware."""
    if scope["type"] in ("http", "websocket"):
        for part, route in ROUTES.items():
            if part in scope["path"]:
                return await route(scope, receive, send)
    return await wrapped(scope, receive, send)
'''

#: What the trusted proxy sends in front of every trusted request to the ASGI app.
PROXY_HEADERS = [("X-Forwarded-For", REAL_CLIENT), ("X-Forwarded-Proto", "https"),
                 ("X-Forwarded-Host", PUBLIC), ("X-Forwarded-Server", "srv.example"),
                 ("X-Forwarded-Port", "8443"), ("X-Forwarded-Prefix", "/pre")]

#: Every forwarded header name a client forges in these tests, lower-cased.
FORGED_NAMES = frozenset(name.lower() for name, _ in FORGED)


@pytest.fixture(scope="module")
def wsgi() -> Iterator[Callable[..., ManagedServer]]:
    """``wsgi(attr, prefix=None)``: Granian's WSGI interface serving ``e2e_app:attr``
    (``--url-path-prefix prefix``), started on first use and kept for this module."""
    with ExitStack() as stack:
        cache: dict[tuple[str, str | None], ManagedServer] = {}

        def get(attr: str = "application", prefix: str | None = None) -> ManagedServer:
            if (attr, prefix) not in cache:
                module = "granian_wrapped" if attr in ("outside", "inside") else "e2e_app"
                files = {**backend_files(), "granian_wrapped.py": WSGI_WRAPPED}
                cache[attr, prefix] = started(stack, start_granian(
                    files, f"{module}:{attr}", name=f"granian-wsgi-{attr}",
                    interface="wsgi", url_path_prefix=prefix))
            return cache[attr, prefix]

        yield get


@pytest.fixture(scope="module", params=[None, "/root"], ids=["no-prefix", "url-path-prefix"])
def asgi(request: pytest.FixtureRequest) -> Iterator[tuple[ManagedServer, str]]:
    """Granian's ASGI interface serving ASGI_APP (``--url-path-prefix`` or not),
    and the prefix."""
    prefix: str | None = request.param
    server = start_granian({"g_app.py": ASGI_APP}, "g_app:app", name="granian",
                           interface="asgi", url_path_prefix=prefix)
    try:
        yield server, prefix or ""
    finally:
        server.cleanup()  # stopped by PID, its directory removed


def environ_of(server: ManagedServer, headers: tuple[tuple[str, str], ...],
               source: str, target: str = "/x") -> dict[str, Any]:
    env: dict[str, Any] = seen(send(server, target, headers, source=source))["environ"]
    return env


# --------------------------------------------------------------------------
# WSGI: what Granian hands over, and the middleware's results


def test_wsgi_reads_no_forwarded_header(wsgi: Callable[..., ManagedServer]) -> None:
    """Granian's WSGI interface passes every forwarded header on and derives nothing
    from them: REMOTE_ADDR is the peer, wsgi.url_scheme http, from any peer."""
    bare = wsgi("plain")
    for source in (CLIENT, PROXY):
        env = environ_of(bare, FORGED, source)
        assert env["REMOTE_ADDR"] == source
        assert env["wsgi.url_scheme"] == "http"
        assert "HTTPS" not in env
        assert env["HTTP_HOST"] == PUBLIC_HOST
        assert env["HTTP_X_FORWARDED_FOR"] == FORGED_CLIENT
        assert set(FORWARDED_ENV_KEYS) <= set(env)


def test_wsgi_untrusted_peer_sees_no_forged_header(wsgi: Callable[..., ManagedServer]) -> None:
    """From 127.0.0.2 every forged header is removed, and apart from them the
    environ is the bare app's."""
    app, bare = wsgi(), wsgi("plain")
    data = seen(send(app, "/x?q=1", FORGED))
    env = data["environ"]
    assert forwarded_left(data) == set()
    assert (data["remote_addr"], data["orig_peer"]) == (CLIENT, CLIENT)
    assert data["url"] == f"http://{PUBLIC_HOST}/x?q=1"
    assert data["is_secure"] is False
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/x")

    plain = seen(send(bare, "/x?q=1", FORGED))["environ"]
    # Granian puts its process environment (this one's, and PYTHONPATH naming each
    # server's own directory) in every environ: left out of the comparison.
    volatile = {"SERVER_PORT", "PYTHONPATH", *os.environ} | FORWARDED_ENV_KEYS
    assert {k: v for k, v in env.items() if k not in volatile} == {
        k: v for k, v in plain.items() if k not in volatile}


@pytest.mark.parametrize("prefix", [None, "/myapp"], ids=["no-prefix", "url-path-prefix"])
def test_wsgi_trusted_proxy(wsgi: Callable[..., ManagedServer], prefix: str | None) -> None:
    """From the trusted proxy: client, scheme, host, port and prefix are rewritten;
    the prefix goes in front of Granian's --url-path-prefix (SCRIPT_NAME), and
    links, URLs and redirects carry them."""
    app = wsgi("application", prefix)
    root = prefix or ""
    headers = (("X-Forwarded-For", REAL_CLIENT), ("X-Forwarded-Proto", "https"),
               ("X-Forwarded-Host", PUBLIC), ("X-Forwarded-Port", "8443"),
               ("X-Forwarded-Prefix", "/pre"))
    data = seen(send(app, f"{root}/hello", headers, source=PROXY))
    env = data["environ"]
    assert (data["remote_addr"], data["orig_peer"]) == (REAL_CLIENT, PROXY)
    assert env["HTTP_X_FORWARDED_FOR"] == REAL_CLIENT
    assert env["wsgi.url_scheme"] == "https"
    assert (env["HTTP_HOST"], env["SERVER_PORT"]) == (PUBLIC, "8443")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (f"/pre{root}", "/hello")
    assert data["url"] == f"https://{PUBLIC}/pre{root}/hello"
    assert data["static"] == f"/pre{root}/static/app.css"
    # The trusted headers stay (X-Forwarded-For trimmed to the client, SPEC 4).
    assert forwarded_left(data) == {"HTTP_X_FORWARDED_" + name for name in (
        "FOR", "PROTO", "HOST", "PORT", "PREFIX")}
    response = send(app, f"{root}/go", headers, source=PROXY)
    assert response.status == 302
    assert response.header("Location") in (
        f"/pre{root}/hello", f"https://{PUBLIC}/pre{root}/hello")

    # The same headers from 127.0.0.2: removed; Granian's own values stay.
    data = seen(send(app, f"{root}/hello", headers))
    env = data["environ"]
    assert (data["remote_addr"], env["wsgi.url_scheme"]) == (CLIENT, "http")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (root, "/hello")
    assert data["url"] == f"http://{PUBLIC_HOST}{root}/hello"
    assert forwarded_left(data) == set()


def test_wsgi_underscore_names_replace_the_dash_name(wsgi: Callable[..., ManagedServer]) -> None:
    """Granian files ``X_Forwarded_For`` under HTTP_X_FORWARDED_FOR. Lines of one
    spelling are joined with ","; of two spellings, the one whose first line comes
    later replaces the other. From an untrusted peer the middleware removes it;
    from the trusted peer it cannot tell it from the real header, so an
    underscore line after the proxy's line decides the client (and an
    ``X_Forwarded_Proto`` after the proxy's X-Forwarded-Proto the scheme)."""
    bare, app = wsgi("plain"), wsgi()
    underscore = ("X_Forwarded_For", FORGED_CLIENT)
    proxys = ("X-Forwarded-For", REAL_CLIENT)  # what the trusted proxy writes

    def received(*headers: tuple[str, str]) -> str:
        value: str = environ_of(bare, headers, PROXY)["HTTP_X_FORWARDED_FOR"]
        return value

    assert received(underscore) == FORGED_CLIENT
    assert received(proxys, underscore) == FORGED_CLIENT  # replaced, not joined
    assert received(underscore, proxys) == REAL_CLIENT
    assert received(proxys, underscore, ("X-Forwarded-For", "5.6.7.8")) == FORGED_CLIENT
    assert received(underscore, proxys, ("X_Forwarded_For", "5.6.7.8")) == REAL_CLIENT
    assert received(proxys, ("X-Forwarded-For", "5.6.7.8")) == f"{REAL_CLIENT},5.6.7.8"
    assert received(proxys, ("x-forwarded-for", "5.6.7.8")) == f"{REAL_CLIENT},5.6.7.8"

    # Untrusted peer: removed, never the client.
    data = seen(send(app, "/x", (underscore,)))
    assert data["remote_addr"] == CLIENT
    assert forwarded_left(data) == set()

    # Trusted peer, the underscore line before the proxy's: the real client.
    data = seen(send(app, "/x", (underscore, proxys), source=PROXY))
    assert (data["remote_addr"], data["orig_peer"]) == (REAL_CLIENT, PROXY)

    # After it (or alone): believed, and the proxy's line is gone.
    for headers in ((proxys, underscore), (underscore,)):
        data = seen(send(app, "/x", headers, source=PROXY))
        assert (data["remote_addr"], data["orig_peer"]) == (FORGED_CLIENT, PROXY)

    # The same for a single value: where uWSGI makes a list (ignored), Granian
    # hands over the client's value alone, and the middleware believes it.
    headers = (("X-Forwarded-Proto", "http"), ("X_Forwarded_Proto", "https"),
               ("X-Forwarded-Host", PUBLIC), ("X_Forwarded_Host", "evil.example"))
    plain = environ_of(bare, headers, PROXY)
    assert (plain["HTTP_X_FORWARDED_PROTO"], plain["HTTP_X_FORWARDED_HOST"]) == (
        "https", "evil.example")
    env = environ_of(app, headers, PROXY)
    assert (env["wsgi.url_scheme"], env["HTTP_HOST"]) == ("https", "evil.example")


def test_check_server_granian_warns_about_underscore_names(tmp_path: Path) -> None:
    """``trustedproxy check --server granian-wsgi`` warns that Granian's WSGI interface
    lets a client's ``X_Forwarded_For`` replace HTTP_X_FORWARDED_FOR (the fact
    measured above); ``--server granian`` has nothing to say."""
    policy_file = tmp_path / "trust.yaml"
    policy_file.write_text(TRUST, encoding="utf-8")

    def check(server: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trustedproxy", "check", "--strict", "--server", server,
             str(policy_file)], capture_output=True, text=True, timeout=60, check=False)

    result = check("granian-wsgi")
    assert result.returncode == 1, result.stderr
    warning = [line for line in result.stdout.splitlines() if "--server granian-wsgi" in line]
    assert len(warning) == 1, result.stdout
    assert "'X_Forwarded_For'" in warning[0]
    assert "HTTP_X_FORWARDED_FOR" in warning[0]
    assert "drop" in warning[0]
    result = check("granian")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout


#: Front-ends in front of Granian (WSGI), and whether a client's ``X_Forwarded_For``
#: and ``X_Forwarded_Proto`` lines reach Granian after the front-end's own lines
#: (or with none of its own), so that they replace them.
FRONT_ENDS = {
    "caddy": True,  # passes them on, after the X-Forwarded-* it writes
    "nginx": False,  # underscores_in_headers off (the default): dropped
    "nginx-underscores-on": True,  # passed on, after proxy_set_header's lines
    "haproxy": False,  # passed on, but option forwardfor's line comes last
}


@pytest.mark.parametrize("front", sorted(FRONT_ENDS))
def test_front_ends_and_underscore_names(front: str, servers: ExitStack,
                                         wsgi: Callable[..., ManagedServer]) -> None:
    """Through a real front-end, a client's ``X_Forwarded_For`` becomes REMOTE_ADDR
    under Granian's WSGI interface exactly when the front-end passes the line on
    after its own X-Forwarded-For: Caddy (default ``reverse_proxy``) and nginx with
    ``underscores_in_headers on`` do; nginx's default and HAProxy do not. Caddy
    writes X-Forwarded-Proto too, and the client's ``X_Forwarded_Proto`` replaces it."""
    bare, app = wsgi("plain"), wsgi()
    underscore = (("X_Forwarded_For", FORGED_CLIENT), ("X_Forwarded_Proto", "https"))
    received = seen(send(start_front(servers, front, bare.port), "/x", underscore))["environ"]
    data = seen(send(start_front(servers, front, app.port), "/x", underscore))
    assert data["orig_peer"] == PROXY
    if FRONT_ENDS[front]:
        assert received["HTTP_X_FORWARDED_FOR"] == FORGED_CLIENT
        assert data["remote_addr"] == FORGED_CLIENT
        assert data["environ"]["wsgi.url_scheme"] == "https"
    else:
        assert received["HTTP_X_FORWARDED_FOR"] == CLIENT
        assert data["remote_addr"] == CLIENT
    if front == "nginx":
        assert "HTTP_X_FORWARDED_PROTO" not in received
        assert data["environ"]["wsgi.url_scheme"] == "http"


def test_wsgi_repeated_lines_are_joined(wsgi: Callable[..., ManagedServer]) -> None:
    """Granian joins repeated lines with ",": X-Forwarded-For lines make one list
    (walked from the right: the last line's address is the client), repeated
    X-Forwarded-Host lines a list, which is ignored and removed (SPEC 5)."""
    lines = (("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.7"),
             ("X-Forwarded-Host", "one.example"), ("X-Forwarded-Host", "two.example"))
    plain = environ_of(wsgi("plain"), lines, PROXY)
    assert plain["HTTP_X_FORWARDED_FOR"] == "198.51.100.1,203.0.113.7"
    assert plain["HTTP_X_FORWARDED_HOST"] == "one.example,two.example"

    data = seen(send(wsgi(), "/x", lines, source=PROXY))
    env = data["environ"]
    assert data["remote_addr"] == "203.0.113.7"
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.7"
    assert env["HTTP_HOST"] == PUBLIC_HOST
    assert "HTTP_X_FORWARDED_HOST" not in env


@pytest.mark.parametrize("headers", SCHEME_CASES, ids=SCHEME_IDS)
def test_wsgi_scheme_is_not_taken_from_client_headers(
    wsgi: Callable[..., ManagedServer], headers: tuple[tuple[str, str], ...]
) -> None:
    """Unlike uWSGI, Granian leaves wsgi.url_scheme ``http`` whatever a client's
    X-Forwarded-Proto or -Ssl says (a URL included); the middleware removes the
    headers from 127.0.0.2, and from the trusted proxy believes only a valid word."""
    assert environ_of(wsgi("plain"), headers, CLIENT)["wsgi.url_scheme"] == "http"
    data = seen(send(wsgi(), "/x", headers))
    assert data["environ"]["wsgi.url_scheme"] == "http"
    assert forwarded_left(data) == set()

    # From the trusted proxy: "https" is believed (and kept); a URL, a list
    # ("http,https"), "gopher" are ignored and removed; X-Forwarded-Ssl is not in
    # the policy, so it is removed.
    env = environ_of(wsgi(), headers, PROXY)
    believed = headers == (("X-Forwarded-Proto", "https"),)
    assert env["wsgi.url_scheme"] == ("https" if believed else "http")
    assert FORWARDED_ENV_KEYS & set(env) == ({"HTTP_X_FORWARDED_PROTO"} if believed else set())


def test_wsgi_granian_proxy_wrapper(wsgi: Callable[..., ManagedServer]) -> None:
    """Granian's opt-in ``wrap_wsgi_with_proxy_headers`` outside the middleware
    decides first: REMOTE_ADDR from X-Forwarded-For (any text), the scheme;
    the middleware then sees that client as the peer, trusts nothing and removes
    the rest, so the host and prefix are lost. Inside the middleware it sees the
    fixed request, trusts its client not, and changes nothing."""
    headers = (("X-Forwarded-For", REAL_CLIENT), ("X-Forwarded-Proto", "https"),
               ("X-Forwarded-Host", "public.example"), ("X-Forwarded-Prefix", "/pre"))
    data = seen(send(wsgi("outside"), "/x", headers, source=PROXY))
    env = data["environ"]
    assert (data["remote_addr"], data["orig_peer"]) == (REAL_CLIENT, REAL_CLIENT)
    assert env["wsgi.url_scheme"] == "https"  # Granian's wrapper's doing
    assert (env["HTTP_HOST"], env["SCRIPT_NAME"]) == (PUBLIC_HOST, "")
    assert forwarded_left(data) == set()
    junk = seen(send(wsgi("outside"), "/x", (("X-Forwarded-For", "not-an-address"),),
                     source=PROXY))
    assert junk["environ"]["REMOTE_ADDR"] == "not-an-address"

    data = seen(send(wsgi("inside"), "/x", headers, source=PROXY))
    env = data["environ"]
    assert (data["remote_addr"], data["orig_peer"]) == (REAL_CLIENT, PROXY)
    assert env["wsgi.url_scheme"] == "https"
    assert (env["HTTP_HOST"], env["SCRIPT_NAME"]) == ("public.example", "/pre")
    junk = seen(send(wsgi("inside"), "/x", (("X-Forwarded-For", "not-an-address"),),
                     source=PROXY))
    assert junk["remote_addr"] == PROXY


def test_granian_has_no_proxy_header_option() -> None:
    """Granian's command line has no option that reads forwarded headers: its proxy
    handling is only the opt-in wrappers in ``granian.utils.proxies``."""
    require(importlib.util.find_spec("granian") is not None,
            "granian is not installed (pip install -e '.[test]')")
    result = subprocess.run([sys.executable, "-m", "granian", "--help"], capture_output=True,
                            text=True, timeout=60, check=True)
    assert "--interface" in result.stdout
    assert "--url-path-prefix" in result.stdout
    for word in ("proxy", "forwarded", "trusted"):
        assert word not in result.stdout.lower()


# --------------------------------------------------------------------------
# ASGI


def test_asgi_trusted_proxy(asgi: tuple[ManagedServer, str]) -> None:
    """From the trusted proxy: client, scheme, Host, server name and port, and
    prefix are rewritten; the prefix goes in front of Granian's root_path
    (--url-path-prefix), and path follows it."""
    server, root = asgi
    seen_ = http_view(server, f"{root}/x", PROXY_HEADERS, PROXY)
    assert seen_["trusted"] is True
    assert seen_["client"] == [REAL_CLIENT, 0]
    assert seen_["orig_client"][0] == PROXY
    assert seen_["scheme"] == "https"
    assert host_header(seen_) == [PUBLIC]
    assert seen_["server"] == ["srv.example", 8443]
    assert seen_["root_path"] == f"/pre{root}"
    assert (seen_["path"], seen_["raw_path"]) == (f"/pre{root}/x", f"/pre{root}/x")


def test_asgi_untrusted_client(asgi: tuple[ManagedServer, str]) -> None:
    """From 127.0.0.2 every forged forwarded header is removed and nothing else
    changes: Granian's own scope (client, http, Host, server with its port as
    text, root_path, path) is what the bare app gets, less those headers."""
    server, root = asgi
    seen_ = http_view(server, f"{root}/x", list(FORGED), CLIENT)
    bare = http_view(server, f"{root}/bare/x", list(FORGED), CLIENT)
    assert seen_["trusted"] is False
    assert seen_["client"][0] == bare["client"][0] == CLIENT
    assert seen_["scheme"] == bare["scheme"] == "http"  # Granian reads no forwarded header
    assert host_header(seen_) == ["backend.internal"]
    assert seen_["server"] == bare["server"] == [PROXY, str(server.port)]
    assert (seen_["root_path"], seen_["path"]) == (root, f"{root}/x")
    assert set(names(bare)) >= FORGED_NAMES  # Granian passed every one on
    assert not FORGED_NAMES & set(names(seen_))
    assert seen_["headers"] == [pair for pair in bare["headers"]
                                if pair[0] not in FORGED_NAMES]

    # The trusted proxy's bare view: Granian did not act on the headers either.
    bare = http_view(server, f"{root}/bare/x", PROXY_HEADERS, PROXY)
    assert (bare["client"][0], bare["scheme"]) == (PROXY, "http")


def test_asgi_websocket(asgi: tuple[ManagedServer, str]) -> None:
    """A websocket from the trusted proxy with X-Forwarded-Proto https is ``wss``,
    with the client, Host, server and prefix rewritten; from 127.0.0.2 the
    forged headers are removed and the scope is ``ws`` as Granian made it."""
    pytest.importorskip("websockets")
    server, root = asgi
    seen_ = websocket_view(server, f"{root}/ws", PROXY_HEADERS, PROXY)
    assert seen_["type"] == "websocket"
    assert seen_["trusted"] is True
    assert (seen_["client"], seen_["scheme"]) == ([REAL_CLIENT, 0], "wss")
    assert host_header(seen_) == [PUBLIC]
    assert seen_["server"] == ["srv.example", 8443]
    assert (seen_["root_path"], seen_["path"]) == (f"/pre{root}", f"/pre{root}/ws")

    seen_ = websocket_view(server, f"{root}/ws", PROXY_HEADERS, CLIENT)
    assert seen_["trusted"] is False
    assert (seen_["client"][0], seen_["scheme"]) == (CLIENT, "ws")
    assert seen_["server"] == [PROXY, str(server.port)]
    assert (seen_["root_path"], seen_["path"]) == (root, f"{root}/ws")
    assert not [n for n in names(seen_) if n.startswith("x-forwarded")]


@pytest.mark.parametrize("source", [CLIENT, PROXY], ids=["untrusted", "trusted"])
def test_asgi_underscore_names_are_kept_apart_and_removed(
    asgi: tuple[ManagedServer, str], source: str
) -> None:
    """Granian's ASGI interface passes ``X_Forwarded_For`` on as ``x_forwarded_for``,
    a name of its own; the lines of each name stay in order, but are grouped in the
    order each name first came. The middleware never reads such a name and removes
    it from every peer: the client is the one the real header names."""
    server, root = asgi
    lines = [("X_Forwarded_For", "1.2.3.4"), ("X-Forwarded-For", REAL_CLIENT),
             ("X_Forwarded_Proto", "https"), ("x-forwarded_host", "evil.example"),
             ("X_Forwarded_For", "5.6.7.8")]
    bare = http_view(server, f"{root}/bare/x", lines, source)
    assert [pair for pair in bare["headers"] if pair[0] != "host"] == [
        ["x_forwarded_for", "1.2.3.4"], ["x_forwarded_for", "5.6.7.8"],
        ["x-forwarded-for", REAL_CLIENT], ["x_forwarded_proto", "https"],
        ["x-forwarded_host", "evil.example"]]
    for seen_ in (http_view(server, f"{root}/x", lines, source),
                  websocket_view(server, f"{root}/ws", lines, source)):
        assert not {"x_forwarded_for", "x_forwarded_proto", "x-forwarded_host"} & set(
            names(seen_))
        assert seen_["scheme"] in ("http", "ws")
        if source == PROXY:
            assert seen_["client"] == [REAL_CLIENT, 0]
            assert ["x-forwarded-for", REAL_CLIENT] in seen_["headers"]
        else:
            assert seen_["client"][0] == CLIENT
            assert "x-forwarded-for" not in names(seen_)


def test_asgi_repeated_lines_and_odd_schemes(asgi: tuple[ManagedServer, str]) -> None:
    """Repeated lines arrive as separate entries; the middleware joins them as WSGI
    servers do (X-Forwarded-For walked from the right; two X-Forwarded-Proto lines
    a list, ignored and removed). A malformed X-Forwarded-Proto is ignored from
    the trusted proxy; Granian never makes a scheme of it."""
    server, root = asgi
    lines = [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.7"),
             ("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")]
    bare = http_view(server, f"{root}/bare/x", lines, PROXY)
    assert [pair for pair in bare["headers"] if pair[0] != "host"] == [
        [name.lower(), value] for name, value in lines]
    seen_ = http_view(server, f"{root}/x", lines, PROXY)
    assert seen_["client"] == ["203.0.113.7", 0]
    assert ["x-forwarded-for", "203.0.113.7"] in seen_["headers"]
    assert seen_["scheme"] == "http"
    assert "x-forwarded-proto" not in names(seen_)

    evil = [("X-Forwarded-Proto", "https://evil.example/#")]
    for source in (CLIENT, PROXY):
        assert http_view(server, f"{root}/bare/x", evil, source)["scheme"] == "http"
        seen_ = http_view(server, f"{root}/x", evil, source)
        assert seen_["scheme"] == "http"
        assert "x-forwarded-proto" not in names(seen_)


def test_asgi_granian_proxy_wrapper(asgi: tuple[ManagedServer, str]) -> None:
    """Granian's opt-in ``wrap_asgi_with_proxy_headers`` outside the middleware
    decides first (client from X-Forwarded-For as any text, the scheme); the
    middleware then sees that client as the peer, trusts nothing and removes the
    rest: Host, server and prefix are lost. Inside it, it sees the fixed scope
    and changes nothing: the result is the middleware's alone."""
    server, root = asgi
    outside = http_view(server, f"{root}/granian-outside/x", PROXY_HEADERS, PROXY)
    assert outside["trusted"] is False
    assert outside["client"] == [REAL_CLIENT, 0]
    assert outside["scheme"] == "https"  # Granian's wrapper's doing
    assert host_header(outside) == ["backend.internal"]
    assert outside["server"] == [PROXY, str(server.port)]
    assert outside["root_path"] == root
    assert not [n for n in names(outside) if n.startswith("x-forwarded")]
    junk = http_view(server, f"{root}/granian-outside/x",
                     [("X-Forwarded-For", "not-an-address")], PROXY)
    assert junk["client"] == ["not-an-address", 0]

    inside = http_view(server, f"{root}/granian-inside/x", PROXY_HEADERS, PROXY)
    plain = http_view(server, f"{root}/x", PROXY_HEADERS, PROXY)
    assert inside["trusted"] is True
    assert inside["orig_client"][0] == plain["orig_client"][0] == PROXY
    mine = ("path", "raw_path", "orig_client")
    assert {k: v for k, v in inside.items() if k not in mine} == {
        k: v for k, v in plain.items() if k not in mine}
    assert inside["path"] == f"/pre{root}/granian-inside/x"
