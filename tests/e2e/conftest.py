"""Markers and path set-up of the end-to-end suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/ on sys.path, so that ``realservers`` and ``e2e`` import in any pytest import mode.
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "realserver: needs real servers (run .ci/install-servers.sh as root first)")
    config.addinivalue_line(
        "markers", "e2e: the middleware behind real nginx / Apache / mod_wsgi-express")
