"""Subclasses of the middleware that override ``__call__`` and hand the request
on to the middleware's own ``__call__`` (a logging or timing wrapper), on the
compiled path and on the pure-Python reference alike."""

from __future__ import annotations

from typing import Any

import pytest

from trustedproxy import TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware as AsgiMiddleware
from trustedproxy.asgi import _PurePythonMiddleware as AsgiPure
from trustedproxy.wsgi import TrustedProxyMiddleware, _PurePythonMiddleware

POLICY = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"])
BASES = [pytest.param(TrustedProxyMiddleware, id="default"),
         pytest.param(_PurePythonMiddleware, id="pure")]


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [environ["REMOTE_ADDR"].encode()]


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def environ() -> dict[str, Any]:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "", "SERVER_NAME": "app",
            "SERVER_PORT": "8000", "wsgi.url_scheme": "http", "REMOTE_ADDR": "10.1.2.3",
            "HTTP_X_FORWARDED_FOR": "203.0.113.9"}


def subclasses(base: type[TrustedProxyMiddleware]) -> dict[str, type[TrustedProxyMiddleware]]:
    """Ways a user writes a wrapper: each counts its calls in ``self.seen``."""

    class Super(base):  # type: ignore[valid-type,misc]
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            self.seen += 1
            return super().__call__(environ, start_response)

    class Named(base):  # type: ignore[valid-type,misc]
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            self.seen += 1
            return base.__call__(self, environ, start_response)

    class Keyword(base):  # type: ignore[valid-type,misc]
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            self.seen += 1
            return super().__call__(environ, start_response=start_response)

    class Twice(Super):
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            self.seen += 10
            return super().__call__(environ, start_response)

    class Assigned(base):  # type: ignore[valid-type,misc]
        pass

    def assigned(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        self.seen += 1
        return super(Assigned, self).__call__(environ, start_response)

    Assigned.__call__ = assigned  # type: ignore[method-assign]
    return {"super": Super, "named": Named, "keyword": Keyword, "twice": Twice,
            "assigned": Assigned}


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("kind", ["super", "named", "keyword", "twice", "assigned"])
def test_wrapper_calling_the_middleware_runs_it_once(base: type[TrustedProxyMiddleware],
                                                     kind: str) -> None:
    """The wrapper runs once and the request is fixed, as without it (the
    compiled ``__call__``, reached from the subclass, once sent the call back to
    the subclass's ``__call__``, which recursed until RecursionError)."""
    cls = subclasses(base)[kind]
    middleware = cls(app, POLICY)
    middleware.seen = 0
    assert middleware(environ(), start_response) == [b"203.0.113.9"]
    assert middleware.seen == (11 if kind == "twice" else 1)
    env = environ()
    assert middleware(env, start_response=start_response) == [b"203.0.113.9"]
    assert env["trustedproxy.orig"]["REMOTE_ADDR"] == "10.1.2.3"


@pytest.mark.parametrize("base", BASES)
def test_wrong_arguments_through_the_wrapper_are_refused(
        base: type[TrustedProxyMiddleware]) -> None:
    """A wrapper that passes the wrong arguments on gets the TypeError a Python
    method gives, not a crash or a recursion."""

    class Wrong(base):  # type: ignore[valid-type,misc]
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            return super().__call__(environ)

    with pytest.raises(TypeError, match="start_response"):
        Wrong(app, POLICY)(environ(), start_response)


@pytest.mark.parametrize("base", [pytest.param(AsgiMiddleware, id="default"),
                                  pytest.param(AsgiPure, id="pure")])
def test_asgi_wrapper_calling_the_middleware_runs_it_once(base: type[AsgiMiddleware]) -> None:
    """The same for the ASGI middleware: the wrapper awaits the middleware once."""
    seen: list[Any] = []

    async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["client"])

    class Wrapper(base):  # type: ignore[valid-type,misc]
        calls = 0

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            type(self).calls += 1
            await super().__call__(scope, receive, send)

    scope = {"type": "http", "scheme": "http", "path": "/", "root_path": "",
             "server": ("app", 8000), "client": ("10.1.2.3", 5000),
             "headers": [(b"x-forwarded-for", b"203.0.113.9")]}
    coro = Wrapper(asgi_app, POLICY)(scope, None, None)
    with pytest.raises(StopIteration):
        coro.send(None)
    assert (Wrapper.calls, seen) == (1, [("203.0.113.9", 0)])
