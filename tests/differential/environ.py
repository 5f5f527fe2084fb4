"""Build an environ as mod_wsgi builds it, and reduce an environ to the compared fields.

mod_wsgi side: the app below (run by mod_wsgi-express) returns every ``str``
value of its environ as JSON; :func:`observe_modwsgi` turns that into an
:data:`Outcome`. Our side: :func:`build_environ` makes the environ mod_wsgi
would have built *before* its proxy step, :func:`run_middleware` passes it
through ``TrustedProxyMiddleware`` and :func:`observe_environ` reduces it.
``test_oracle.py`` checks :func:`build_environ` against a mod_wsgi-express
with no trust configuration, so this model of mod_wsgi is itself tested.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: The WSGI app run by mod_wsgi-express (and, for the harness check, as is).
ENVIRON_APP = """\
import json


def application(environ, start_response):
    data = {key: value for key, value in environ.items() if isinstance(value, str)}
    body = json.dumps(data, sort_keys=True).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""

#: Every forwarded header either side knows, as environ keys.
FORWARDED_KEYS = frozenset({
    "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_X_CLIENT_IP",
    "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_SCHEME", "HTTP_X_SCHEME",
    "HTTP_X_FORWARDED_HTTPS", "HTTP_X_FORWARDED_SSL", "HTTP_X_HTTPS", "HTTP_FRONT_END_HTTPS",
    "HTTP_X_FORWARDED_HOST", "HTTP_X_HOST", "HTTP_X_FORWARDED_SERVER", "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX", "HTTP_X_SCRIPT_NAME", "HTTP_X_FORWARDED_SCRIPT_NAME",
    "HTTP_FORWARDED",
})

#: The compared fields. "forwarded" is the set of FORWARDED_KEYS still present.
FIELDS = ("REMOTE_ADDR", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme",
          "SCRIPT_NAME", "PATH_INFO", "HTTP_X_FORWARDED_FOR", "forwarded")

#: field -> value (str, None for an absent key, frozenset for "forwarded").
Outcome = dict[str, Any]

_TOKEN = re.compile(r"[A-Za-z0-9-]+")


def env_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def split_host(host: str, listen_port: int) -> tuple[str, str]:
    """SERVER_NAME and SERVER_PORT as Apache derives them from Host
    (``UseCanonicalName Off``): the host part in lower case, the port from
    Host or else the port the server listens on."""
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[: end + 1], host[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name.lower(), port or str(listen_port)


def build_environ(
    headers: Sequence[tuple[str, str]],
    *,
    source: str,
    path: str,
    listen_port: int,
) -> dict[str, Any]:
    """The environ mod_wsgi builds for this request before its proxy step.

    Values lose leading and trailing spaces and tabs, duplicate header lines
    are merged with ``", "`` (Apache does both, in wire order, names compared
    without case); names holding anything but letters, digits and ``-`` are
    dropped (mod_wsgi does it, ``environ.c:26-95``).
    """
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "REQUEST_URI": path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_SCHEME": "http",
        "REMOTE_ADDR": source,
        "REMOTE_PORT": "40000",
        "SERVER_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            continue
        key = env_key(name)
        value = value.strip(" \t")
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    server_name, server_port = split_host(environ.get("HTTP_HOST", ""), listen_port)
    environ["SERVER_NAME"] = server_name
    environ["SERVER_PORT"] = server_port
    return environ


def observe_environ(environ: Mapping[str, Any]) -> Outcome:
    """Reduce an environ (ours, or mod_wsgi's at the C level) to the compared fields."""
    return {
        "REMOTE_ADDR": environ.get("REMOTE_ADDR"),
        "HTTP_HOST": environ.get("HTTP_HOST"),
        "SERVER_NAME": environ.get("SERVER_NAME"),
        "SERVER_PORT": environ.get("SERVER_PORT"),
        "wsgi.url_scheme": environ.get("wsgi.url_scheme"),
        "SCRIPT_NAME": environ.get("SCRIPT_NAME"),
        "PATH_INFO": environ.get("PATH_INFO"),
        "HTTP_X_FORWARDED_FOR": environ.get("HTTP_X_FORWARDED_FOR"),
        "forwarded": frozenset(FORWARDED_KEYS.intersection(environ)),
    }


def c_level(environ: Mapping[str, str]) -> dict[str, str]:
    """mod_wsgi's C-level SCRIPT_NAME / PATH_INFO, as if the app were mounted at /.

    mod_wsgi-express's handler rewrites both (mod_wsgi-reference.md §2.3). The
    C layer's own values survive as ``mod_wsgi.mount_point`` (set only by a
    trusted prefix header), ``mod_wsgi.script_name`` and ``mod_wsgi.path_info``
    (before the proxy step). Express maps every URL to its handler script, so
    the C-level ``mod_wsgi.script_name`` is the first path segment; for an app
    at the root the server's SCRIPT_NAME is ``''`` and PATH_INFO the whole
    path, which is what the environ of :func:`build_environ` holds.
    """
    result = dict(environ)
    result["SCRIPT_NAME"] = environ.get("mod_wsgi.mount_point", "")
    result["PATH_INFO"] = environ.get("mod_wsgi.script_name", "") + environ.get(
        "mod_wsgi.path_info", "")
    return result


def observe_modwsgi(environ: Mapping[str, str]) -> Outcome:
    return observe_environ(c_level(environ))


def run_middleware(middleware_factory: Any, environ: dict[str, Any]) -> dict[str, Any]:
    """Call ``middleware_factory(app)`` on *environ*; return the environ the app saw."""
    seen: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.update(env)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return None

    result = middleware_factory(app)(environ, start_response)
    for _ in result:
        pass
    return seen
