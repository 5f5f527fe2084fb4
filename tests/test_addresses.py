"""Strict address parsing (request time), network parsing (load time), the matcher."""

from __future__ import annotations

import ipaddress

import netaddr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustedproxy.addresses import (
    V6,
    Matcher,
    NetworkError,
    format_interval,
    ipv6_value,
    key_to_text,
    merge,
    parse_element,
    parse_ip,
    parse_network,
)


class TestParseIp:
    @pytest.mark.parametrize(("text", "key"), [
        pytest.param("1.2.3.4", 0x01020304, id="ipv4"),
        pytest.param("0.0.0.0", 0, id="ipv4 zero"),
        pytest.param("255.255.255.255", 0xFFFFFFFF, id="ipv4 max"),
        pytest.param("::1", V6 + 1, id="ipv6 loopback"),
        pytest.param("2001:DB8::1", V6 + 0x20010DB8 * 2**96 + 1, id="ipv6 upper case"),
        pytest.param("::ffff:10.0.0.5", 0x0A000005, id="ipv4-mapped folds to ipv4"),
        pytest.param("::FFFF:a00:5", 0x0A000005, id="ipv4-mapped hex folds to ipv4"),
    ])
    def test_valid(self, text: str, key: int) -> None:
        """Valid addresses parse to their key; IPv4-mapped IPv6 folds to IPv4."""
        assert parse_ip(text) == key

    @pytest.mark.parametrize("text", [
        pytest.param("010.0.0.5", id="octal"),
        pytest.param("10.5", id="short form"),
        pytest.param("167772165", id="decimal form"),
        pytest.param("0x0a.0.0.5", id="hex form"),
        pytest.param("1.2.3.04", id="leading zero"),
        pytest.param("256.1.1.1", id="octet too big"),
        pytest.param("1.2.3.4 ", id="trailing space"),
        pytest.param("\uff11.2.3.4", id="fullwidth digit"),
        pytest.param("localhost", id="host name"),
        pytest.param("fe80::1%lo", id="zone id"),
        pytest.param("[::1]", id="brackets"),
        pytest.param("1.2.3.4:80", id="port"),
        pytest.param("", id="empty"),
        pytest.param("1::2::3", id="two double colons"),
        pytest.param("::ffff:010.0.0.1", id="octal in mapped"),
        pytest.param("1.2.3.4\x00", id="NUL"),
        pytest.param("unknown", id="unknown"),
    ])
    def test_invalid(self, text: str) -> None:
        """Anything but a strict dotted quad or IPv6 address is refused."""
        assert parse_ip(text) is None

    @given(st.integers(0, 2**32 - 1))
    def test_inet_pton_is_strict_for_every_ipv4(self, value: int) -> None:
        """design.md's claim: inet_pton accepts exactly the canonical dotted
        quad of every IPv4 address, and no octal or zero-padded spelling."""
        text = str(ipaddress.IPv4Address(value))
        assert parse_ip(text) == value
        padded = ".".join(f"0{part}" for part in text.split("."))
        assert parse_ip(padded) is None
        assert parse_ip(str(value)) is None  # the decimal form

    @given(st.text(max_size=50))
    def test_never_raises(self, text: str) -> None:
        """Any string at all gives a key or None, and agrees with ipaddress."""
        key = parse_ip(text)
        if key is not None:
            reference = ipaddress.ip_address(text)
            if isinstance(reference, ipaddress.IPv6Address) and reference.ipv4_mapped:
                reference = reference.ipv4_mapped
            expected = int(reference) + (V6 if reference.version == 6 else 0)
            assert key == expected

    @given(st.ip_addresses(v=6), st.sampled_from(["compressed", "exploded", "upper", "dotted"]))
    def test_every_ipv6_text_parses_to_its_value(self, address: ipaddress.IPv6Address,
                                                 form: str) -> None:
        """Every IPv6 address, in any spelling inet_pton takes, gives ipv6_value
        its 128-bit value, and parse_ip that value plus V6, or the IPv4 value
        for an IPv4-mapped address (one parse serves both)."""
        value = int(address)
        low32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
        text = {"compressed": address.compressed, "exploded": address.exploded,
                "upper": address.compressed.upper(),
                "dotted": f"{address.exploded[:30]}{low32}"}[form]  # six pieces, a dotted quad
        assert ipv6_value(text) == value
        mapped = address.ipv4_mapped
        assert parse_ip(text) == (int(mapped) if mapped is not None else value | V6)


class TestParseElement:
    @pytest.mark.parametrize(("text", "bare"), [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.4:8080", "1.2.3.4"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("1.2.3.4:65535", "1.2.3.4"),
    ])
    def test_valid(self, text: str, bare: str) -> None:
        """An address with an optional port, IPv6 optionally in brackets."""
        parsed = parse_element(text)
        assert parsed is not None
        assert parsed[1] == bare

    @pytest.mark.parametrize("text", [
        "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:x", "1.2.3.4:+80", "[1.2.3.4]",
        "[::1", "[::1]x", "[::1]:", "[::1]:99999", "unknown", "_hidden", "1.2.3.4:80:80",
        "[fe80::1%lo]", "1.2.3.4:\uff18\uff10",
    ])
    def test_invalid(self, text: str) -> None:
        """Bad ports, brackets around IPv4, junk: not an element."""
        assert parse_element(text) is None

    @pytest.mark.parametrize(("bare", "canonical"), [
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::FFFF:10.0.0.5", "::ffff:10.0.0.5"),
        ("10.0.0.5", "10.0.0.5"),
    ])
    def test_canonical_text(self, bare: str, canonical: str) -> None:
        """Client addresses are written in canonical form."""
        key = parse_ip(bare)
        assert key is not None
        assert key_to_text(key, bare) == canonical


class TestParseNetwork:
    @pytest.mark.parametrize(("text", "cidr", "note"), [
        pytest.param("10.0.0.0/8", "10.0.0.0/8", None, id="cidr"),
        pytest.param("192.0.2.7", "192.0.2.7/32", None, id="address"),
        pytest.param("2001:db8::/32", "2001:db8::/32", None, id="ipv6"),
        pytest.param("::1", "::1/128", None, id="ipv6 address"),
        pytest.param("0.0.0.0/0", "0.0.0.0/0", None, id="everything v4"),
        pytest.param("::/0", "::/0", None, id="everything v6"),
        pytest.param("10.0.0.1/8", "10.0.0.0/8", "host bits set", id="host bits"),
        pytest.param("10.0.0.0/255.0.0.0", "10.0.0.0/8", "dotted mask", id="dotted mask"),
        pytest.param("2001:DB8::/32", "2001:db8::/32", "upper-case", id="upper-case v6"),
        pytest.param("::ffff:10.0.0.0/104", "10.0.0.0/8", "IPv4-mapped", id="mapped"),
        pytest.param("::ffff:127.0.0.1", "127.0.0.1/32", "IPv4-mapped", id="mapped address"),
    ])
    def test_accepted(self, text: str, cidr: str, note: str | None) -> None:
        """Valid values parse to canonical CIDR; compatibility forms carry a note."""
        network = parse_network(text)
        assert network.text == cidr
        if note is None:
            assert network.notes == ()
        else:
            assert any(note in n for n in network.notes)
        reference = netaddr.IPNetwork(cidr)
        base = V6 if reference.version == 6 else 0
        assert (network.first, network.last) == (base + reference.first, base + reference.last)

    @pytest.mark.parametrize(("text", "message"), [
        pytest.param("10.0.0.0/33", "prefix length must be 0-32 for IPv4", id="v4 prefix"),
        pytest.param("2001:db8::/129", "prefix length must be 0-128 for IPv6", id="v6 prefix"),
        pytest.param("1.2.3.4/", "invalid mask ''", id="empty mask"),
        pytest.param("10.0.0.0/8/8", "more than one '/'", id="two slashes"),
        pytest.param("300.1.1.1", "each part of an IPv4 address must be 0-255", id="octet"),
        pytest.param("10/8", "not a valid IP address", id="partial with mask"),
        pytest.param("127.0.0", r"partial IPv4 address; did you mean '127\.0\.0\.0/24'",
                     id="partial"),
        pytest.param("localhost", "host names are never looked up", id="host name"),
        pytest.param("*", "host names are never looked up", id="star"),
        pytest.param("all", "host names are never looked up", id="all"),
        pytest.param("127.0.0.1,10.0.0.1", "one address or network per list item", id="comma"),
        pytest.param("fe80::1%lo", "zone ids", id="zone"),
        pytest.param("", "empty value", id="empty"),
        pytest.param(" 10.0.0.0/8", "white space", id="space"),
        pytest.param("1.2.3.4/255.0.255.0", "is not contiguous", id="non-contiguous mask"),
        pytest.param("010.0.0.0/8", "leading zeros are ambiguous", id="octal"),
        pytest.param("1::2::3", "not a valid IPv6 address", id="bad v6"),
        pytest.param("::1/255.0.0.0", "dotted masks are for IPv4 only", id="v6 dotted mask"),
        pytest.param(42, "expected a string", id="not a string"),
    ])
    def test_rejected(self, text: str, message: str) -> None:
        """Every refusal says why and what would be valid."""
        with pytest.raises(NetworkError, match=message):
            parse_network(text)

    @pytest.mark.parametrize(("text", "cidr"), [
        ("127.0.0", "127.0.0.0/24"), ("1.2", "1.2.0.0/16"), ("10", "10.0.0.0/8"),
    ])
    def test_partial_ipv4_in_directive_mode(self, text: str, cidr: str) -> None:
        """Directive strings read partial IPv4 as mod_wsgi (APR) does."""
        network = parse_network(text, partial_ipv4=True)
        assert network.text == cidr
        assert "partial IPv4" in network.notes[0]

    @given(st.ip_addresses(), st.integers(0, 128))
    def test_agrees_with_netaddr(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                                 prefix: int) -> None:
        """For any address and prefix, the interval equals netaddr's network."""
        width = 32 if address.version == 4 else 128
        prefix = min(prefix, width)
        text = f"{address}/{prefix}"
        network = parse_network(text)
        reference = netaddr.IPNetwork(text).cidr
        if address.version == 6 and address.ipv4_mapped is not None and prefix >= 96:
            assert network.last - network.first == reference.last - reference.first
            return
        base = V6 if address.version == 6 else 0
        assert (network.first, network.last) == (base + reference.first, base + reference.last)


class TestMatcher:
    @given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), max_size=30),
           st.lists(st.integers(0, 2**32 - 1), max_size=30))
    def test_matches_like_netaddr(self, networks: list[tuple[int, int]],
                                  probes: list[int]) -> None:
        """The bisect matcher over merged intervals answers exactly like netaddr's IPSet."""
        texts = [f"{ipaddress.IPv4Address(v)}/{p}" for v, p in networks]
        parsed = [parse_network(t) for t in texts]
        matcher = Matcher(merge((n.first, n.last) for n in parsed))
        reference = netaddr.IPSet(netaddr.IPNetwork(t).cidr for t in texts)
        for probe in probes + [n.first for n in parsed] + [n.last + 1 for n in parsed]:
            if probe > 2**32 - 1:
                continue
            assert (probe in matcher) == (netaddr.IPAddress(probe) in reference)

    def test_families_never_mix(self) -> None:
        """An IPv6 network never matches an IPv4 key, and ::/0 is not 0.0.0.0/0."""
        everything_v6 = parse_network("::/0")
        matcher = Matcher(merge([(everything_v6.first, everything_v6.last)]))
        assert parse_ip("1.2.3.4") not in matcher
        assert parse_ip("::ffff:1.2.3.4") not in matcher  # mapped folds to IPv4
        assert parse_ip("2001:db8::1") in matcher

    def test_merge_and_format(self) -> None:
        """Adjacent networks merge; merged intervals print as minimal CIDRs."""
        nets = [parse_network(t) for t in ("10.0.0.0/9", "10.128.0.0/9", "10.0.0.7")]
        merged = merge((n.first, n.last) for n in nets)
        assert len(merged) == 1
        assert format_interval(*merged[0]) == ["10.0.0.0/8"]
        single = parse_network("2001:db8::1")
        assert format_interval(single.first, single.last) == ["2001:db8::1"]

