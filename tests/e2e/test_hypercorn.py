"""``trustedproxy.asgi.TrustedProxyMiddleware`` under real hypercorn (HTTP/1.1 and websockets).

hypercorn (the ``test`` extra) serves an ASGI app on 127.0.0.1, once without
and once with ``--root-path /root``; under ``/bare/`` the same app runs
without the middleware, to show what hypercorn itself hands the application.
As in the other end-to-end tests, untrusted clients connect from 127.0.0.2
and the trusted proxy from 127.0.0.1.

What hypercorn (0.17, 0.18) does, as measured here: header names arrive
lower-cased and otherwise as sent, so ``X_Forwarded_For`` is a name of its own
(``x_forwarded_for``), never merged with ``x-forwarded-for``; repeated lines are
separate entries; it reads no forwarded header itself (the scheme stays
``http``/``ws``, whatever the client sends); ``path`` holds ``root_path``
followed by the route, as the ASGI spec says.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from realservers import ManagedServer, raw_request, start_hypercorn

from e2e.backend import ASGI_ECHO_APP, ASGI_ECHO_IMPORTS
from e2e.test_frontends import FORGED

pytestmark = [pytest.mark.realserver, pytest.mark.e2e]

CLIENT = "127.0.0.2"
PROXY = "127.0.0.1"
REAL_CLIENT = "198.51.100.7"
PUBLIC_HOST = "www.example.test:8443"

APP = ASGI_ECHO_IMPORTS + '''\
from trustedproxy import TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware
''' + ASGI_ECHO_APP + '''


wrapped = TrustedProxyMiddleware(inner, TrustPolicy(
    trusted_proxies=["127.0.0.1"],
    trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                     "X-Forwarded-Server", "X-Forwarded-Prefix"],
))


async def app(scope, receive, send):
    """Requests under /bare/ skip the middleware: what hypercorn itself hands over."""
    if scope["type"] in ("http", "websocket") and "/bare/" in scope["path"]:
        return await inner(scope, receive, send)
    return await wrapped(scope, receive, send)
'''

#: What the trusted proxy sends in front of every trusted request here.
PROXY_HEADERS = [("X-Forwarded-For", REAL_CLIENT), ("X-Forwarded-Proto", "https"),
                 ("X-Forwarded-Host", PUBLIC_HOST), ("X-Forwarded-Server", "srv.example"),
                 ("X-Forwarded-Prefix", "/pre")]

#: Every forwarded header name a client forges in these tests, lower-cased.
FORGED_NAMES = frozenset(name.lower() for name, _ in FORGED)


@pytest.fixture(scope="module", params=[None, "/root"], ids=["no-root-path", "root-path"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[ManagedServer, str]]:
    """hypercorn serving APP (with ``--root-path`` or not), and the root path."""
    root_path: str | None = request.param
    server = start_hypercorn({"hyp_app.py": APP}, "hyp_app:app",
                             name="hypercorn", root_path=root_path)
    try:
        yield server, root_path or ""
    finally:
        server.cleanup()  # stopped by PID, its directory removed


def http_view(server: ManagedServer, target: str, headers: list[tuple[str, str]],
              source: str) -> dict[str, Any]:
    response = raw_request(server.host, server.port, "GET", target,
                           [("Host", "backend.internal"), *headers], source=source)
    assert response.status == 200, response
    result: dict[str, Any] = response.json()
    return result


def websocket_view(server: ManagedServer, target: str, headers: list[tuple[str, str]],
                   source: str) -> dict[str, Any]:
    from websockets.sync.client import connect

    sock = socket.create_connection((server.host, server.port), timeout=10.0,
                                    source_address=(source, 0))
    with connect(f"ws://{server.host}:{server.port}{target}", sock=sock,
                 additional_headers=headers, open_timeout=10, close_timeout=5) as websocket:
        message = websocket.recv(timeout=10)
    result: dict[str, Any] = json.loads(message)
    return result


def names(seen: dict[str, Any]) -> list[str]:
    return [name for name, _ in seen["headers"]]


def host_header(seen: dict[str, Any]) -> list[str]:
    return [value for name, value in seen["headers"] if name == "host"]


def test_http_trusted_proxy(served: tuple[ManagedServer, str]) -> None:
    """From the trusted proxy: client, scheme, Host, server and prefix are rewritten;
    the prefix goes in front of hypercorn's root_path, and path follows it."""
    server, root = served
    seen = http_view(server, f"{root}/x", PROXY_HEADERS, PROXY)
    assert seen["trusted"] is True
    assert seen["client"] == [REAL_CLIENT, 0]
    assert seen["orig_client"][0] == PROXY
    assert seen["scheme"] == "https"
    assert host_header(seen) == [PUBLIC_HOST]
    assert seen["server"] == ["srv.example", server.port]
    assert seen["root_path"] == f"/pre{root}"
    assert (seen["path"], seen["raw_path"]) == (f"/pre{root}/x", f"/pre{root}/x")


def test_http_untrusted_client(served: tuple[ManagedServer, str]) -> None:
    """From 127.0.0.2 every forged forwarded header is removed and nothing else
    changes: hypercorn's own scope (client, http, Host, server, root_path, path)
    is what the bare app gets, less those headers."""
    server, root = served
    seen = http_view(server, f"{root}/x", list(FORGED), CLIENT)
    bare = http_view(server, f"{root}/bare/x", list(FORGED), CLIENT)
    assert seen["trusted"] is False
    assert seen["client"][0] == CLIENT
    assert seen["scheme"] == bare["scheme"] == "http"  # hypercorn reads no forwarded header
    assert host_header(seen) == ["backend.internal"]
    assert seen["server"] == bare["server"] == [PROXY, server.port]
    assert (seen["root_path"], seen["path"]) == (root, f"{root}/x")
    assert set(names(bare)) >= FORGED_NAMES  # hypercorn passed every one on
    assert not FORGED_NAMES & set(names(seen))
    assert seen["headers"] == [pair for pair in bare["headers"]
                               if pair[0] not in FORGED_NAMES]


def test_websocket(served: tuple[ManagedServer, str]) -> None:
    """A websocket from the trusted proxy with X-Forwarded-Proto https is ``wss``,
    with the client, Host, server and prefix rewritten; from 127.0.0.2 the
    forged headers are removed and the scope is ``ws`` as hypercorn made it."""
    pytest.importorskip("websockets")
    server, root = served
    seen = websocket_view(server, f"{root}/ws", PROXY_HEADERS, PROXY)
    assert seen["type"] == "websocket"
    assert seen["trusted"] is True
    assert (seen["client"], seen["scheme"]) == ([REAL_CLIENT, 0], "wss")
    assert host_header(seen) == [PUBLIC_HOST]
    assert seen["server"] == ["srv.example", server.port]
    assert (seen["root_path"], seen["path"]) == (f"/pre{root}", f"/pre{root}/ws")

    seen = websocket_view(server, f"{root}/ws", PROXY_HEADERS, CLIENT)
    assert seen["trusted"] is False
    assert (seen["client"][0], seen["scheme"]) == (CLIENT, "ws")
    assert seen["server"] == [PROXY, server.port]
    assert (seen["root_path"], seen["path"]) == (root, f"{root}/ws")
    assert not [n for n in names(seen) if n.startswith("x-forwarded")]


@pytest.mark.parametrize("source", [CLIENT, PROXY], ids=["untrusted", "trusted"])
def test_underscore_names_are_kept_apart_and_removed(
    served: tuple[ManagedServer, str], source: str
) -> None:
    """hypercorn passes ``X_Forwarded_For`` on as ``x_forwarded_for``, a name of its
    own, after or before ``x-forwarded-for`` as sent. The middleware never reads it
    and removes it from every peer (a WSGI bridge would file it under
    HTTP_X_FORWARDED_FOR): the client is the one the real header names."""
    server, root = served
    lines = [("X_Forwarded_For", "1.2.3.4"), ("X-Forwarded-For", REAL_CLIENT),
             ("X_Forwarded_Proto", "https"), ("x-forwarded_host", "evil.example"),
             ("X_Forwarded_For", "5.6.7.8")]
    bare = http_view(server, f"{root}/bare/x", lines, source)
    assert [pair for pair in bare["headers"] if pair[0] != "host"] == [
        [name.lower(), value] for name, value in lines]
    for seen in (http_view(server, f"{root}/x", lines, source),
                 websocket_view(server, f"{root}/ws", lines, source)):
        assert "x_forwarded_for" not in names(seen)
        assert "x_forwarded_proto" not in names(seen)
        assert "x-forwarded_host" not in names(seen)
        assert host_header(seen) == [
            "backend.internal" if seen["type"] == "http" else f"{server.host}:{server.port}"]
        assert seen["scheme"] in ("http", "ws")
        if source == PROXY:
            assert seen["client"] == [REAL_CLIENT, 0]
            assert ["x-forwarded-for", REAL_CLIENT] in seen["headers"]
        else:
            assert seen["client"][0] == CLIENT
            assert "x-forwarded-for" not in names(seen)
