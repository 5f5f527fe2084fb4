"""Header smuggling: what a client can slip past a server and the middleware.

Two halves. The first feeds environs straight to the middleware, shaped as
servers build them from odd requests (merged duplicate lines, ``_`` names,
control and non-ASCII bytes, ``Connection:``-listed headers). The second sends
such requests with raw sockets to real gunicorn and waitress servers on
127.0.0.1 (and uWSGI when it is installed), to pin down the server facts that
SECURITY.md states: a server upgrade that changes them fails here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from realservers import ManagedServer, free_port, make_server_dir, raw_request, write_file
from realservers.common import port_answers
from realservers.servers import http_ready, start_gunicorn, start_waitress, uwsgi_program
from support import make_environ, run

from trustedproxy import TrustPolicy

POLICY = TrustPolicy(
    trusted_proxies=["127.0.0.1", "10.0.0.0/8"],
    trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                     "X-Forwarded-Port"],
)
TRUSTED, UNTRUSTED = "127.0.0.1", "127.0.0.2"


def _app_view(environ: dict[str, Any]) -> dict[str, Any]:
    """The parts of an environ the application acts on."""
    return {k: v for k, v in environ.items()
            if k in ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_PORT", "HTTPS")
            or k.startswith("HTTP_X_")}


# --------------------------------------------------------------------------- merged lines

@pytest.mark.parametrize("joiner", [", ", ","], ids=["waitress-uwsgi", "gunicorn"])
def test_client_line_before_proxy_line_cannot_choose_the_client(joiner: str) -> None:
    """A client's own X-Forwarded-For line, merged with the proxy's by the
    server (waitress and uWSGI join with ", ", gunicorn with ","), is left of
    the proxy's value: the walk from the right finds the real client."""
    merged = joiner.join(["10.0.0.1", "203.0.113.50"])  # client's line, then nginx's line
    seen = run(POLICY, make_environ(TRUSTED, {"X-Forwarded-For": merged}))
    assert seen["REMOTE_ADDR"] == "203.0.113.50"
    assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.50"


@pytest.mark.parametrize("joiner", [", ", ","])
@pytest.mark.parametrize(("header", "key", "values"), [
    ("X-Forwarded-Proto", "wsgi.url_scheme", ("https", "http")),
    ("X-Forwarded-Host", "HTTP_HOST", ("evil.example", "www.example.com")),
    ("X-Forwarded-Port", "SERVER_PORT", ("1", "443")),
])
def test_duplicate_single_valued_lines_are_ignored(joiner: str, header: str, key: str,
                                                   values: tuple[str, str]) -> None:
    """A second line of a single-valued header, merged into a list, makes the
    header invalid: it is removed and the value it would set stays as it was,
    so a client's extra line can neither win nor blend in."""
    environ = make_environ(TRUSTED, {header: joiner.join(values)})
    before = environ[key]
    seen = run(POLICY, environ)
    assert seen[key] == before
    assert "HTTP_" + header.upper().replace("-", "_") not in seen
    ignored = seen["trustedproxy.decision"].ignored
    assert [i.reason for i in ignored] == ["a list of values in a single-valued header"]


def test_obs_fold_unfolded_by_waitress_is_not_an_address() -> None:
    """waitress unfolds an obsolete line fold into a space ("a b"): one
    element that is not an address, so from the rightmost position it makes
    the whole header unusable, never a partial read."""
    seen = run(POLICY, make_environ(TRUSTED, {"X-Forwarded-For": "10.0.0.1 203.0.113.9"}))
    assert seen["REMOTE_ADDR"] == TRUSTED
    assert "HTTP_X_FORWARDED_FOR" not in seen


# --------------------------------------------------------------------------- '-' and '_'

def test_underscore_spelling_is_the_same_environ_key() -> None:
    """``X_Forwarded_For`` and ``X-Forwarded-For`` give the same CGI key; a
    server that keeps both hands the middleware one merged value, and the
    middleware cannot tell the lines apart (SECURITY.md lists the servers
    that drop ``_`` names). From an untrusted peer the key is removed all the same."""
    environ = make_environ(UNTRUSTED)
    environ["HTTP_X_FORWARDED_FOR"] = "198.51.100.1, 10.0.0.1"  # X_Forwarded_For via uWSGI
    seen = run(POLICY, environ)
    assert seen["REMOTE_ADDR"] == UNTRUSTED
    assert "HTTP_X_FORWARDED_FOR" not in seen


def test_underscore_line_after_proxy_line_is_the_uwsgi_risk() -> None:
    """What SECURITY.md warns about: when a front-end passes a client's
    ``X_Forwarded_For`` line through and the server merges it *after* the
    proxy's own line, the client's text is the rightmost element and is
    believed. The middleware cannot see this; only the front-end or server
    dropping ``_`` names prevents it."""
    merged = "203.0.113.50, 198.51.100.66"  # nginx's line, then the client's X_Forwarded_For
    seen = run(POLICY, make_environ(TRUSTED, {"X-Forwarded-For": merged}))
    assert seen["REMOTE_ADDR"] == "198.51.100.66"


# --------------------------------------------------------------------------- odd bytes

ODD_VALUES = [
    pytest.param("10.0.0.1\x00", id="nul"),
    pytest.param("203.0.113.9\x01", id="ctl-01"),
    pytest.param("203.0.113.9\x7f", id="del"),
    pytest.param("203.0.113.9\r\n 10.0.0.2", id="obs-fold-raw"),
    pytest.param("203.0.113.9\r", id="bare-cr"),
    pytest.param("203.0.113.\xe9", id="latin-1"),
    pytest.param("203.0.113.9\xc3\xa9", id="utf-8-as-latin-1"),
    pytest.param("\xb2\xb3.0.113.9", id="superscript-digits"),
    pytest.param("203.0.113.9:\xb9\xb2", id="superscript-port"),
    pytest.param("\u0661\u0662.0.0.1", id="arabic-indic-digits"),
    pytest.param("\uff11.2.3.4", id="fullwidth-digit"),
    pytest.param("[2001:db8::1%\xe9]", id="zone-latin-1"),
]


@pytest.mark.parametrize("value", ODD_VALUES)
@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Forwarded-Host",
                                    "X-Forwarded-Port", "X-Forwarded-Proto"])
def test_control_and_non_ascii_values_are_never_believed(header: str, value: str) -> None:
    """Values with control characters or non-ASCII characters (as latin-1
    decoding gives them, and digits that ``str.isdigit`` accepts) never reach
    the environ: the header is ignored and removed, nothing else changes."""
    environ = make_environ(TRUSTED, {header: value})
    before = _app_view(environ)
    before.pop("HTTP_" + header.upper().replace("-", "_"))
    seen = run(POLICY, environ)
    assert _app_view(seen) == before
    assert [i.header for i in seen["trustedproxy.decision"].ignored] == [header]


def test_non_ascii_left_of_the_client_is_kept_but_not_believed() -> None:
    """Junk left of the first untrusted address is never read: the client is
    found, and the junk is trimmed from HTTP_X_FORWARDED_FOR."""
    seen = run(POLICY, make_environ(TRUSTED, {
        "X-Forwarded-For": "\x00\xff\xe9, 203.0.113.9, 10.0.0.3"}))
    assert seen["REMOTE_ADDR"] == "203.0.113.9"
    assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 10.0.0.3"


# --------------------------------------------------------------------------- Connection

CONNECTION_VALUES = ["X-Forwarded-For", "close, X-Forwarded-For, X-Forwarded-Proto",
                     "keep-alive, X-Forwarded-Host, X-Forwarded-Port, X-Real-IP", "Upgrade",
                     "x-forwarded-for"]


@pytest.mark.parametrize("peer", [TRUSTED, UNTRUSTED])
@pytest.mark.parametrize("connection", CONNECTION_VALUES)
def test_connection_listed_headers_do_not_change_the_result(peer: str, connection: str) -> None:
    """``Connection: X-Forwarded-For`` asks the *next hop* to drop the header;
    by the time a WSGI environ exists that hop is past. The middleware's
    result is the same with and without any ``Connection`` value: it neither
    drops a header because of it nor keeps one it would remove."""
    headers = {"X-Forwarded-For": "203.0.113.9, 10.0.0.3", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "www.example.com", "X-Forwarded-Port": "443",
               "X-Real-IP": "10.0.0.8"}
    plain = run(POLICY, make_environ(peer, headers))
    listed = run(POLICY, make_environ(peer, headers, HTTP_CONNECTION=connection))
    assert listed.pop("HTTP_CONNECTION") == connection
    assert _app_view(listed) == _app_view(plain)
    assert listed["trustedproxy.orig"] == plain["trustedproxy.orig"]
    assert listed["trustedproxy.decision"] == plain["trustedproxy.decision"]


# --------------------------------------------------------------------------- real servers

ECHO_APP = """\
import json
from trustedproxy import TrustPolicy, TrustedProxyMiddleware

def echo(environ, start_response):
    view = {k: v for k, v in environ.items()
            if k in ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_CONNECTION")
            or k.startswith("HTTP_X")}
    view["orig"] = environ.get("trustedproxy.orig")
    body = json.dumps(view).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

POLICY = TrustPolicy(trusted_proxies=["127.0.0.1"],
                     trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])
application = TrustedProxyMiddleware(echo, POLICY)
raw = echo
"""


@pytest.fixture(scope="module", params=["gunicorn", "waitress"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, ManagedServer]]:
    """gunicorn or waitress with their default header handling, serving the echo app
    (``/`` through the middleware; gunicorn's own proxy handling is off)."""
    start = start_gunicorn if request.param == "gunicorn" else start_waitress
    with start({"smuggle_app.py": ECHO_APP}, "smuggle_app:application",
               name=f"smuggle-{request.param}") as managed:
        yield request.param, managed


def _send(managed: ManagedServer, headers: list[tuple[str, str]],
          source: str = TRUSTED) -> tuple[int, dict[str, Any]]:
    """One request on a fresh connection (``Connection: close`` unless given)."""
    if not any(name.lower() == "connection" for name, _ in headers):
        headers = [*headers, ("Connection", "close")]
    response = raw_request(managed.host, managed.port, headers=headers, source=source)
    return response.status, response.json() if response.status == 200 else {}


def test_server_drops_underscore_names(server: tuple[str, ManagedServer]) -> None:
    """gunicorn (``header_map = "drop"``) and waitress drop ``X_Forwarded_For``
    by default, so it never becomes HTTP_X_FORWARDED_FOR."""
    _, managed = server
    status, seen = _send(managed, [("X_Forwarded_For", "203.0.113.66")])
    assert status == 200
    assert seen["REMOTE_ADDR"] == TRUSTED
    assert "HTTP_X_FORWARDED_FOR" not in seen
    assert seen["orig"] == {"REMOTE_ADDR": TRUSTED}


@pytest.mark.parametrize("order", ["dash-first", "underscore-first"])
def test_server_keeps_only_the_dash_spelling(server: tuple[str, ManagedServer],
                                             order: str) -> None:
    """With both spellings, only the ``-`` line survives, in either order."""
    _, managed = server
    lines = [("X-Forwarded-For", "198.51.100.7"), ("X_Forwarded_For", "203.0.113.66")]
    status, seen = _send(managed, lines if order == "dash-first" else lines[::-1])
    assert status == 200
    assert seen["REMOTE_ADDR"] == "198.51.100.7"
    assert seen["HTTP_X_FORWARDED_FOR"] == "198.51.100.7"


def test_server_merges_duplicate_lines(server: tuple[str, ManagedServer]) -> None:
    """Duplicate lines arrive as one value: ", "-joined by waitress, ","-joined
    by gunicorn; the walk reads both the same way."""
    name, managed = server
    status, seen = _send(managed, [("X-Forwarded-For", "10.9.9.9"),
                                   ("X-Forwarded-For", "198.51.100.7")])
    assert status == 200
    joined = {"gunicorn": "10.9.9.9,198.51.100.7", "waitress": "10.9.9.9, 198.51.100.7"}[name]
    assert seen["orig"]["HTTP_X_FORWARDED_FOR"] == joined
    assert seen["REMOTE_ADDR"] == "198.51.100.7"


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x7f"], ids=["nul", "ctl-01", "del"])
def test_server_rejects_control_characters(server: tuple[str, ManagedServer], char: str) -> None:
    """Both servers answer 400 to a control character in a header value."""
    _, managed = server
    status, _ = _send(managed, [("X-Forwarded-For", f"203.0.113.9{char}")])
    assert status == 400


def test_server_decodes_latin_1_and_middleware_ignores_it(
        server: tuple[str, ManagedServer]) -> None:
    """A byte above 0x7f reaches the environ decoded as latin-1 (PEP 3333);
    the middleware ignores the value and keeps it in trustedproxy.orig."""
    _, managed = server
    status, seen = _send(managed, [("X-Forwarded-For", "203.0.113.\xe9")])
    assert status == 200
    assert seen["REMOTE_ADDR"] == TRUSTED
    assert seen["orig"]["HTTP_X_FORWARDED_FOR"] == "203.0.113.\xe9"


def test_server_passes_connection_listed_headers(server: tuple[str, ManagedServer]) -> None:
    """Neither server drops a header because ``Connection`` lists it; the
    middleware's result is the same as without the ``Connection`` value."""
    _, managed = server
    lines = [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "https")]
    _, plain = _send(managed, lines)
    connection = "close, X-Forwarded-For, X-Forwarded-Proto"
    _, listed = _send(managed, [*lines, ("Connection", connection)])
    assert listed.pop("HTTP_CONNECTION") == connection
    plain.pop("HTTP_CONNECTION")
    assert listed == plain
    assert listed["REMOTE_ADDR"] == "198.51.100.7"
    assert listed["wsgi.url_scheme"] == "https"


def test_untrusted_client_smuggling_attempts_all_fail(server: tuple[str, ManagedServer]) -> None:
    """From an untrusted source every spelling and repetition is removed."""
    _, managed = server
    status, seen = _send(managed, [("X-Forwarded-For", "10.0.0.1"),
                                   ("X_Forwarded_For", "10.0.0.2"),
                                   ("X-Forwarded-For", "127.0.0.1"),
                                   ("x-forwarded-proto", "https"),
                                   ("Connection", "close, X-Forwarded-For")],
                         source=UNTRUSTED)
    assert status == 200
    assert seen["REMOTE_ADDR"] == UNTRUSTED
    assert seen["wsgi.url_scheme"] == "http"
    assert not [k for k in seen if k.startswith("HTTP_X_FORWARDED")]


# --------------------------------------------------------------------------- uWSGI

@pytest.fixture(scope="module")
def uwsgi() -> Iterator[ManagedServer]:
    """uWSGI (``--http-socket``, defaults otherwise) serving the echo app.

    The ``test`` extra installs uWSGI (``pyuwsgi``), so this runs in CI; it
    skips locally without the ``uwsgi`` program (``uwsgi_program`` fails under
    ``CI=true`` instead).
    """
    program = uwsgi_program()
    directory = make_server_dir("smuggle-uwsgi")
    write_file(directory / "smuggle_app.py", ECHO_APP)
    port = free_port()
    repo = str(Path(__file__).resolve().parents[1])
    argv = [program, "--http-socket", f"127.0.0.1:{port}", "--wsgi-file",
            str(directory / "smuggle_app.py"), "--callable", "raw", "--master",
            "--processes", "1", "--die-on-term", "--pythonpath", repo,
            "--pythonpath", str(directory)]
    managed = ManagedServer("uwsgi", argv, directory=directory, host="127.0.0.1", port=port)
    managed.start(ready=lambda: port_answers("127.0.0.1", port))
    with managed:
        yield managed


def test_uwsgi_keeps_underscore_names_and_merges_them(uwsgi: ManagedServer) -> None:
    """uWSGI 2.0 (``--http-socket``) keeps ``X_Forwarded_For`` as
    HTTP_X_FORWARDED_FOR and merges it with ``X-Forwarded-For`` in line order
    (", "-joined); control characters pass through unchanged."""
    status, seen = _send(uwsgi, [("X-Forwarded-For", "198.51.100.7"),
                                 ("X_Forwarded_For", "203.0.113.66")])
    assert status == 200
    assert seen["HTTP_X_FORWARDED_FOR"] == "198.51.100.7, 203.0.113.66"
    status, seen = _send(uwsgi, [("X-Forwarded-For", "203.0.113.9\x01")])
    assert status == 200
    assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.9\x01"



# --------------------------------------------------------------------------- uvicorn (ASGI)

ASGI_ECHO_APP = """\
import json
from trustedproxy import TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware

async def echo(scope, receive, send):
    if scope["type"] != "http":
        return
    view = {"client": scope["client"][0], "scheme": scope["scheme"],
            "headers": [[n.decode("latin-1"), v.decode("latin-1")]
                        for n, v in scope["headers"] if n.startswith(b"x")]}
    body = json.dumps(view).encode("ascii")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

POLICY = TrustPolicy(trusted_proxies=["127.0.0.1"],
                     trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])
app = TrustedProxyMiddleware(echo, POLICY)
"""


@pytest.fixture(scope="module")
def uvicorn() -> Iterator[ManagedServer]:
    """uvicorn (h11, its own proxy handling off) serving the ASGI echo app."""
    if importlib.util.find_spec("uvicorn") is None:
        pytest.skip("uvicorn is not installed (it is in the test extra)")
    directory = make_server_dir("smuggle-uvicorn")
    write_file(directory / "smuggle_asgi.py", ASGI_ECHO_APP)
    port = free_port()
    repo = str(Path(__file__).resolve().parents[1])
    argv = [sys.executable, "-m", "uvicorn", "smuggle_asgi:app", "--host", "127.0.0.1",
            "--port", str(port), "--http", "h11", "--no-proxy-headers", "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(directory), repo])}
    managed = ManagedServer("uvicorn", argv, directory=directory, host="127.0.0.1", port=port,
                            env=env, cwd=directory)
    with managed.start(ready=lambda: http_ready("127.0.0.1", port)):
        yield managed


def test_uvicorn_keeps_underscore_names_apart(uvicorn: ManagedServer) -> None:
    """uvicorn (h11) passes ``X_Forwarded_For`` on as its own header name,
    ``x_forwarded_for``; the ASGI adapter never reads it as X-Forwarded-For,
    and removes it (Django and asgiref would read it as HTTP_X_FORWARDED_FOR)."""
    status, seen = _send(uvicorn, [("X-Forwarded-For", "198.51.100.7"),
                                        ("X_Forwarded_For", "203.0.113.66")])
    assert status == 200
    assert seen["client"] == "198.51.100.7"
    assert not [h for h in seen["headers"] if h[0] == "x_forwarded_for"]


def test_uvicorn_repeated_lines_are_joined_by_the_adapter(uvicorn: ManagedServer) -> None:
    """uvicorn gives each repeated line its own entry; the adapter joins them
    in order, so a client's own line stays left of the proxy's."""
    status, seen = _send(uvicorn, [("X-Forwarded-For", "10.9.9.9"),
                                        ("X-Forwarded-For", "198.51.100.7"),
                                        ("X-Forwarded-Proto", "https"),
                                        ("X-Forwarded-Proto", "http")])
    assert status == 200
    assert seen["client"] == "198.51.100.7"
    assert seen["scheme"] == "http"  # the two scheme lines make a list: ignored, removed
    assert ["x-forwarded-for", "198.51.100.7"] in seen["headers"]
    assert not [h for h in seen["headers"] if h[0] == "x-forwarded-proto"]


def test_uvicorn_passes_control_characters_and_adapter_ignores_them(
        uvicorn: ManagedServer) -> None:
    """uvicorn (h11) passes 0x01 and 0x7f in a value (it refuses NUL); the
    value is then no address, and the header is removed."""
    status, seen = _send(uvicorn, [("X-Forwarded-For", "203.0.113.9\x01")])
    assert status == 200
    assert seen["client"] == TRUSTED
    assert not seen["headers"]
    status, _ = _send(uvicorn, [("X-Forwarded-For", "203.0.113.9\x00")])
    assert status == 400
