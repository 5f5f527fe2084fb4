"""trust_unix_socket end to end: nginx in front of gunicorn bound to a Unix socket.

gunicorn gives a Unix-socket peer no IP address, so only ``trust_unix_socket``
can make it a trusted proxy. The client connects to nginx from 127.0.0.2 and
forges X-Forwarded-For; nginx appends the real peer and sets X-Forwarded-Proto.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from realservers import (
    ManagedServer,
    make_server_dir,
    raw_request,
    require,
    start_nginx,
    uwsgi_program,
    write_file,
)

pytestmark = [pytest.mark.realserver, pytest.mark.e2e]

REPO = Path(__file__).resolve().parent.parent.parent
CLIENT = "127.0.0.2"

APP = '''\
import json
from trustedproxy import TrustedProxyMiddleware


def report(environ, start_response):
    body = json.dumps({k: v for k, v in environ.items() if isinstance(v, str)}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


application = TrustedProxyMiddleware(report, "policy.yaml")
'''

# gunicorn trusts Unix-socket peers for its own scheme handling; switch it off
# so that only the middleware acts.
GUNICORN_CONF = 'secure_scheme_headers = {}\nforwarder_headers = ""\numask = 0\n'

NGINX = """
        location / {
            proxy_pass http://unix:SOCKET:;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }
"""


def _start_gunicorn_on_socket(policy_yaml: str) -> tuple[ManagedServer, Path]:
    require(importlib.util.find_spec("gunicorn") is not None,
            "gunicorn is not installed (pip install gunicorn)")
    directory = make_server_dir("gunicorn-unix")
    os.chmod(directory, 0o755)
    write_file(directory / "unix_app.py", APP)
    write_file(directory / "policy.yaml", policy_yaml)
    write_file(directory / "gunicorn.conf.py", GUNICORN_CONF)
    socket_path = directory / "app.sock"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(directory), str(REPO)])}
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"unix:{socket_path}",
            "-c", str(directory / "gunicorn.conf.py"), "--workers", "1",
            "--pid", str(directory / "gunicorn.pid"), "--chdir", str(directory),
            "unix_app:application"]
    server = ManagedServer("gunicorn-unix", argv, directory=directory, host="127.0.0.1",
                           port=0, pid_file=directory / "gunicorn.pid", env=env, cwd=directory)
    # umask 0: nginx's www-data workers may connect to the socket.
    server.start(ready=lambda: socket_path.exists())
    return server, socket_path


@pytest.fixture(params=[True, False], ids=["trust-unix-socket", "socket-not-trusted"])
def front(request: pytest.FixtureRequest) -> Iterator[tuple[ManagedServer, bool]]:
    trust = bool(request.param)
    policy = ("trusted_proxies: []\n"
              "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto]\n"
              f"trust_unix_socket: {'true' if trust else 'false'}\n")
    if not trust:
        policy = "trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [X-Forwarded-For]\n"
    backend, socket_path = _start_gunicorn_on_socket(policy)
    try:
        with start_nginx(NGINX.replace("SOCKET", str(socket_path)), name="nginx-unix") as nginx:
            yield nginx, trust
    finally:
        backend.cleanup()


def test_unix_socket_peer(front: tuple[ManagedServer, bool]) -> None:
    """Behind nginx on a Unix socket, the client address and scheme are believed only
    with trust_unix_socket; a client-forged X-Forwarded-For never wins."""
    nginx, trusted = front
    response = raw_request(nginx.host, nginx.port, "GET", "/x",
                           [("X-Forwarded-For", "1.2.3.4")], source=CLIENT)
    assert response.status == 200, response
    environ = json.loads(response.body)
    assert environ["REMOTE_ADDR"] != "1.2.3.4"
    if trusted:
        assert environ["REMOTE_ADDR"] == CLIENT
        assert environ["wsgi.url_scheme"] == "https"
        assert environ["HTTP_X_FORWARDED_FOR"] == CLIENT
    else:
        assert "HTTP_X_FORWARDED_FOR" not in environ
        assert "HTTP_X_FORWARDED_PROTO" not in environ
        assert environ["wsgi.url_scheme"] == "http"


def _start_uwsgi_on_socket(policy_yaml: str) -> tuple[ManagedServer, Path]:
    """uWSGI's own HTTP parser (``--http-socket``) on a Unix socket, which it
    reports as the peer ``REMOTE_ADDR`` ``0.0.0.0``: an IP address, so
    ``trust_unix_socket`` does not cover it."""
    program = uwsgi_program()
    directory = make_server_dir("uwsgi-unix")
    os.chmod(directory, 0o755)
    write_file(directory / "unix_app.py", APP)
    write_file(directory / "policy.yaml", policy_yaml)
    socket_path = directory / "app.sock"
    argv = [program, "--strict", "--http-socket", str(socket_path), "--chmod-socket=666",
            "--master", "--processes", "1", "--die-on-term", "--need-app",
            "--chdir", str(directory), "--pythonpath", str(directory), "--pythonpath", str(REPO),
            "--pidfile", str(directory / "uwsgi.pid"),
            "--module", "unix_app", "--callable", "application"]
    server = ManagedServer("uwsgi-unix", argv, directory=directory, host="127.0.0.1",
                           port=0, pid_file=directory / "uwsgi.pid", cwd=directory)
    server.start(ready=lambda: socket_path.exists())
    return server, socket_path


#: How the uWSGI tests' policies name the Unix-socket peer, and whether it is trusted.
UWSGI_POLICIES = {
    "0.0.0.0": ("trusted_proxies: [0.0.0.0]\n"
                "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto]\n", True),
    "trust_unix_socket": ("trusted_proxies: []\ntrust_unix_socket: true\n"
                          "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto]\n", False),
}


@pytest.mark.parametrize("policy", list(UWSGI_POLICIES))
def test_uwsgi_unix_socket_peer_is_0_0_0_0(policy: str) -> None:
    """nginx in front of uWSGI on a Unix socket: uWSGI gives the peer as
    ``0.0.0.0``, which ``trust_unix_socket`` does not cover (it is an address;
    README, "Unix-socket peers"): ``trusted_proxies: [0.0.0.0]`` trusts it, and
    no TCP peer can have that address. A client-forged X-Forwarded-For never wins."""
    text, trusted = UWSGI_POLICIES[policy]
    backend, socket_path = _start_uwsgi_on_socket(text)
    try:
        with start_nginx(NGINX.replace("SOCKET", str(socket_path)),
                         name="nginx-uwsgi-unix") as nginx:
            response = raw_request(nginx.host, nginx.port, "GET", "/x",
                                   [("X-Forwarded-For", "1.2.3.4")], source=CLIENT)
    finally:
        backend.cleanup()
    assert response.status == 200, response
    environ = json.loads(response.body)
    if trusted:
        assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]) == (CLIENT, "https")
        assert environ["HTTP_X_FORWARDED_FOR"] == CLIENT
    else:
        assert environ["REMOTE_ADDR"] == "0.0.0.0"
        assert "HTTP_X_FORWARDED_FOR" not in environ
        assert "HTTP_X_FORWARDED_PROTO" not in environ
