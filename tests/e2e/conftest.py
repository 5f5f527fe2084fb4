"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from e2e.backend import BACKEND_KINDS


@pytest.fixture(params=BACKEND_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The WSGI server of the back-end: each test runs once per kind."""
    value: str = request.param
    return value


@pytest.fixture
def servers() -> Iterator[ExitStack]:
    """Everything a test starts is stopped (by PID) when it ends, in reverse order."""
    with ExitStack() as stack:
        yield stack
