"""The app behind real HAProxy (Debian 12: 2.6) and Caddy (Debian 12: 2.6.2).

As in ``test_frontends``: the client connects from 127.0.0.2 (untrusted), the
front-end reaches the back-end from 127.0.0.1 (trusted), and every back-end is
served by gunicorn and by waitress. Where a test needs to show what the
back-end server itself received, the same Flask app runs bare (no middleware)
behind the same front-end, under ``/bare/``.

What these front-ends do with a client's forwarded headers, as measured here:

- HAProxy ``option forwardfor`` adds one ``X-Forwarded-For`` line after the
  client's own lines; gunicorn joins repeated lines with ``","``, waitress with
  ``", "``, so the client's address is the rightmost element and the walk from
  the right finds it. ``http-request set-header`` replaces every line of a
  header, ``http-request add-header`` adds a line after the client's. With
  ``option forwardfor if-none`` HAProxy adds nothing when the client sent the
  header, so the client's value is all the back-end gets.
- Caddy ``reverse_proxy`` (no ``trusted_proxies``) replaces the client's
  X-Forwarded-For, -Proto and -Host with its own; every other header the client
  sent (X-Forwarded-Prefix, X-Forwarded-Port, X-Real-IP, ...) passes through.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

import pytest
from realservers import ManagedServer, RawResponse, raw_request, start_caddy, start_haproxy

from e2e.backend import policy, start_backend
from e2e.test_frontends import (
    CLIENT,
    FORGED,
    PUBLIC_HOST,
    forwarded_left,
    get,
    seen,
    started,
)

pytestmark = [pytest.mark.realserver, pytest.mark.e2e]

#: How each back-end server joins repeated header lines into one environ value.
JOIN = {"gunicorn": ",", "waitress": ", "}

#: The headers HAProxy and Caddy set in these tests, which the policies trust.
ALL_SET = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
           "X-Forwarded-Prefix"]


#: HAProxy's frontend lines for the app at /myapp (README shows them).
HAPROXY_AT_MYAPP = r"""
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-header X-Forwarded-Port 443
    http-request set-header X-Forwarded-Prefix /myapp
    http-request replace-path /myapp(/.*) \1"""

#: Caddy's site body for the app (at 127.0.0.1:APP) at /myapp (README shows it).
#: This Caddy speaks plain HTTP: header_up X-Forwarded-Proto https stands for the
#: https that Caddy sends by itself when it serves the site over TLS.
CADDY_AT_MYAPP = """
    handle_path /myapp/* {
        reverse_proxy 127.0.0.1:APP {
            header_up X-Forwarded-Proto https
            header_up X-Forwarded-Prefix /myapp
        }
    }
"""

README = Path(__file__).resolve().parents[2] / "README.md"


def get_lines(server: ManagedServer, target: str,
              headers: tuple[tuple[str, str], ...]) -> RawResponse:
    """GET from the client address with *headers* sent as given (repeats included)."""
    return raw_request(server.host, server.port, "GET", target,
                       [("Host", PUBLIC_HOST), *headers], source=CLIENT)


def haproxy_with_bare(stack: ExitStack, kind: str, trust: str, frontend: str) -> ManagedServer:
    """HAProxy with *frontend* lines: ``/bare/...`` goes to the bare app, the rest
    to the app wrapped in the middleware with policy *trust*."""
    app = started(stack, start_backend(kind, trust))
    bare = started(stack, start_backend(kind, trust, attr="plain"))
    return started(stack, start_haproxy(f"""{frontend}
    use_backend bare if {{ path_beg /bare/ }}
    default_backend app

backend app
    server app1 127.0.0.1:{app.port}

backend bare
    server bare1 127.0.0.1:{bare.port}
"""))


# --------------------------------------------------------------------------
# HAProxy


def test_haproxy_forwardfor_and_set_header_at_a_prefix(kind: str, servers: ExitStack) -> None:
    """option forwardfor + set-header Proto/Host/Port/Prefix, the prefix stripped by
    HAProxy: the app sees the client, https, the public host, port 443 and /myapp,
    and forged values of every one of those headers change nothing."""
    app = started(servers, start_backend(kind, policy(["127.0.0.1"], ALL_SET)))
    haproxy = started(servers, start_haproxy(f"""{HAPROXY_AT_MYAPP}
    default_backend app

backend app
    server app1 127.0.0.1:{app.port}
"""))
    plain = seen(get(haproxy, "/myapp/hello?q=1"))
    forged = seen(get(haproxy, "/myapp/hello?q=1", FORGED))
    for data in (plain, forged):
        env = data["environ"]
        assert data["remote_addr"] == CLIENT
        assert data["url"] == f"https://{PUBLIC_HOST}/myapp/hello?q=1"
        assert data["is_secure"] is True
        assert data["script_root"] == "/myapp"
        assert data["static"] == "/myapp/static/app.css"
        assert data["external"] == f"https://{PUBLIC_HOST}/myapp/hello"
        assert env["PATH_INFO"] == "/hello"
        assert env["SERVER_PORT"] == "443"
        assert env["HTTP_X_FORWARDED_FOR"] == CLIENT
        assert data["orig_peer"] == "127.0.0.1"
        # Trusted headers stay (their values are the proxy's); the rest are removed.
        assert forwarded_left(data) == {f"HTTP_{h.upper().replace('-', '_')}" for h in ALL_SET}
    assert forged["environ"]["HTTP_X_FORWARDED_PREFIX"] == "/myapp"
    assert forged["environ"]["HTTP_X_FORWARDED_PORT"] == "443"

    response = get(haproxy, "/myapp/go")
    assert response.status == 302
    assert response.header("Location") in (
        "/myapp/hello", f"https://{PUBLIC_HOST}/myapp/hello")


@pytest.mark.parametrize("lines", [
    (),
    (("X-Forwarded-For", "1.2.3.4"),),
    (("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "5.6.7.8")),
    (("X-Forwarded-For", "127.0.0.1"),),  # a trusted address, forged
    (("X-Forwarded-For", "1.2.3.4, not-an-ip"),),
    (("X-Forwarded-For", ""),),
], ids=["none", "one", "two-lines", "trusted-address", "junk", "empty"])
def test_haproxy_forwardfor_adds_its_own_line(
    kind: str, servers: ExitStack, lines: tuple[tuple[str, str], ...]
) -> None:
    """HAProxy does not append to the client's X-Forwarded-For: it adds a line of
    its own after the client's. The back-end server joins the lines in order, so
    HAProxy's element is the rightmost, and the app gets 127.0.0.2, never the
    forged address."""
    trust = policy(["127.0.0.1"], ["X-Forwarded-For"])
    haproxy = haproxy_with_bare(servers, kind, trust, "    option forwardfor")

    received = seen(get_lines(haproxy, "/bare/x", lines))["environ"]["HTTP_X_FORWARDED_FOR"]
    assert received == JOIN[kind].join([value for _, value in lines] + [CLIENT])

    data = seen(get_lines(haproxy, "/x", lines))
    assert data["remote_addr"] == CLIENT
    assert data["environ"]["HTTP_X_FORWARDED_FOR"] == CLIENT  # trimmed to the client
    assert data["orig_peer"] == "127.0.0.1"


@pytest.mark.parametrize(("forged", "client"), [
    (None, CLIENT),           # no header from the client: HAProxy adds one
    ("1.2.3.4", "1.2.3.4"),   # kept as sent: the forged address wins
    ("127.0.0.1", "127.0.0.1"),  # every element trusted: the leftmost (SPEC 4)
    ("not-an-ip", "127.0.0.1"),  # rightmost invalid: the peer itself (SPEC 4)
], ids=["absent", "forged", "forged-trusted", "forged-junk"])
def test_haproxy_forwardfor_if_none_keeps_the_clients_header(
    kind: str, servers: ExitStack, forged: str | None, client: str
) -> None:
    """The footgun: `option forwardfor if-none` adds X-Forwarded-For only when the
    request has none, so a client's header reaches the back-end unchanged and
    alone. trustedproxy cannot tell it from HAProxy's (it comes from a trusted
    peer), so the forged address becomes REMOTE_ADDR. Use `option forwardfor`
    without `if-none` (or `http-request set-header X-Forwarded-For %[src]`)."""
    trust = policy(["127.0.0.1"], ["X-Forwarded-For"])
    haproxy = haproxy_with_bare(servers, kind, trust, "    option forwardfor if-none")
    lines = () if forged is None else (("X-Forwarded-For", forged),)

    received = seen(get_lines(haproxy, "/bare/x", lines))["environ"]["HTTP_X_FORWARDED_FOR"]
    assert received == (CLIENT if forged is None else forged)

    data = seen(get_lines(haproxy, "/x", lines))
    assert data["remote_addr"] == client
    assert data["orig_peer"] == "127.0.0.1"


@pytest.mark.parametrize("hop_aligned", [False, True], ids=["plain", "hop-aligned"])
def test_haproxy_add_header_proto_after_a_forged_one(
    kind: str, servers: ExitStack, hop_aligned: bool
) -> None:
    """`http-request add-header X-Forwarded-Proto https` (add, not set) keeps the
    client's line before HAProxy's: the back-end server joins them into a list.
    A list in a single-valued header is ignored and removed (the app sees http,
    never the client's word); with hop_aligned the value HAProxy wrote is taken
    (its place found by the X-Forwarded-For walk), so the app sees https."""
    trust = policy(["127.0.0.1"], ["X-Forwarded-For", "X-Forwarded-Proto"])
    if hop_aligned:
        trust += "hop_aligned: true\n"
    haproxy = haproxy_with_bare(servers, kind, trust, """
    option forwardfor
    http-request add-header X-Forwarded-Proto https""")
    forged = (("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "http"))

    received = seen(get_lines(haproxy, "/bare/x", forged))["environ"]
    assert received["HTTP_X_FORWARDED_PROTO"] == JOIN[kind].join(["http", "https"])

    data = seen(get_lines(haproxy, "/x", ()))  # nothing forged: one value, believed
    assert data["is_secure"] is True
    data = seen(get_lines(haproxy, "/x", forged))
    env = data["environ"]
    assert data["remote_addr"] == CLIENT
    if hop_aligned:
        assert data["is_secure"] is True
        assert env["HTTP_X_FORWARDED_PROTO"] == "https"  # trimmed to HAProxy's value
    else:
        assert data["is_secure"] is False
        assert env["wsgi.url_scheme"] == "http"
        assert "HTTP_X_FORWARDED_PROTO" not in env


# --------------------------------------------------------------------------
# Caddy


def test_caddy_reverse_proxy_replaces_the_forged_headers(kind: str, servers: ExitStack) -> None:
    """Caddy sets X-Forwarded-For/-Proto/-Host itself, replacing the client's: the
    app sees the client, http and the public host, whatever the client forged.
    Headers Caddy does not set pass through it; a policy that trusts only the
    three Caddy sets removes them."""
    trust = policy(["127.0.0.1"], ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"])
    app = started(servers, start_backend(kind, trust))
    bare = started(servers, start_backend(kind, trust, attr="plain"))
    caddy = started(servers, start_caddy(f"""
    handle /bare/* {{
        reverse_proxy 127.0.0.1:{bare.port}
    }}
    handle {{
        reverse_proxy 127.0.0.1:{app.port}
    }}
"""))
    received = seen(get(caddy, "/bare/x", FORGED))["environ"]
    assert received["HTTP_X_FORWARDED_FOR"] == CLIENT
    assert received["HTTP_X_FORWARDED_PROTO"] == "http"
    assert received["HTTP_X_FORWARDED_HOST"] == PUBLIC_HOST
    assert received["HTTP_X_FORWARDED_PREFIX"] == "/evil"  # not Caddy's: passed through
    assert received["HTTP_X_REAL_IP"] == "1.2.3.4"

    for headers in ((), FORGED):
        data = seen(get(caddy, "/path/x?q=1", headers))
        env = data["environ"]
        assert data["remote_addr"] == CLIENT
        assert data["url"] == f"http://{PUBLIC_HOST}/path/x?q=1"
        assert data["is_secure"] is False
        assert data["external"] == f"http://{PUBLIC_HOST}/hello"
        assert env["SCRIPT_NAME"] == ""
        assert env["SERVER_PORT"] == str(app.port)  # X-Forwarded-Port not trusted
        assert env["HTTP_X_FORWARDED_FOR"] == CLIENT
        assert data["orig_peer"] == "127.0.0.1"
        assert forwarded_left(data) == {"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
                                        "HTTP_X_FORWARDED_HOST"}


def test_caddy_at_a_sub_path(kind: str, servers: ExitStack) -> None:
    """handle_path /myapp/* strips the prefix and header_up X-Forwarded-Prefix
    /myapp names it (replacing a forged one); header_up X-Forwarded-Proto https
    stands for the TLS this test's Caddy does not speak. Links and redirects
    carry /myapp, https and the public host."""
    trust = policy(["127.0.0.1"], ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                                   "X-Forwarded-Prefix"])
    app = started(servers, start_backend(kind, trust))
    caddy = started(servers, start_caddy(CADDY_AT_MYAPP.replace("APP", str(app.port))))
    for headers in ((), FORGED):
        data = seen(get(caddy, "/myapp/hello", headers))
        env = data["environ"]
        assert data["remote_addr"] == CLIENT
        assert data["url"] == f"https://{PUBLIC_HOST}/myapp/hello"
        assert data["script_root"] == "/myapp"
        assert data["static"] == "/myapp/static/app.css"
        assert data["external"] == f"https://{PUBLIC_HOST}/myapp/hello"
        assert env["PATH_INFO"] == "/hello"
        assert env["HTTP_X_FORWARDED_PREFIX"] == "/myapp"
        assert data["orig_peer"] == "127.0.0.1"
    response = get(caddy, "/myapp/go", FORGED)
    assert response.status == 302
    assert response.header("Location") in (
        "/myapp/hello", f"https://{PUBLIC_HOST}/myapp/hello")


# --------------------------------------------------------------------------
# Both


@pytest.mark.parametrize("front", ["haproxy", "caddy"])
@pytest.mark.parametrize("connection", [
    "close, X-Forwarded-For",
    "keep-alive, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host",
])
def test_connection_header_cannot_remove_the_proxys_headers(
    kind: str, servers: ExitStack, front: str, connection: str
) -> None:
    """A client naming the forwarded headers in `Connection` (hop-by-hop, to have
    a proxy drop them after it set them, leaving the proxy's own address as
    REMOTE_ADDR) gets nowhere: Caddy removes the named headers before it sets its
    own, HAProxy ignores the names, and neither back-end server acts on them."""
    trust = policy(["127.0.0.1"], ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"])
    app = started(servers, start_backend(kind, trust))
    if front == "haproxy":
        proxy = started(servers, start_haproxy(f"""
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend app

backend app
    server app1 127.0.0.1:{app.port}
"""))
    else:
        proxy = started(servers, start_caddy(f"    reverse_proxy 127.0.0.1:{app.port}\n"))
    headers = (("Connection", connection), ("X-Forwarded-For", "1.2.3.4"),
               ("X-Forwarded-Proto", "ftp"), ("X-Forwarded-Host", "evil.example"))
    data = seen(get_lines(proxy, "/x", headers))
    assert data["remote_addr"] == CLIENT
    assert data["environ"]["HTTP_X_FORWARDED_FOR"] == CLIENT
    assert data["url"] == f"{'https' if front == 'haproxy' else 'http'}://{PUBLIC_HOST}/x"
    assert data["orig_peer"] == "127.0.0.1"


# --------------------------------------------------------------------------
# README


@pytest.mark.parametrize(("lang", "tested", "directives"), [
    ("haproxy", HAPROXY_AT_MYAPP, ("option", "http-request")),
    ("caddyfile", CADDY_AT_MYAPP, ("handle_path", "header_up")),
], ids=["haproxy", "caddy"])
def test_readme_recipes_are_the_tested_lines(
    lang: str, tested: str, directives: tuple[str, ...]
) -> None:
    """Every header or path line of README's HAProxy and Caddy recipes is one the
    tests above run (the README's policy block is loaded by tests/test_readme.py)."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(rf"```{lang}\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    shown = [line.strip() for line in blocks[0].splitlines()
             if line.strip().startswith(directives)]
    assert shown
    tested_lines = {line.strip() for line in tested.splitlines()}
    assert set(shown) <= tested_lines
