"""Single-valued header parsers: scheme, host, server, port, prefix (SPEC.md §5)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustedproxy.values import (
    join_prefix,
    parse_host,
    parse_port,
    parse_prefix,
    parse_scheme_bool,
    parse_scheme_word,
    parse_server,
    text_from_wsgi,
    wsgi_from_text,
)

LIST = "a list of values"


@pytest.mark.parametrize(("raw", "expected"), [
    ("http", "http"), ("https", "https"), ("HTTPS", "https"), ("HtTpS", "https"),
    ("ws", "http"), ("WSS", "https"), (" https ", "https"),
])
def test_scheme_words(raw: str, expected: str) -> None:
    """http/https in any case; ws/wss map to http/https; OWS is trimmed."""
    assert parse_scheme_word(raw) == (expected, "")


@pytest.mark.parametrize(("raw", "reason"), [
    ("junk", "not a scheme"), ("", "not a scheme"), ("https, http", LIST),
    ("http,https", LIST), ("ftp", "not a scheme"), ("https\x00", "not a scheme"),
    ("httpß", "not a scheme"),
])
def test_scheme_words_invalid(raw: str, reason: str) -> None:
    """Junk, empty and lists are refused with a reason."""
    value, why = parse_scheme_word(raw)
    assert value is None
    assert reason in why


@pytest.mark.parametrize(("raw", "expected"), [
    ("on", "https"), ("On", "https"), ("TRUE", "https"), ("1", "https"),
    ("off", "http"), ("False", "http"), ("0", "http"),
])
def test_scheme_bools(raw: str, expected: str) -> None:
    """on/true/1 mean https; off/false/0 mean http; any case."""
    assert parse_scheme_bool(raw) == (expected, "")


@pytest.mark.parametrize("raw", ["yes", "no", "2", "", "junk", "on, off"])
def test_scheme_bools_invalid(raw: str) -> None:
    """Anything else is ignored (mod_wsgi: does nothing)."""
    assert parse_scheme_bool(raw)[0] is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("443", "443"), ("1", "1"), ("65535", "65535"), ("0080", "80"), (" 8443 ", "8443"),
])
def test_ports(raw: str, expected: str) -> None:
    """Digits 1-65535, returned without leading zeros."""
    assert parse_port(raw) == (expected, "")


@pytest.mark.parametrize("raw", ["0", "65536", "99999", "-1", "+80", "abc", "", "443, 80",
                                 "8\u0668", "1e3", "123456"])
def test_ports_invalid(raw: str) -> None:
    """Out of range, signs, non-ASCII digits and lists are refused."""
    assert parse_port(raw)[0] is None


@pytest.mark.parametrize("raw", [
    "example.com", "www.example.com:8443", "EXAMPLE.com", "localhost", "a-b.c-d.example",
    "192.0.2.1", "192.0.2.1:80", "[2001:db8::1]", "[2001:db8::1]:8080", "example.com.",
    "xn--bcher-kva.example", "123abc.example", "host-1", "a1", "x.0x1g", "0x.example",
])
def test_hosts(raw: str) -> None:
    """DNS names, IPv4 and [IPv6], each with an optional port, kept as given."""
    assert parse_host(raw) == (raw, "")


@pytest.mark.parametrize(("raw", "reason"), [
    ("a.example, b.example", LIST), ("", "not a DNS name"), ("exa mple.com", "not a DNS name"),
    ("example.com:0", "port must be"), ("example.com:99999", "port must be"),
    ("example.com:", "port must be"), ("2001:db8::1", "must be in brackets"),
    ("[2001:db8::1", "not a bracketed IPv6"), ("[1.2.3.4]", "not a bracketed IPv6"),
    ("999.1.1.1", "not a valid IPv4"), ("010.0.0.1", "not a valid IPv4"),
    ("-bad.example", "not a DNS name"), ("bad-.example", "not a DNS name"),
    ("a_b.example", "not a DNS name"), ("evil.com/path", "not a DNS name"),
    ("user@evil.com", "not a DNS name"), ("a" * 64 + ".example", "not a DNS name"),
    ("example.com\r\nX-y", "not a DNS name"), ("ex\u00e4mple.com", "not a DNS name"),
    # names that end in a number are IPv4 to URL parsers: 127.0.0.1, 1.2.0.3, 8.0.0.1...
    ("0x7f.1", "not a valid IPv4"), ("0x7f000001", "not a valid IPv4"),
    ("1.2.3", "not a valid IPv4"), ("example.123", "not a valid IPv4"),
    ("a.0X1F:80", "not a valid IPv4"), ("a.0x.", "not a valid IPv4"),
])
def test_hosts_invalid(raw: str, reason: str) -> None:
    """Lists, empty values, bad ports, bad brackets, bad IPv4 and junk are refused."""
    value, why = parse_host(raw)
    assert value is None
    assert reason in why


def test_server() -> None:
    """A server name is a host without a port."""
    assert parse_server("proxy.example") == ("proxy.example", "")
    assert parse_server("[::1]") == ("[::1]", "")
    assert parse_server("proxy.example:8080")[0] is None
    assert parse_server("a, b")[0] is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("/myapp", "/myapp"), ("/myapp/", "/myapp"), ("//a//b/", "/a/b"), ("/", ""), ("", ""),
    ("/a%20b", "/a%20b"), ("/a/./b", "/a/./b"), ("/v1.2", "/v1.2"),
    ("/%2e", "/%2e"), ("/%2e%2e%2e", "/%2e%2e%2e"), ("/a%2e%2e", "/a%2e%2e"),
])
def test_prefixes(raw: str, expected: str) -> None:
    """Empty or /-led; trailing / dropped; repeated / collapsed."""
    assert parse_prefix(raw) == (expected, "")


@pytest.mark.parametrize(("raw", "reason"), [
    ("myapp", "must be empty or start with '/'"), ("/a/../b", "'..' segment"),
    ("/..", "'..' segment"), ("/a b", "control characters or white space: U+0020 (SPACE) at"),
    ("/a\tb", "control characters"), ("/a?x=1", "'?'"), ("/a#x", "'#'"),
    ("/a\x00", "control characters"), ("/a\x7f", "control characters"),
    ("/\\evil.example", "'\\'"), ("/a,/b", LIST),
    ("/%2e%2e/admin", "'..' segment"), ("/a/.%2E", "'..' segment"), ("/%2E./x", "'..' segment"),
])
def test_prefixes_invalid(raw: str, reason: str) -> None:
    """Relative paths, dot-dot segments, control characters, queries, fragments refused."""
    value, why = parse_prefix(raw)
    assert value is None
    assert reason in why


def utf8(text: str) -> str:
    """*text* as a header value reaches a WSGI app: its UTF-8 bytes, read as latin-1."""
    return text.encode("utf-8").decode("latin-1")


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param(utf8("/\u00e0"), utf8("/\u00e0"), id="a-grave: bytes C3 A0"),
    pytest.param(utf8("/\u00c5"), utf8("/\u00c5"), id="A-ring: bytes C3 85"),
    pytest.param(utf8("/\u00e9t\u00e9/"), utf8("/\u00e9t\u00e9"), id="ete"),
    pytest.param(utf8("/\u0440"), utf8("/\u0440"), id="cyrillic: bytes D1 80"),
    pytest.param("/caf\xe9", "/caf\xe9", id="latin-1 byte, not UTF-8"),
])
def test_prefix_header_non_ascii_kept(raw: str, expected: str) -> None:
    """A prefix header's bytes are read as UTF-8 text: letters whose UTF-8 holds the bytes
    0x85 or 0xA0 are kept (as the header's latin-1 string); bytes that are not UTF-8 are
    read as latin-1 and kept when they are no control or space."""
    assert parse_prefix(raw) == (expected, "")


@pytest.mark.parametrize(("raw", "reason"), [
    pytest.param(utf8("/my\u00a0app"), "U+00A0 (NO-BREAK SPACE) at character 4", id="nbsp"),
    pytest.param(utf8("/my\u0085app"), "U+0085 at character 4", id="nel"),
    pytest.param(utf8("/my\u2028app"), "U+2028 (LINE SEPARATOR) at character 4", id="ls"),
    pytest.param(utf8("/my\u3000app"), "U+3000 (IDEOGRAPHIC SPACE) at character 4",
                 id="ideographic space"),
    pytest.param(utf8("/\ufeffapp"), "U+FEFF (ZERO WIDTH NO-BREAK SPACE) at character 2",
                 id="bom"),
    pytest.param(utf8("/\u00e9\u200b"), "U+200B (ZERO WIDTH SPACE) at character 3",
                 id="zero width space, counted in characters"),
    pytest.param("/my\x85app", "U+0085 at character 4", id="lone byte 85"),
    pytest.param("/caf\xe9\xa0", "U+00A0 (NO-BREAK SPACE) at character 6",
                 id="lone byte A0"),
    pytest.param("/a\x9bb", "U+009B at character 3", id="lone byte 9B (CSI)"),
    pytest.param("/\xef\xbb\xbf\xff", "U+FEFF (ZERO WIDTH NO-BREAK SPACE) at character 2",
                 id="not UTF-8, and its lenient UTF-8 reading holds a BOM"),
    pytest.param(" /a b", "U+0020 (SPACE) at character 4", id="place counts leading OWS"),
])
def test_prefix_header_unicode_space_and_controls_refused(raw: str, reason: str) -> None:
    """Unicode white space and C1 controls in a prefix header, as UTF-8 or as lone
    latin-1 bytes, make it malformed (ignored), with the character and its place."""
    assert parse_prefix(raw) == (
        None, f"a prefix may not hold control characters or white space: {reason}")


@pytest.mark.parametrize(("raw", "text", "expected"), [
    ("/\u00a0", True, (None, "a prefix may not hold control characters or white space: "
                            "U+00A0 (NO-BREAK SPACE) at character 2")),
    ("/\u00c3\u00a0", True, (None, "a prefix may not hold control characters or white "
                                  "space: U+00A0 (NO-BREAK SPACE) at character 3")),
    ("/\u00c3\u00a0", False, ("/\u00c3\u00a0", "")),  # the header bytes of '/\u00e0'
    ("/\u00e0", True, ("/\u00e0", "")),
    ("/a\\b", True, (None, "a prefix may not hold '?', '#' or '\\': '\\' at character 3")),
])
def test_prefix_text_is_checked_as_it_is(raw: str, text: bool,
                                         expected: tuple[str | None, str]) -> None:
    """text=True (the operator's script_name) checks the characters themselves; a
    header (the default) checks what its bytes stand for."""
    assert parse_prefix(raw, text=text) == expected


REFUSED = ("Cc", "Cf", "Cs", "Zl", "Zp", "Zs")


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=12))
def test_prefix_header_agrees_with_its_text(text: str) -> None:
    """Invariant: a prefix header carrying the UTF-8 bytes of a text is accepted exactly
    when that text is accepted as a script_name, with the same reason, and the value
    accepted is that text's WSGI form; no accepted prefix holds, in its text, any white
    space or control, format or separator character."""
    native, reason = parse_prefix(utf8(text))
    value, text_reason = parse_prefix(text, text=True)
    assert reason == text_reason
    assert native == (None if value is None else utf8(value))
    if value is not None:
        assert not any(c.isspace() or unicodedata.category(c) in REFUSED for c in value)


@given(st.binary(max_size=12))
def test_prefix_header_of_any_bytes_holds_no_space_or_control(raw: bytes) -> None:
    """Invariant: for any header bytes, an accepted prefix holds no white space or
    control, format or separator character, read as UTF-8 or, when its bytes are not
    UTF-8, read as latin-1 or as UTF-8 with U+FFFD for each bad byte."""
    value = parse_prefix(raw.decode("latin-1"))[0]
    if value is not None:
        data = value.encode("latin-1")
        try:
            readings = [data.decode("utf-8")]
        except UnicodeDecodeError:
            readings = [value, data.decode("utf-8", "replace")]
        for text in readings:
            assert not any(c.isspace() or unicodedata.category(c) in REFUSED for c in text)


@pytest.mark.parametrize(("prefix", "script", "path", "strip", "expected"), [
    ("/myapp", "", "/a/b", False, ("/myapp", "/a/b")),
    ("/myapp", "/mount", "/a", False, ("/myapp/mount", "/a")),
    ("/myapp", "", "/myapp/a", True, ("/myapp", "/a")),
    ("/myapp", "", "/myapp", True, ("/myapp", "")),
    ("/myapp", "", "/myapplication", True, ("/myapp", "/myapplication")),
    ("/myapp", "", "/other", True, ("/myapp", "/other")),
])
def test_join_prefix(prefix: str, script: str, path: str, strip: bool,
                     expected: tuple[str, str]) -> None:
    """Prefix prepended to SCRIPT_NAME; stripped from PATH_INFO only on a segment boundary."""
    assert join_prefix(prefix, script, path, strip) == expected


@given(st.text(max_size=40))
def test_parsers_never_raise_and_results_are_well_formed(raw: str) -> None:
    """For any input, every parser returns a well-formed value or None with a reason."""
    for parse in (parse_scheme_word, parse_scheme_bool, parse_port, parse_host, parse_server,
                  parse_prefix):
        value, reason = parse(raw)
        assert (value is None) == bool(reason)
    scheme = parse_scheme_word(raw)[0]
    assert scheme in (None, "http", "https")
    port = parse_port(raw)[0]
    assert port is None or 1 <= int(port) <= 65535
    prefix = parse_prefix(raw)[0]
    assert prefix is None or prefix == "" or (prefix.startswith("/") and not prefix.endswith("/")
                                              and "//" not in prefix)


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)  # no lone surrogates


@given(TEXT)
def test_wsgi_form_holds_the_utf8_bytes_and_reads_back(text: str) -> None:
    """Invariant: the WSGI form of any text is its UTF-8 bytes as latin-1 (ASCII unchanged),
    and reading those bytes as UTF-8 gives the text back."""
    native = wsgi_from_text(text)
    assert native.encode("latin-1") == text.encode("utf-8")
    assert text_from_wsgi(native) == text


@given(st.binary(max_size=20))
def test_text_from_any_bytes_is_their_lenient_utf8_reading(raw: bytes) -> None:
    """Invariant: any header bytes (a WSGI string's latin-1) read as UTF-8, each byte that
    is not UTF-8 as U+FFFD, never raising."""
    assert text_from_wsgi(raw.decode("latin-1")) == raw.decode("utf-8", "replace")


def test_text_from_a_str_that_holds_no_bytes_is_left_alone() -> None:
    """A str beyond latin-1 is not a WSGI string of bytes: it comes back as it is."""
    assert text_from_wsgi("/\u20ac") == "/\u20ac"
