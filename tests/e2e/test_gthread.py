"""Concurrency end to end: one middleware shared by gunicorn's gthread worker.

8 client threads send mixed requests (trusted and untrusted sources, varied
X-Forwarded-For chains and schemes) to one gunicorn worker running 4 threads
(``--threads 4`` makes gunicorn use its gthread worker);
every answer must equal what a single-threaded engine decides for the same
input. Bounded: 8 x 60 requests, each with a timeout.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from realservers import raw_request, start_gunicorn

from trustedproxy import TrustPolicy

pytestmark = [pytest.mark.realserver, pytest.mark.e2e]

POLICY_YAML = ("trusted_proxies: [127.0.0.1, 10.0.0.0/8]\n"
               "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto]\n")

APP = '''\
import json
from trustedproxy import TrustedProxyMiddleware


def report(environ, start_response):
    keys = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_X_FORWARDED_FOR")
    body = json.dumps({k: environ.get(k) for k in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


application = TrustedProxyMiddleware(report, "policy.yaml")
'''

THREADS = 8
PER_THREAD = 60


def _requests(seed: int) -> list[tuple[str, list[tuple[str, str]]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(PER_THREAD):
        chain = [rng.choice(["203.0.113.7", "198.51.100.9", "junk", "10.0.0.5", "10.1.1.1",
                             "2001:db8::5", "[2001:db8::6]:443"])
                 for _ in range(rng.randint(1, 4))]
        scheme = rng.choice(["https", "http", "junk"])
        source = rng.choice(["127.0.0.1", "127.0.0.2"])
        out.append((source, [("X-Forwarded-For", ", ".join(chain)),
                             ("X-Forwarded-Proto", scheme)]))
    return out


def test_shared_middleware_under_gthread() -> None:
    """Every answer under concurrency equals the single-threaded decision."""
    engine = TrustPolicy.from_yaml(POLICY_YAML).compile()
    with start_gunicorn({"gt_app.py": APP, "policy.yaml": POLICY_YAML}, "gt_app:application",
                        name="gunicorn-gthread") as server:

        def run(seed: int) -> list[tuple[str, list[tuple[str, str]], dict[str, str]]]:
            results = []
            for source, headers in _requests(seed):
                response = raw_request(server.host, server.port, "GET", "/", headers,
                                       source=source, timeout=10)
                assert response.status == 200, response
                results.append((source, headers, json.loads(response.body)))
            return results

        with ThreadPoolExecutor(THREADS) as pool:
            batches = list(pool.map(run, range(THREADS)))
    seen = 0
    for batch in batches:
        for source, headers, got in batch:
            decision = engine.evaluate(source, dict(headers))
            assert got["REMOTE_ADDR"] == (decision.client or source), (source, headers, got)
            assert got["wsgi.url_scheme"] == (decision.scheme or "http"), (headers, got)
            assert got["HTTP_X_FORWARDED_FOR"] == decision.forwarded_for, (headers, got)
            seen += 1
    assert seen == THREADS * PER_THREAD
