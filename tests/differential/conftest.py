"""Fixtures of the differential suite: a real mod_wsgi-express per trust configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from realservers import start_modwsgi_express

from differential.cases import CASES, CONFIGS, SOURCES, TrustConfig
from differential.environ import ENVIRON_APP
from differential.observe import Observations, observe_all


@pytest.fixture(scope="module", params=CONFIGS, ids=[c.name for c in CONFIGS])
def modwsgi_observations(request: pytest.FixtureRequest) -> Iterator[Observations]:
    """Every case, from every source, as the real mod_wsgi saw it under one configuration.

    mod_wsgi-express is started once per configuration and stopped afterwards.
    """
    config: TrustConfig = request.param
    with start_modwsgi_express(ENVIRON_APP, config.express_args(),
                               name=f"modwsgi-{config.name}") as server:
        yield observe_all(server, config, CASES, SOURCES)
