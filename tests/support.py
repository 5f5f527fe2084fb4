"""Test helpers: environs as servers build them, and an app that records them."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trustedproxy import TrustedProxyMiddleware, TrustPolicy
from trustedproxy.headers import environ_key


def make_environ(peer: str | None = "127.0.0.1", headers: Mapping[str, str] | None = None,
                 **extra: Any) -> dict[str, Any]:
    """An environ as a WSGI server builds it for ``GET /path`` on port 8000."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/path",
        "QUERY_STRING": "",
        "SERVER_NAME": "backend.internal",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "backend.internal:8000",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
    }
    if peer is not None:
        environ["REMOTE_ADDR"] = peer
    for name, value in (headers or {}).items():
        environ[environ_key(name)] = value
    environ.update(extra)
    return environ


class Recorder:
    """A WSGI app that keeps a copy of the last environ it saw."""

    def __init__(self) -> None:
        self.environ: dict[str, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.environ = dict(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def run(policy: TrustPolicy, environ: dict[str, Any]) -> dict[str, Any]:
    """Send *environ* through the middleware; return the environ the app saw."""
    recorder = Recorder()
    TrustedProxyMiddleware(recorder, policy)(environ, lambda status, headers: None)
    return recorder.environ



def run_threads(worker: Callable[[int], object], count: int, timeout: float = 120) -> None:
    """Run ``worker(n)`` for n in ``range(count)``, each in its own thread, with
    the interpreter switching threads often (to interleave cache updates); wait
    for them all and assert that every one finished."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=timeout)
    finally:
        sys.setswitchinterval(old)
    assert not any(t.is_alive() for t in threads), "a worker thread did not finish"


def cgi_view(scope: Mapping[str, Any]) -> dict[str, str]:
    """The ``HTTP_*`` keys an application that maps ASGI headers to CGI names
    gets from *scope*: Django's ``ASGIRequest.META``, asgiref's, a2wsgi's and
    uvicorn's WSGI bridges all upper-case the latin-1 name, turn ``-`` into
    ``_`` (so ``x_forwarded_for`` meets ``x-forwarded-for``) and join repeated
    keys with ``,``."""
    view: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        view[key] = view[key] + "," + text if key in view else text
    return view
