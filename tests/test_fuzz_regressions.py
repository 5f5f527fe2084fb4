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
from hypothesis import given, settings
from hypothesis import strategies as st

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
    pytest.param("request",  # fuzz/corpus/request/seed-hop-aligned, once the check was added
                 b"\x06\x01\x00\x00\x01\x00\x01\x01\x04"
                 b"\x00\x00\x01#198.51.100.1, 203.0.113.9, 10.0.0.2"
                 b"\x00\x03\x01\x11http, https, http"
                 b"\x00\n\x01$evil.example, shop.example, internal"
                 b"\x00\r\x01\x0c1, 443, 8080",
                 id="request-hop-aligned-list-keeps-the-client-part"),  # test_attack_s11
    pytest.param("request",  # a 213-byte artifact, as found: the value taken is empty
                 b"".join([
                     b'\x06\x01\x00\x00\x01\x00\x01\x01$\x00\x00\x01#1.100 .q\x8a1113for=203',
                     b'.0.113.9;por="[1230:db4::1]:43";o=h42, f\x01#\x01\x01$\x00\x00\x01#1.',
                     b'100 .q\x8a1113.\xcb9, \x00\x00.113.9;proto=https;\xbfhost=shop.exampl',
                     b'e, f\x01#19\x00\x00t,h ttp\x00\n\x00\x00\x01$e\x13\x00\x00\x00\x00',
                     b'\x00\n\x01$ev19\x00\x00t,h ttp\x00\n\x00\x00\x01$e\x13\x00\x00\x00',
                     b'\x00\x00\n\x01$evil.exam,2\x01A',
                 ]),
                 id="request-hop-aligned-empty-value-taken-keeps-the-list"),  # test_attack_s11
    # Found in the configuration review (s11): the yaml and directives inputs
    # were a ValueError, KeyError or RecursionError out of the loader; the
    # express ones gave a second, consequential error. Readable tests in
    # test_yaml.py, test_directives.py and test_express.py.
    pytest.param("yaml", b"script_name: 2001-13-45\n", id="yaml-plain-date-month-13"),
    pytest.param("yaml", b"max_hops: " + b"9" * 5000 + b"\n", id="yaml-integer-too-long"),
    pytest.param("yaml", b"hop_aligned: !!bool maybe\n", id="yaml-bool-tag-on-a-word"),
    pytest.param("yaml", b"trusted_proxies: " + b"[" * 3000 + b"]" * 3000 + b"\n",
                 id="yaml-nested-too-deeply"),
    pytest.param("yaml", b'trusted_proxies_files: ["a\\0b"]\n', id="yaml-nul-in-a-path"),
    pytest.param("directives", b"\0# trustedproxy: max_hops " + b"9" * 5000 + b"\n",
                 id="directives-max-hops-too-long"),
    pytest.param("express", b"\1--trust-p\x0010.0.0.1\x00--trust-proxy-header\x00X-Real-IP",
                 id="express-ambiguous-option"),
    pytest.param("express", b"\1--trust-proxy\x00\xff\xfe\x00--trust-proxy-header\x00\xed",
                 id="express-argv-bytes-not-utf8"),
]


def test_the_express_target_is_wired_like_the_others(targets: ModuleType) -> None:
    """``express`` is a target (``fuzz/run.py express``), with a seed corpus
    that loads through it: a shell string and an argument list."""
    assert "express" in targets.TARGETS
    corpus = sorted((FUZZ_DIR / "corpus" / "express").iterdir())
    assert {p.name for p in corpus} >= {"seed-text", "seed-argv", "seed-errors"}
    for path in corpus:
        targets.TARGETS["express"](path.read_bytes())
    assert targets.express_input(b"\1a\0b") == ["a", "b"]
    assert targets.express_input(b"\0a b") == "a b\n"


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


@pytest.mark.parametrize("empties", [1, 16, 17, 60, 1000, 2040])
@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded"])
def test_many_empty_elements_right_of_the_client_are_skipped(header: str, empties: int) -> None:
    """Empty elements are dropped, never counted (SPEC.md section 4), however
    many a proxy writes right of the client, up to MAX_GAP separator
    characters: once more than 16 (max_hops + 1 + 16 parts read) made a
    trusted proxy the client."""
    from trustedproxy.forwarded import MAX_GAP

    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=[header])
    gap = ", " * empties
    assert len(gap) <= MAX_GAP
    value = (f"203.0.113.9{gap}, 10.0.0.2" if header == "x-forwarded-for"
             else f"for=203.0.113.9{gap}, for=10.0.0.2")
    decision = policy.compile().decide("10.0.0.1", {header: value})
    assert decision.client == "203.0.113.9"
    assert [hop.verdict for hop in decision.chain] == ["client", "trusted"]
    assert _through_middlewares(policy, header, value) == ["203.0.113.9"] * 2


def _through_middlewares(policy: TrustPolicy, header: str, value: str) -> list[str]:
    """``REMOTE_ADDR`` after the WSGI middleware (compiled when the speedups are
    built) and the pure-Python one, each sent the request twice (warm caches)."""
    from trustedproxy.wsgi import TrustedProxyMiddleware, _PurePythonMiddleware

    seen = []
    for kind in (TrustedProxyMiddleware, _PurePythonMiddleware):
        middleware = kind(lambda environ, start_response: [], policy)
        for _ in range(2):
            environ = {"REMOTE_ADDR": "10.0.0.1",
                       "HTTP_" + header.upper().replace("-", "_"): value}
            middleware(environ, lambda *args: None)
        seen.append(environ["REMOTE_ADDR"])
    return seen


@pytest.mark.parametrize("blanks", [240, 246, 247, 300])
def test_a_part_over_256_characters_reads_the_same_in_short_and_long_headers(
        blanks: int) -> None:
    """A part longer than 256 characters (blanks included) is invalid whether
    the header is short (split whole, or walked by the compiled path) or long
    (read from the right): what a client writes further left changes nothing.
    Found by review: the short header's walk read such a part as an address."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"])
    right = "203.0.113.9," + " " * blanks + "10.0.0.9"  # the part: blanks + 8 characters
    clients = set()
    for value in (right, "198.51.100.1, " * 80 + right):
        clients.add(policy.compile().decide("10.0.0.1", {"x-forwarded-for": value}).client)
        clients.update(_through_middlewares(policy, "x-forwarded-for", value))
    # Too long, the rightmost part is invalid: no client, and the peer stays.
    assert clients == ({"203.0.113.9"} if blanks + 8 <= 256 else {None, "10.0.0.1"})


@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded"])
def test_a_run_of_empty_elements_longer_than_max_gap_ends_the_read(header: str) -> None:
    """Past MAX_GAP separator characters the header is not read further (its
    cost stays bounded): what stands left of them is unexamined, and the
    leftmost element read is taken, as when max_hops trusted proxies are
    passed. The comma that ends the element read is not counted, in either
    header: MAX_GAP + 1 commas are read past, one more is not."""
    from trustedproxy.forwarded import MAX_GAP

    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=[header])
    prefix = "for=" if header == "forwarded" else ""
    for commas, client, verdicts in ((MAX_GAP + 1, "203.0.113.9", ["client", "trusted"]),
                                     (MAX_GAP + 2, "10.0.0.2", ["unexamined", "client"])):
        value = f"{prefix}203.0.113.9" + "," * commas + f"{prefix}10.0.0.2"
        decision = policy.compile().decide("10.0.0.1", {header: value})
        assert decision.client == client
        assert [hop.verdict for hop in decision.chain] == verdicts


@pytest.mark.parametrize("client", ["203.0.113.9", "10.0.0.3"])
def test_forwarded_cut_reads_as_x_forwarded_for_cut(client: str) -> None:
    """When max_hops cuts the header, Forwarded's chain says so as
    X-Forwarded-For's does: the unread rest first, verdict ``unexamined``,
    whether the walk stopped at a client before it or ran up to it."""
    chains = []
    for header, value in (
            ("x-forwarded-for", f"198.51.100.1, {client}, 10.0.0.8, 10.0.0.6"),
            ("forwarded", f"for=198.51.100.1, for={client}, for=10.0.0.8, for=10.0.0.6")):
        policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=[header],
                             max_hops=2)
        decision = policy.compile().decide("10.0.0.5", {header: value})
        assert decision.client == client
        chains.append([hop.verdict for hop in decision.chain])
    assert chains[0] == chains[1]
    assert chains[0][0] == "unexamined"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["203.0.113.9", "10.0.0.5", "192.0.2.10", "x", "",
                                           "2001:db8::1", "[10.0.0.7]:80", " 10.0.0.6 "]),
                          st.sampled_from([",", ", ", ",,", " , ,\t,", ",,,,,,,,,,,,,,,,,",
                                           "," * 300, ", " * 1500])),
                max_size=12),
       st.integers(1, 6))
def test_xff_walk_with_empty_runs_matches_the_reference(
        parts: list[tuple[str, str]], max_hops: int) -> None:
    """For lists with runs of empty elements of any length, the walk gives the
    fuzz target's reference walk (written from SPEC.md section 4 and the
    documented read bounds): same client, same trimmed header; and both WSGI
    middlewares (compiled and pure Python) set that client."""
    sys.path.insert(0, str(FUZZ_DIR))
    try:
        import targets
    finally:
        sys.path.remove(str(FUZZ_DIR))
    value = "".join(element + gap for element, gap in parts)
    policy = TrustPolicy(trusted_proxies=targets.XFF_POLICY.trusted_proxies,
                         trusted_headers=["X-Forwarded-For"], max_hops=max_hops)
    targets.check_xff("10.0.0.1", value, policy)
    client = policy.compile().decide("10.0.0.1", {"x-forwarded-for": value}).client
    assert _through_middlewares(policy, "x-forwarded-for", value) == [client or "10.0.0.1"] * 2


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
