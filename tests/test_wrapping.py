"""A middleware wrapped around another of its kind is refused when it is made:
the outer one rewrites REMOTE_ADDR (or ``client``) to the client, so the inner
one would see the client as its TCP peer, remove what the outer one vouched for
and replace the audit record (``trustedproxy.orig`` and the decision, or
``scope["extensions"]["trustedproxy"]``) with its own."""

from __future__ import annotations

from typing import Any

import pytest

from trustedproxy import ConfigError, TrustedProxyMiddleware, TrustPolicy
from trustedproxy import asgi as asgi_module
from trustedproxy.wsgi import _PurePythonMiddleware

POLICY = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                     trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])
WSGI = [pytest.param(TrustedProxyMiddleware, id="default"),
        pytest.param(_PurePythonMiddleware, id="pure")]
ASGI = [pytest.param(asgi_module.TrustedProxyMiddleware, id="default"),
        pytest.param(asgi_module._PurePythonMiddleware, id="pure")]


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    return [environ["REMOTE_ADDR"].encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    return None


class Logged(TrustedProxyMiddleware):
    """A user's subclass."""


@pytest.mark.parametrize("outer", WSGI)
@pytest.mark.parametrize("inner", [*WSGI, pytest.param(Logged, id="subclass")])
def test_wsgi_middleware_around_another_is_refused(outer: type[TrustedProxyMiddleware],
                                                   inner: type[TrustedProxyMiddleware]) -> None:
    """Wrapping an application twice (a factory run twice on one Flask app,
    a hosting wrapper around a wsgi.py that wraps already) fails at once,
    saying why and what to do."""
    wrapped = inner(app, POLICY)
    with pytest.raises(ConfigError, match=(
            r"^TrustedProxyMiddleware: the application is already a TrustedProxyMiddleware "
            r"\(\w+\): a second one would see the client, not the proxy, as its TCP peer, "
            r"remove the headers the first one trusted and replace trustedproxy\.orig and "
            r"trustedproxy\.decision with its own; wrap the application once, with one "
            r"policy that lists every trusted proxy$")) as raised:
        outer(wrapped, POLICY)
    assert raised.value.source == "TrustedProxyMiddleware"
    assert type(wrapped).__name__ in str(raised.value)


@pytest.mark.parametrize("outer", ASGI)
@pytest.mark.parametrize("inner", ASGI)
def test_asgi_middleware_around_another_is_refused(outer: Any, inner: Any) -> None:
    """The same for ASGI, whose record is scope["extensions"]["trustedproxy"]."""
    with pytest.raises(ConfigError, match=(
            r"^trustedproxy\.asgi\.TrustedProxyMiddleware: the application is already a "
            r"trustedproxy\.asgi\.TrustedProxyMiddleware \(\w+\): a second one would see the "
            r"client, not the proxy, as its TCP peer, remove the headers the first one trusted "
            r"and replace scope\[\"extensions\"\]\[\"trustedproxy\"\] with its own; wrap the "
            r"application once, with one policy that lists every trusted proxy$")):
        outer(inner(asgi_app, POLICY), POLICY)


def test_other_wrappers_between_are_not_looked_through() -> None:
    """Only a middleware given directly is recognised: one behind another
    wrapper cannot be seen, and is not looked for (no request-time cost)."""

    def between(environ: dict[str, Any], start_response: Any) -> Any:
        return inner(environ, start_response)

    inner = TrustedProxyMiddleware(app, POLICY)
    TrustedProxyMiddleware(between, POLICY)  # made; what it does is the user's to decide

