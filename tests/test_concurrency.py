"""One middleware shared by many threads gives every request the single-threaded answer.

SPEC.md section 7: a compiled policy is immutable and shared by all threads.
The only mutable state on the request path is the engine's bounded peer-trust
cache, so the requests below use more distinct peers than the cache holds
(it is cleared while other threads read and fill it).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from support import run_threads

from trustedproxy import TrustedProxyMiddleware, TrustPolicy
from trustedproxy.engine import CACHE_SIZE

THREADS = 8
REQUESTS = 10_000


POLICIES: dict[str, dict[str, Any]] = {
    "x-forwarded": {
        "trusted_headers": ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                            "X-Forwarded-Port", "X-Forwarded-Prefix"],
        "strip_prefix_from_path": True,
    },
    "x-forwarded-hop-aligned": {
        "trusted_headers": ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                            "X-Forwarded-Port"],
        "hop_aligned": True,
    },
    "forwarded": {
        "trusted_headers": ["Forwarded", "X-Forwarded-Port", "X-Forwarded-Prefix"],
    },
}


def make_policy(kind: str) -> TrustPolicy:
    """A fresh policy object each call: each compiles its own engine and caches."""
    return TrustPolicy(trusted_proxies=["10.0.0.0/8", "2001:db8::/32", "192.0.2.10"],
                       **POLICIES[kind])


def _peer(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
    if kind == 1:
        return f"2001:db8::{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}"
    if kind == 2:
        return f"203.0.{rng.randrange(256)}.{rng.randrange(256)}"  # untrusted
    if kind == 3:
        return f"::ffff:10.0.{rng.randrange(256)}.{rng.randrange(256)}"
    return rng.choice(["192.0.2.10", "10.0.0.1", "198.51.100.1", "", "/run/sock"])


def _xff(rng: random.Random) -> str:
    pool = ["203.0.113.9", "10.0.0.7", "10.9.9.9", "[2001:db8::1]:443", "198.51.100.4:80",
            "unknown", "::ffff:10.1.1.1", "1.2.3", " ", "2001:db9::5"]
    return ", ".join(rng.choice(pool) for _ in range(rng.randrange(1, 6)))


def make_requests(seed: int = 20261121) -> list[dict[str, str]]:
    """Mixed requests: trusted and untrusted peers, valid and invalid headers."""
    rng = random.Random(seed)
    requests = []
    for _ in range(REQUESTS):
        environ = {"REMOTE_ADDR": _peer(rng), "wsgi.url_scheme": "http",
                   "SERVER_NAME": "backend", "SERVER_PORT": "8000",
                   "HTTP_HOST": "backend:8000", "SCRIPT_NAME": "",
                   "PATH_INFO": rng.choice(["/", "/app/x", "/other"])}
        options = {
            "HTTP_X_FORWARDED_FOR": _xff,
            "HTTP_X_FORWARDED_PROTO": lambda r: r.choice(["https", "http", "HTTPS", "ftp",
                                                          "https, http"]),
            "HTTP_X_FORWARDED_HOST": lambda r: r.choice(["example.com", "a.example:8443",
                                                         "bad host", "[::1]:80"]),
            "HTTP_X_FORWARDED_PORT": lambda r: r.choice(["443", "0", "65536", "8080"]),
            "HTTP_X_FORWARDED_PREFIX": lambda r: r.choice(["/app", "/app/", "/../x", ""]),
            "HTTP_X_REAL_IP": lambda r: "10.0.0.5",  # never trusted by this policy
            "HTTP_FORWARDED": lambda r: r.choice([
                "for=10.0.0.5;proto=https", 'for=203.0.113.7;proto=https;host=a.example, '
                'for="[2001:db8::4]:443"', "for=_hidden, for=10.0.0.9", 'for="unclosed, '
                "for=198.51.100.3", "for=198.51.100.3;for=10.0.0.1"]),
        }
        for key, make in options.items():
            if rng.random() < 0.5:
                environ[key] = make(rng)
        requests.append(environ)
    return requests


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    return [b""]


def _run(middleware: TrustedProxyMiddleware, environ: dict[str, str]) -> dict[str, Any]:
    """The environ the application saw (the middleware edits it in place),
    with the decision replaced by its repr so that results compare as data."""
    seen: dict[str, Any] = dict(environ)
    middleware(seen, _start_response)
    seen["trustedproxy.decision"] = repr(seen["trustedproxy.decision"])
    return seen


def _start_response(*args: object) -> Callable[[bytes], object]:
    return lambda body: None


@pytest.fixture(scope="module", params=list(POLICIES))
def requests_and_expected(
        request: pytest.FixtureRequest) -> tuple[str, list[dict[str, str]], list[dict[str, Any]]]:
    """(policy kind, the requests, each one's result from a single-threaded run)."""
    requests = make_requests()
    reference = TrustedProxyMiddleware(_app, make_policy(request.param))
    return request.param, requests, [_run(reference, environ) for environ in requests]


def test_requests_are_mixed(
        requests_and_expected: tuple[str, list[dict[str, str]], list[dict[str, Any]]]) -> None:
    """The workload really mixes trusted, untrusted and rewritten requests, and
    has more distinct peers than the engine's cache holds."""
    _, requests, expected = requests_and_expected
    trusted = sum("trusted=True" in e["trustedproxy.decision"] for e in expected)
    rewritten = sum(e["REMOTE_ADDR"] != r["REMOTE_ADDR"] for r, e in zip(requests, expected,
                                                                          strict=True))
    assert 0.3 * REQUESTS < trusted < 0.8 * REQUESTS
    assert rewritten > 0.1 * REQUESTS
    assert len({r["REMOTE_ADDR"] for r in requests}) > CACHE_SIZE


def test_threads_agree_with_single_threaded_run(
        requests_and_expected: tuple[str, list[dict[str, str]], list[dict[str, Any]]]) -> None:
    """Invariant: 8 threads, each sending all 10,000 requests in its own order through
    one shared middleware, get for every request exactly the environ a
    single-threaded run over a separate engine produced."""
    kind, requests, expected = requests_and_expected
    shared = TrustedProxyMiddleware(_app, make_policy(kind))
    barrier = threading.Barrier(THREADS)
    mismatches: list[tuple[int, int, dict[str, Any]]] = []
    errors: list[BaseException] = []
    counts = [0] * THREADS

    def worker(number: int) -> None:
        order = list(range(len(requests)))
        random.Random(number).shuffle(order)
        try:
            barrier.wait(timeout=30)
            for index in order:
                got = _run(shared, requests[index])
                counts[number] += 1
                if got != expected[index]:
                    mismatches.append((number, index, got))
        except BaseException as exc:  # reported below, never lost in a thread
            errors.append(exc)

    run_threads(worker, THREADS)
    assert not errors, errors[:3]
    assert counts == [REQUESTS] * THREADS
    assert not mismatches, mismatches[:3]
    assert len(shared.engine._cache) <= CACHE_SIZE
