"""Every input the fuzzers (``fuzz/``) found, replayed through its target, plus a
readable test of the behaviour it showed.

To add one: copy the artifact's bytes from ``fuzz/artifacts/<target>-crash-*``
into ``FOUND`` with the target's name, and write the readable test below it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from trustedproxy import TrustPolicy

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"


@pytest.fixture(scope="module")
def targets() -> ModuleType:
    """``fuzz/targets.py``: the fuzz targets, importable without atheris."""
    sys.path.insert(0, str(FUZZ_DIR))
    try:
        import targets as module
    finally:
        sys.path.remove(str(FUZZ_DIR))
    return module


#: (target, input bytes) for every finding, in the byte layout fuzz/targets.py decodes.
FOUND = [
    pytest.param("xff", b"\x00\x00[2001:db8::1]:8008, [2001:db8::2]:443, 192.0.2.10:80"
                        + b"," * 60 + b" ", id="xff-trailing-empty-elements"),
    pytest.param("forwarded", b'\x00for=192.0.2.1;host="a,b", for=10.0.0.1',
                 id="forwarded-quoted-comma-round-trip"),
    pytest.param("forwarded",  # a 299-byte artifact, as found
                 b"".join([
                     b'\x00~o,f=0;proto\x00for="_gk", For="[1]:4.705", foaz, Fo',
                     b'r="[1]:4.705", foazo999999999999999999999999999999',
                     b'9999999999999999999999999999999999999999999999r=.\x0c',
                     b'\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c',
                     b'=httpor=.\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c',
                     b'\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c=http;byor=1.60;proto=2.60;prohttp;=\x0062']),
                 id="forwarded-long-parameter-name-found"),  # fixed in 7e629a7
]


@pytest.mark.parametrize(("target", "data"), FOUND)
def test_fuzz_finding_replays_clean(targets: ModuleType, target: str, data: bytes) -> None:
    """Each fuzz finding, replayed through its target, breaks no invariant."""
    if target not in targets.TARGETS:
        pytest.skip(f"target {target!r} needs a module that is not there yet")
    targets.TARGETS[target](data)


def test_empty_elements_do_not_count_toward_max_hops() -> None:
    """``max_hops`` counts addresses, not commas: trailing empty elements
    (``a, b,,,,``) are dropped before the walk, so they cannot push the real
    elements out of the walked window and make the header unusable."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"],
                         max_hops=2)
    decision = policy.compile().decide("10.0.0.9", {"x-forwarded-for": "203.0.113.9, 10.0.0.1"
                                                                       + "," * 5})
    assert decision.client == "203.0.113.9"
    assert decision.forwarded_for == "203.0.113.9, 10.0.0.1"


def test_forwarded_writer_quotes_a_comma() -> None:
    """A parsed ``host="a,b"`` is written back quoted, so the written header
    reads back to the same elements (``-`` in the token character class once
    made ``,`` a token character)."""
    forwarded = pytest.importorskip("trustedproxy.forwarded")
    elements = forwarded.parse_forwarded('for=192.0.2.1;host="a,b", for=10.0.0.1')
    written = forwarded.format_forwarded(elements)
    assert written == 'for=192.0.2.1;host="a,b", for=10.0.0.1'
    assert [dict(e) for e in forwarded.parse_forwarded(written)] == [dict(e) for e in elements]


@pytest.mark.parametrize("element", [
    pytest.param("a" * 1000 + "=\x0c", id="invalid-value"),
    pytest.param("a" * 1000 + '=""x', id="not-a-token-or-quoted-string"),
    pytest.param("a" * 1000 + "=1;" + "a" * 1000 + "=2", id="duplicate-parameter"),
    pytest.param("a" * 1000 + "=", id="empty-value"),
])
def test_forwarded_reasons_stay_short(element: str) -> None:
    """Whatever the input, the reason of an Invalid element stays short (the
    offending text is shown shortened): reasons go into logs and decisions."""
    forwarded = pytest.importorskip("trustedproxy.forwarded")
    (parsed,) = forwarded.parse_forwarded(element)
    assert isinstance(parsed, forwarded.Invalid)
    assert len(parsed.reason) <= 300, parsed.reason[:120]
