"""The e2e back-end app (Flask in ``TrustedProxyMiddleware``) under real uWSGI.

uWSGI comes from ``pyuwsgi`` (the ``test`` extra); it runs with ``--master``,
one worker, on 127.0.0.1, speaking HTTP itself (``--http-socket``, the parser
in the worker) or through its HTTP router (``--http``, a process of its own
that speaks uwsgi to the worker). As in ``test_frontends``, untrusted clients
connect from 127.0.0.2 and the trusted peer (a proxy) from 127.0.0.1; the
same Flask app runs bare (``plain``) where a test shows what uWSGI itself hands
the application.

What uWSGI (2.0.30 from pyuwsgi, and 2.0.31; both modes) does, as measured here:

- A header name with ``_`` is kept and filed under the same CGI key as its
  ``-`` spelling: ``X_Forwarded_For`` becomes ``HTTP_X_FORWARDED_FOR``, and
  with ``X-Forwarded-For`` lines the values are joined in line order with
  ``", "``. The middleware cannot tell the two apart: from an untrusted peer
  both are removed; from a trusted peer the merged value is walked, so an
  underscore line that comes *after* the proxy's own line is believed.
  Caddy's ``reverse_proxy`` (which writes its own ``X-Forwarded-For`` before
  the client's ``X_Forwarded_For``) and nginx with ``underscores_in_headers
  on`` pass such a line on in that order; nginx by default drops it, and
  HAProxy puts its line last.
- Repeated lines of any header are joined with ``", "``.
- ``wsgi.url_scheme`` is taken from a request's ``X-Forwarded-Proto`` *as
  sent* (any text: ``gopher``, ``http, https``, ``https://evil.example/#``)
  or is ``https`` for ``X-Forwarded-Ssl: on``, from every peer, before the
  middleware runs; the middleware removes the headers but leaves the scheme
  uWSGI derived from them (see ``test_uwsgi_derives_the_scheme_from_client_headers``).
- ``REMOTE_ADDR`` is the peer's address (``127.0.0.2``, ``::1``), no port.
- ``--mount /myapp=...`` with ``--manage-script-name`` sets ``SCRIPT_NAME`` to
  ``/myapp`` and strips it from ``PATH_INFO``; a trusted ``X-Forwarded-Prefix``
  goes in front of it (SPEC 5).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from realservers import (
    ManagedServer,
    RawResponse,
    free_port,
    raw_request,
    start_caddy,
    start_haproxy,
    start_nginx,
    start_uwsgi,
)
from realservers.common import port_answers
from realservers.servers import UWSGI_MODES

from e2e.backend import APP_SOURCE, policy
from e2e.test_frontends import (
    CLIENT,
    FORGED,
    FORWARDED_ENV_KEYS,
    PUBLIC_HOST,
    forwarded_left,
    seen,
    started,
)

pytestmark = [pytest.mark.realserver, pytest.mark.e2e]

PROXY = "127.0.0.1"
FORGED_CLIENT = "1.2.3.4"
TRUSTED_HEADERS = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                   "X-Forwarded-Port", "X-Forwarded-Prefix"]
#: The policy of these tests: the proxy at 127.0.0.1 (and at ::1) is trusted.
TRUST = policy([PROXY, "::1"], TRUSTED_HEADERS)
#: The forwarded headers from which uWSGI derives ``wsgi.url_scheme`` itself.
SCHEME_SETTERS = frozenset({"X-Forwarded-Proto", "X-Forwarded-SSL"})


def backend_files(trust: str = TRUST) -> dict[str, str]:
    return {"e2e_app.py": APP_SOURCE, "policy.yaml": trust,
            "static/app.css": "body { color: black; }\n"}


@pytest.fixture(params=UWSGI_MODES)
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def uwsgi(stack: ExitStack, mode: str, attr: str = "application", **kwargs: Any
          ) -> ManagedServer:
    return started(stack, start_uwsgi(backend_files(), f"e2e_app:{attr}", mode=mode,
                                      name=f"uwsgi-{mode}-{attr}", **kwargs))


Pair = tuple[ManagedServer, ManagedServer]


@pytest.fixture(scope="module")
def shared() -> Iterator[Callable[[str], Pair]]:
    """``shared(mode)``: the app and the bare app under uWSGI in *mode*, started on
    first use and kept for this module (the apps keep no state between requests)."""
    with ExitStack() as stack:
        cache: dict[str, Pair] = {}

        def get(mode: str) -> Pair:
            if mode not in cache:
                cache[mode] = (uwsgi(stack, mode), uwsgi(stack, mode, "plain"))
            return cache[mode]

        yield get


def send(server: ManagedServer, target: str, headers: tuple[tuple[str, str], ...] = (),
         *, source: str = CLIENT) -> RawResponse:
    """GET from *source* with *headers* sent as given (repeats and odd names included)."""
    return raw_request(server.host, server.port, "GET", target,
                       [("Host", PUBLIC_HOST), *headers], source=source)


# --------------------------------------------------------------------------
# Untrusted peers


def test_untrusted_peer_sees_no_forged_header(mode: str, shared: Callable[[str], Pair]) -> None:
    """A direct client (127.0.0.2) forging every forwarded header: the app sees none
    of them, and apart from them the environ is the bare app's. (The two headers
    uWSGI turns into a scheme are left out here: see the scheme tests below.)"""
    app, bare = shared(mode)
    forged = tuple((name, value) for name, value in FORGED if name not in SCHEME_SETTERS)
    data = seen(send(app, "/x?q=1", forged))
    env = data["environ"]
    assert forwarded_left(data) == set()
    assert data["remote_addr"] == CLIENT
    assert env["REMOTE_ADDR"] == CLIENT
    assert data["url"] == f"http://{PUBLIC_HOST}/x?q=1"
    assert data["is_secure"] is False
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/x"
    assert data["orig_peer"] == CLIENT

    plain = seen(send(bare, "/x?q=1", forged))["environ"]
    assert plain["HTTP_X_FORWARDED_FOR"] == FORGED_CLIENT  # uWSGI passed it on
    volatile = {"REMOTE_PORT", "SERVER_PORT"} | FORWARDED_ENV_KEYS
    assert {k: v for k, v in env.items() if k not in volatile} == {
        k: v for k, v in plain.items() if k not in volatile}


# --------------------------------------------------------------------------
# Header names with "_"


def test_underscore_name_is_filed_as_the_dash_name(
    mode: str, shared: Callable[[str], Pair]
) -> None:
    """uWSGI files ``X_Forwarded_For`` under HTTP_X_FORWARDED_FOR and merges it with
    ``X-Forwarded-For`` lines in line order (", "). From an untrusted peer the
    middleware removes it; from the trusted peer it cannot tell it from the real
    header: an underscore line after the proxy's line is the rightmost element,
    and the walk takes it as the client; before it, it is out of the walk's reach."""
    app, bare = shared(mode)
    underscore = ("X_Forwarded_For", FORGED_CLIENT)
    proxys = ("X-Forwarded-For", CLIENT)  # what the trusted proxy writes

    def received(headers: tuple[tuple[str, str], ...], source: str) -> str | None:
        value: str | None = seen(send(bare, "/x", headers, source=source))[
            "environ"].get("HTTP_X_FORWARDED_FOR")
        return value

    assert received((underscore,), CLIENT) == FORGED_CLIENT
    assert received((proxys, underscore), PROXY) == f"{CLIENT}, {FORGED_CLIENT}"
    assert received((underscore, proxys), PROXY) == f"{FORGED_CLIENT}, {CLIENT}"

    # Untrusted peer: removed, never the client.
    data = seen(send(app, "/x", (underscore,)))
    assert data["remote_addr"] == CLIENT
    assert forwarded_left(data) == set()

    # Trusted peer, the underscore line before the proxy's: the real client.
    data = seen(send(app, "/x", (underscore, proxys), source=PROXY))
    assert data["remote_addr"] == CLIENT
    assert data["environ"]["HTTP_X_FORWARDED_FOR"] == CLIENT
    assert data["orig_peer"] == PROXY

    # Trusted peer, the underscore line after the proxy's (or alone): believed.
    # trustedproxy sees one HTTP_X_FORWARDED_FOR and cannot do otherwise: the
    # front-end must drop such names (README, "Compatibility testing").
    for headers in ((proxys, underscore), (underscore,)):
        data = seen(send(app, "/x", headers, source=PROXY))
        assert data["remote_addr"] == FORGED_CLIENT
        assert data["orig_peer"] == PROXY


def test_check_server_uwsgi_warns_about_underscore_names(tmp_path: Path) -> None:
    """``trustedproxy check --server uwsgi`` warns that uWSGI merges a client's
    ``X_Forwarded_For`` into HTTP_X_FORWARDED_FOR (the fact measured above)."""
    policy_file = tmp_path / "trust.yaml"
    policy_file.write_text(TRUST, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "trustedproxy", "check", "--server", "uwsgi",
         str(policy_file)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stdout.splitlines() if "--server uwsgi" in line]
    assert len(warning) == 1, result.stdout
    assert "'X_Forwarded_For'" in warning[0]
    assert "HTTP_X_FORWARDED_FOR" in warning[0]
    assert "drop" in warning[0]


#: Front-ends in front of uWSGI (http-socket), and whether a client's
#: ``X_Forwarded_For`` line reaches uWSGI after the front-end's own X-Forwarded-For.
FRONT_ENDS = {
    "caddy": True,  # passes it on, after the X-Forwarded-For it writes
    "nginx": False,  # underscores_in_headers off (the default): dropped
    "nginx-underscores-on": True,  # passed on, after proxy_set_header's lines
    "haproxy": False,  # passed on, but option forwardfor's line comes last
}


def start_front(stack: ExitStack, front: str, port: int) -> ManagedServer:
    if front == "caddy":
        return started(stack, start_caddy(f"    reverse_proxy 127.0.0.1:{port}\n"))
    if front == "haproxy":
        return started(stack, start_haproxy(f"""
    option forwardfor
    default_backend app

backend app
    server app1 127.0.0.1:{port}
"""))
    underscores = "on" if front == "nginx-underscores-on" else "off"
    return started(stack, start_nginx(f"""
        underscores_in_headers {underscores};
        location / {{
            proxy_pass http://127.0.0.1:{port};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
"""))


@pytest.mark.parametrize("front", sorted(FRONT_ENDS))
def test_front_ends_and_underscore_names(front: str, servers: ExitStack,
                                         shared: Callable[[str], Pair]) -> None:
    """Through a real front-end, a client's ``X_Forwarded_For`` becomes REMOTE_ADDR
    under uWSGI exactly when the front-end passes the line on after its own
    X-Forwarded-For: Caddy (default ``reverse_proxy``) and nginx with
    ``underscores_in_headers on`` do; nginx's default and HAProxy do not."""
    app, bare = shared("http-socket")
    underscore = (("X_Forwarded_For", FORGED_CLIENT),)
    received = seen(send(start_front(servers, front, bare.port), "/x", underscore))[
        "environ"]["HTTP_X_FORWARDED_FOR"]
    data = seen(send(start_front(servers, front, app.port), "/x", underscore))
    assert data["orig_peer"] == PROXY
    if FRONT_ENDS[front]:
        assert received == f"{CLIENT}, {FORGED_CLIENT}"
        assert data["remote_addr"] == FORGED_CLIENT
    else:
        assert received in (CLIENT, f"{FORGED_CLIENT}, {CLIENT}")
        assert data["remote_addr"] == CLIENT


# --------------------------------------------------------------------------
# Repeated lines, REMOTE_ADDR, SCRIPT_NAME


def test_repeated_lines_are_joined(mode: str, shared: Callable[[str], Pair]) -> None:
    """uWSGI joins repeated lines with ", ": X-Forwarded-For lines make one list
    (walked from the right: the last line's address is the client), repeated
    X-Forwarded-Host lines a list, which is ignored and removed (SPEC 5)."""
    app, bare = shared(mode)
    lines = (("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.7"),
             ("X-Forwarded-Host", "one.example"), ("X-Forwarded-Host", "two.example"))
    plain = seen(send(bare, "/x", lines, source=PROXY))["environ"]
    assert plain["HTTP_X_FORWARDED_FOR"] == "198.51.100.1, 203.0.113.7"
    assert plain["HTTP_X_FORWARDED_HOST"] == "one.example, two.example"

    data = seen(send(app, "/x", lines, source=PROXY))
    env = data["environ"]
    assert data["remote_addr"] == "203.0.113.7"
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.7"
    assert env["HTTP_HOST"] == PUBLIC_HOST
    assert "HTTP_X_FORWARDED_HOST" not in env
    assert data["orig_peer"] == PROXY


def get_ipv6(port: int, target: str, headers: dict[str, str]) -> dict[str, Any]:
    """GET over IPv6 from ::1 to [::1]:port (http.client: ordinary headers only)."""
    conn = http.client.HTTPConnection("::1", port, timeout=10, source_address=("::1", 0))
    try:
        conn.request("GET", target, headers={"Host": PUBLIC_HOST, **headers})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, body[:2000]
    data: dict[str, Any] = json.loads(body)
    return data


def test_remote_addr_ipv4_and_ipv6(servers: ExitStack) -> None:
    """REMOTE_ADDR is the peer's address alone, for IPv4 and for ::1; the trusted
    ::1 peer's X-Forwarded-For is walked, the untrusted 127.0.0.2's removed."""
    ipv6_port = free_port()
    app = uwsgi(servers, "http-socket", ipv6_port=ipv6_port)
    assert port_answers(app.host, app.port)
    data = seen(send(app, "/x", (("X-Forwarded-For", "198.51.100.1"),)))
    assert (data["remote_addr"], data["orig_peer"]) == (CLIENT, CLIENT)
    data = seen(send(app, "/x", (("X-Forwarded-For", "198.51.100.1"),), source=PROXY))
    assert (data["remote_addr"], data["orig_peer"]) == ("198.51.100.1", PROXY)

    data = get_ipv6(ipv6_port, "/x", {})
    assert data["remote_addr"] == "::1"
    assert data["orig_peer"] == "::1"
    data = get_ipv6(ipv6_port, "/x", {"X-Forwarded-For": "2001:db8::7, [2001:db8::8]:443"})
    assert data["remote_addr"] == "2001:db8::8"
    assert data["environ"]["HTTP_X_FORWARDED_FOR"] == "[2001:db8::8]:443"
    assert data["orig_peer"] == "::1"


def test_mount_point_and_forwarded_prefix(mode: str, servers: ExitStack) -> None:
    """``--mount /myapp=...``: uWSGI sets SCRIPT_NAME /myapp; a trusted
    X-Forwarded-Prefix /pre is prepended (SCRIPT_NAME /pre/myapp, SPEC 5), and
    links, URLs and redirects carry it; a forged one from 127.0.0.2 changes nothing."""
    app = uwsgi(servers, mode, mount="/myapp")
    proxy_headers = (("X-Forwarded-For", CLIENT), ("X-Forwarded-Proto", "https"),
                     ("X-Forwarded-Prefix", "/pre"))
    data = seen(send(app, "/myapp/hello", proxy_headers, source=PROXY))
    env = data["environ"]
    assert env["SCRIPT_NAME"] == "/pre/myapp"
    assert env["PATH_INFO"] == "/hello"
    assert data["script_root"] == "/pre/myapp"
    assert data["url"] == f"https://{PUBLIC_HOST}/pre/myapp/hello"
    assert data["static"] == "/pre/myapp/static/app.css"
    assert data["external"] == f"https://{PUBLIC_HOST}/pre/myapp/hello"
    assert data["remote_addr"] == CLIENT
    assert data["orig_peer"] == PROXY
    response = send(app, "/myapp/go", proxy_headers, source=PROXY)
    assert response.status == 302
    assert response.header("Location") in (
        "/pre/myapp/hello", f"https://{PUBLIC_HOST}/pre/myapp/hello")

    forged = tuple((name, value) for name, value in FORGED if name not in SCHEME_SETTERS)
    data = seen(send(app, "/myapp/hello", forged))
    env = data["environ"]
    assert env["SCRIPT_NAME"] == "/myapp"
    assert env["PATH_INFO"] == "/hello"
    assert data["url"] == f"http://{PUBLIC_HOST}/myapp/hello"
    assert data["remote_addr"] == CLIENT
    assert forwarded_left(data) == set()


# --------------------------------------------------------------------------
# The scheme uWSGI derives from X-Forwarded-Proto and X-Forwarded-Ssl


SCHEME_CASES = [
    (("X-Forwarded-Proto", "https"),),
    (("X-Forwarded-Proto", "https://evil.example/#"),),
    (("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")),
    (("X_Forwarded_Proto", "gopher"),),
    (("X-Forwarded-SSL", "on"),),
]
SCHEME_IDS = ["https", "url", "two-lines", "underscore", "ssl"]


def uwsgi_scheme(headers: tuple[tuple[str, str], ...]) -> str:
    """What uWSGI puts in wsgi.url_scheme for *headers*: X-Forwarded-Proto (any
    spelling, repeated lines joined) as sent, else https for X-Forwarded-Ssl on."""
    protos = [value for name, value in headers
              if name.lower().replace("_", "-") == "x-forwarded-proto"]
    if protos:
        return ", ".join(protos)
    return "https" if ("X-Forwarded-SSL", "on") in headers else "http"


@pytest.mark.parametrize("headers", SCHEME_CASES, ids=SCHEME_IDS)
def test_uwsgi_derives_the_scheme_from_client_headers(
    mode: str, shared: Callable[[str], Pair], headers: tuple[tuple[str, str], ...]
) -> None:
    """uWSGI sets wsgi.url_scheme from X-Forwarded-Proto (as sent, any text) or
    X-Forwarded-Ssl, for every peer, before the middleware runs. The middleware
    removes the headers from an untrusted peer but, as SPEC 1 says ("nothing in
    the environ changes otherwise"), leaves the scheme: the app sees the client's
    text. Pinned here; reported (needs a SPEC decision). Mitigation: keep the
    app's port unreachable but from the proxy, and have the proxy overwrite
    X-Forwarded-Proto and drop X-Forwarded-Ssl and names with ``_``."""
    app, bare = shared(mode)
    expected = uwsgi_scheme(headers)
    assert seen(send(bare, "/x", headers))["environ"]["wsgi.url_scheme"] == expected
    data = seen(send(app, "/x", headers))
    assert data["environ"]["wsgi.url_scheme"] == expected  # the gap, pinned
    assert data["url"] == f"{expected}://{PUBLIC_HOST}/x"
    assert forwarded_left(data) == set()
    assert data["remote_addr"] == CLIENT

    # A trusted proxy that sets a valid X-Forwarded-Proto decides the scheme.
    data = seen(send(app, "/x", (*headers, ("X-Forwarded-Proto", "http")), source=PROXY))
    if uwsgi_scheme(headers) == "https" and ("X-Forwarded-SSL", "on") in headers:
        assert data["environ"]["wsgi.url_scheme"] == "http"
    else:  # the lines merged into a list: ignored and removed; uWSGI's scheme stays
        assert "HTTP_X_FORWARDED_PROTO" not in data["environ"]
        assert data["environ"]["wsgi.url_scheme"] == uwsgi_scheme(
            (*headers, ("X-Forwarded-Proto", "http")))


@pytest.mark.xfail(strict=True, reason=(
    "uWSGI sets wsgi.url_scheme from the client's X-Forwarded-Proto/-Ssl before the "
    "middleware runs, and SPEC 1 has the middleware change nothing but the forwarded "
    "headers for an untrusted peer: reported, needs a SPEC decision"))
@pytest.mark.parametrize("headers", SCHEME_CASES, ids=SCHEME_IDS)
def test_untrusted_client_cannot_choose_the_scheme(
    shared: Callable[[str], Pair], headers: tuple[tuple[str, str], ...]
) -> None:
    """What a user expects: an untrusted client's headers do not decide the scheme."""
    app, _ = shared("http-socket")
    data = seen(send(app, "/x", headers))
    assert data["environ"]["wsgi.url_scheme"] == "http"
