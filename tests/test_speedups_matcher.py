"""The compiled Matcher (``trustedproxy._speedups``) against addresses.Matcher,
the reference: same membership for every key and every peer text."""

from __future__ import annotations

import random
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustedproxy import TrustPolicy
from trustedproxy._compiled import speedups
from trustedproxy.addresses import V6, Matcher, merge, parse_ip
from trustedproxy.engine import TrustEngine

pytestmark = pytest.mark.skipif(speedups is None, reason="the C extension is not built "
                                "(or TRUSTEDPROXY_PURE_PYTHON is set)")

V4_MAX = (1 << 32) - 1
V6_MAX = (1 << 128) - 1


def _interval(family: int, value: int, prefix: int) -> tuple[int, int]:
    width = 32 if family == 4 else 128
    host = width - prefix
    first = value >> host << host
    base = 0 if family == 4 else V6
    return base + first, base + (first | ((1 << host) - 1))


networks = st.lists(
    st.one_of(
        st.builds(_interval, st.just(4), st.integers(0, V4_MAX), st.integers(0, 32)),
        # clustered IPv6, so that slices and long lists are exercised
        st.builds(_interval, st.just(6), st.integers(0x2A00 << 112, (0x2A01 << 112) - 1),
                  st.integers(16, 128)),
        st.builds(_interval, st.just(6), st.integers(0, V6_MAX), st.integers(0, 128)),
    ),
    max_size=40,
)


def _keys(intervals: tuple[tuple[int, int], ...]) -> list[int]:
    """Every bound, its neighbours, and the edges of both families."""
    keys = {0, V4_MAX, V4_MAX + 1, V6 - 1, V6, V6 + V6_MAX, V6 + V6_MAX + 1}
    for first, last in intervals:
        keys.update((first - 1, first, first + 1, last - 1, last, last + 1))
    return sorted(k for k in keys if k >= 0)


@settings(max_examples=300, deadline=None)
@given(networks, st.lists(st.integers(0, V6 + V6_MAX), max_size=20))
def test_membership_matches_the_reference(raw: list[tuple[int, int]],
                                          extra: list[int]) -> None:
    """Invariant: for any merged networks, the compiled Matcher holds exactly the
    keys addresses.Matcher holds, at every bound, beside it, and anywhere."""
    intervals = merge(raw)
    reference = Matcher(intervals)
    compiled = speedups.Matcher(reference._bounds)
    assert len(compiled) == len(reference)
    for key in _keys(intervals) + extra:
        assert (key in compiled) == (key in reference), hex(key)


def test_long_lists_take_the_sliced_path() -> None:
    """Over 256 networks per family (the slice tables), membership still matches,
    including keys below, between and above every network of the family."""
    intervals = merge([_interval(4, (i * 7919 << 12) & V4_MAX, 24) for i in range(600)]
                      + [_interval(6, (0x2A00 << 112) | (i << 70), 64) for i in range(600)])
    reference = Matcher(intervals)
    compiled = speedups.Matcher(reference._bounds)
    for key in _keys(intervals):
        assert (key in compiled) == (key in reference), hex(key)


# --------------------------------------------------------------------------- bucket tables
# Over 256 networks, each family gets a table of 65,536 buckets, one per slice
# of its span, each describing up to 5 of the slice's bounds by 16 bits, and a
# map of the slices with no bound, outside or inside a network (see Matcher in
# _speedups.c). _path models which way the C lookup takes, so that the examples
# below can show they reach every one.

FEW = 5


def _path(bounds: list[int], key: int) -> str:
    """The way the compiled lookup of *key* goes, for the bounds of a Matcher."""
    v6 = key >= V6
    family = [b for b in bounds if (b >= V6) == v6]
    if len(family) // 2 <= 256:
        return "bisect, no table"
    if v6:
        base = family[0]
        shift = max(0, (family[-1] - base).bit_length() - 16)
        low = max(0, shift - 16)
        if key < base or (key - base) >> shift >= 1 << 16:
            return "outside the family's bounds"
    else:
        base, shift, low = 0, 16, 0
    s = (key - base) >> shift
    mine = [b for b in family if (b - base) >> shift == s]
    if not mine:
        inside = sum(1 for b in family if (b - base) >> shift < s) % 2
        return "map, inside" if inside else "map, outside"
    if len(mine) > FEW:
        return "bisect, many bounds"
    equal = [b for b in mine if ((b - base) >> low) & 0xFFFF == ((key - base) >> low) & 0xFFFF]
    if not equal:
        return f"bucket, {len(mine)} bounds"
    return "bucket, exact: equal" if low == 0 else "bucket, inexact: second read"


def _bucket_lists(rng: random.Random) -> tuple[tuple[int, int], ...]:
    """Over 256 networks per family, with slices of 0 to over 5 bounds: a few
    crowded slices, single addresses, networks over many slices, and the
    first and last slice of IPv4 used."""
    raw: list[tuple[int, int]] = []
    crowded4 = [rng.randrange(1 << 16) for _ in range(6)] + [0, 0xFFFF]
    crowded6 = [rng.getrandbits(16) for _ in range(6)]
    for _ in range(300):
        raw.append(_interval(4, rng.getrandbits(32), rng.randint(16, 32)))
        raw.append(_interval(4, rng.choice(crowded4) << 16 | rng.getrandbits(16),
                             rng.randint(24, 32)))
        raw.append(_interval(6, 0x2A00 << 112 | rng.getrandbits(112), rng.choice((32, 48, 64))))
        raw.append(_interval(6, 0x2A00 << 112 | rng.choice(crowded6) << 96 | rng.getrandbits(96),
                             rng.choice((48, 64, 112, 128))))
    raw += [_interval(4, rng.getrandbits(32), rng.randint(1, 12)) for _ in range(2)]
    raw += [_interval(6, 0x2A00 << 112 | rng.getrandbits(112), rng.randint(17, 30))]
    for extra in (1, 2):  # odd bounds in a slice: one range ends in it, then /28s
        start = rng.randrange(2, 1 << 16) << 16
        raw.append((start - 5000, start | 0x100))
        raw += [_interval(4, start | 0x1000 * (i + 1), 28) for i in range(extra)]
    return tuple(merge(raw))


def _bucket_keys(intervals: tuple[tuple[int, int], ...], rng: random.Random) -> list[int]:
    """Every bound and its neighbours, keys sharing an IPv6 bound's 16 bits below
    the slice bits but not the rest, and random keys in both families."""
    keys = _keys(intervals)
    for first, last in intervals:
        if first >= V6:
            for bound in (first, last):
                keys += [bound ^ rng.getrandbits(80), bound | ((1 << 80) - 1), bound >> 80 << 80]
    keys += [rng.getrandbits(32) for _ in range(2000)]
    keys += [V6 + (0x2A00 << 112 | rng.getrandbits(112)) for _ in range(2000)]
    return [k for k in keys if 0 <= k <= V6 + V6_MAX]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**64))
def test_bucket_tables_match_the_reference(seed: int) -> None:
    """Invariant: with bucket tables (over 256 networks per family, slices of 0 to
    many bounds), the compiled Matcher holds exactly the keys addresses.Matcher
    holds: at every bound and beside it, at keys whose IPv6 low bits equal a
    bound's, and anywhere."""
    rng = random.Random(seed)
    intervals = _bucket_lists(rng)
    reference = Matcher(intervals)
    compiled = speedups.Matcher(reference._bounds)
    for key in _bucket_keys(intervals, rng):
        assert (key in compiled) == (key in reference), hex(key)


def _spread_v6(rng: random.Random, base: int, span_bits: int) -> list[tuple[int, int]]:
    """300 IPv6 intervals, none adjacent, in ``[base, base + 2**span_bits)``: one
    in each of 300 of the span's 512 cells, some cells crowded with tiny ones."""
    cell = 1 << (span_bits - 9)
    raw = []
    for index in rng.sample(range(512), 300):
        start = V6 + base + index * cell
        if rng.random() < 0.1:  # a few crowded cells: single addresses close together
            spot = rng.randrange(cell // 2)
            raw += [(start + spot + 2 * i, start + spot + 2 * i) for i in range(rng.randint(6, 9))]
            continue
        first = rng.randrange(cell - 2)
        raw.append((start + first, start + rng.randint(first, cell - 2)))
    return raw


@st.composite
def _v6_layouts(draw: st.DrawFn) -> tuple[int, int]:
    """A span of 2**17 to 2**128 addresses and where it starts: anywhere, or
    across a boundary of the low 64 bits (so that offsets from the first bound
    borrow from the high half)."""
    span_bits = draw(st.one_of(st.integers(17, 128), st.integers(60, 84)))
    room = (1 << 128) - (1 << span_bits)
    if span_bits < 128 and draw(st.booleans()):
        high = draw(st.integers(1, (room >> 64) or 1))
        base = (high << 64) - draw(st.integers(1, min(1 << (span_bits - 1), high << 64)))
    else:
        base = draw(st.integers(0, room))
    return base, span_bits


@settings(max_examples=60, deadline=None)
@given(_v6_layouts(), st.integers(0, 2**64))
def test_tables_at_every_ipv6_span_match_the_reference(layout: tuple[int, int],
                                                       seed: int) -> None:
    """Invariant: with bucket tables in both families (over 256 networks each),
    the compiled Matcher holds exactly the keys addresses.Matcher holds, for
    IPv6 networks spread over any span (so the slice and low bits of an offset
    lie anywhere in its 128 bits, either side of its two 64-bit halves), at
    every bound and beside it, at keys differing from a bound below its low
    bits or by a power of two above it, and anywhere."""
    base, span_bits = layout
    rng = random.Random(seed)
    raw = _spread_v6(rng, base, span_bits)
    raw += [_interval(4, rng.getrandbits(32), rng.randint(16, 32)) for _ in range(400)]
    intervals = tuple(merge(raw))
    assert sum(1 for _, last in intervals if last < V6) > 256
    assert sum(1 for first, _ in intervals if first >= V6) > 256
    reference = Matcher(intervals)
    compiled = speedups.Matcher(reference._bounds)
    keys = _keys(intervals)
    for first, last in rng.sample(intervals, 40):
        for bound in (first, last):
            keys += [bound ^ rng.getrandbits(max(1, span_bits - 32)), bound ^ (1 << 63),
                     bound ^ (1 << 64)]
            keys += [bound + (1 << bit) for bit in range(span_bits, 128)]
    keys += [V6 + base + rng.getrandbits(span_bits) for _ in range(500)]
    keys += [rng.getrandbits(32) for _ in range(500)]
    for key in keys:
        if 0 <= key <= V6 + V6_MAX:
            assert (key in compiled) == (key in reference), hex(key)


def _check_paths(intervals: tuple[tuple[int, int], ...], keys: list[int]) -> set[str]:
    reference = Matcher(intervals)
    compiled = speedups.Matcher(reference._bounds)
    for key in keys:
        assert (key in compiled) == (key in reference), hex(key)
    return {_path(reference._bounds, key) for key in keys}


def test_bucket_examples_reach_every_path() -> None:
    """The generated lists reach every way of the lookup: slices with no bound,
    outside and inside a network (the map), each bucket size from 1 to 5,
    crowded slices (bisected, also the last IPv4 slice), keys equal to a bound,
    IPv6 keys needing the second read, keys below and above every IPv6 bound;
    membership matches the reference on all of them."""
    rng = random.Random(7)
    intervals = _bucket_lists(rng)
    keys = _bucket_keys(intervals, rng)
    paths = _check_paths(intervals, keys)
    expected = {f"bucket, {n} bounds" for n in range(1, FEW + 1)} | {
        "map, outside", "map, inside", "bisect, many bounds", "bucket, exact: equal",
        "bucket, inexact: second read", "outside the family's bounds"}
    assert expected <= paths, expected - paths
    assert any(first == last for first, last in intervals)  # single addresses
    assert any(last - first >= 1 << 20 for first, last in intervals if last < V6)  # many slices
    crowded_last = [b for b in Matcher(intervals)._bounds if b >> 16 == 0xFFFF]
    assert len(crowded_last) > FEW


def test_small_ipv6_span_is_exact() -> None:
    """IPv6 bounds spanning under 2**32 addresses: 16 bits below the slice bits
    hold the whole offset, so a key equal in those bits is the bound itself;
    membership still matches at every bound, beside it and between."""
    base = V6 + (0x20010DB8 << 96)
    intervals = tuple(merge([(base + i * 997, base + i * 997 + i % 7) for i in range(400)]))
    keys = _keys(intervals) + list(range(intervals[0][0] - 3, intervals[-1][1] + 4, 13))
    paths = _check_paths(intervals, keys)
    assert "bucket, exact: equal" in paths
    assert "bucket, inexact: second read" not in paths
    tiny = tuple(merge([(base + 3 * i, base + 3 * i) for i in range(300)]))  # span < 2**16
    paths = _check_paths(tiny, _keys(tiny))
    assert "bucket, exact: equal" in paths


def test_bucket_tables_are_traced() -> None:
    """The bucket tables (1 MiB a family; a huge-page mapping where the kernel
    offers one) and the maps count in tracemalloc, as the build's memory target
    needs, and are released with the Matcher."""
    intervals = merge([_interval(4, i << 20, 24) for i in range(300)]
                      + [_interval(6, (0x2A00 << 112) | (i << 90), 64) for i in range(300)])
    bounds = Matcher(intervals)._bounds
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        compiled = speedups.Matcher(bounds)
        grown = tracemalloc.get_traced_memory()[0] - before
        del compiled
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 2 << 20 <= grown < 3 << 20
    assert left < 1 << 16


@pytest.mark.parametrize("text", [
    "10.0.0.1", "10.0.0.1%eth0", "192.0.2.1", "2001:db8::1", "2001:DB8::1", "fe80::1%eth0",
    "::ffff:10.0.0.1", "::ffff:192.0.2.1", "", "010.0.0.1", "10.0.0", "1.2.3.4 ", " 1.2.3.4",
    "1.2.3.4:80", "[2001:db8::1]", "unix:/run/app.sock", "10.0.0.1\x00", "\uff11\uff10.0.0.1", "::",
    "a" * 100, "2001:db8::1" + "0" * 40, "%", "%10.0.0.1",
    # the zone id is ignored whatever it holds: not ASCII, not latin-1, another %
    "fe80::1%w\u00e4n0", "10.0.0.1%\u00e9", "2001:db8::1%\u263a", "10.0.0.1%%",
    "192.0.2.1%\U0001f600", "\u00e9%10.0.0.1", "10.0.0.\u0661%eth0", "1.2.3.4%",
])
def test_peer_text_matches_parse_ip(text: str) -> None:
    """``Matcher.peer`` parses a TCP peer as ``parse_ip(text.partition('%')[0])``:
    None when it is not an address, else membership."""
    intervals = merge([_interval(4, 10 << 24, 8), _interval(6, 0x20010DB8 << 96, 32)])
    reference = Matcher(intervals)
    compiled = speedups.Matcher(reference._bounds)
    key = parse_ip(text.partition("%")[0])
    assert compiled.peer(text) == (None if key is None else key in reference)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["10.0.0.1", "192.0.2.1", "2001:db8::1", "fe80::1", "::ffff:10.0.0.1",
                        "10.0.0.01", "", "unix:", "2001:db8::g"]),
       st.one_of(st.just(""), st.text(max_size=12).map(lambda zone: "%" + zone)),
       st.text(max_size=3))
def test_peer_with_any_zone_matches_parse_ip(address: str, zone: str, junk: str) -> None:
    """Whatever follows the first ``%`` (any characters), and whatever the
    address part is, ``Matcher.peer`` agrees with ``parse_ip`` on the part
    before the ``%``."""
    intervals = merge([_interval(4, 10 << 24, 8), _interval(6, 0xFE80 << 112, 10)])
    reference = Matcher(intervals)
    compiled = speedups.Matcher(reference._bounds)
    for text in (address + zone, junk + address + zone, address + junk + zone):
        key = parse_ip(text.partition("%")[0])
        assert compiled.peer(text) == (None if key is None else key in reference), text


@pytest.mark.parametrize("trust_unix_socket", [False, True])
def test_engine_decides_zoned_peers_as_without_the_speedups(trust_unix_socket: bool) -> None:
    """A peer with a zone id of any characters is an address to the engine
    on both paths: never taken for a Unix socket (trusted with
    ``trust_unix_socket``), never refused for its zone."""
    policy = TrustPolicy(trusted_proxies=["fe80::/10", "10.0.0.0/8"],
                         trust_unix_socket=trust_unix_socket)
    compiled, python = TrustEngine(policy), TrustEngine(policy)
    python._fast = None
    peers = ["fe80::1%eth0", "fe80::1%w\u00e4n0", "fe80::1%\u263a", "10.0.0.1%\u00e9",
             "2001:db8::1%w\u00e4n0", "/run/app.sock", "\u00e9"]
    assert [compiled.is_trusted(p) for p in peers] == [python.is_trusted(p) for p in peers] == [
        True, True, True, True, False, trust_unix_socket, trust_unix_socket]


class Wide(int):
    """An int subclass whose ``to_bytes`` gives something else."""

    def to_bytes(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return b"x"


def test_int_subclass_keys_are_read_as_their_value() -> None:
    reference = Matcher(merge([_interval(4, 10 << 24, 8), _interval(6, 0x20010DB8 << 96, 32)]))
    compiled = speedups.Matcher(reference._bounds)
    for key in (10 << 24, (10 << 24) - 1, V6 + (0x20010DB8 << 96), 1 << 200, -1):
        assert (Wide(key) in compiled) == (key in compiled) == (key in reference)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="sorted address keys"):
        speedups.Matcher([5, 1])
    with pytest.raises(ValueError, match="sorted address keys"):
        speedups.Matcher([1])
    with pytest.raises(ValueError, match="sorted address keys"):
        speedups.Matcher([V6, V6 + 1, 1, 2])
    with pytest.raises(TypeError):
        speedups.Matcher((1, 2))
