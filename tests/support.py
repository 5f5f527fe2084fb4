"""Test helpers: environs as servers build them, and an app that records them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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

