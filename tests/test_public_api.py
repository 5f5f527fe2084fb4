"""The public surface: exported names, and the engine/adapter split."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trustedproxy

PACKAGE = Path(trustedproxy.__file__).parent
PURE = ["engine.py", "policy.py", "headers.py", "addresses.py", "values.py", "ranges.py",
        "errors.py"]


def test_all_is_exactly_the_public_names() -> None:
    """__all__ lists every public name of the package and nothing else."""
    public = {name for name in vars(trustedproxy) if not name.startswith("_")}
    modules = {name for name in public
               if type(getattr(trustedproxy, name)).__name__ == "module"}
    assert set(trustedproxy.__all__) - {"__version__"} == public - modules
    assert {"TrustPolicy", "TrustedProxyMiddleware", "ConfigError"} <= set(trustedproxy.__all__)
    for name in trustedproxy.__all__:
        assert getattr(trustedproxy, name) is not None


@pytest.mark.parametrize("module", PURE)
def test_engine_never_imports_an_adapter(module: str) -> None:
    """The pure modules import no adapter and never touch an environ."""
    tree = ast.parse((PACKAGE / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module not in ("wsgi", "asgi", "cli"), node.module
            assert not (node.module or "").startswith(("trustedproxy.wsgi", "trustedproxy.asgi"))
        if isinstance(node, ast.Import):
            assert all("wsgi" not in alias.name for alias in node.names)
        if isinstance(node, ast.Name | ast.arg | ast.Attribute):
            name = getattr(node, "id", None) or getattr(node, "arg", None) or getattr(
                node, "attr", None)
            assert name not in ("environ", "start_response", "scope"), (module, name)


def test_version() -> None:
    """The package has a version string."""
    assert trustedproxy.__version__.count(".") == 2


def test_py_typed_is_shipped() -> None:
    """The package marks itself as typed."""
    assert (PACKAGE / "py.typed").exists()
