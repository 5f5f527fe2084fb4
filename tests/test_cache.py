"""The engine's caches and the matcher's slice table: they change no answer,
and the caches stay bounded.

The engine remembers peer trust, the decision for a peer that sent no forwarded
header, each X-Forwarded-For element's parse and each single-valued header's
parse. Clients choose most of those keys, so every cache is bounded; and since
a remembered result must be the result, a cached engine must decide exactly as
a fresh one does.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustedproxy import TrustPolicy
from trustedproxy import engine as engine_module
from trustedproxy.addresses import V6, Matcher, merge
from trustedproxy.engine import TrustEngine

PROXIES = ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "::ffff:172.16.0.0/108"]
FULL_SET = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
            "X-Forwarded-Prefix"]
POLICIES = [
    TrustPolicy(trusted_proxies=PROXIES, trusted_headers=FULL_SET),
    TrustPolicy(trusted_proxies=PROXIES, trusted_headers=FULL_SET, max_hops=2,
                script_name="/app", strip_prefix_from_path=True),
    TrustPolicy(trusted_proxies=PROXIES, trusted_headers=["X-Real-IP", "X-Forwarded-SSL",
                                                          "X-Forwarded-Server"],
                trust_unix_socket=True),
]

_ADDRESSES = st.sampled_from([
    "10.0.0.1", "10.1.2.3", "192.168.0.9", "172.16.0.5", "8.8.8.8", "203.0.113.9",
    "2001:db8::1", "2001:DB8::2", "2001:db9::1", "::ffff:10.0.0.7", "::ffff:8.8.4.4",
    "fe80::1%eth0", "010.0.0.1", "10.0.0", "", "/run/app.sock", "junk",
])
_ELEMENTS = st.one_of(
    _ADDRESSES,
    _ADDRESSES.map(lambda a: f"{a}:8080"),
    _ADDRESSES.map(lambda a: f"[{a}]:443"),
    _ADDRESSES.map(lambda a: f"[{a}]"),
    _ADDRESSES.map(lambda a: f" {a}\t"),
    st.text(max_size=12),
)
_XFF = st.lists(_ELEMENTS, max_size=6).map(",".join) | st.lists(_ELEMENTS, max_size=6).map(
    ", ".join)
_VALUES = st.sampled_from(["https", "HTTP", "wss", "on", "off", "1", "443", "0", "99999",
                           "www.example.com", "example.com:8443", "[2001:db8::1]:80",
                           "/shop", "/a//b/", "/../x", "a, b", "", " https "]) | st.text(
    max_size=12)
_HEADER_NAMES = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                 "x-forwarded-port", "x-forwarded-prefix", "x-real-ip", "x-forwarded-ssl",
                 "x-forwarded-server", "x-forwarded-scheme", "forwarded"]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    peer = draw(_ADDRESSES)
    headers: dict[str, str] = {}
    for name in draw(st.lists(st.sampled_from(_HEADER_NAMES), max_size=6, unique=True)):
        if name in ("x-forwarded-for", "x-real-ip"):
            headers[name] = draw(_XFF)
        else:
            headers[name] = draw(_VALUES)
    return peer, headers


def cache_sizes(engine: TrustEngine) -> dict[str, int]:
    """How many entries each of the engine's caches holds."""
    sizes = {"peers": len(engine._cache), "plain": len(engine._plain),
             "elements": len(engine._elements)}
    for row in engine._trusted:
        sizes[row[0]] = len(row[-1])
    return sizes


@pytest.fixture
def small_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches of a few entries, so that the property tests also see them cleared."""
    monkeypatch.setattr(engine_module, "CACHE_SIZE", 8)
    monkeypatch.setattr(engine_module, "VALUE_CACHE_SIZE", 4)


@pytest.mark.usefixtures("small_caches")
@pytest.mark.parametrize("policy", POLICIES, ids=["full set", "max_hops and prefix", "others"])
@settings(max_examples=300, deadline=None)
@given(batch=st.lists(requests(), min_size=1, max_size=12))
def test_cached_engine_decides_as_a_fresh_one(policy: TrustPolicy,
                                              batch: list[tuple[str, dict[str, str]]]) -> None:
    """Invariant: for every request, an engine that has seen other requests (its
    caches warm, full or just cleared) decides exactly as a fresh engine with empty
    caches, asked once; asking the warm engine twice gives the same decision."""
    warm = TrustEngine(policy)
    for peer, headers in batch:
        first = warm.decide(peer, headers)
        again = warm.decide(peer, headers)
        fresh = TrustEngine(policy).decide(peer, headers)
        assert first == fresh
        assert again == fresh
        assert warm.is_trusted(peer) is TrustEngine(policy).is_trusted(peer)


@pytest.mark.parametrize("policy", POLICIES[:2], ids=["full set", "max_hops and prefix"])
@settings(max_examples=500, deadline=None)
@given(raw=_XFF)
def test_fast_walk_agrees_with_the_full_walk(policy: TrustPolicy, raw: str) -> None:
    """Invariant: whenever the fast X-Forwarded-For walk (remembered elements)
    answers, its answer is the full walk's: client, trimmed header, chain, reason."""
    engine = TrustEngine(policy)
    for _ in range(2):  # cold, then from the cache
        fast = engine._walk_fast(raw)
        if fast is not None:
            assert fast == engine._walk(raw)


def test_fast_walk_answers_the_usual_header() -> None:
    """The usual header (valid elements, a client behind trusted hops) takes the
    fast walk, so the benchmark measures the path it means to."""
    engine = TrustEngine(POLICIES[0])
    walked = engine._walk_fast("203.0.113.9, 10.0.0.1, 10.0.0.2")
    assert walked is not None
    assert walked[:2] == ("203.0.113.9", "203.0.113.9, 10.0.0.1, 10.0.0.2")
    assert [(h.element, h.verdict) for h in walked[2]] == [
        ("203.0.113.9", "client"), ("10.0.0.1", "trusted"), ("10.0.0.2", "trusted")]


def test_caches_stay_bounded_when_clients_and_peers_vary() -> None:
    """However many distinct peers, X-Forwarded-For elements and header values
    arrive, no cache holds more than its limit."""
    engine = TrustEngine(POLICIES[0])
    limits = {"peers": engine_module.CACHE_SIZE, "plain": engine_module.CACHE_SIZE}
    for i in range(3 * engine_module.CACHE_SIZE):
        peer = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" if i % 2 else \
            f"198.{18 + (i >> 16 & 1)}.{i >> 8 & 255}.{i & 255}"
        client = f"2001:db9::{i:x}"
        engine.decide(peer, {})
        engine.decide(peer, {"x-forwarded-for": f"{client}, 10.0.0.{i & 255}",
                             "x-forwarded-host": f"host{i}.example.com",
                             "x-forwarded-proto": "https" if i % 3 else f"junk{i}",
                             "x-forwarded-port": str(i % 65536),
                             "x-forwarded-prefix": f"/p{i}"})
        sizes = cache_sizes(engine)
        for name, size in sizes.items():
            assert size <= limits.get(name, engine_module.VALUE_CACHE_SIZE), (name, size)
    assert sizes["elements"] > 0
    assert sizes["x-forwarded-host"] > 0


def test_long_values_are_not_remembered() -> None:
    """A long element or header value is decided but not kept, so a few huge
    requests cannot fill the memory the caches hold."""
    engine = TrustEngine(POLICIES[0])
    long_host = "a" * 200 + "." + "b" * 200
    long_element = " " * 300 + "203.0.113.9"
    decision = engine.decide("10.0.0.1", {"x-forwarded-host": long_host,
                                          "x-forwarded-for": f"{long_element}, 10.0.0.2"})
    # A part longer than 256 characters, blanks included, is invalid: the
    # walk stops there, at the trusted hop that reported it.
    assert decision.client == "10.0.0.2"
    assert [hop.verdict for hop in decision.chain] == ["unexamined", "invalid", "client"]
    sizes: dict[str, Any] = cache_sizes(engine)
    assert sizes["x-forwarded-host"] == 0
    assert long_element not in engine._elements


# --------------------------------------------------------------------------- the matcher's table


def _random_intervals(rng: random.Random, count: int) -> tuple[tuple[int, int], ...]:
    intervals = []
    for _ in range(count):
        if rng.random() < 0.5:
            prefix = rng.randint(8, 32)
            value = rng.getrandbits(32) >> (32 - prefix) << (32 - prefix)
            intervals.append((value, value | ((1 << (32 - prefix)) - 1)))
        else:
            prefix = rng.randint(12, 128)
            value = rng.getrandbits(128) >> (128 - prefix) << (128 - prefix)
            intervals.append((V6 + value, V6 + (value | ((1 << (128 - prefix)) - 1))))
    return merge(intervals)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.sampled_from([1, 3, 300, 2000]))
def test_matcher_slice_table_changes_no_answer(seed: int, count: int) -> None:
    """Invariant: with or without its slice table (long lists get one), the
    matcher says an address is in a network exactly when one of the intervals
    holds it, for addresses at, next to and between the bounds of both families."""
    rng = random.Random(seed)
    intervals = _random_intervals(rng, count)
    matcher = Matcher(intervals)
    assert (matcher._v6 is not None) == (len(intervals) > 256)
    probes = [rng.getrandbits(32) for _ in range(200)]
    probes += [V6 + rng.getrandbits(128) for _ in range(200)]
    probes += [V6 - 1, V6, 0, (1 << 32) - 1, (1 << 32), 2 * V6 - 1]
    for first, last in rng.sample(intervals, min(len(intervals), 100)):
        probes += [first - 1, first, first + 1, last - 1, last, last + 1]
    for key in probes:
        holding = [i for i, (first, last) in enumerate(intervals) if first <= key <= last]
        assert (key in matcher) is bool(holding)
        assert matcher.index(key) == (holding[0] if holding else -1)
