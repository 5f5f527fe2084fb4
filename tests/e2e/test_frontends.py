"""The scenarios of issue 6: the app behind real front-ends, as a client sees it.

The client always connects from 127.0.0.2 (not a trusted proxy); the
front-ends reach the back-end from 127.0.0.1 (or 127.0.0.3 for the outer of
two chained nginx), which the policies trust. Each back-end is served by
gunicorn and by waitress.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

import pytest
from realservers import (
    ManagedServer,
    RawResponse,
    raw_request,
    start_apache_proxy,
    start_modwsgi_express,
    start_nginx,
)

from e2e.backend import example, policy, start_backend

pytestmark = [pytest.mark.realserver, pytest.mark.e2e]

CLIENT = "127.0.0.2"
PUBLIC_HOST = "www.example.test"

FORWARDED_ENV_KEYS = frozenset({
    "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_X_CLIENT_IP", "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_SCHEME", "HTTP_X_SCHEME", "HTTP_X_FORWARDED_HTTPS", "HTTP_X_FORWARDED_SSL",
    "HTTP_X_HTTPS", "HTTP_FRONT_END_HTTPS", "HTTP_X_FORWARDED_HOST", "HTTP_X_HOST",
    "HTTP_X_FORWARDED_SERVER", "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_SCRIPT_NAME", "HTTP_X_FORWARDED_SCRIPT_NAME", "HTTP_FORWARDED",
})

#: Every forwarded header, forged by the client.
FORGED = (
    ("X-Forwarded-For", "1.2.3.4"), ("X-Real-IP", "1.2.3.4"), ("X-Client-IP", "1.2.3.4"),
    ("X-Forwarded-Proto", "https"), ("X-Forwarded-Scheme", "https"), ("X-Scheme", "https"),
    ("X-Forwarded-HTTPS", "on"), ("X-Forwarded-SSL", "on"), ("X-HTTPS", "1"),
    ("Front-End-Https", "on"), ("X-Forwarded-Host", "evil.example"), ("X-Host", "evil.example"),
    ("X-Forwarded-Server", "evil.example"), ("X-Forwarded-Port", "444"),
    ("X-Forwarded-Prefix", "/evil"), ("X-Script-Name", "/evil"),
    ("X-Forwarded-Script-Name", "/evil"), ("Forwarded", "for=1.2.3.4;proto=https;host=evil"),
)


def started(stack: ExitStack, server: ManagedServer) -> ManagedServer:
    return stack.enter_context(server)


def get(server: ManagedServer, target: str, headers: tuple[tuple[str, str], ...] = (),
        *, host: str = PUBLIC_HOST) -> RawResponse:
    return raw_request(server.host, server.port, "GET", target,
                       [("Host", host), *headers], source=CLIENT)


def seen(response: RawResponse) -> dict[str, Any]:
    assert response.status == 200, f"{response.status}: {response.text[:2000]}"
    data: dict[str, Any] = json.loads(response.body)
    return data


def forwarded_left(data: dict[str, Any]) -> frozenset[str]:
    return FORWARDED_ENV_KEYS.intersection(data["environ"])


def test_flask_behind_apache_at_a_prefix(kind: str, servers: ExitStack) -> None:
    """ProxyPass /myapp/ + RequestHeader set X-Forwarded-Prefix: links and redirects
    carry /myapp and the public host; without the middleware they do not."""
    trust = example("apache-subpath")
    app = started(servers, start_backend(kind, trust))
    bare = started(servers, start_backend(kind, trust, attr="plain"))
    apache = started(servers, start_apache_proxy(f"""
ProxyPass /myapp/ http://127.0.0.1:{app.port}/
ProxyPassReverse /myapp/ http://127.0.0.1:{app.port}/
<Location /myapp/>
    RequestHeader set X-Forwarded-Prefix /myapp
</Location>
ProxyPass /bare/ http://127.0.0.1:{bare.port}/
ProxyPassReverse /bare/ http://127.0.0.1:{bare.port}/
<Location /bare/>
    RequestHeader set X-Forwarded-Prefix /bare
</Location>
"""))
    data = seen(get(apache, "/myapp/hello", (("X-Forwarded-For", "1.2.3.4"),)))
    assert data["static"] == "/myapp/static/app.css"
    assert data["external"] == f"http://{PUBLIC_HOST}/myapp/hello"
    assert data["url"] == f"http://{PUBLIC_HOST}/myapp/hello"
    assert data["script_root"] == "/myapp"
    assert data["remote_addr"] == CLIENT  # not the forged 1.2.3.4, not the proxy
    assert data["orig_peer"] == "127.0.0.1"
    assert data["environ"]["PATH_INFO"] == "/hello"
    assert forwarded_left(data) == {"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST",
                                    "HTTP_X_FORWARDED_PREFIX"}  # X-Forwarded-Server removed
    response = get(apache, "/myapp/go")
    assert response.status == 302
    assert response.header("Location") in ("/myapp/hello", f"http://{PUBLIC_HOST}/myapp/hello")

    # The same app without the middleware: the bug users hit.
    data = seen(get(apache, "/bare/hello"))
    assert data["static"] == "/static/app.css"
    assert data["external"] == f"http://127.0.0.1:{bare.port}/hello"
    assert data["remote_addr"] == "127.0.0.1"
    response = get(apache, "/bare/go")
    assert response.status == 302
    assert "/bare/" not in (response.header("Location") or "")


def test_nginx_with_the_full_header_set(kind: str, servers: ExitStack) -> None:
    """nginx sets X-Forwarded-Proto https itself: the app sees the client's URL."""
    trust = example("nginx-full")
    app = started(servers, start_backend(kind, trust))
    nginx = started(servers, start_nginx(f"""
        location / {{
            proxy_pass http://127.0.0.1:{app.port};
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port 443;
        }}
"""))
    forged = (("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "http"),
              ("X-Forwarded-Host", "evil.example"))
    data = seen(get(nginx, "/path/x?q=1", forged))
    assert data["url"] == f"https://{PUBLIC_HOST}/path/x?q=1"
    assert data["remote_addr"] == CLIENT
    assert data["is_secure"] is True
    assert data["external"] == f"https://{PUBLIC_HOST}/hello"
    env = data["environ"]
    assert env["wsgi.url_scheme"] == "https"
    assert env["SERVER_PORT"] == "443"
    assert env["HTTP_X_FORWARDED_FOR"] == CLIENT  # trimmed to the client and the hops after it
    assert "HTTP_X_REAL_IP" not in env  # not trusted by this policy: removed
    assert data["orig_peer"] == "127.0.0.1"


def test_two_chained_nginx(kind: str, servers: ExitStack) -> None:
    """client -> nginx (outer) -> nginx (inner) -> app: the client address survives
    both hops, and a forged X-Forwarded-For does not become REMOTE_ADDR."""
    trust = policy(["127.0.0.1", "127.0.0.3"], ["X-Forwarded-For", "X-Forwarded-Proto",
                                                "X-Forwarded-Host"])
    app = started(servers, start_backend(kind, trust))
    inner = started(servers, start_nginx(f"""
        location / {{
            proxy_pass http://127.0.0.1:{app.port};
            proxy_bind 127.0.0.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
""", name="nginx-inner"))
    outer = started(servers, start_nginx(f"""
        location / {{
            proxy_pass http://127.0.0.1:{inner.port};
            proxy_bind 127.0.0.3;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-Host $host;
        }}
""", name="nginx-outer"))
    data = seen(get(outer, "/chain"))
    assert data["remote_addr"] == CLIENT
    assert data["environ"]["HTTP_X_FORWARDED_FOR"] == f"{CLIENT}, 127.0.0.3"
    assert data["url"] == f"https://{PUBLIC_HOST}/chain"

    data = seen(get(outer, "/chain", (("X-Forwarded-For", "1.2.3.4"),)))
    assert data["remote_addr"] == CLIENT
    assert data["environ"]["HTTP_X_FORWARDED_FOR"] == f"{CLIENT}, 127.0.0.3"
    assert data["orig_peer"] == "127.0.0.1"


def test_modwsgi_express_proxy_mount_point(kind: str, servers: ExitStack) -> None:
    """mod_wsgi-express --proxy-mount-point /api/ as the front-end: the back-end sees
    the client, the public host and port, and SCRIPT_NAME=/api."""
    trust = example("express-proxy-mount-point")
    app = started(servers, start_backend(kind, trust))
    front_app = "def application(environ, start_response):\n" \
                "    start_response('200 OK', [('Content-Type', 'text/plain')])\n" \
                "    return [b'front']\n"
    front = started(servers, start_modwsgi_express(
        front_app, ["--proxy-mount-point", "/api/", f"http://127.0.0.1:{app.port}/"],
        name="modwsgi-front"))
    public = "api.example.test:8443"
    data = seen(get(front, "/api/hello", host=public))
    env = data["environ"]
    assert data["remote_addr"] == CLIENT
    assert env["HTTP_HOST"] == public
    assert env["SERVER_PORT"] == "8443"
    assert env["SCRIPT_NAME"] == "/api"
    assert env["PATH_INFO"] == "/hello"
    assert data["external"] == f"http://{public}/api/hello"
    assert data["static"] == "/api/static/app.css"
    assert data["orig_peer"] == "127.0.0.1"


def test_direct_untrusted_connection_sees_no_forged_header(
    kind: str, servers: ExitStack
) -> None:
    """A client that reaches the back-end directly (127.0.0.2) forges every header:
    the app sees none of them, and nothing else changes."""
    trust = policy(["127.0.0.1"], ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                                   "X-Forwarded-Port", "X-Forwarded-Prefix"])
    app = started(servers, start_backend(kind, trust))
    bare = started(servers, start_backend(kind, trust, attr="plain"))
    data = seen(get(app, "/x", FORGED))
    env = data["environ"]
    assert forwarded_left(data) == set()
    assert data["remote_addr"] == CLIENT
    assert data["url"] == f"http://{PUBLIC_HOST}/x"
    assert data["is_secure"] is False
    assert env["SCRIPT_NAME"] == ""
    assert data["orig_peer"] == CLIENT

    # Apart from the removed headers, the environ is what the bare app sees.
    plain_env = seen(get(bare, "/x", FORGED))["environ"]
    volatile = {"REMOTE_PORT", "SERVER_PORT", "HTTP_HOST"} | FORWARDED_ENV_KEYS
    assert {k: v for k, v in env.items() if k not in volatile} == {
        k: v for k, v in plain_env.items() if k not in volatile}
