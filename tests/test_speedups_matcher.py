"""The compiled Matcher (``trustedproxy._speedups``) against addresses.Matcher,
the reference: same membership for every key and every peer text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustedproxy._compiled import speedups
from trustedproxy.addresses import V6, Matcher, merge, parse_ip

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


@pytest.mark.parametrize("text", [
    "10.0.0.1", "10.0.0.1%eth0", "192.0.2.1", "2001:db8::1", "2001:DB8::1", "fe80::1%eth0",
    "::ffff:10.0.0.1", "::ffff:192.0.2.1", "", "010.0.0.1", "10.0.0", "1.2.3.4 ", " 1.2.3.4",
    "1.2.3.4:80", "[2001:db8::1]", "unix:/run/app.sock", "10.0.0.1\x00", "\uff11\uff10.0.0.1", "::",
    "a" * 100, "2001:db8::1" + "0" * 40, "%", "%10.0.0.1",
])
def test_peer_text_matches_parse_ip(text: str) -> None:
    """``Matcher.peer`` parses a TCP peer as ``parse_ip(text.partition('%')[0])``:
    None when it is not an address, else membership."""
    intervals = merge([_interval(4, 10 << 24, 8), _interval(6, 0x20010DB8 << 96, 32)])
    reference = Matcher(intervals)
    compiled = speedups.Matcher(reference._bounds)
    key = parse_ip(text.partition("%")[0])
    assert compiled.peer(text) == (None if key is None else key in reference)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="sorted address keys"):
        speedups.Matcher([5, 1])
    with pytest.raises(ValueError, match="sorted address keys"):
        speedups.Matcher([1])
    with pytest.raises(ValueError, match="sorted address keys"):
        speedups.Matcher([V6, V6 + 1, 1, 2])
    with pytest.raises(TypeError):
        speedups.Matcher((1, 2))
