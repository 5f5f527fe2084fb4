"""Send every case to a running mod_wsgi-express and record what its app saw."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from realservers import ManagedServer, RawConnection
from realservers.rawhttp import ConnectionClosed

from differential.cases import Case, TrustConfig

#: Bound on the whole collection for one configuration.
MAX_SECONDS_PER_CONFIG = 240.0


@dataclass
class Observations:
    config: TrustConfig
    port: int
    #: (case id, source) -> the app's environ (str values), or an error text.
    environ: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)
    seconds: float = 0.0


def observe_all(
    server: ManagedServer,
    config: TrustConfig,
    cases: Sequence[Case],
    sources: Sequence[str],
) -> Observations:
    """One keep-alive connection per source; every case once from each source."""
    result = Observations(config, server.port)
    started = time.monotonic()
    for source in sources:
        with RawConnection(server.host, server.port, source=source) as conn:
            for case in cases:
                if time.monotonic() - started > MAX_SECONDS_PER_CONFIG:
                    raise TimeoutError(
                        f"collecting {config.name} took over {MAX_SECONDS_PER_CONFIG} s")
                key = (case.id, source)
                try:
                    response = conn.request("GET", case.path, case.wire_headers(server.port),
                                            add_host=False)
                except (ConnectionClosed, OSError) as exc:
                    result.errors[key] = f"{type(exc).__name__}: {exc}"
                    conn.close()
                    continue
                if response.status != 200:
                    result.errors[key] = f"HTTP {response.status}: {response.text[:300]}"
                    continue
                result.environ[key] = response.json()
    result.seconds = time.monotonic() - started
    return result
