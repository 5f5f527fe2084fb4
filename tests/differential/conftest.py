"""Fixtures of the differential suite: a real mod_wsgi-express per trust configuration."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ on sys.path, so that ``realservers`` and ``differential`` import in any
# pytest import mode.
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from realservers import start_modwsgi_express  # noqa: E402

from differential.cases import CASES, CONFIGS, SOURCES, TrustConfig  # noqa: E402
from differential.environ import ENVIRON_APP  # noqa: E402
from differential.observe import Observations, observe_all  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "realserver: needs real servers (run .ci/install-servers.sh as root first)")
    config.addinivalue_line(
        "markers", "differential: compares trustedproxy with the real mod_wsgi 6.1.1")


@pytest.fixture(scope="module", params=CONFIGS, ids=[c.name for c in CONFIGS])
def modwsgi_observations(request: pytest.FixtureRequest) -> Iterator[Observations]:
    """Every case, from every source, as the real mod_wsgi saw it under one configuration.

    mod_wsgi-express is started once per configuration and stopped afterwards.
    """
    config: TrustConfig = request.param
    with start_modwsgi_express(ENVIRON_APP, config.express_args(),
                               name=f"modwsgi-{config.name}") as server:
        yield observe_all(server, config, CASES, SOURCES)
