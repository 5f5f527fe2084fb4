"""Tests for trustedproxy.forwarded: the RFC 7239 parser and node helpers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustedproxy.addresses import parse_element, parse_ip
from trustedproxy.forwarded import (
    MAX_ELEMENT_LENGTH,
    MAX_ELEMENTS,
    MAX_GAP,
    Invalid,
    Node,
    NodeKind,
    element_node,
    format_element,
    format_forwarded,
    node_address,
    parse_forwarded,
    parse_node,
    quote_value,
    skip_separators,
)

Expected = list[dict[str, str] | str]  # a dict per valid element, a reason fragment per Invalid


def check(value: str, expected: Expected) -> None:
    """Parse *value* and compare element by element with *expected*."""
    parsed = parse_forwarded(value)
    assert len(parsed) == len(expected), parsed
    for got, want in zip(parsed, expected, strict=True):
        if isinstance(want, str):
            assert isinstance(got, Invalid), got
            assert want in got.reason
        else:
            assert not isinstance(got, Invalid), got
            assert dict(got) == want


# --------------------------------------------------------------------------- RFC 7239

# Every example header of RFC 7239, written out from the RFC's text, with the
# elements it must give. "§4/n" is the n-th example of section 4, and so on.
RFC_EXAMPLES = [
    pytest.param('for="_gazonk"', [{"for": "_gazonk"}], id="§4/1 obfuscated, quoted"),
    pytest.param('For="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}],
                 id="§4/2 name case, IPv6 with port"),
    pytest.param("for=192.0.2.60;proto=http;by=203.0.113.43",
                 [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}],
                 id="§4/3 three parameters"),
    pytest.param("for=192.0.2.43, for=198.51.100.17",
                 [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}], id="§4/4 two proxies"),
    pytest.param("for=192.0.2.43,for=\"[2001:db8:cafe::17]\",for=unknown",
                 [{"for": "192.0.2.43"}, {"for": "[2001:db8:cafe::17]"}, {"for": "unknown"}],
                 id="§7.1/1 list without spaces"),
    pytest.param("for=192.0.2.43, for=\"[2001:db8:cafe::17]\", for=unknown",
                 [{"for": "192.0.2.43"}, {"for": "[2001:db8:cafe::17]"}, {"for": "unknown"}],
                 id="§7.1/2 list with spaces"),
    pytest.param(", ".join(["for=192.0.2.43", "for=\"[2001:db8:cafe::17]\", for=unknown"]),
                 [{"for": "192.0.2.43"}, {"for": "[2001:db8:cafe::17]"}, {"for": "unknown"}],
                 id="§7.1/3 two header fields, joined"),
    pytest.param("for=_hidden, for=_SEVKISEK", [{"for": "_hidden"}, {"for": "_SEVKISEK"}],
                 id="§6.3 obfuscated identifiers"),
    pytest.param("for=unknown", [{"for": "unknown"}], id="§6.2 unknown"),
    pytest.param('for="192.0.2.43:47011"', [{"for": "192.0.2.43:47011"}],
                 id="§6 IPv4 with port, quoted"),
    pytest.param('for="[2001:db8:cafe::17]:47011"', [{"for": "[2001:db8:cafe::17]:47011"}],
                 id="§6 IPv6 with port, quoted"),
    pytest.param('for=192.0.2.43, for="[2001:db8:cafe::17]"',
                 [{"for": "192.0.2.43"}, {"for": "[2001:db8:cafe::17]"}],
                 id="§7.4 transition from X-Forwarded-For"),
    pytest.param("for=192.0.2.43, for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com",
                 [{"for": "192.0.2.43"},
                  {"for": "198.51.100.17", "by": "203.0.113.60", "proto": "http",
                   "host": "example.com"}],
                 id="§7.5 example usage"),
    # §5.x: one case per parameter, built from what each section says its value is.
    pytest.param('by="[2001:db8::1]:8080"', [{"by": "[2001:db8::1]:8080"}],
                 id="§5.1 by: the proxy's interface, a node"),
    pytest.param("for=198.51.100.17", [{"for": "198.51.100.17"}], id="§5.2 for: a node"),
    pytest.param('host="example.com:8080"', [{"host": "example.com:8080"}],
                 id="§5.3 host with a port must be quoted"),
    pytest.param("host=example.com;proto=HTTPS", [{"host": "example.com", "proto": "HTTPS"}],
                 id="§5.3/§5.4 host token; proto value keeps its case"),
]


@pytest.mark.parametrize(("value", "expected"), RFC_EXAMPLES)
def test_rfc_examples(value: str, expected: Expected) -> None:
    """Every RFC 7239 example parses into the elements the RFC describes."""
    check(value, expected)


@pytest.mark.parametrize("value", [
    "for=[2001:db8:cafe::17]",
    "for=192.0.2.43:47011",
    "for=[2001:db8:cafe::17]:4711",
])
def test_rfc_quoting_is_required(value: str) -> None:
    """':' and brackets are not token characters (§6): unquoted, the element is invalid."""
    check(value, ["invalid value"])


def test_equivalent_lists_are_equal() -> None:
    """The §7.1 spellings of one list give the same elements."""
    compact = parse_forwarded('for=192.0.2.43,for="[2001:db8:cafe::17]",for=unknown')
    spaced = parse_forwarded('for=192.0.2.43 ,\tfor="[2001:db8:cafe::17]" ,  for=unknown')
    assert compact == spaced


# --------------------------------------------------------------------------- grammar

GRAMMAR = [
    pytest.param("", [], id="empty value"),
    pytest.param(" , ,\t,", [], id="only empty elements"),
    pytest.param(",for=192.0.2.1,,", [{"for": "192.0.2.1"}], id="empty elements ignored"),
    pytest.param("for=192.0.2.1 ; proto=https\t;by=_p", [
        {"for": "192.0.2.1", "proto": "https", "by": "_p"}], id="OWS around ';'"),
    pytest.param("for=192.0.2.1;;proto=https;", [{"for": "192.0.2.1", "proto": "https"}],
                 id="empty pairs allowed"),
    pytest.param(";", [{}], id="an element of empty pairs"),
    pytest.param("FOR=192.0.2.1;Proto=https;HOST=Example.COM", [
        {"for": "192.0.2.1", "proto": "https", "host": "Example.COM"}],
        id="names lower-cased, values kept"),
    pytest.param('for=""', [{"for": ""}], id="empty quoted value"),
    pytest.param(r'x="a\"b\\c\d"', [{"x": 'a"b\\cd'}], id="quoted-pairs unescaped"),
    pytest.param('x="a;b=c"', [{"x": "a;b=c"}], id="quoted ';' and '='"),
    pytest.param("x=!#$%&'*+-.^_`|~09AZaz", [{"x": "!#$%&'*+-.^_`|~09AZaz"}],
                 id="every tchar"),
    pytest.param('x="\t !~\x80\xff"', [{"x": "\t !~\x80\xff"}], id="qdtext and obs-text"),
    pytest.param("for=192.0.2.1;FOR=192.0.2.2", ["duplicate parameter 'for'"],
                 id="duplicate, any case"),
    pytest.param("for", ["has no '=value'"], id="no '='"),
    pytest.param("for=", ["empty value"], id="empty token value"),
    pytest.param("for =192.0.2.1", ["white space before '='"], id="space before '='"),
    pytest.param("for= 192.0.2.1", ["white space after '='"], id="space after '='"),
    pytest.param("f(r=192.0.2.1", ["invalid parameter name"], id="name not a token"),
    pytest.param("=192.0.2.1", ["invalid parameter name"], id="empty name"),
    pytest.param("for=a=b", ["invalid value"], id="'=' in a token"),
    pytest.param('for=a"b"', ["invalid value"], id="quote inside a token"),
    pytest.param('for="a"b', ["invalid value"], id="text after a quoted string"),
    pytest.param('for="a""b"', ["invalid value"], id="two quoted strings"),
    pytest.param("for=192.0.2.1 proto=https", ["invalid value"], id="missing ';'"),
    pytest.param("for=192.0.2.1\x00", ["invalid value"], id="NUL in a token"),
    pytest.param('for="192.0.2.1\x00"', ["invalid value"], id="NUL in a quoted string"),
    pytest.param('for="a\x7f"', ["invalid value"], id="DEL in a quoted string"),
    pytest.param('for="a\\\x01"', ["invalid value"], id="escaped control character"),
    pytest.param("for=192.0.2.1\r\nX-Evil: 1", ["invalid value"], id="CRLF"),
    pytest.param('for="\u0100"', ["invalid value"], id="beyond latin-1"),
    pytest.param("for=\u00e9", ["invalid value"], id="obs-text is not a token"),
    pytest.param("for=192.0.2.1, bad, for=192.0.2.2",
                 [{"for": "192.0.2.1"}, "has no '=value'", {"for": "192.0.2.2"}],
                 id="one invalid element among valid ones"),
]


@pytest.mark.parametrize(("value", "expected"), GRAMMAR)
def test_grammar(value: str, expected: Expected) -> None:
    """Tokens, quoted strings, OWS and parameter rules follow RFC 7239 / RFC 7230 exactly."""
    check(value, expected)


TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize("code", range(256))
def test_token_characters(code: int) -> None:
    """A bare value is valid exactly when it is made of RFC 7230 tchars, and
    quote_value leaves exactly those bare."""
    char = chr(code)
    parsed = parse_forwarded(f"x=a{char}b")
    if char in TCHARS:
        assert parsed == (MappingProxyType({"x": f"a{char}b"}),)
        assert quote_value(char) == char
        return
    if char == ",":
        assert parsed == (MappingProxyType({"x": "a"}),
                          Invalid("b", "parameter 'b' has no '=value'"))
    elif char == ";":
        assert parsed == (Invalid("x=a;b", "parameter 'b' has no '=value'"),)
    else:
        assert len(parsed) == 1
        assert isinstance(parsed[0], Invalid)
    if char == "\t" or 0x20 <= code < 0x7F or code >= 0x80:
        assert quote_value(char).startswith('"')


def test_elements_are_read_only() -> None:
    """A parsed element cannot be changed by whoever receives it."""
    (element,) = parse_forwarded("for=192.0.2.1")
    assert isinstance(element, Mapping)
    with pytest.raises(TypeError):
        element["for"] = "203.0.113.9"  # type: ignore[index]


def test_invalid_keeps_the_text() -> None:
    """An Invalid element holds the element as written, its ends trimmed."""
    assert parse_forwarded(" for=1;for=2 , for=3") == (
        Invalid("for=1;for=2", "duplicate parameter 'for'"), MappingProxyType({"for": "3"}))


# --------------------------------------------------------------------------- injection

INJECTION = [
    pytest.param('for="1.2.3.4,for=5.6.7.8"', [{"for": "1.2.3.4,for=5.6.7.8"}],
                 id="quoted comma does not split"),
    pytest.param('user="bad,for=_whitelisted_ip"', [{"user": "bad,for=_whitelisted_ip"}],
                 id="jshttp/forwarded#1: no 'for' escapes the quotes"),
    pytest.param('for="1.2.3.4;proto=https"', [{"for": "1.2.3.4;proto=https"}],
                 id="quoted semicolon does not split"),
    pytest.param(r'for="1.2.3.4\", for=5.6.7.8"', [{"for": '1.2.3.4", for=5.6.7.8'}],
                 id="escaped quote does not close"),
    pytest.param(r'for="a\\", for=192.0.2.9', [{"for": "a\\"}, {"for": "192.0.2.9"}],
                 id="escaped backslash, then the quote closes"),
    pytest.param('for="1.2.3.4, for=192.0.2.9',
                 ["not closed", {"for": "192.0.2.9"}],
                 id="unbalanced quote: the elements after it survive"),
    pytest.param('for="1.2.3.4;x=1, for=192.0.2.9;proto=https',
                 ["not closed", {"for": "192.0.2.9", "proto": "https"}],
                 id="unbalanced quote ends at the next comma"),
    pytest.param('for=192.0.2.1;x="\\', ["not closed"], id="backslash at the end"),
    pytest.param('for=1.2.3.4, x="a, for="[2001:db8::1]"',
                 ["not closed", {"for": "[2001:db8::1]"}],
                 id="a client's unclosed quote cannot swallow a quoted proxy element"),
    pytest.param('x="a, for="[2001:db8::1]:4711";proto=https, for="[2001:db8::2]"',
                 ["not closed", {"for": "[2001:db8::1]:4711", "proto": "https"},
                  {"for": "[2001:db8::2]"}],
                 id="nor several"),
    pytest.param('x=\\, for="[2001:db8::1]"', ["invalid value", {"for": "[2001:db8::1]"}],
                 id="a client's trailing backslash changes nothing"),
    pytest.param(r'x="\\", for=192.0.2.1', [{"x": "\\"}, {"for": "192.0.2.1"}],
                 id="an escaped backslash before a closing quote"),
    pytest.param(r'x="a\"b", for=192.0.2.1', [{"x": 'a"b'}, {"for": "192.0.2.1"}],
                 id="an escaped quote inside a quoted string"),
    pytest.param(r'x=a\"b, for=192.0.2.1', ["neither opens nor closes", {"for": "192.0.2.1"}],
                 id="an escaped quote outside a quoted string stops the reading"),
    pytest.param('for=192.0.2.1;user="x;for=10.0.0.1"',
                 [{"for": "192.0.2.1", "user": "x;for=10.0.0.1"}],
                 id="no second 'for' from inside quotes"),
    pytest.param('for=192.0.2.1;for="10.0.0.1"', ["duplicate parameter 'for'"],
                 id="duplicate 'for' invalidates the element"),
    pytest.param('"for=10.0.0.1"', ["invalid parameter name"], id="a whole element in quotes"),
]


@pytest.mark.parametrize(("value", "expected"), INJECTION)
def test_injection(value: str, expected: Expected) -> None:
    """Quotes, escapes and duplicates never let a client smuggle a parameter or split."""
    check(value, expected)


@pytest.mark.parametrize("value", [
    pytest.param("n" * 500 + "=1;" + "n" * 500 + "=2", id="duplicate"),
    pytest.param("n" * 1000 + "=", id="empty value"),
    pytest.param("n" * 1000 + "=\x0c", id="bad value"),
    pytest.param("n" * 1000, id="no value"),
    pytest.param("n" * 1000 + "(=1", id="bad name"),
])
def test_reasons_stay_short(value: str) -> None:
    """An Invalid's reason shows the offending text shortened, whatever its length."""
    (parsed,) = parse_forwarded(value)
    assert isinstance(parsed, Invalid)
    assert len(parsed.reason) < 200
    assert parsed.text == value


def test_too_many_elements_keeps_the_rightmost() -> None:
    """Past MAX_ELEMENTS, only the rightmost are read, after one Invalid for the rest."""
    addresses = [f"for=10.0.{i // 256}.{i % 256}" for i in range(MAX_ELEMENTS + 36)]
    parsed = parse_forwarded(", ".join(addresses))
    assert len(parsed) == MAX_ELEMENTS + 1
    first = parsed[0]
    assert isinstance(first, Invalid)
    assert first.reason == f"more than {MAX_ELEMENTS} elements: the rest were not read"
    assert first.text == "..." + ", ".join(addresses[:36])[-200:]
    assert [dict(e) for e in parsed[1:] if not isinstance(e, Invalid)] == [
        {"for": a.removeprefix("for=")} for a in addresses[36:]]
    assert [dict(e) for e in parse_forwarded("for=_a, for=_b, for=_c", max_elements=2)[1:]
            if not isinstance(e, Invalid)] == [{"for": "_b"}, {"for": "_c"}]
    assert len(parse_forwarded(", ".join(addresses[:MAX_ELEMENTS]))) == MAX_ELEMENTS


def test_element_length_limit() -> None:
    """An element up to MAX_ELEMENT_LENGTH characters is read; a longer one stops the
    reading there, and the elements right of it are still read."""
    longest = "x=" + "a" * (MAX_ELEMENT_LENGTH - 2)
    assert parse_forwarded(f"{longest}, for=192.0.2.1") == (
        MappingProxyType({"x": "a" * (MAX_ELEMENT_LENGTH - 2)}),
        MappingProxyType({"for": "192.0.2.1"}))
    quoted = 'x="' + "," * MAX_ELEMENT_LENGTH + '"'
    parsed = parse_forwarded(f"for=192.0.2.9, {quoted}, for=192.0.2.1")
    assert parsed[1:] == (MappingProxyType({"for": "192.0.2.1"}),)
    assert isinstance(parsed[0], Invalid)
    assert parsed[0].reason == f"an element longer than {MAX_ELEMENT_LENGTH} characters"
    assert len(parsed[0].text) <= 203


def test_gap_limit() -> None:
    """Up to MAX_GAP commas and spaces between the elements, in all, are skipped;
    more stop the reading there."""
    assert parse_forwarded("for=_a" + "," * MAX_GAP + "for=_b") == (
        MappingProxyType({"for": "_a"}), MappingProxyType({"for": "_b"}))
    parsed = parse_forwarded("for=_a" + ", " * MAX_GAP + "for=_b")
    assert parsed[1:] == (MappingProxyType({"for": "_b"}),)
    assert isinstance(parsed[0], Invalid)
    assert parsed[0].reason == f"more than {MAX_GAP} commas and spaces between the elements"
    assert parse_forwarded(", " * 20 + "for=_b" + " ," * 20) == (
        MappingProxyType({"for": "_b"}),)


def test_unread_rest_is_marked_unread() -> None:
    """The Invalid that stands for what the bounds left unread says so
    (``unread``); one for a malformed element does not."""
    cut = parse_forwarded("for=_a, for=_b, for=_c", max_elements=2)
    assert isinstance(cut[0], Invalid)
    assert cut[0].unread
    assert cut[0].text == "for=_a"
    gap = parse_forwarded("for=_a" + "," * (MAX_GAP + 2) + "for=_b")[0]
    assert isinstance(gap, Invalid)
    assert gap.unread
    bad = parse_forwarded('for="_a, for=_b')[0]
    assert isinstance(bad, Invalid)
    assert not bad.unread
    assert bad.reason == "a quoted string is not closed"


def test_gap_limit_counts_every_gap() -> None:
    """The MAX_GAP budget is shared by all the gaps read: many gaps that are
    each short stop the reading once together they pass it."""
    # The comma that ends an element is not counted: each run of n commas
    # here is n - 1 characters of gap.
    half = "," * (MAX_GAP // 2 + 1)
    assert parse_forwarded("for=_a" + half + "for=_b" + half + "for=_c") == (
        MappingProxyType({"for": "_a"}), MappingProxyType({"for": "_b"}),
        MappingProxyType({"for": "_c"}))
    parsed = parse_forwarded("for=_a" + half + ",for=_b" + half + "for=_c")
    assert parsed[1:] == (MappingProxyType({"for": "_b"}), MappingProxyType({"for": "_c"}))
    assert isinstance(parsed[0], Invalid)


@settings(max_examples=500)
@given(st.text(alphabet=", \tab", max_size=80), st.data())
def test_skip_separators_finds_the_run(value: str, data: st.DataObject) -> None:
    """skip_separators(value, end, limit) is where the run of separators ending
    at *end* starts, or -1 exactly when that run is longer than *limit*."""
    end = data.draw(st.integers(0, len(value)))
    limit = data.draw(st.integers(0, 90))
    start = end
    while start > 0 and value[start - 1] in ", \t":
        start -= 1
    expected = start if end - start <= limit else -1
    assert skip_separators(value, end, limit) == expected


def test_skip_separators_reads_long_runs_in_slices() -> None:
    assert skip_separators("for=_a" + ", " * 100_000, 200_006, 200_000) == 6
    assert skip_separators("for=_a" + ", " * 100_000, 200_006, 199_999) == -1
    assert skip_separators("," * 100_000, 100_000, 100_000) == 0
    assert skip_separators("x", 1, 0) == 1


HUGE = [
    pytest.param('"' + ',\\"' * 300_000, id="every quote unclosed"),
    pytest.param("a=" + '"' * 900_000, id="a million quotes"),
    pytest.param('x="' + "a" * 1_000_000, id="one long unclosed quote"),
    pytest.param("for=192.0.2.1," * 80_000, id="many elements"),
    pytest.param(";" * 1_000_000, id="many empty pairs"),
    pytest.param('x="a",' * 150_000, id="many quoted elements"),
    pytest.param("x=" + "\\" * 1_000_000, id="backslashes"),
    pytest.param('x="' + "\\" * 999_999 + '"', id="backslashes in quotes"),
    pytest.param("\\" * 1_000_000 + '"', id="backslashes before a quote"),
    pytest.param(", " * 500_000, id="only separators"),
    pytest.param("for=192.0.2.1" + " " * 1_000_000, id="trailing spaces"),
]


@pytest.mark.parametrize("value", HUGE)
def test_huge_inputs_are_linear(value: str) -> None:
    """Adversarial megabyte inputs parse quickly (the work is bounded by the
    elements read) into a bounded result."""
    started = time.perf_counter()
    parsed = parse_forwarded(value)
    assert time.perf_counter() - started < 0.5
    assert len(parsed) <= MAX_ELEMENTS + 1


# --------------------------------------------------------------------------- nodes

NODES = [
    pytest.param("192.0.2.43", NodeKind.ADDRESS, "192.0.2.43", "", id="IPv4"),
    pytest.param("192.0.2.43:47011", NodeKind.ADDRESS, "192.0.2.43", "47011", id="IPv4:port"),
    pytest.param("[2001:db8:cafe::17]", NodeKind.ADDRESS, "2001:db8:cafe::17", "",
                 id="[IPv6]"),
    pytest.param("[2001:DB8:CAFE:0::17]:4711", NodeKind.ADDRESS, "2001:db8:cafe::17", "4711",
                 id="[IPv6]:port, canonical text"),
    pytest.param("[::ffff:192.0.2.1]", NodeKind.ADDRESS, "::ffff:192.0.2.1", "",
                 id="IPv4-mapped IPv6"),
    pytest.param("192.0.2.43:_gazonk", NodeKind.ADDRESS, "192.0.2.43", "_gazonk",
                 id="obfuscated port"),
    pytest.param("unknown", NodeKind.UNKNOWN, "", "", id="unknown"),
    pytest.param("UnKnown:_p1", NodeKind.UNKNOWN, "", "_p1", id="unknown, any case, port"),
    pytest.param("_hidden", NodeKind.OBFUSCATED, "", "", id="obfuscated"),
    pytest.param("_SEV.KI-SEK_9:4711", NodeKind.OBFUSCATED, "", "4711",
                 id="obfuscated with port"),
    pytest.param("2001:db8::1", NodeKind.INVALID, "", "", id="IPv6 without brackets"),
    pytest.param("[192.0.2.1]", NodeKind.INVALID, "", "", id="IPv4 in brackets"),
    pytest.param("[2001:db8::1", NodeKind.INVALID, "", "", id="no ']'"),
    pytest.param("[2001:db8::1]x", NodeKind.INVALID, "", "", id="junk after ']'"),
    pytest.param("[fe80::1%eth0]", NodeKind.INVALID, "", "", id="zone id"),
    pytest.param("192.0.2.1:", NodeKind.INVALID, "", "", id="empty port"),
    pytest.param("192.0.2.1:0", NodeKind.INVALID, "", "", id="port 0"),
    pytest.param("192.0.2.1:65536", NodeKind.INVALID, "", "", id="port too big"),
    pytest.param("192.0.2.1:0x50", NodeKind.INVALID, "", "", id="hex port"),
    pytest.param("[::1]:", NodeKind.INVALID, "", "", id="IPv6, empty port"),
    pytest.param("_", NodeKind.INVALID, "", "", id="'_' alone"),
    pytest.param("_a b", NodeKind.INVALID, "", "", id="space in obfuscated"),
    pytest.param("unknown:", NodeKind.INVALID, "", "", id="unknown, empty port"),
    pytest.param("0177.0.0.1", NodeKind.INVALID, "", "", id="octal IPv4"),
    pytest.param("127.1", NodeKind.INVALID, "", "", id="short IPv4"),
    pytest.param("example.com", NodeKind.INVALID, "", "", id="a host name"),
    pytest.param("", NodeKind.INVALID, "", "", id="empty"),
    pytest.param("1.2.3.4,for=5.6.7.8", NodeKind.INVALID, "", "", id="smuggled list"),
]


@pytest.mark.parametrize(("value", "kind", "address", "port"), NODES)
def test_parse_node(value: str, kind: NodeKind, address: str, port: str) -> None:
    """Node identifiers (RFC 7239 §6) are classified strictly; only addresses carry a key."""
    node = parse_node(value)
    assert node.kind is kind, node
    assert node.address == address
    assert node.port == port
    if kind is NodeKind.ADDRESS:
        assert node.reason == ""
        assert node.key == parse_ip(node.bare)
        assert node_address(value) == (node.key, node.bare)
    else:
        assert node.key is None
        assert node.reason
        assert node_address(value) is None


def test_node_reasons() -> None:
    """The reason of a node the walk cannot use says what it is."""
    assert parse_node("unknown").reason == "'unknown': the proxy did not know the address"
    assert parse_node("_x").reason == "obfuscated node '_x': no address"
    assert parse_node("2001:db8::1").reason == (
        "an IPv6 node must be in brackets, e.g. '[2001:db8::1]'")
    assert "expected 1-65535" in parse_node("192.0.2.1:99999").reason


def test_node_address_matches_parse_element() -> None:
    """node_address has parse_element's shape, so a walk can use either."""
    for value in ("192.0.2.1", "192.0.2.1:80", "[2001:db8::1]", "[2001:db8::1]:443"):
        assert node_address(value) == parse_element(value)


def test_element_node() -> None:
    """element_node reads 'for' (or 'by') from an element, or explains why there is none."""
    ok, no_for, bad = parse_forwarded('for="[2001:db8::1]";by=_p, proto=https, for=1;for=2')
    assert element_node(ok) == Node(NodeKind.ADDRESS, key=parse_ip("2001:db8::1"),
                                    bare="2001:db8::1", address="2001:db8::1")
    assert element_node(ok, "by").kind is NodeKind.OBFUSCATED
    assert element_node(no_for) == Node(NodeKind.INVALID,
                                        reason="no 'for' parameter in the element")
    assert element_node(bad) == Node(
        NodeKind.INVALID, reason="invalid element: duplicate parameter 'for'")


# --------------------------------------------------------------------------- writing


def test_quote_value() -> None:
    """Tokens stay bare; everything else is quoted with '"' and '\\' escaped."""
    assert quote_value("192.0.2.1") == "192.0.2.1"
    assert quote_value("[2001:db8::1]:80") == '"[2001:db8::1]:80"'
    assert quote_value("") == '""'
    assert quote_value('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(ValueError, match=r"'a\\nb' holds a character a header value cannot"):
        quote_value("a\nb")


def test_format() -> None:
    """format_element / format_forwarded write what parse_forwarded reads."""
    assert format_element({"for": "[2001:db8::1]", "proto": "https"}) == (
        'for="[2001:db8::1]";proto=https')
    assert format_element([("for", "_x")]) == "for=_x"
    assert format_forwarded([{"for": "192.0.2.1"}, {"for": "unknown"}]) == (
        "for=192.0.2.1, for=unknown")
    with pytest.raises(ValueError, match=r"invalid parameter name 'f r': expected a token"):
        format_element({"f r": "x"})


def test_format_empty_element() -> None:
    """An element with no parameters is written as ';' and so survives the round trip
    (written as nothing it read back as no element, and the list lost a member)."""
    assert format_element({}) == ";"
    written = format_forwarded([{}, {"for": "192.0.2.1"}])
    assert written == ";, for=192.0.2.1"
    assert parse_forwarded(written) == ({}, {"for": "192.0.2.1"})


# --------------------------------------------------------------------------- properties

_TOKENS = st.from_regex(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", fullmatch=True)
_VALUE_CHARS = st.sampled_from(
    ["\t", *map(chr, range(0x20, 0x7F)), *map(chr, range(0x80, 0x100)), '"', "\\", ",", ";"])
_VALUES = st.one_of(_TOKENS, st.text(_VALUE_CHARS, max_size=20))
_ELEMENTS = st.dictionaries(_TOKENS.map(str.lower), _VALUES, max_size=5)  # {} written ";"


@given(st.lists(_ELEMENTS, max_size=10))
def test_round_trip(elements: list[dict[str, str]]) -> None:
    """Invariant: formatting any elements (values quoted as needed) and parsing the
    result gives the same elements back, in order."""
    assert parse_forwarded(format_forwarded(elements)) == tuple(elements)


@given(st.lists(st.tuples(_TOKENS, _VALUES), min_size=1, max_size=4), st.data())
def test_names_are_case_insensitive(pairs: list[tuple[str, str]], data: st.DataObject) -> None:
    """Invariant: changing the case of parameter names never changes the result
    (an element stays valid with the same mapping, or stays invalid for the same reason)."""
    shouted = [(data.draw(st.sampled_from([name, name.upper(), name.swapcase()])), value)
               for name, value in pairs]

    def meaning(value: str) -> list[object]:
        return [e.reason if isinstance(e, Invalid) else e for e in parse_forwarded(value)]

    assert meaning(format_element(shouted)) == meaning(format_element(pairs))


_NASTY = st.text(st.sampled_from(['"', "\\", ",", ";", "=", " ", "\t", "a", "f", "o", "r",
                                  "1", ".", ":", "[", "]", "_", "\x00", "\u0100"]),
                 max_size=60)


@given(st.one_of(st.text(max_size=200), _NASTY))
def test_never_raises(value: str) -> None:
    """Invariant: any string parses without raising into at most MAX_ELEMENTS + 1
    items, each a read-only mapping of lower-case token names or an Invalid, and
    every item gives a node without raising."""
    parsed = parse_forwarded(value)
    assert len(parsed) <= MAX_ELEMENTS + 1
    for element in parsed:
        if not isinstance(element, Invalid):
            for name in element:
                assert name == name.lower()
                assert quote_value(name) == name  # a token
        assert isinstance(element_node(element), Node)


_V4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_V6 = st.integers(0, (1 << 128) - 1).map(
    lambda n: "[" + ":".join(f"{(n >> s) & 0xFFFF:x}" for s in range(112, -1, -16)) + "]")
_PORTS = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
_PROXY_ELEMENTS = st.lists(
    st.fixed_dictionaries(
        {"for": st.tuples(st.one_of(_V4, _V6), _PORTS).map("".join)},
        optional={"proto": st.sampled_from(["http", "https"]),
                  "host": st.sampled_from(["example.com", "example.com:8443"])}),
    min_size=1, max_size=4)


@given(_NASTY, _PROXY_ELEMENTS)
def test_client_prefix_cannot_forge(client: str, proxies: list[dict[str, str]]) -> None:
    """Invariant: whatever a client writes to the left (unclosed quotes,
    backslashes, quoted commas), the elements the proxies appended read back
    exactly: a client can neither change nor hide them."""
    value = f"{client}, {format_forwarded(proxies)}" if client else format_forwarded(proxies)
    parsed = parse_forwarded(value)
    assert parsed[len(parsed) - len(proxies):] == tuple(proxies)
