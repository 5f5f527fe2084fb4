"""Set-up shared by every suite: tests/ on sys.path and the markers.

With tests/ on sys.path, ``support``, ``realservers``, ``differential`` and
``e2e`` import in any pytest import mode; pytest runs with --strict-markers,
so every marker used is registered here once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


def pytest_configure(config: pytest.Config) -> None:
    for marker in (
        "realserver: needs real servers (run .ci/install-servers.sh as root first)",
        "differential: compares trustedproxy with the real mod_wsgi 6.1.1",
        "e2e: the middleware behind real nginx / Apache / mod_wsgi-express",
    ):
        config.addinivalue_line("markers", marker)
