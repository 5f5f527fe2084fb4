"""The real Django and Starlette behind trustedproxy: what their own request
APIs report, not what the environ or scope holds.

Django runs through both WSGI paths (compiled and pure Python) and both ASGI
paths, from hand-built environs and scopes, and through a real uvicorn.
Starlette runs through both ASGI paths, and through a real uvicorn (http and
a websocket) with its own root_path. Every value checked is one the
framework computes itself (``request.is_secure()``, ``get_host()``,
``build_absolute_uri``, ``url_for``, its redirect and host middleware), with
the framework's own proxy handling left off.

Django's settings are process-global: they are configured here once, with
``settings.configure`` (no ``DJANGO_SETTINGS_MODULE`` in the environment, no
logging set up), from ``tests/django_site/settings.py``; no other test file
reads them. ``tests/test_readme.py`` puts a fake ``django`` into
``sys.modules`` for the length of one test (monkeypatch restores the real one),
which nothing here depends on between tests.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import re
import socket as pysocket
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from realservers import ManagedServer, free_port, make_server_dir, raw_request
from realservers.common import in_ci, require
from support import make_environ

from trustedproxy import TrustedProxyMiddleware as WsgiMiddleware
from trustedproxy import TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware as AsgiMiddleware
from trustedproxy.asgi import _PurePythonMiddleware as AsgiPure
from trustedproxy.headers import environ_key
from trustedproxy.wsgi import _PurePythonMiddleware as WsgiPure

_MISSING = [name for name in ("django", "starlette") if importlib.util.find_spec(name) is None]
if _MISSING:  # the test extra installs both: CI must run these tests, not skip them
    _REASON = f"{' and '.join(_MISSING)} not installed (pip install -e '.[test]')"
    if in_ci():
        raise ImportError(f"CI=true: {_REASON}")
    pytest.skip(_REASON, allow_module_level=True)

import django  # noqa: E402
import django_site.settings  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.middleware.httpsredirect import HTTPSRedirectMiddleware  # noqa: E402
from starlette.middleware.trustedhost import TrustedHostMiddleware  # noqa: E402
from starlette_site import ROUTES  # noqa: E402

if not settings.configured:
    settings.configure(**{name: value for name, value in vars(django_site.settings).items()
                          if name.isupper()})
    django.setup(set_prefix=False)

REPO = Path(__file__).resolve().parent.parent
PROXY = "10.0.0.2"
STRANGER = "192.0.2.50"
CLIENT = "203.0.113.9"
PUBLIC = "public.example"
BACKEND = "backend.internal:8000"
HEADERS = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
           "X-Forwarded-Prefix"]
POLICY = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=HEADERS)
STRIP = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=HEADERS,
                    strip_prefix_from_path=True)
#: What nginx in front of the app at https://public.example/shop/ sends.
FORWARDED = {"X-Forwarded-For": f"{CLIENT}, 10.0.0.7", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": PUBLIC, "X-Forwarded-Port": "443",
             "X-Forwarded-Prefix": "/shop"}
#: A valid CSRF secret (32 letters and digits), sent as the cookie and the header.
CSRF = "abcdefghijklmnopqrstuvwxyzABCDEF"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        assert self.status == 200, self
        return json.loads(self.body)


# --------------------------------------------------------------------------- drivers


def call_wsgi(app: Callable[..., Any], environ: dict[str, Any]) -> Response:
    """Call a WSGI *app*; the whole response, its iterable closed."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: object = None) -> None:
        started.append((status, headers))

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, headers = started[-1]
    return Response(int(status.split()[0]), {n.lower(): v for n, v in headers}, body)


def make_scope(peer: str, path: str, headers: Mapping[str, str], *, method: str = "GET",
               type_: str = "http", root_path: str = "") -> dict[str, Any]:
    """A scope as uvicorn builds it for ``{method} {root_path}{path}`` on port 8000
    (``path`` includes ``root_path``, as the ASGI spec has it)."""
    fields = {"host": BACKEND, **{n.lower(): v for n, v in headers.items()}}
    scope: dict[str, Any] = {
        "type": type_,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": (peer, 51000),
        "scheme": "ws" if type_ == "websocket" else "http",
        "root_path": root_path,
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "query_string": b"",
        "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in fields.items()],
    }
    if type_ == "http":
        scope["method"] = method
    return scope


def call_asgi(app: Callable[..., Any], scope: dict[str, Any], body: bytes = b"") -> Response:
    """Run an ASGI *app* on *scope* (an ``http`` one) and collect its response.

    ``receive`` gives the body once, then waits (Django listens for a
    disconnect while its view runs, and would give up on one)."""
    messages: list[dict[str, Any]] = []

    async def main() -> None:
        given = False
        never = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            await never.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await asyncio.wait_for(app(scope, receive, send), timeout=30)

    asyncio.run(main())
    start = next(m for m in messages if m["type"] == "http.response.start")
    headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Response(start["status"], headers, body)


def call_websocket(app: Callable[..., Any], scope: dict[str, Any]) -> list[dict[str, Any]]:
    """Open a websocket on *scope* and return every message the app sent."""
    messages: list[dict[str, Any]] = []

    async def main() -> None:
        incoming = [{"type": "websocket.connect"}]

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "websocket.disconnect",
                                                     "code": 1000}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await asyncio.wait_for(app(scope, receive, send), timeout=30)

    asyncio.run(main())
    return messages


# --------------------------------------------------------------------------- Django


@dataclass
class DjangoFront:
    """Real Django (its WSGI or ASGI handler) behind one trustedproxy middleware."""

    name: str
    middleware: type[Any]
    asgi: bool

    def request(self, peer: str, path: str, headers: Mapping[str, str] | None = None, *,
                method: str = "GET", policy: TrustPolicy = POLICY,
                **overrides: Any) -> Response:
        """Send one request from *peer* (settings *overrides* applied while the
        handler is built and while it runs)."""
        headers = dict(headers or {})
        with override_settings(**overrides):
            if self.asgi:
                app = self.middleware(ASGIHandler(), policy)
                return call_asgi(app, make_scope(peer, path, headers, method=method))
            app = self.middleware(WSGIHandler(), policy)
            environ = make_environ(peer, headers, PATH_INFO=path, REQUEST_METHOD=method,
                                   CONTENT_LENGTH="0",
                                   **{"wsgi.input": io.BytesIO(b""),
                                      "wsgi.errors": io.StringIO(),
                                      "wsgi.multithread": False,
                                      "wsgi.multiprocess": False,
                                      "wsgi.run_once": False})
            return call_wsgi(app, environ)


@pytest.fixture(params=[("wsgi-compiled", WsgiMiddleware, False),
                        ("wsgi-pure", WsgiPure, False),
                        ("asgi-compiled", AsgiMiddleware, True),
                        ("asgi-pure", AsgiPure, True)], ids=lambda p: p[0])
def dj(request: pytest.FixtureRequest) -> DjangoFront:
    """Django behind each of the four middleware paths."""
    name, middleware, asgi = request.param
    return DjangoFront(name, middleware, asgi)


def test_django_proxy_settings_stay_off() -> None:
    """Django's own proxy handling is off: what the tests below see is trustedproxy's."""
    assert settings.USE_X_FORWARDED_HOST is False
    assert settings.USE_X_FORWARDED_PORT is False
    assert settings.SECURE_PROXY_SSL_HEADER is None
    assert settings.ROOT_URLCONF == "django_site.urls"
    assert PUBLIC in settings.ALLOWED_HOSTS
    assert "evil.example" not in settings.ALLOWED_HOSTS


def test_django_behind_trusted_proxy(dj: DjangoFront) -> None:
    """Behind a trusted proxy Django reports the client, https, the public host,
    and absolute URLs with the prefix."""
    seen = dj.request(PROXY, "/info/", FORWARDED).json()
    assert seen["remote_addr"] == CLIENT
    assert seen["secure"] is True
    assert seen["scheme"] == "https"
    assert seen["host"] == PUBLIC
    assert seen["port"] == "443"
    assert seen["script_name"] == "/shop"
    assert seen["script_prefix"] == "/shop/"
    assert (seen["path"], seen["path_info"]) == ("/shop/info/", "/info/")
    assert seen["here"] == "https://public.example/shop/info/"
    assert seen["target"] == "https://public.example/shop/target/"
    # The trusted, valid headers stay (SPEC §1); X-Forwarded-For trimmed to the client on.
    assert seen["forwarded"] == sorted(environ_key(name) for name in FORWARDED)
    assert seen["x_forwarded_for"] == FORWARDED["X-Forwarded-For"]


def test_django_host_with_port(dj: DjangoFront) -> None:
    """A public host with a port keeps it in get_host() and in absolute URLs."""
    seen = dj.request(PROXY, "/info/", {**FORWARDED, "X-Forwarded-Host": "public.example:8443",
                                        "X-Forwarded-Port": "8443"}).json()
    assert seen["host"] == "public.example:8443"
    assert seen["port"] == "8443"
    assert seen["target"] == "https://public.example:8443/shop/target/"


def test_django_untrusted_peer_gets_nothing(dj: DjangoFront) -> None:
    """From an untrusted peer the same headers change nothing and are gone from META."""
    seen = dj.request(STRANGER, "/info/", FORWARDED).json()
    assert seen["remote_addr"] == STRANGER
    assert seen["secure"] is False
    assert seen["host"] == BACKEND
    assert seen["script_name"] == ""
    assert seen["target"] == "http://backend.internal:8000/target/"
    assert seen["forwarded"] == []


def test_django_redirect_keeps_prefix(dj: DjangoFront) -> None:
    """redirect() to a named URL goes to the prefixed path, which the proxy serves."""
    response = dj.request(PROXY, "/go/", FORWARDED)
    assert response.status == 302
    assert response.headers["location"] == "/shop/target/"
    untrusted = dj.request(STRANGER, "/go/", FORWARDED)
    assert untrusted.headers["location"] == "/target/"


def test_django_ssl_redirect(dj: DjangoFront) -> None:
    """SECURE_SSL_REDIRECT: no redirect for the trusted proxy's https request (no
    loop); a redirect, to the real host, for an untrusted peer forging
    X-Forwarded-Proto: https, whose header Django never sees; and a redirect with
    the prefix for the trusted proxy's plain http."""
    secure = dj.request(PROXY, "/info/", FORWARDED, SECURE_SSL_REDIRECT=True)
    assert secure.status == 200
    assert secure.json()["secure"] is True
    forged = dj.request(STRANGER, "/info/", {"X-Forwarded-Proto": "https"},
                        SECURE_SSL_REDIRECT=True)
    assert forged.status == 301
    assert forged.headers["location"] == "https://backend.internal:8000/info/"
    assert forged.headers["x-seen-secure"] == "no"
    assert forged.headers["x-seen-forwarded"] == ""
    plain = dj.request(PROXY, "/info/", {**FORWARDED, "X-Forwarded-Proto": "http"},
                       SECURE_SSL_REDIRECT=True)
    assert plain.status == 301
    assert plain.headers["location"] == "https://public.example/shop/info/"
    assert plain.headers["x-seen-remote-addr"] == CLIENT


def csrf_post(dj: DjangoFront, peer: str, origin: str, headers: Mapping[str, str]) -> Response:
    return dj.request(peer, "/submit/", {**headers, "Origin": origin,
                                         "Cookie": f"csrftoken={CSRF}", "X-CSRFToken": CSRF},
                      method="POST")


def test_django_csrf_origin(dj: DjangoFront) -> None:
    """CsrfViewMiddleware checks Origin against scheme + get_host(): a POST with a
    valid token from https://public.example passes behind the trusted proxy and
    fails (403) when an untrusted peer forges the same headers."""
    passed = csrf_post(dj, PROXY, "https://public.example", FORWARDED)
    assert (passed.status, passed.body) == (200, b"accepted")
    forged = csrf_post(dj, STRANGER, "https://public.example",
                       {**FORWARDED, "Host": PUBLIC})
    assert forged.status == 403
    assert b"CSRF" in forged.body
    # The token alone is not the point: the same Origin fails when the proxy says http.
    plain = csrf_post(dj, PROXY, "https://public.example",
                      {**FORWARDED, "X-Forwarded-Proto": "http"})
    assert plain.status == 403


def test_django_csrf_referer(dj: DjangoFront) -> None:
    """Without Origin, Django checks the Referer of a secure request against
    get_host(): behind the trusted https proxy a Referer from the public host
    passes and one from another site fails (403); neither check would run on
    the plain http request the backend received."""
    def post(referer: str) -> Response:
        return dj.request(PROXY, "/submit/", {**FORWARDED, "Referer": referer,
                                              "Cookie": f"csrftoken={CSRF}",
                                              "X-CSRFToken": CSRF}, method="POST")

    passed = post("https://public.example/shop/form/")
    assert (passed.status, passed.body) == (200, b"accepted")
    refused = post("https://evil.example/form/")
    assert refused.status == 403
    assert b"CSRF" in refused.body


def test_django_forged_host(dj: DjangoFront) -> None:
    """An untrusted peer forging X-Forwarded-Host gets its real Host in get_host(),
    or 400 when that host is not allowed (never the forged one, even an allowed one)."""
    seen = dj.request(STRANGER, "/info/", {"X-Forwarded-Host": "evil.example"}).json()
    assert seen["host"] == BACKEND
    assert seen["target"] == "http://backend.internal:8000/target/"
    refused = dj.request(STRANGER, "/info/", {"Host": "unlisted.example",
                                              "X-Forwarded-Host": PUBLIC})
    assert refused.status == 400


def test_django_own_proxy_settings_left_on(dj: DjangoFront) -> None:
    """A project that keeps Django's own proxy settings on (USE_X_FORWARDED_HOST,
    USE_X_FORWARDED_PORT, SECURE_PROXY_SSL_HEADER) gets the same answers: the
    trusted proxy's headers stay, equal to what the middleware set, and an
    untrusted peer's are gone before Django could believe them."""
    django_too = {"USE_X_FORWARDED_HOST": True, "USE_X_FORWARDED_PORT": True,
                  "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}
    seen = dj.request(PROXY, "/info/", FORWARDED, **django_too).json()
    assert (seen["secure"], seen["host"], seen["port"]) == (True, PUBLIC, "443")
    assert seen["target"] == "https://public.example/shop/target/"
    seen = dj.request(STRANGER, "/info/", {**FORWARDED, "X-Forwarded-Port": "8443"},
                      **django_too).json()
    assert (seen["secure"], seen["host"], seen["port"]) == (False, BACKEND, "8000")
    assert seen["target"] == "http://backend.internal:8000/target/"


def test_django_hop_aligned(dj: DjangoFront) -> None:
    """With hop_aligned, Django sees the values the outermost trusted proxy
    (10.0.0.7, the one the client reached) wrote, not the inner one's."""
    aligned = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=HEADERS,
                          hop_aligned=True)
    headers = {"X-Forwarded-For": f"{CLIENT}, 10.0.0.7", "X-Forwarded-Proto": "https, http",
               "X-Forwarded-Host": "public.example, lb.internal",
               "X-Forwarded-Port": "443, 80", "X-Forwarded-Prefix": "/shop, /lb"}
    seen = dj.request(PROXY, "/info/", headers, policy=aligned).json()
    assert (seen["remote_addr"], seen["secure"], seen["host"]) == (CLIENT, True, PUBLIC)
    assert seen["port"] == "443"
    assert seen["target"] == "https://public.example/shop/target/"
    # README: Django's USE_X_FORWARDED_HOST would read the whole list kept, and refuse it.
    refused = dj.request(PROXY, "/info/", headers, policy=aligned, USE_X_FORWARDED_HOST=True)
    assert refused.status == 400


def test_django_allowed_hosts_apply_to_forwarded_host(dj: DjangoFront) -> None:
    """The trusted proxy's host is still checked against ALLOWED_HOSTS."""
    refused = dj.request(PROXY, "/info/", {**FORWARDED, "X-Forwarded-Host": "evil.example"})
    assert refused.status == 400


def test_django_strip_prefix_from_path(dj: DjangoFront) -> None:
    """A proxy that passes the full path: strip_prefix_from_path routes it."""
    seen = dj.request(PROXY, "/shop/info/", FORWARDED, policy=STRIP).json()
    assert (seen["path"], seen["path_info"]) == ("/shop/info/", "/info/")
    assert seen["target"] == "https://public.example/shop/target/"
    assert dj.request(PROXY, "/shop/info/", FORWARDED).status == 404
    # Only on a segment boundary: a prefix /inf leaves /info/ whole.
    seen = dj.request(PROXY, "/info/", {**FORWARDED, "X-Forwarded-Prefix": "/inf"},
                      policy=STRIP).json()
    assert (seen["path"], seen["path_info"]) == ("/inf/info/", "/info/")


def test_django_prefix_alone(dj: DjangoFront) -> None:
    """The prefix alone (/shop, passed through with strip_prefix_from_path) is
    the application's root: WSGI gives an empty PATH_INFO, which Django reads as
    /; Django's ASGIRequest keeps the empty route and CommonMiddleware's
    APPEND_SLASH redirects to /shop/, prefix kept, which is the root."""
    response = dj.request(PROXY, "/shop", FORWARDED, policy=STRIP)
    if dj.asgi:
        assert (response.status, response.headers["location"]) == (301, "/shop/")
    else:
        assert (response.status, response.body) == (200, b"target")
    response = dj.request(PROXY, "/shop/", FORWARDED, policy=STRIP)
    assert (response.status, response.body) == (200, b"target")


@pytest.mark.xfail(strict=True, reason=(
    "SPEC §2/§5 rewrite SCRIPT_NAME only, and Django's get_script_name() prefers "
    "SCRIPT_URL (or REDIRECT_URL), which Apache sets when mod_rewrite is on (or "
    "after an internal redirect): behind a proxy that strips its prefix, Django "
    "then loses the trusted X-Forwarded-Prefix. Needs a SPEC decision on "
    "rewriting SCRIPT_URL/REDIRECT_URL too."))
@pytest.mark.parametrize("key", ["SCRIPT_URL", "REDIRECT_URL"])
@pytest.mark.parametrize("middleware", [WsgiMiddleware, WsgiPure], ids=["compiled", "pure"])
def test_django_prefix_with_apache_script_url(middleware: type[Any], key: str) -> None:
    """Under Apache (mod_wsgi) with mod_rewrite on, the environ holds SCRIPT_URL,
    the request's URL path (/info/ from a proxy that stripped /shop); Django
    builds its script prefix from it rather than from SCRIPT_NAME."""
    environ = make_environ(PROXY, FORWARDED, PATH_INFO="/info/", CONTENT_LENGTH="0",
                           **{key: "/info/", "wsgi.input": io.BytesIO(b""),
                              "wsgi.errors": io.StringIO()})
    seen = call_wsgi(middleware(WSGIHandler(), POLICY), environ).json()
    assert seen["script_name"] == "/shop"
    assert seen["target"] == "https://public.example/shop/target/"


def test_django_non_ascii_prefix(dj: DjangoFront) -> None:
    """A prefix sent as UTF-8 bytes reaches Django as the same text through WSGI
    (SCRIPT_NAME, bytes as latin-1) and ASGI (root_path, decoded), and reverse()
    percent-encodes it the same way."""
    prefix = "/café".encode().decode("latin-1")  # the header's bytes, as WSGI holds them
    seen = dj.request(PROXY, "/info/", {**FORWARDED, "X-Forwarded-Prefix": prefix}).json()
    assert seen["script_prefix"] == "/café/"
    assert seen["path"] == "/café/info/"
    assert seen["target"] == "https://public.example/caf%C3%A9/target/"


# --------------------------------------------------------------------------- README's wiring


def _readme_blocks() -> list[str]:
    """The python blocks of README's "Wiring it in"."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("### Wiring it in\n")
    end = text.index("\n### ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def _readme_block(first_line: str) -> str:
    blocks = [block for block in _readme_blocks() if block.startswith(first_line)]
    assert len(blocks) == 1, first_line
    return blocks[0]


def _trust_yaml(tmp_path: Path, proxies: str = "10.0.0.0/8") -> Path:
    path = tmp_path / "trust.yaml"
    path.write_text(f"trusted_proxies: [{proxies}]\ntrusted_headers: "
                    f"[{', '.join(HEADERS)}]\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_readme_django_wiring(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's Django wsgi.py and asgi.py, run as written with the real Django
    (the settings are the test project's, configured already)."""
    code = _readme_block(f"# Django: myproject/{kind}.py")
    assert "/etc/myproject/trust.yaml" in code
    code = code.replace("/etc/myproject/trust.yaml", str(_trust_yaml(tmp_path)))
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    application = namespace["application"]
    if kind == "wsgi":
        assert isinstance(application, WsgiMiddleware)
        assert isinstance(application.app, WSGIHandler)
        environ = make_environ(PROXY, FORWARDED, PATH_INFO="/info/", CONTENT_LENGTH="0",
                               **{"wsgi.input": io.BytesIO(b""), "wsgi.errors": io.StringIO()})
        seen = call_wsgi(application, environ).json()
    else:
        assert isinstance(application, AsgiMiddleware)
        assert isinstance(application.app, ASGIHandler)
        seen = call_asgi(application, make_scope(PROXY, "/info/", FORWARDED)).json()
    assert (seen["remote_addr"], seen["secure"]) == (CLIENT, True)
    assert seen["target"] == "https://public.example/shop/target/"


# --------------------------------------------------------------------------- Django under uvicorn

DJANGO_ASGI_MODULE = '''
import os

os.environ["DJANGO_SETTINGS_MODULE"] = "django_site.settings"

from django.core.asgi import get_asgi_application
from trustedproxy import TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware

app = TrustedProxyMiddleware(get_asgi_application(), TrustPolicy(
    trusted_proxies=["127.0.0.1", "10.0.0.0/8"], trusted_headers={headers!r}))
'''

STARLETTE_MODULE = '''
from starlette.applications import Starlette
from starlette_site import ROUTES
from trustedproxy import TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware

app = TrustedProxyMiddleware(Starlette(routes=ROUTES), TrustPolicy(
    trusted_proxies=["127.0.0.1", "10.0.0.0/8"], trusted_headers={headers!r}))
'''


def start_uvicorn(name: str, module: str, *options: str) -> ManagedServer:
    """uvicorn (its own proxy handling off) on 127.0.0.1 serving *module*'s
    ``app``, with the worktree and tests/ importable; waited for with a bounded
    loop. The caller stops it (by PID: ``cleanup()``)."""
    for needed in ("uvicorn", "websockets"):
        require(importlib.util.find_spec(needed) is not None,
                f"{needed} is not installed (pip install -e '.[test]')")
    directory = make_server_dir(f"uvicorn-{name}")
    (directory / f"{name}_app.py").write_text(
        textwrap.dedent(module.format(headers=HEADERS)), encoding="utf-8")
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
            "--no-proxy-headers", "--lifespan", "off", "--ws", "websockets",
            "--app-dir", str(directory), "--no-access-log", *options, f"{name}_app:app"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}
    server = ManagedServer(f"uvicorn-{name}", argv, directory=directory, host="127.0.0.1",
                           port=port, env=env, cwd=directory)
    return server.start()


@pytest.fixture(scope="module")
def django_uvicorn() -> Iterator[ManagedServer]:
    """The test project under uvicorn, through trustedproxy's ASGI middleware."""
    server = start_uvicorn("django", DJANGO_ASGI_MODULE)
    try:
        yield server
    finally:
        server.cleanup()


def test_django_under_uvicorn(django_uvicorn: ManagedServer) -> None:
    """Through a real uvicorn: the trusted peer's headers reach Django's request
    API; an untrusted peer (127.0.0.2) forging them gets its own view."""
    server = django_uvicorn
    forwarded = list(FORWARDED.items())
    response = raw_request(server.host, server.port, "GET", "/info/", forwarded,
                           source="127.0.0.1", timeout=10.0)
    assert response.status == 200, server.log_text()
    seen = response.json()
    assert (seen["remote_addr"], seen["secure"], seen["host"]) == (CLIENT, True, PUBLIC)
    assert seen["target"] == "https://public.example/shop/target/"
    assert seen["here"] == "https://public.example/shop/info/"
    response = raw_request(server.host, server.port, "GET", "/info/", forwarded,
                           source="127.0.0.2", timeout=10.0)
    assert response.status == 200, server.log_text()
    seen = response.json()
    assert (seen["remote_addr"], seen["secure"]) == ("127.0.0.2", False)
    assert seen["host"] == f"127.0.0.1:{server.port}"
    assert seen["target"] == f"http://127.0.0.1:{server.port}/target/"
    assert seen["forwarded"] == []
    redirect = raw_request(server.host, server.port, "GET", "/go/", forwarded,
                           source="127.0.0.1", timeout=10.0)
    assert (redirect.status, redirect.header("location")) == (302, "/shop/target/")


# --------------------------------------------------------------------------- Starlette


@dataclass
class StarletteFront:
    """A real Starlette app behind one of the two ASGI middleware paths."""

    name: str
    middleware: type[Any]

    def app(self, policy: TrustPolicy = POLICY, *inner: Middleware) -> Callable[..., Any]:
        return self.middleware(Starlette(routes=ROUTES, middleware=list(inner)), policy)

    def get(self, peer: str, path: str, headers: Mapping[str, str] | None = None, *,
            policy: TrustPolicy = POLICY, root_path: str = "",
            inner: tuple[Middleware, ...] = ()) -> Response:
        scope = make_scope(peer, path, headers or {}, root_path=root_path)
        return call_asgi(self.app(policy, *inner), scope)


@pytest.fixture(params=[("compiled", AsgiMiddleware), ("pure", AsgiPure)],
                ids=lambda p: p[0])
def st(request: pytest.FixtureRequest) -> StarletteFront:
    """Starlette behind each of the two ASGI middleware paths."""
    return StarletteFront(*request.param)


def test_starlette_behind_trusted_proxy(st: StarletteFront) -> None:
    """Starlette's request API reports the client, https, the public host, and
    url_for with the prefix (root_path); the route still matches."""
    seen = st.get(PROXY, "/items/42", FORWARDED).json()
    assert seen["route"] == "item"
    assert seen["params"] == {"item_id": "42"}
    assert seen["client"] == CLIENT
    assert (seen["scheme"], seen["hostname"], seen["port"]) == ("https", PUBLIC, None)
    # ASGI: path includes root_path; Starlette routes on what follows it.
    assert (seen["root_path"], seen["path"]) == ("/shop", "/shop/items/42")
    assert seen["url"] == "https://public.example/shop/items/42"
    assert seen["url_for"] == "https://public.example/shop/items/7"
    assert seen["forwarded"] == sorted(name.lower() for name in FORWARDED)


def test_starlette_host_with_port(st: StarletteFront) -> None:
    seen = st.get(PROXY, "/items/42", {**FORWARDED,
                                       "X-Forwarded-Host": "public.example:8443"}).json()
    assert (seen["hostname"], seen["port"]) == (PUBLIC, 8443)
    assert seen["url_for"] == "https://public.example:8443/shop/items/7"


def test_starlette_untrusted_peer_gets_nothing(st: StarletteFront) -> None:
    seen = st.get(STRANGER, "/items/42", FORWARDED).json()
    assert seen["client"] == STRANGER
    assert (seen["scheme"], seen["hostname"], seen["port"]) == ("http", "backend.internal", 8000)
    assert (seen["root_path"], seen["path"]) == ("", "/items/42")
    assert seen["url_for"] == "http://backend.internal:8000/items/7"
    assert seen["forwarded"] == []


def test_starlette_server_root_path(st: StarletteFront) -> None:
    """A root_path the server set already (uvicorn --root-path /srv) stays, after
    the proxy's prefix; without a prefix header it is left as it was."""
    seen = st.get(PROXY, "/items/42", FORWARDED, root_path="/srv").json()
    assert (seen["root_path"], seen["path"]) == ("/shop/srv", "/shop/srv/items/42")
    assert seen["params"] == {"item_id": "42"}
    assert seen["url_for"] == "https://public.example/shop/srv/items/7"
    headers = {k: v for k, v in FORWARDED.items() if k != "X-Forwarded-Prefix"}
    seen = st.get(PROXY, "/items/42", headers, root_path="/srv").json()
    assert (seen["root_path"], seen["path"]) == ("/srv", "/srv/items/42")
    assert seen["url_for"] == "https://public.example/srv/items/7"


def test_starlette_strip_prefix_from_path(st: StarletteFront) -> None:
    """A proxy that passes the full path (/shop/items/42): with
    strip_prefix_from_path the route matches and url_for has the prefix once;
    without it, the prefix is in the route too and nothing matches."""
    seen = st.get(PROXY, "/shop/items/42", FORWARDED, policy=STRIP).json()
    assert seen["params"] == {"item_id": "42"}
    assert (seen["root_path"], seen["path"]) == ("/shop", "/shop/items/42")
    assert seen["url"] == "https://public.example/shop/items/42"
    assert seen["url_for"] == "https://public.example/shop/items/7"
    assert st.get(PROXY, "/shop/items/42", FORWARDED).status == 404


def test_starlette_prefix_alone(st: StarletteFront) -> None:
    """The prefix alone (/shop, passed through with strip_prefix_from_path):
    Starlette's slash redirect keeps the prefix and the public origin."""
    response = st.get(PROXY, "/shop", FORWARDED, policy=STRIP)
    assert (response.status, response.headers["location"]) == (307, "https://public.example/shop/")
    seen = st.get(PROXY, "/shop/", FORWARDED, policy=STRIP).json()
    assert seen["route"] == "home"
    assert (seen["root_path"], seen["path"]) == ("/shop", "/shop/")
    assert seen["url"] == "https://public.example/shop/"


def test_starlette_prefix_is_not_a_partial_segment(st: StarletteFront) -> None:
    """peers.md §14 (Starlette #2599): a prefix /product must not cut /products.
    With strip_prefix_from_path a path /products/5 is not stripped of /product,
    and under root_path /product the route is still /products/5."""
    headers = {**FORWARDED, "X-Forwarded-Prefix": "/product"}
    seen = st.get(PROXY, "/products/5", headers, policy=STRIP).json()
    assert seen["route"] == "product"
    assert seen["params"] == {"pid": "5"}
    assert (seen["root_path"], seen["path"]) == ("/product", "/product/products/5")
    assert seen["product_url"] == "https://public.example/product/products/7"
    # A server that leaves root_path out of path (root_path /product, path
    # /products/5): the whole path is the route, under the proxy's prefix.
    scope = make_scope(PROXY, "/products/5", {**FORWARDED, "X-Forwarded-Prefix": "/edge"})
    scope["root_path"] = "/product"
    seen = call_asgi(st.app(), scope).json()
    assert seen["params"] == {"pid": "5"}
    assert (seen["root_path"], seen["path"]) == ("/edge/product", "/edge/product/products/5")


def test_starlette_https_redirect(st: StarletteFront) -> None:
    """HTTPSRedirectMiddleware: no redirect (no loop) behind the trusted proxy's
    https; a redirect, with the prefix, for its plain http; a redirect to the
    real host for an untrusted peer forging X-Forwarded-Proto: https."""
    inner = (Middleware(HTTPSRedirectMiddleware),)
    assert st.get(PROXY, "/items/42", FORWARDED, inner=inner).status == 200
    plain = st.get(PROXY, "/items/42", {**FORWARDED, "X-Forwarded-Proto": "http"}, inner=inner)
    assert plain.status == 307
    assert plain.headers["location"] == "https://public.example/shop/items/42"
    forged = st.get(STRANGER, "/items/42", {"X-Forwarded-Proto": "https"}, inner=inner)
    assert forged.status == 307
    assert forged.headers["location"] == "https://backend.internal:8000/items/42"


def test_starlette_middleware_list_order(st: StarletteFront) -> None:
    """In Starlette's own middleware list the first entry is the outermost: there
    trustedproxy works as when it wraps the app; after HTTPSRedirectMiddleware,
    the redirect sees the proxy's http and loops (README: outermost)."""
    first = Starlette(routes=ROUTES, middleware=[Middleware(st.middleware, policy=POLICY),
                                                 Middleware(HTTPSRedirectMiddleware)])
    response = call_asgi(first, make_scope(PROXY, "/items/42", FORWARDED))
    assert response.json()["url_for"] == "https://public.example/shop/items/7"
    last = Starlette(routes=ROUTES, middleware=[Middleware(HTTPSRedirectMiddleware),
                                                Middleware(st.middleware, policy=POLICY)])
    response = call_asgi(last, make_scope(PROXY, "/items/42", FORWARDED))
    assert (response.status, response.headers["location"]) == (
        307, "https://backend.internal:8000/items/42")


def test_starlette_trusted_host(st: StarletteFront) -> None:
    """TrustedHostMiddleware sees the trusted proxy's host, never a forged one."""
    inner = (Middleware(TrustedHostMiddleware, allowed_hosts=[PUBLIC]),)
    assert st.get(PROXY, "/items/42", FORWARDED, inner=inner).status == 200
    forged = st.get(STRANGER, "/items/42", {"X-Forwarded-Host": PUBLIC}, inner=inner)
    assert forged.status == 400
    evil = st.get(PROXY, "/items/42", {**FORWARDED, "X-Forwarded-Host": "evil.example"},
                  inner=inner)
    assert evil.status == 400


def _websocket_report(st: StarletteFront, peer: str) -> dict[str, Any]:
    scope = make_scope(peer, "/ws", FORWARDED, type_="websocket")
    messages = call_websocket(st.app(), scope)
    assert [m["type"] for m in messages] == ["websocket.accept", "websocket.send",
                                             "websocket.close"]
    result: dict[str, Any] = json.loads(messages[1]["text"])
    return result


def test_starlette_websocket(st: StarletteFront) -> None:
    """A websocket behind the trusted https proxy is wss, with the client and the
    prefix; from an untrusted peer it is ws, as it came."""
    seen = _websocket_report(st, PROXY)
    assert (seen["client"], seen["scheme"], seen["hostname"]) == (CLIENT, "wss", PUBLIC)
    assert seen["url"] == "wss://public.example/shop/ws"
    assert seen["url_for"] == "wss://public.example/shop/ws"
    seen = _websocket_report(st, STRANGER)
    assert (seen["client"], seen["scheme"]) == (STRANGER, "ws")
    assert seen["url"] == "ws://backend.internal:8000/ws"


@pytest.mark.parametrize("kind", ["compiled", "pure"])
def test_readme_starlette_wiring(kind: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """README's Starlette block, run as written with the real Starlette."""
    code = _readme_block("# Starlette")
    monkeypatch.chdir(tmp_path)
    _trust_yaml(tmp_path)
    namespace: dict[str, Any] = {"routes": ROUTES}
    exec(code, namespace)
    app = namespace["app"]
    assert isinstance(app, AsgiMiddleware)
    if kind == "pure":
        app = AsgiPure(app.app, app.policy)
    seen = call_asgi(app, make_scope(PROXY, "/items/42", FORWARDED)).json()
    assert (seen["client"], seen["scheme"]) == (CLIENT, "https")
    assert seen["url_for"] == "https://public.example/shop/items/7"


# ------------------------------------------------------------------------ Starlette, uvicorn


@pytest.fixture(scope="module")
def starlette_uvicorn() -> Iterator[ManagedServer]:
    """The Starlette app under uvicorn with its own root_path (--root-path /srv)."""
    server = start_uvicorn("starlette", STARLETTE_MODULE, "--root-path", "/srv")
    try:
        yield server
    finally:
        server.cleanup()


def test_starlette_under_uvicorn(starlette_uvicorn: ManagedServer) -> None:
    """Through a real uvicorn whose root_path is /srv: the trusted proxy's prefix
    goes in front of it, the route matches, url_for has both; an untrusted peer
    (127.0.0.2) forging the headers gets uvicorn's own view."""
    server = starlette_uvicorn
    forwarded = list(FORWARDED.items())
    response = raw_request(server.host, server.port, "GET", "/items/42", forwarded,
                           source="127.0.0.1", timeout=10.0)
    assert response.status == 200, server.log_text()
    seen = response.json()
    assert (seen["client"], seen["scheme"], seen["hostname"]) == (CLIENT, "https", PUBLIC)
    assert (seen["root_path"], seen["path"]) == ("/shop/srv", "/shop/srv/items/42")
    assert seen["params"] == {"item_id": "42"}
    assert seen["url_for"] == "https://public.example/shop/srv/items/7"
    response = raw_request(server.host, server.port, "GET", "/items/42", forwarded,
                           source="127.0.0.2", timeout=10.0)
    assert response.status == 200, server.log_text()
    seen = response.json()
    assert (seen["client"], seen["scheme"]) == ("127.0.0.2", "http")
    assert (seen["root_path"], seen["path"]) == ("/srv", "/srv/items/42")
    assert seen["url_for"] == f"http://127.0.0.1:{server.port}/srv/items/7"
    assert seen["forwarded"] == []


def test_starlette_websocket_under_uvicorn(starlette_uvicorn: ManagedServer) -> None:
    """A real websocket through uvicorn: wss and the client behind the trusted
    https proxy, ws and the peer for an untrusted one."""
    from websockets.sync.client import connect

    server = starlette_uvicorn

    def open_report(source: str) -> dict[str, Any]:
        sock = pysocket.create_connection((server.host, server.port), timeout=10.0,
                                          source_address=(source, 0))
        with connect(f"ws://{server.host}:{server.port}/ws", sock=sock,
                     additional_headers=list(FORWARDED.items()), open_timeout=10,
                     close_timeout=5) as websocket:
            message = websocket.recv(timeout=10)
        result: dict[str, Any] = json.loads(message)
        return result

    seen = open_report("127.0.0.1")
    assert (seen["client"], seen["scheme"]) == (CLIENT, "wss")
    assert seen["url"] == "wss://public.example/shop/srv/ws"
    seen = open_report("127.0.0.2")
    assert (seen["client"], seen["scheme"]) == ("127.0.0.2", "ws")
    assert seen["url"] == f"ws://127.0.0.1:{server.port}/srv/ws"
