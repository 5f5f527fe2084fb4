#!/usr/bin/env python3
"""How much trustedproxy costs per request, next to Werkzeug's ProxyFix and uvicorn.

Run from a checkout (the ``bench`` extra brings the peers and matplotlib)::

    pip install -e '.[bench]'
    python benchmarks/bench.py                 # full run, prints each target's pass/fail
    python benchmarks/bench.py --quick         # a few rounds, no targets (CI)
    python benchmarks/bench.py --plot benchmarks/bench.png

What is measured, all in one process:

* **Per call** (WSGI unless marked): a hello-world app called directly (``bare``),
  the same app behind a no-op pass-through middleware (``noop``, the floor),
  Werkzeug ``ProxyFix(x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)``,
  uvicorn's ``ProxyHeadersMiddleware`` with a few CIDRs (ASGI, next to an ASGI
  no-op), and trustedproxy trusting X-Forwarded-For, -Proto, -Host, -Port and
  -Prefix, in four situations (untrusted peer with forged headers; trusted
  peer with no forwarded header; 1 hop; 3 hops with the full header set), each
  with 1, 10, 1,000, 10,000 and 100,000 trusted networks (IPv4 and IPv6 mixed).
  Each call gets a new gunicorn-like environ of 30 keys, as a server makes one
  per request: its ``HTTP_*`` names and values and its ``REMOTE_ADDR`` are new
  str objects, whose hashes are not yet computed (shared literals would have
  them cached, and flatter code that looks values up). One key varies from call
  to call (the X-Forwarded-For client, or ``REMOTE_PORT``), cycling through
  16,384 values, more than any cache in the code under test holds, so no
  per-client cache can flatter the result. The environs are built 32 at a
  time, just before they are timed, so they are as fresh in the CPU caches as
  a server's; the timed call copies its environ (the stand-in for the server
  building it). The copy costs the same in every case, ``bare`` and ``noop``
  included; the "added" column subtracts ``bare``.
* **ASGI** cases are driven without an event loop: each call copies a pre-built
  HTTP scope, gives it a new client host str and a header list of new bytes
  objects (built as above), creates the middleware's coroutine and runs it to
  completion with ``coro.send(None)`` (nothing in it waits for I/O; the app
  awaits a ``send`` coroutine twice, for the response start and body).
* **Lookups**: one ``TrustEngine.is_trusted`` call at each allowlist size, cached
  (the same peer every time) and uncached (every call a different address),
  each call on a new str, built as above.
* **Build**: ``TrustPolicy(...)`` plus ``compile()`` at 100,000 networks, its time
  and its memory (tracemalloc: the peak while building, and what the compiled
  policy keeps); **import**: ``import trustedproxy`` in a fresh interpreter
  (``-X importtime``, the cumulative time of the ``trustedproxy`` package).

Cases take turns round-robin (the order shuffled each round) and every ratio is
taken within one round, then the median over rounds is reported: this machine is
noisy and absolute times drift, ratios much less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from trustedproxy import TrustedProxyMiddleware, TrustPolicy  # noqa: E402

SIZES = (1, 10, 1_000, 10_000, 100_000)
HEADERS = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
           "X-Forwarded-Prefix"]
VARIANTS = 1 << 14  # distinct values of the varying key, cycled (a power of two)
PEER = "10.0.0.3"  # the trusted proxy that connects
HOPS = "10.0.0.1, 10.0.0.2"  # two more trusted proxies in front of it
UNTRUSTED_PEER = "198.51.100.7"
UVICORN_HOSTS = ["10.0.0.0/24", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"]
#: Requests built at a time, just before they are timed: few enough that the
#: new environs or header lists are still in the CPU caches when they are used.
CHUNK = 32
ASGI_SIZE = 10_000  # trustedproxy's ASGI adapter is measured at this size (and --quick's largest)


def client(i: int) -> str:
    """The *i*-th client address: 198.18.0.0/15 (benchmark range), never trusted."""
    return f"198.{18 + (i >> 16 & 1)}.{i >> 8 & 255}.{i & 255}"


# --------------------------------------------------------------------------- inputs


def networks(count: int, seed: int = 7) -> list[str]:
    """*count* distinct trusted networks: the proxies' own ``10.0.0.0/29`` first,
    then random public IPv4 (/16 to /32) and IPv6 (/32 to /64) networks, half and half,
    none of which holds a client, the untrusted peer or a proxy."""
    rng = random.Random(seed)
    seen = {"10.0.0.0/29"}
    result = ["10.0.0.0/29"]
    while len(result) < count:
        if len(result) % 2:
            prefix = rng.randint(16, 32)
            value = rng.randrange(11 << 24, 190 << 24) >> (32 - prefix) << (32 - prefix)
            text = f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}/{prefix}"
        else:
            prefix = rng.choice((32, 40, 48, 56, 64))
            value = (0x2A00 << 112 | rng.getrandbits(112)) >> (128 - prefix) << (128 - prefix)
            groups = [f"{value >> (112 - 16 * k) & 0xFFFF:x}" for k in range(prefix // 16 + 1)]
            text = ":".join(groups[: (prefix + 15) // 16]) + f"::/{prefix}"
        if text not in seen:
            seen.add(text)
            result.append(text)
    return result


def base_environ() -> dict[str, Any]:
    """A gunicorn-like environ of a GET request with a few browser headers (30 keys)."""
    return {
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.file_wrapper": object,
        "wsgi.input_terminated": True, "SERVER_SOFTWARE": "gunicorn/23.0.0",
        "wsgi.input": None, "gunicorn.socket": None, "REQUEST_METHOD": "GET",
        "QUERY_STRING": "q=1", "RAW_URI": "/hello?q=1", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "app.internal:8000", "HTTP_USER_AGENT": "Mozilla/5.0 (bench)",
        "HTTP_ACCEPT": "text/html,*/*;q=0.8", "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.5",
        "HTTP_ACCEPT_ENCODING": "gzip, deflate, br", "HTTP_CONNECTION": "keep-alive",
        "HTTP_COOKIE": "session=abc123", "HTTP_CACHE_CONTROL": "no-cache",
        "wsgi.url_scheme": "http", "REMOTE_ADDR": PEER, "REMOTE_PORT": "50000",
        "SERVER_NAME": "0.0.0.0", "SERVER_PORT": "8000", "PATH_INFO": "/hello",
        "SCRIPT_NAME": "", "HTTP_X_REQUEST_ID": "7d1b0c1e",
    }


def forwarded(*, full: bool) -> dict[str, str]:
    """Forwarded headers as nginx-style proxies set them (client filled in per call)."""
    headers = {"HTTP_X_FORWARDED_FOR": "", "HTTP_X_FORWARDED_PROTO": "https"}
    if full:
        headers.update({"HTTP_X_FORWARDED_HOST": "www.example.com",
                        "HTTP_X_FORWARDED_PORT": "443", "HTTP_X_FORWARDED_PREFIX": "/shop"})
    return headers


def xff_values(hops: int) -> list[str]:
    tail = {1: "", 3: ", " + HOPS}[hops]
    return [client(i) + tail for i in range(VARIANTS)]


def ports() -> list[str]:
    return [str(1024 + i) for i in range(VARIANTS)]


# --------------------------------------------------------------------------- callables

_START_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "2")]
_BODY = [b"ok"]


def hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The application: what every WSGI hello-world does."""
    start_response("200 OK", _START_HEADERS)
    return _BODY


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


class NoopMiddleware:
    """The floor: a middleware that only passes the call on."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.app(environ, start_response)


_ASGI_START = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-type", b"text/plain")]}
_ASGI_BODY = {"type": "http.response.body", "body": b"ok"}


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(_ASGI_START)
    await send(_ASGI_BODY)


async def asgi_send(message: dict[str, Any]) -> None:
    return None


async def asgi_receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class AsgiNoop:
    """The ASGI floor: a pass-through middleware."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def asgi_scope() -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "server": ("0.0.0.0", 8000), "client": (PEER, 50000),
        "scheme": "http", "method": "GET", "root_path": "", "path": "/hello",
        "raw_path": b"/hello", "query_string": b"q=1", "headers": [],
        "state": {},
    }


def asgi_header_lists(*, full: bool = False) -> list[list[tuple[bytes, bytes]]]:
    common = [(b"host", b"app.internal:8000"), (b"user-agent", b"Mozilla/5.0 (bench)"),
              (b"accept", b"text/html,*/*;q=0.8"), (b"accept-encoding", b"gzip, deflate, br"),
              (b"connection", b"keep-alive"), (b"x-forwarded-proto", b"https")]
    if full:
        common += [(b"x-forwarded-host", b"www.example.com"), (b"x-forwarded-port", b"443"),
                   (b"x-forwarded-prefix", b"/shop")]
    return [[*common, (b"x-forwarded-for", xff.encode())] for xff in xff_values(3)]


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One thing timed per call, with its samples (ns per call, one per round)."""

    name: str
    group: str  # "peer", "trustedproxy", "lookup"
    run: Callable[[int], int]  # run(n) -> elapsed ns for n calls
    size: int | None = None
    scenario: str = ""
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def fresh_text(text: str) -> str:
    """A new str equal to *text* whose hash is not yet computed, as a server
    makes each request's header names and values anew (a shared literal would
    have its hash cached, and flatter any code that looks values up)."""
    return text.encode("latin-1").decode("latin-1")


def fresh_environ(environ: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    """*environ* with *key* set to *value*, built as a server builds one: every
    ``HTTP_*`` name and value, ``REMOTE_ADDR`` and the varied value are new str
    objects."""
    env = {(fresh_text(k) if k.startswith("HTTP_") else k):
           (fresh_text(v) if k.startswith("HTTP_") or k == "REMOTE_ADDR" else v)
           for k, v in environ.items()}
    env[fresh_text(key) if key.startswith("HTTP_") else key] = fresh_text(value)
    return env


def chunks(make: Callable[[int], Any], start: int, n: int) -> Iterator[list[Any]]:
    """The inputs of calls *start* to *start* + *n*, ``make(i)`` each, in lists of
    :data:`CHUNK`: a runner builds each list just before the clock runs over it."""
    for first in range(start, start + n, CHUNK):
        yield [make(i) for i in range(first, min(first + CHUNK, start + n))]


def wsgi_runner(app: Callable[..., Any], environ: dict[str, Any], key: str,
                values: Sequence[str]) -> Callable[[int], int]:
    """Time *n* calls of *app*, each on a copy of a new *environ* with *key* varied.

    The environs are built (:func:`fresh_environ`) :data:`CHUNK` at a time, each
    chunk just before the clock runs over it, so that they are as fresh in the
    CPU caches as a server's environ is when it calls the application; each
    call copies its own, the stand-in for the server building it."""
    mask = len(values) - 1
    offset = [0]

    def make(i: int) -> dict[str, Any]:
        return fresh_environ(environ, key, values[i & mask])

    def run(n: int) -> int:
        sr, elapsed, clock = start_response, 0, time.perf_counter_ns
        for chunk in chunks(make, offset[0], n):
            t0 = clock()
            for env in chunk:
                app(env.copy(), sr)
            elapsed += clock() - t0
        offset[0] += n
        return elapsed

    return run


def asgi_runner(app: Any, scope: dict[str, Any],
                header_lists: Sequence[list[tuple[bytes, bytes]]]) -> Callable[[int], int]:
    """Time *n* ASGI calls, each on a fresh copy of *scope* with its headers varied
    (a header list of new bytes objects and a new client host str per call,
    built :data:`CHUNK` calls at a time, just before the clock runs over them)."""
    mask = len(header_lists) - 1
    offset = [0]
    host, port = scope["client"]

    def make(i: int) -> tuple[tuple[str, int], list[tuple[bytes, bytes]]]:
        # New objects for each call, as a server makes them per request.
        return ((fresh_text(host), port),
                [(bytes(bytearray(name)), bytes(bytearray(value)))
                 for name, value in header_lists[i & mask]])

    def run(n: int) -> int:
        base, elapsed, clock = scope, 0, time.perf_counter_ns
        receive, send = asgi_receive, asgi_send
        for chunk in chunks(make, offset[0], n):
            t0 = clock()
            for peer, headers in chunk:
                sc = base.copy()
                sc["client"] = peer
                sc["headers"] = headers
                coro = app(sc, receive, send)
                try:  # noqa: SIM105 (contextlib.suppress costs more than the call it times)
                    coro.send(None)
                except StopIteration:
                    pass
            elapsed += clock() - t0
        offset[0] += n
        return elapsed

    return run


def lookup_runner(is_trusted: Callable[[str], bool], peers: Sequence[str]) -> Callable[[int], int]:
    """Time *n* calls of *is_trusted*, each on a new str equal to the next of
    *peers* (a server makes the peer's address anew for each connection),
    built :data:`CHUNK` at a time, just before the clock runs over them."""
    mask = len(peers) - 1
    offset = [0]

    def make(i: int) -> str:
        return fresh_text(peers[i & mask])

    def run(n: int) -> int:
        f, elapsed, clock = is_trusted, 0, time.perf_counter_ns
        for chunk in chunks(make, offset[0], n):
            t0 = clock()
            for peer in chunk:
                f(peer)
            elapsed += clock() - t0
        offset[0] += n
        return elapsed

    return run


def lookup_addresses(count: int = 1 << 15, seed: int = 11) -> list[str]:
    """*count* distinct peers for uncached lookups, IPv4 and IPv6 mixed (drawn from the
    same spaces as the networks, so at large sizes some of them are trusted)."""
    rng = random.Random(seed)
    result: dict[str, None] = {}
    while len(result) < count:
        if rng.getrandbits(1):
            value = rng.randrange(11 << 24, 190 << 24)
            text = f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
        else:
            text = f"2a00:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
        result[text] = None
    return list(result)


def quiet_middleware(app: Callable[..., Any], policy: TrustPolicy,
                     middleware: Callable[..., Any] = TrustedProxyMiddleware) -> Any:
    """Build the middleware without logging the policy's warnings (public networks)."""
    logger = logging.getLogger("trustedproxy")
    logger.disabled = True
    try:
        return middleware(app, policy)
    finally:
        logger.disabled = False


def build_cases(sizes: Sequence[int]) -> tuple[list[Case], dict[int, list[str]]]:
    try:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
        from werkzeug.middleware.proxy_fix import ProxyFix
    except ImportError as exc:
        msg = f"{exc.name} is needed for the comparison: pip install -e '.[bench]'"
        raise SystemExit(msg) from None

    env = base_environ()
    full3 = {**env, **forwarded(full=True)}
    one = {**env, **forwarded(full=False)}
    xff3, xff1, port_values = xff_values(3), xff_values(1), ports()
    xff_key = "HTTP_X_FORWARDED_FOR"
    proxy_fix = ProxyFix(hello_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
    cases = [
        Case("bare app", "peer", wsgi_runner(hello_app, env, "REMOTE_PORT", port_values)),
        Case("no-op middleware", "peer",
             wsgi_runner(NoopMiddleware(hello_app), env, "REMOTE_PORT", port_values)),
        Case("Werkzeug ProxyFix, 3 hops, full set", "peer",
             wsgi_runner(proxy_fix, full3, xff_key, xff3)),
        Case("ASGI no-op middleware", "peer",
             asgi_runner(AsgiNoop(asgi_app), asgi_scope(), asgi_header_lists())),
        Case("uvicorn ProxyHeadersMiddleware, 3 hops (ASGI)", "peer",
             asgi_runner(ProxyHeadersMiddleware(asgi_app, trusted_hosts=UVICORN_HOSTS),
                         asgi_scope(), asgi_header_lists())),
    ]
    # One list of peers for the uncached lookups at every size; each call gets
    # a new str equal to its entry, made just before it is timed.
    peers = lookup_addresses()
    all_networks = networks(max(sizes))
    nets_by_size = {}
    for size in sizes:
        nets = all_networks[:size]
        nets_by_size[size] = nets
        policy = TrustPolicy(trusted_proxies=nets, trusted_headers=HEADERS)
        mw = quiet_middleware(hello_app, policy)
        engine = policy.compile()
        untrusted = {**full3, "REMOTE_ADDR": UNTRUSTED_PEER}
        scenarios = [
            ("untrusted peer, forged headers", wsgi_runner(mw, untrusted, xff_key, xff3)),
            ("trusted peer, no forwarded headers",
             wsgi_runner(mw, env, "REMOTE_PORT", port_values)),
            ("trusted peer, 1 hop", wsgi_runner(mw, one, xff_key, xff1)),
            ("trusted peer, 3 hops, full set", wsgi_runner(mw, full3, xff_key, xff3)),
        ]
        for scenario, run in scenarios:
            cases.append(Case(f"trustedproxy: {scenario} @ {size:,}", "trustedproxy", run,
                              size, scenario))
        if size == ASGI_SIZE:
            from trustedproxy.asgi import TrustedProxyMiddleware as AsgiMiddleware

            asgi_mw = quiet_middleware(asgi_app, policy, AsgiMiddleware)
            full_lists = asgi_header_lists(full=True)
            plain_lists = [[pair for pair in pairs if not pair[0].startswith(b"x-forwarded-")]
                           for pairs in asgi_header_lists()]
            for scenario, scope, lists in (
                    ("untrusted peer, forged headers",
                     {**asgi_scope(), "client": (UNTRUSTED_PEER, 50000)}, full_lists),
                    ("no forwarded headers", asgi_scope(), plain_lists),
                    ("3 hops, X-Forwarded-For and -Proto (as uvicorn's row)", asgi_scope(),
                     asgi_header_lists()),
                    ("3 hops, full set", asgi_scope(), full_lists)):
                cases.append(Case(f"trustedproxy ASGI, {scenario}, {size:,} networks", "peer",
                                  asgi_runner(asgi_mw, scope, lists)))
        cases.append(Case(f"lookup, cached @ {size:,}", "lookup",
                          lookup_runner(engine.is_trusted, [PEER]), size, "cached"))
        cases.append(Case(f"lookup, uncached @ {size:,}", "lookup",
                          lookup_runner(engine.is_trusted, peers), size, "uncached"))
    return cases, nets_by_size


def run_rounds(cases: list[Case], rounds: int, batch: int, seed: int = 1) -> None:
    """Run every case *rounds* times round-robin, *batch* calls a turn."""
    rng = random.Random(seed)
    for case in cases:  # warm up: fill caches, settle allocations
        case.run(batch)
    for _ in range(rounds):
        order = cases[:]
        rng.shuffle(order)
        for case in order:
            gc.collect()
            gc.disable()
            try:
                elapsed = case.run(batch)
            finally:
                gc.enable()
            case.samples.append(elapsed / batch)


def ratio(case: Case, floor: Case) -> float:
    """The median over rounds of the ratio of *case* to *floor* in the same round."""
    return statistics.median(a / b for a, b in zip(case.samples, floor.samples, strict=True))


# --------------------------------------------------------------------------- build, import


def measure_build(nets: list[str], repeats: int) -> dict[str, float]:
    """Time and memory of ``TrustPolicy(...).compile()`` for *nets*."""
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        TrustPolicy(trusted_proxies=nets, trusted_headers=HEADERS).compile()
        times.append(time.perf_counter() - t0)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    policy = TrustPolicy(trusted_proxies=nets, trusted_headers=HEADERS)
    policy.compile()
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del policy
    return {"networks": len(nets), "seconds": statistics.median(times),
            "peak_mib": (peak - before) / 2**20, "kept_mib": (kept - before) / 2**20}


def measure_import(repeats: int) -> dict[str, float]:
    """``import trustedproxy`` in fresh interpreters: median cumulative import time."""
    times = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import trustedproxy"],
            capture_output=True, text=True, check=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| trustedproxy$", line)
            if match:
                times.append(int(match.group(1)) / 1000)
    return {"ms": statistics.median(times), "runs": len(times)}


# --------------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "system": f"{platform.system()} {platform.release()}"}


@dataclass
class Target:
    name: str
    measured: float
    limit: float
    unit: str

    @property
    def ok(self) -> bool:
        return self.measured <= self.limit

    def line(self) -> str:
        return (f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.measured:.3g}{self.unit} "
                f"(target <= {self.limit:g}{self.unit})")


def evaluate_targets(cases: list[Case], build: dict[str, float],
                     imp: dict[str, float]) -> list[Target]:
    by_name = {c.name: c for c in cases}
    noop, fix = by_name["no-op middleware"], by_name["Werkzeug ProxyFix, 3 hops, full set"]
    targets = []

    def tp(scenario: str, size: int) -> Case | None:
        return by_name.get(f"trustedproxy: {scenario} @ {size:,}")

    full = tp("trusted peer, 3 hops, full set", 10_000)
    if full:
        targets.append(Target("3 hops, full set, 10,000 networks vs ProxyFix",
                              ratio(full, fix), 0.25, "x"))
        targets.append(Target("3 hops, full set, 10,000 networks vs no-op",
                              ratio(full, noop), 9, "x"))
    for scenario, limit in (("untrusted peer, forged headers", 2.0),
                            ("trusted peer, no forwarded headers", 2.5)):
        worst = max((ratio(c, noop) for c in cases if c.scenario == scenario), default=None)
        if worst is not None:
            targets.append(Target(f"{scenario} vs no-op (worst size)", worst, limit, "x"))
    uncached = {c.size: c for c in cases if c.scenario == "uncached"}
    if 1 in uncached and 100_000 in uncached:
        targets.append(Target("uncached lookup, 100,000 networks vs 1",
                              ratio(uncached[100_000], uncached[1]), 1.5, "x"))
    cached = [c for c in cases if c.scenario == "cached"]
    if cached:
        targets.append(Target("cached lookup (worst size)", max(c.median for c in cached),
                              100, " ns"))
    if build.get("networks") == 100_000:
        targets.append(Target("build, 100,000 networks: time", build["seconds"], 1, " s"))
        targets.append(Target("build, 100,000 networks: peak memory", build["peak_mib"], 20,
                              " MiB"))
    targets.append(Target("import trustedproxy", imp["ms"], 60, " ms"))
    return targets


def fmt_ns(value: float) -> str:
    return f"{value:,.0f}"


def markdown(cases: list[Case], build: dict[str, float], imp: dict[str, float],
             targets: list[Target], meta: dict[str, Any]) -> str:
    by_name = {c.name: c for c in cases}
    noop, bare = by_name["no-op middleware"], by_name["bare app"]
    fix = by_name["Werkzeug ProxyFix, 3 hops, full set"]
    asgi_noop = by_name["ASGI no-op middleware"]
    sizes = sorted({c.size for c in cases if c.size is not None})
    lines = [
        f"Measured {meta['date']} on {meta['machine']['cpu']} ({meta['machine']['cores']} cores), "
        f"{meta['machine']['implementation']} {meta['machine']['python']}, "
        f"{meta['rounds']} rounds of {meta['batch']:,} calls; medians.",
        "",
        "| per call (ns; x no-op) | ns | added over bare app | x no-op |",
        "|---|---:|---:|---:|",
    ]
    for case in cases:
        if case.group != "peer":
            continue
        floor = asgi_noop if "ASGI" in case.name and case is not asgi_noop else noop
        note = " (x ASGI no-op)" if floor is asgi_noop else ""
        added = "" if case is bare or "ASGI" in case.name else fmt_ns(case.median - bare.median)
        lines.append(f"| {case.name}{note} | {fmt_ns(case.median)} | {added} | "
                     f"{ratio(case, floor):.2f} |")
    lines += ["", "trustedproxy, ns per call (x no-op; x ProxyFix) by number of trusted networks:",
              "", "| situation | " + " | ".join(f"{s:,}" for s in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for scenario in dict.fromkeys(c.scenario for c in cases if c.group == "trustedproxy"):
        cells = []
        for size in sizes:
            case = by_name.get(f"trustedproxy: {scenario} @ {size:,}")
            cells.append("" if case is None else f"{fmt_ns(case.median)} "
                         f"({ratio(case, noop):.2f}x; {ratio(case, fix):.2f}x)")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    for kind in ("cached", "uncached"):
        cells = []
        for size in sizes:
            case = by_name.get(f"lookup, {kind} @ {size:,}")
            cells.append("" if case is None else fmt_ns(case.median))
        lines.append(f"| `is_trusted`, {kind} (ns) | " + " | ".join(cells) + " |")
    lines += ["", f"Build at {build['networks']:,} networks: {build['seconds']:.3f} s, "
              f"peak {build['peak_mib']:.1f} MiB, kept {build['kept_mib']:.1f} MiB. "
              f"`import trustedproxy`: {imp['ms']:.1f} ms.", ""]
    if targets:
        lines += ["| target | measured | limit | |", "|---|---:|---:|---|"]
        for t in targets:
            lines.append(f"| {t.name} | {t.measured:.3g}{t.unit} | {t.limit:g}{t.unit} | "
                         f"{'pass' if t.ok else '**fail**'} |")
    return "\n".join(lines) + "\n"


def plot(cases: list[Case], path: Path, meta: dict[str, Any]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return False
    by_name = {c.name: c for c in cases}
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for scenario in dict.fromkeys(c.scenario for c in cases if c.group == "trustedproxy"):
        points = sorted((c.size, c.median) for c in cases if c.scenario == scenario
                        and c.size is not None)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                label=f"trustedproxy: {scenario}")
    styles = {"Werkzeug ProxyFix, 3 hops, full set": ("tab:red", "--"),
              "uvicorn ProxyHeadersMiddleware, 3 hops (ASGI)": ("tab:purple", "--"),
              "no-op middleware": ("black", ":"), "ASGI no-op middleware": ("gray", ":")}
    for name, (color, style) in styles.items():
        if name in by_name:
            ax.axhline(by_name[name].median, color=color, linestyle=style, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("trusted networks (IPv4 and IPv6 mixed)")
    ax.set_ylabel("ns per request (median)")
    ax.set_title(f"Cost per request, {meta['machine']['implementation']} "
                 f"{meta['machine']['python']}, {meta['date']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few short rounds, for CI: checks that it runs, enforces nothing")
    parser.add_argument("--targets", action="store_true",
                        help="exit 1 if a target is missed (the default only prints them)")
    parser.add_argument("--rounds", type=int, help="rounds (default 31; --quick 3)")
    parser.add_argument("--batch", type=int, help="calls per case per round (default 2000)")
    parser.add_argument("--sizes", help="comma-separated allowlist sizes (default: "
                        + ",".join(map(str, SIZES)) + f"; --quick 1,{ASGI_SIZE})")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the Markdown tables here")
    parser.add_argument("--plot", type=Path, help="draw a PNG plot here (needs matplotlib)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 31)
    batch = args.batch or (200 if args.quick else 2000)
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    else:  # quick: a small and an indexed matcher (see Matcher), every code path
        sizes = (1, ASGI_SIZE) if args.quick else SIZES

    started = time.perf_counter()
    cases, nets_by_size = build_cases(sizes)
    run_rounds(cases, rounds, batch)
    build = measure_build(nets_by_size[max(sizes)], repeats=1 if args.quick else 5)
    imp = measure_import(repeats=3 if args.quick else 11)
    meta = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "rounds": rounds, "batch": batch, "quick": args.quick,
            "variants": VARIANTS}
    targets = [] if args.quick else evaluate_targets(cases, build, imp)
    table = markdown(cases, build, imp, targets, meta)
    print(table)
    if args.quick:
        print("quick mode: targets not evaluated")
    for target in targets:
        print(target.line())
    if args.json:
        by_name = {c.name: c for c in cases}
        noop = by_name["no-op middleware"]
        data = {
            "meta": meta,
            "cases": [{"name": c.name, "group": c.group, "scenario": c.scenario, "size": c.size,
                       "median_ns": c.median, "ratio_noop": ratio(c, noop),
                       "samples_ns": c.samples} for c in cases],
            "build": build, "import": imp,
            "targets": [{"name": t.name, "measured": t.measured, "limit": t.limit,
                         "unit": t.unit.strip(), "pass": t.ok} for t in targets],
        }
        args.json.write_text(json.dumps(data, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(table)
    if args.plot:
        plot(cases, args.plot, meta)
    print(f"benchmark finished in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 1 if args.targets and not all(t.ok for t in targets) else 0


if __name__ == "__main__":
    raise SystemExit(main())
