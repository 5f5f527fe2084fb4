"""Copies and pickles of policies' engines and of the middlewares behave the
same with and without the compiled fast path: each copy is set up anew for the
same app and policy and decides as the original does."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from trustedproxy import TrustPolicy
from trustedproxy import asgi as asgi_module
from trustedproxy.engine import TrustEngine
from trustedproxy.wsgi import TrustedProxyMiddleware, _PurePythonMiddleware

POLICY = TrustPolicy(trusted_proxies=["10.0.0.0/8", "2001:db8::/32"],
                     trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"],
                     script_name="/fixed")
COPIES: dict[str, Callable[[Any], Any]] = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    **{f"pickle{p}": (lambda x, p=p: pickle.loads(pickle.dumps(x, protocol=p)))
       for p in range(pickle.HIGHEST_PROTOCOL + 1)},
}
WSGI_CLASSES = [pytest.param(TrustedProxyMiddleware, id="default"),
                pytest.param(_PurePythonMiddleware, id="pure")]


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A module-level app (picklable by reference)."""
    return [f"{environ['REMOTE_ADDR']} {environ['wsgi.url_scheme']} "
            f"{environ['SCRIPT_NAME']}".encode()]


def other_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    return [b"other"]


def environ(peer: str, xff: str) -> dict[str, Any]:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "", "SERVER_NAME": "app",
            "SERVER_PORT": "8000", "wsgi.url_scheme": "http", "REMOTE_ADDR": peer,
            "HTTP_X_FORWARDED_FOR": xff, "HTTP_X_FORWARDED_PROTO": "https"}


REQUESTS = [("10.1.2.3", "203.0.113.9"), ("6.6.6.6", "203.0.113.9"),
            ("2001:db8::1", "203.0.113.7, 10.9.9.9"), ("10.1.2.3", "junk")]


@pytest.mark.parametrize("how", list(COPIES))
def test_engine_copy_decides_the_same(how: str) -> None:
    """A copied engine has the same policy and the same decisions."""
    engine = POLICY.compile()
    engine.is_trusted("10.0.0.1")  # something in its caches
    twin = COPIES[how](engine)
    assert isinstance(twin, TrustEngine)
    assert twin is not engine
    assert twin.policy == POLICY
    for peer, xff in REQUESTS:
        headers = {"x-forwarded-for": xff, "x-forwarded-proto": "https"}
        assert twin.decide(peer, headers) == engine.decide(peer, headers)


@pytest.mark.parametrize("cls", WSGI_CLASSES)
@pytest.mark.parametrize("how", list(COPIES))
def test_middleware_copy_fixes_requests_the_same(cls: type[TrustedProxyMiddleware],
                                                 how: str) -> None:
    """A copied middleware is a new one of the same class, for the same app
    (a deep copy: an equal one) and policy, fixing each request as the original
    does, compiled path included."""
    middleware = cls(app, POLICY)
    middleware(environ(*REQUESTS[0]), None)  # warm caches
    twin = COPIES[how](middleware)
    assert type(twin) is cls
    assert twin is not middleware
    assert twin.policy == POLICY
    assert twin.app is app
    for peer, xff in REQUESTS:
        env_a, env_b = environ(peer, xff), environ(peer, xff)
        assert twin(env_a, None) == middleware(env_b, None)
        assert env_a == env_b
    twin.app = other_app  # independent of the original
    assert middleware(environ(*REQUESTS[0]), None) != [b"other"]
    assert twin(environ(*REQUESTS[0]), None) == [b"other"]


@pytest.mark.parametrize("how", list(COPIES))
def test_subclass_copy_keeps_its_attributes(how: str) -> None:
    """A subclass with an ``__init__`` of its own is copied without calling it,
    keeping the attributes it set."""
    middleware = Named(app, POLICY, name="edge")
    twin = COPIES[how](middleware)
    assert (type(twin), twin.name, twin.policy) == (Named, "edge", POLICY)
    assert twin(environ(*REQUESTS[0]), None) == [b"203.0.113.9 https /fixed"]


class Named(TrustedProxyMiddleware):
    """A subclass whose __init__ takes more than the middleware's."""

    def __init__(self, app: Any, policy: TrustPolicy, *, name: str) -> None:
        super().__init__(app, policy)
        self.name = name


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle4"])
def test_asgi_middleware_copies(how: str) -> None:
    """The ASGI middleware copies and pickles too, and the copy decides the same."""
    middleware = asgi_module.TrustedProxyMiddleware(asgi_app, POLICY)
    twin = COPIES[how](middleware)
    for peer, xff in REQUESTS:
        assert run_asgi(twin, peer, xff) == run_asgi(middleware, peer, xff)


SEEN: list[Any] = []


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    SEEN.append((scope["client"], scope["scheme"], scope["root_path"]))


def run_asgi(middleware: Any, peer: str, xff: str) -> Any:
    scope = {"type": "http", "scheme": "http", "path": "/", "root_path": "",
             "server": ("app", 8000), "client": (peer, 5000),
             "headers": [(b"x-forwarded-for", xff.encode()), (b"x-forwarded-proto", b"https")]}
    SEEN.clear()
    coro = middleware(scope, None, None)
    with pytest.raises(StopIteration):
        coro.send(None)
    (seen,) = SEEN
    return seen


def test_copy_outlives_the_original() -> None:
    """The copy's tables (the compiled path's included) are its own: it runs
    requests after the original is gone."""
    middleware = TrustedProxyMiddleware(app, POLICY)
    twin = pickle.loads(pickle.dumps(middleware))
    del middleware
    assert twin(environ(*REQUESTS[0]), None) == [b"203.0.113.9 https /fixed"]
