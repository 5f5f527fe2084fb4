"""What :func:`inspect.signature` says of a middleware: the same with and
without the compiled path (whose ``__call__`` is a C slot, which inspect
cannot read), and the constructor's for the class."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from trustedproxy import TrustedProxyMiddleware, TrustPolicy
from trustedproxy.wsgi import _PurePythonMiddleware

POLICY = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"])


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    return []


@pytest.mark.parametrize("cls", [TrustedProxyMiddleware, _PurePythonMiddleware])
def test_instance_signature_is_the_calls(cls: type[TrustedProxyMiddleware]) -> None:
    """An instance reports ``(environ, start_response)``, as the pure-Python
    path always did (the compiled one raised ValueError: not supported)."""
    sig = inspect.signature(cls(app, POLICY))
    assert list(sig.parameters) == ["environ", "start_response"]
    assert sig == inspect.signature(_PurePythonMiddleware(app, POLICY))


def test_class_signature_is_the_constructors() -> None:
    """The class itself reports its constructor's parameters."""
    assert list(inspect.signature(TrustedProxyMiddleware).parameters) == ["app", "policy"]
    assert list(inspect.signature(_PurePythonMiddleware).parameters) == ["app", "policy"]


def test_subclass_call_is_reported() -> None:
    """A subclass that overrides ``__call__`` reports its own."""

    class Wrapper(TrustedProxyMiddleware):
        def __call__(self, environ: dict[str, Any], start_response: Any,
                     *extra: Any) -> Any:
            return super().__call__(environ, start_response)

    assert list(inspect.signature(Wrapper(app, POLICY)).parameters) == [
        "environ", "start_response", "extra"]
