"""The engine: peer trust, the X-Forwarded-For walk and every header of every group."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustedproxy import Decision, TrustPolicy
from trustedproxy.addresses import parse_peer
from trustedproxy.headers import HEADERS, Group, Kind

CIDRS = ["127.0.0.0/24", "10.0.0.0/8", "2001:db8::/32"]
XFF = "X-Forwarded-For"


def engine(headers: list[str], proxies: list[str] = CIDRS, **options: Any) -> Any:
    return TrustPolicy(trusted_proxies=proxies, trusted_headers=headers, **options).compile()


class TestPeer:
    @pytest.mark.parametrize(("peer", "trusted"), [
        pytest.param("127.0.0.1", True, id="ipv4 in network"),
        pytest.param("127.0.1.1", False, id="ipv4 outside"),
        pytest.param("::ffff:10.1.2.3", True, id="ipv4-mapped peer matches ipv4 network"),
        pytest.param("::FFFF:10.1.2.3", True, id="mapped upper case"),
        pytest.param("2001:db8::5", True, id="ipv6 in network"),
        pytest.param("2001:DB8::5", True, id="ipv6 upper case"),
        pytest.param("2001:db9::5", False, id="ipv6 outside"),
        pytest.param("2001:db8::5%eth0", True, id="zone id ignored"),
        pytest.param("", False, id="empty"),
        pytest.param("/run/app.sock", False, id="unix socket path"),
        pytest.param("010.0.0.1", False, id="octal"),
        pytest.param("127.0.0.1:5000", False, id="with port"),
    ])
    def test_is_trusted(self, peer: str, trusted: bool) -> None:
        """Peers match by address; mapped IPv4 matches IPv4; non-IP peers are untrusted."""
        assert engine([XFF]).is_trusted(peer) is trusted

    def test_ipv4_network_in_mapped_form_matches_ipv4_peer(self) -> None:
        """A network written IPv4-mapped trusts the plain IPv4 peer, and the reverse."""
        e = engine([XFF], proxies=["::ffff:192.168.0.0/112"])
        assert e.is_trusted("192.168.3.4")
        assert e.is_trusted("::ffff:192.168.3.4")
        assert not e.is_trusted("192.169.0.1")

    def test_ipv6_network_does_not_match_ipv4_peer(self) -> None:
        """As in mod_wsgi, '::1' does not trust 127.0.0.1."""
        assert not engine([XFF], proxies=["::1"]).is_trusted("127.0.0.1")

    @pytest.mark.parametrize("peer", [
        "127.0.0.1:8080", "[::1]", "[10.0.0.1]", "010.0.0.2", "10.0.0", " 10.0.0.1",
        "10.0.0.1\n", "\u200b10.0.0.1", "\uff11\uff10.0.0.1", "::1::", "1", ":",
        "1.2.3.4:80%eth0"])
    def test_malformed_address_is_not_a_unix_socket(self, peer: str) -> None:
        """trust_unix_socket never trusts a malformed address: text made of
        address characters (after white space, invisible characters and a zone
        id are dropped, full-width digits read as ASCII), on every path."""
        for e in (engine([XFF], trust_unix_socket=True),
                  engine([XFF], proxies=["0.0.0.0/0", "::/0"], trust_unix_socket=True)):
            assert not e.is_trusted(peer)
            assert e.evaluate(peer, {XFF: "203.0.113.9"}).client is None

    @given(address=st.ip_addresses(), port=st.integers(0, 65535),
           form=st.sampled_from(["{a}:{p}", "[{a}]", "[{a}]:{p}", " {a}", "{a} ", "0{a}",
                                 "{a}.{p}", "{a}::"]))
    def test_decorated_address_is_not_a_unix_socket(self, address: Any, port: int,
                                                     form: str) -> None:
        """Property: an IP address written with a port, brackets, white space or
        a leading zero is never trusted as a Unix-socket peer."""
        peer = form.format(a=address, p=port)
        if parse_peer(peer) is not None:
            return  # still a valid address (``0::1``): matched as one, not this test's
        assert not engine([XFF], trust_unix_socket=True).is_trusted(peer)

    @pytest.mark.parametrize("peer", ["", "/run/app.sock", "unix:/tmp/s", "unix:",
                                      "localhost", "@abstract", "cafe"])
    def test_unix_socket_peers(self, peer: str) -> None:
        """trust_unix_socket trusts non-IP peers, and only them besides the list."""
        e = engine([XFF], trust_unix_socket=True)
        assert e.is_trusted(peer)
        assert not e.is_trusted("8.8.8.8")
        d = e.evaluate(peer, {XFF: "203.0.113.9"})
        assert d.client == "203.0.113.9"


# Every row of mod_wsgi-reference.md §4 (trusted 127.0.0.0/24 10.0.0.0/8 2001:db8::/32,
# peer 127.0.0.1): (header, mod_wsgi REMOTE_ADDR, mod_wsgi X-Forwarded-For after,
# our REMOTE_ADDR, our X-Forwarded-For after or None when removed).
PEER = "127.0.0.1"
WALK_TABLE = [
    ("1.2.3.4", "1.2.3.4", "1.2.3.4", "1.2.3.4", "1.2.3.4"),
    ("1.2.3.4, 10.0.0.5, 10.0.0.6", "1.2.3.4", "1.2.3.4, 10.0.0.5, 10.0.0.6",
     "1.2.3.4", "1.2.3.4, 10.0.0.5, 10.0.0.6"),
    ("1.2.3.4, 5.6.7.8, 10.0.0.5", "5.6.7.8", "5.6.7.8, 10.0.0.5",
     "5.6.7.8", "5.6.7.8, 10.0.0.5"),
    ("1.2.3.4, 10.0.0.5, 5.6.7.8", "5.6.7.8", "5.6.7.8", "5.6.7.8", "5.6.7.8"),
    ("10.0.0.5, 1.2.3.4, 10.0.0.6, 10.0.0.7", "1.2.3.4", "1.2.3.4, 10.0.0.6, 10.0.0.7",
     "1.2.3.4", "1.2.3.4, 10.0.0.6, 10.0.0.7"),
    ("10.0.0.5, 10.0.0.6", "10.0.0.5", "10.0.0.5, 10.0.0.6", "10.0.0.5", "10.0.0.5, 10.0.0.6"),
    # Deviation: junk never becomes REMOTE_ADDR; the hop that reported it is the client.
    ("garbage, 10.0.0.5", "garbage", "garbage, 10.0.0.5", "10.0.0.5", "10.0.0.5"),
    # Deviation: junk on the right: the peer stays, the header is removed.
    ("1.2.3.4, garbage", "garbage", "garbage", PEER, None),
    # Deviation: a port is allowed on an element, and stripped from REMOTE_ADDR.
    ("1.2.3.4, 10.0.0.5:8080", "10.0.0.5:8080", "10.0.0.5:8080", "1.2.3.4",
     "1.2.3.4, 10.0.0.5:8080"),
    # Deviation: brackets are allowed, REMOTE_ADDR is the bare canonical address.
    ("[2001:db8::1]", "[2001:db8::1]", "[2001:db8::1]", "2001:db8::1", "[2001:db8::1]"),
    ("1.2.3.4, 2001:DB8::5", "1.2.3.4", "1.2.3.4, 2001:DB8::5", "1.2.3.4",
     "1.2.3.4, 2001:DB8::5"),
    ("1.2.3.4, ::ffff:10.0.0.5", "1.2.3.4", "1.2.3.4, ::ffff:10.0.0.5", "1.2.3.4",
     "1.2.3.4, ::ffff:10.0.0.5"),
    # Deviation: no DNS, no decimal/short/octal IPv4 forms, no zone ids: all invalid.
    ("1.2.3.4, localhost", "1.2.3.4", "1.2.3.4, localhost", PEER, None),
    ("1.2.3.4, 167772165", "1.2.3.4", "1.2.3.4, 167772165", PEER, None),
    ("1.2.3.4, 10.5", "1.2.3.4", "1.2.3.4, 10.5", PEER, None),
    ("1.2.3.4, 010.0.0.5", "010.0.0.5", "010.0.0.5", PEER, None),
    ("1.2.3.4, fe80::1%lo", "fe80::1%lo", "fe80::1%lo", PEER, None),
    (",,1.2.3.4,,10.0.0.5,", "1.2.3.4", "1.2.3.4, 10.0.0.5", "1.2.3.4", "1.2.3.4, 10.0.0.5"),
]


class TestWalk:
    @pytest.mark.parametrize(("header", "mod_wsgi_addr", "mod_wsgi_xff", "addr", "xff"),
                             WALK_TABLE, ids=[row[0] for row in WALK_TABLE])
    def test_mod_wsgi_table(self, header: str, mod_wsgi_addr: str, mod_wsgi_xff: str,
                            addr: str, xff: str | None) -> None:
        """Every row of the reference table: same as mod_wsgi where SPEC.md says so,
        our documented result where it deviates (never junk in REMOTE_ADDR)."""
        d = engine([XFF]).evaluate(PEER, {XFF: header})
        assert (d.client or PEER) == addr
        assert d.forwarded_for == xff
        if xff is None:
            assert "x-forwarded-for" in d.removed
            assert d.ignored[0].header == XFF
        else:
            assert d.kept == ("x-forwarded-for",)
        if mod_wsgi_addr == addr:
            assert mod_wsgi_xff == (xff if xff is not None else mod_wsgi_xff)

    @pytest.mark.parametrize(("header", "client"), [
        ("1.2.3.4, 10.0.0.5", "10.0.0.5"),
        ("1.2.3.4, 127.0.0.1", "1.2.3.4"),
    ])
    def test_single_ip_policy(self, header: str, client: str) -> None:
        """With only 127.0.0.1 trusted (mod_wsgi's xff_single_ip rows)."""
        d = engine([XFF], proxies=["127.0.0.1"]).evaluate(PEER, {XFF: header})
        assert d.client == client

    @pytest.mark.parametrize("header", ["", " , , ", ",", "\t"])
    def test_empty_list(self, header: str) -> None:
        """No elements: nothing changes and the header is removed (mod_wsgi keeps it)."""
        d = engine([XFF]).evaluate(PEER, {XFF: header})
        assert d.client is None
        assert d.removed == ("x-forwarded-for",)
        assert d.ignored[0].reason == "no addresses in the list"

    def test_chain_record(self) -> None:
        """The decision records the walk hop by hop."""
        d = engine([XFF]).evaluate(PEER, {XFF: "9.9.9.9, 1.2.3.4, junk, 10.0.0.5, 10.0.0.6"})
        assert [(h.element, h.verdict) for h in d.chain] == [
            ("9.9.9.9", "unvisited"), ("1.2.3.4", "unvisited"), ("junk", "invalid"),
            ("10.0.0.5", "client"), ("10.0.0.6", "trusted")]
        d = engine([XFF]).evaluate(PEER, {XFF: "1.2.3.4, 10.0.0.6"})
        assert [h.verdict for h in d.chain] == ["client", "trusted"]

    def test_client_address_is_canonical(self) -> None:
        """REMOTE_ADDR holds the address alone, canonical: no port, no brackets, lower case."""
        d = engine([XFF]).evaluate(PEER, {XFF: "[2001:DB8:0::0:1]:443, 10.0.0.5"})
        assert d.client == "2001:db8::1"
        d = engine([XFF]).evaluate(PEER, {XFF: "1.2.3.4:5678"})
        assert d.client == "1.2.3.4"

    def test_untrusted_peer_is_never_walked(self) -> None:
        """From an untrusted peer the header is removed, whatever it says."""
        d = engine([XFF]).evaluate("8.8.8.8", {XFF: "10.0.0.5"})
        assert d == Decision("8.8.8.8", False, removed=("x-forwarded-for",))


def _valid_and_invalid(kind: Kind) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """(valid value, expected decision fields) pairs and invalid values, per kind."""
    table: dict[Kind, tuple[list[tuple[str, dict[str, str]]], list[str]]] = {
        Kind.ADDRESS: (
            [("203.0.113.9", {"client": "203.0.113.9"}),
             ("203.0.113.9:4000", {"client": "203.0.113.9"}),
             ("[2001:DB8::9]:4000", {"client": "2001:db8::9"}),
             ("2001:db8::9", {"client": "2001:db8::9"})],
            ["unknown", "010.1.1.1", "10.5", "1.2.3.4, 5.6.7.8", "host.example",
             "fe80::1%eth0", "", "1.2.3.4:99999", "[1.2.3.4]"]),
        Kind.SCHEME_WORD: (
            [("https", {"scheme": "https"}), ("HTTP", {"scheme": "http"}),
             ("wss", {"scheme": "https"}), ("ws", {"scheme": "http"})],
            ["junk", "", "https, http", "http,https", "ftp", "on"]),
        Kind.SCHEME_BOOL: (
            [("on", {"scheme": "https"}), ("TRUE", {"scheme": "https"}),
             ("1", {"scheme": "https"}), ("Off", {"scheme": "http"}),
             ("false", {"scheme": "http"}), ("0", {"scheme": "http"})],
            ["yes", "no", "2", "", "https", "on, off"]),
        Kind.HOST: (
            [("www.example.com", {"host": "www.example.com"}),
             ("www.example.com:8443", {"host": "www.example.com:8443"}),
             ("[2001:db8::1]:8080", {"host": "[2001:db8::1]:8080"}),
             ("192.0.2.1", {"host": "192.0.2.1"})],
            ["a.example, b.example", "", "bad host", "x.example:0", "x.example:99999",
             "2001:db8::1", "[::1", "999.1.1.1", "evil.example/path"]),
        Kind.SERVER: (
            [("proxy.example", {"server": "proxy.example"}), ("[::1]", {"server": "[::1]"})],
            ["proxy.example:8080", "a, b", "", "bad server"]),
        Kind.PORT: (
            [("443", {"port": "443"}), ("8080", {"port": "8080"}), ("08080", {"port": "8080"})],
            ["abc", "-1", "99999", "0", "443, 80", "", "4 43"]),
        Kind.PREFIX: (
            [("/myapp", {"prefix": "/myapp"}), ("/myapp/", {"prefix": "/myapp"}),
             ("//a//b", {"prefix": "/a/b"})],
            ["myapp", "/a/../b", "/a b", "/a?b", "/a#b", "/a\x01", "/a,/b"]),
    }
    return table[kind]


SINGLE = [spec for spec in HEADERS.values() if spec.kind not in (Kind.FOR_LIST, Kind.FORWARDED)]
VALID_CASES = [pytest.param(spec.name, value, fields, id=f"{spec.name}={value!r}")
               for spec in SINGLE for value, fields in _valid_and_invalid(spec.kind)[0]]
INVALID_CASES = [pytest.param(spec.name, value, id=f"{spec.name}={value!r}")
                 for spec in SINGLE for value in _valid_and_invalid(spec.kind)[1]]


class TestEveryHeader:
    @pytest.mark.parametrize("peer", ["127.0.0.1", "2001:db8::7"])
    @pytest.mark.parametrize(("name", "value", "fields"), VALID_CASES)
    def test_valid_value_from_trusted_peer(self, name: str, value: str,
                                           fields: dict[str, str], peer: str) -> None:
        """A valid trusted header sets its field and stays; nothing else changes."""
        d = engine([name]).evaluate(peer, {name: value})
        assert d.trusted
        for field in ("client", "scheme", "host", "server", "port", "prefix"):
            assert getattr(d, field) == fields.get(field), field
        assert d.kept == (name.lower(),)
        assert d.removed == ()
        assert d.ignored == ()
        target = next(iter(fields))
        assert d.sources == ((target, name),)

    @pytest.mark.parametrize("peer", ["127.0.0.1", "::ffff:10.9.9.9"])
    @pytest.mark.parametrize(("name", "value"), INVALID_CASES)
    def test_invalid_value_from_trusted_peer(self, name: str, value: str, peer: str) -> None:
        """An invalid trusted header changes nothing and is removed, with a reason."""
        d = engine([name]).evaluate(peer, {name: value})
        assert (d.client, d.scheme, d.host, d.server, d.port, d.prefix) == (None,) * 6
        assert d.removed == (name.lower(),)
        assert len(d.ignored) == 1
        assert d.ignored[0].header == name
        assert d.ignored[0].value == value
        assert d.ignored[0].reason

    @pytest.mark.parametrize("peer", ["192.0.2.66", "2001:db9::1", "", "::ffff:8.8.8.8"])
    @pytest.mark.parametrize(("name", "value", "fields"), VALID_CASES)
    def test_any_value_from_untrusted_peer(self, name: str, value: str,
                                           fields: dict[str, str], peer: str) -> None:
        """From an untrusted peer a trusted header is removed and changes nothing."""
        d = engine([name]).evaluate(peer, {name: value})
        assert d == Decision(peer, False, removed=(name.lower(),))

    @pytest.mark.parametrize("name", [spec.name for spec in HEADERS.values()])
    def test_untrusted_headers_are_removed_from_trusted_peer(self, name: str) -> None:
        """Every known forwarded header the policy does not trust is removed, even from
        a trusted peer (mod_wsgi leaves groups it was not told about)."""
        trusted = "X-Forwarded-Port" if name != "X-Forwarded-Port" else "X-Forwarded-Proto"
        d = engine([trusted]).evaluate(PEER, {name: "1.2.3.4"})
        assert d.removed == (name.lower(),)
        assert d.client is None

    def test_header_names_any_case(self) -> None:
        """evaluate() accepts header names in any case and ignores unknown names."""
        d = engine([XFF]).evaluate(PEER, {"x-FORWARDED-for": "1.2.3.4", "Accept": "x"})
        assert d.client == "1.2.3.4"
        assert d.removed == ()

    def test_full_set(self) -> None:
        """One header per group, all at once, from a trusted peer."""
        headers = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                   "X-Forwarded-Server", "X-Forwarded-Port", "X-Forwarded-Prefix"]
        d = engine(headers).evaluate(PEER, {
            "X-Forwarded-For": "203.0.113.9, 10.0.0.2", "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "www.example.com", "X-Forwarded-Server": "www.example.com",
            "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/shop/",
            "X-Real-IP": "6.6.6.6", "X-Forwarded-SSL": "off", "Forwarded": "for=6.6.6.6"})
        assert (d.client, d.scheme, d.host, d.server, d.port, d.prefix) == (
            "203.0.113.9", "https", "www.example.com", "www.example.com", "443", "/shop")
        assert set(d.removed) == {"x-real-ip", "x-forwarded-ssl", "forwarded"}
        assert len(d.kept) == 6

    def test_every_group_has_a_header_and_forwarded_spans_three(self) -> None:
        """The table covers every group; Forwarded belongs to client, scheme and host."""
        groups = {g for spec in HEADERS.values() for g in spec.groups}
        assert groups == set(Group)
        assert HEADERS["forwarded"].groups == {Group.CLIENT, Group.SCHEME, Group.HOST}


class TestPrefixOptions:
    def test_fixed_script_name_applies_to_every_request(self) -> None:
        """script_name is the operator's, so it applies to untrusted peers too."""
        e = engine([XFF], script_name="/app")
        assert e.evaluate("8.8.8.8", {}).prefix == "/app"
        assert e.evaluate(PEER, {}).prefix == "/app"

    def test_trusted_prefix_header_wins_over_script_name(self) -> None:
        """A valid trusted prefix header replaces the fixed script_name."""
        e = engine(["X-Forwarded-Prefix"], script_name="/app")
        assert e.evaluate(PEER, {"X-Forwarded-Prefix": "/other"}).prefix == "/other"
        assert e.evaluate(PEER, {"X-Forwarded-Prefix": ""}).prefix is None
        assert e.evaluate(PEER, {"X-Forwarded-Prefix": "bad"}).prefix == "/app"
        assert e.evaluate("8.8.8.8", {"X-Forwarded-Prefix": "/other"}).prefix == "/app"

    def test_strip_flag_is_carried(self) -> None:
        """strip_prefix_from_path travels in the decision for the adapter."""
        e = engine(["X-Forwarded-Prefix"], strip_prefix_from_path=True)
        assert e.evaluate(PEER, {"X-Forwarded-Prefix": "/a"}).strip_prefix


class TestLimits:
    def test_walk_passes_at_most_max_hops_trusted_elements(self) -> None:
        """Beyond max_hops trusted elements the walk stops; the rest is never read."""
        trusted = [f"10.0.0.{i}" for i in range(1, 41)]
        e = engine([XFF], max_hops=32)
        d = e.evaluate(PEER, {XFF: ", ".join(["203.0.113.9", *trusted])})
        assert d.client == trusted[40 - 33]
        assert d.chain[0].verdict == "unexamined"
        assert len(d.chain) == 34
        short = e.evaluate(PEER, {XFF: ", ".join(["203.0.113.9", *trusted[:32]])})
        assert short.client == "203.0.113.9"
        assert all(h.verdict != "unexamined" for h in short.chain)

    def test_huge_header_left_part_is_never_read(self) -> None:
        """A megabyte of junk left of the proxies changes nothing: the walk stops first."""
        junk = "x" * 1_000_000 + ", " + ", ".join(["1.2.3.4"] * 100)
        d = engine([XFF], max_hops=3).evaluate(PEER, {XFF: junk + ", 198.51.100.7, 10.0.0.1"})
        assert d.client == "198.51.100.7"
        assert d.forwarded_for == "198.51.100.7, 10.0.0.1"

    def test_huge_single_element_is_invalid(self) -> None:
        """One enormous element is not an address (and is not copied into the reason)."""
        d = engine([XFF]).evaluate(PEER, {XFF: "1" * 100_000})
        assert d.client is None
        assert len(d.ignored[0].reason) < 200

    @pytest.mark.parametrize("name", ["X-Forwarded-Host", "X-Forwarded-Prefix", "X-Real-IP",
                                      "X-Forwarded-Proto"])
    def test_long_single_values_are_ignored_unread(self, name: str) -> None:
        """Single-valued headers longer than MAX_VALUE_LENGTH are ignored."""
        from trustedproxy.engine import MAX_VALUE_LENGTH

        d = engine([name]).evaluate(PEER, {name: "/" + "a" * MAX_VALUE_LENGTH})
        assert d.removed == (name.lower(),)
        assert "longer than" in d.ignored[0].reason
        assert len(d.ignored[0].value) < 100

    @pytest.mark.parametrize("value", [0, 1025, -1, True, "32", 3.5])
    def test_max_hops_validation(self, value: object) -> None:
        """max_hops is a whole number from 1 to 1024."""
        from trustedproxy import ConfigError

        with pytest.raises(ConfigError, match="max_hops must be a whole number from 1 to 1024"):
            TrustPolicy(trusted_proxies=CIDRS, trusted_headers=[XFF], max_hops=value)

    def test_max_hops_is_part_of_the_policy(self) -> None:
        """Policies with different max_hops differ; the repr shows a non-default value."""
        a = TrustPolicy(trusted_proxies=CIDRS, trusted_headers=[XFF])
        b = TrustPolicy(trusted_proxies=CIDRS, trusted_headers=[XFF], max_hops=5)
        assert a != b
        assert "max_hops=5" in repr(b)
        assert "max_hops" not in repr(a)


FWD = "Forwarded"


class TestForwarded:
    @pytest.mark.parametrize(("header", "client", "scheme", "host", "kept"), [
        pytest.param("for=192.0.2.60;proto=https;host=www.example.com", "192.0.2.60", "https",
                     "www.example.com", "for=192.0.2.60;proto=https;host=www.example.com",
                     id="one element"),
        pytest.param('for="[2001:db8:cafe::17]:4711";proto=http', "2001:db8:cafe::17", "http",
                     None, 'for="[2001:db8:cafe::17]:4711";proto=http', id="ipv6 with port"),
        pytest.param("for=203.0.113.9;proto=https, for=10.0.0.5", "203.0.113.9", "https", None,
                     "for=203.0.113.9;proto=https, for=10.0.0.5", id="walk past a proxy"),
        pytest.param("for=1.1.1.1;proto=http, for=203.0.113.9;proto=https, for=10.0.0.5",
                     "203.0.113.9", "https", None, "for=203.0.113.9;proto=https, for=10.0.0.5",
                     id="client-written element left of the real one"),
        pytest.param("for=10.0.0.7;proto=https, for=10.0.0.5", "10.0.0.7", "https", None,
                     "for=10.0.0.7;proto=https, for=10.0.0.5", id="all trusted: leftmost"),
        pytest.param("for=unknown, for=10.0.0.5;proto=https", "10.0.0.5", "https", None,
                     "for=10.0.0.5;proto=https", id="unknown stops at the reporting hop"),
        pytest.param("for=_hidden, for=10.0.0.5", "10.0.0.5", None, None, "for=10.0.0.5",
                     id="obfuscated stops"),
        pytest.param('for="1.2.3.4,for=10.0.0.9";proto=https', None, None, None, None,
                     id="quoted comma does not split: not an address"),
        pytest.param("for=unknown", None, None, None, None, id="rightmost unknown"),
        pytest.param('for=203.0.113.9;proto=ftp;host="a b"', "203.0.113.9", None, None,
                     None, id="bad proto and host ignored, client kept"),
        pytest.param("for=2001:db8::1", None, None, None, None, id="bare ipv6 invalid"),
        pytest.param('for=203.0.113.9;for=10.0.0.1', None, None, None, None,
                     id="duplicate parameter invalid"),
    ])
    def test_walk(self, header: str, client: str | None, scheme: str | None,
                  host: str | None, kept: str | None) -> None:
        """Forwarded is walked like X-Forwarded-For; proto and host come from the
        client's own element; junk never becomes the client."""
        d = engine([FWD]).evaluate(PEER, {FWD: header})
        assert d.client == client
        assert d.scheme == scheme
        assert d.host == host
        if client is None:
            assert d.removed == ("forwarded",)
            assert d.forwarded is None
        else:
            assert d.kept == ("forwarded",)
            if kept is not None:
                assert d.forwarded == kept

    def test_untrusted_peer(self) -> None:
        """From an untrusted peer Forwarded is removed like every forwarded header."""
        d = engine([FWD]).evaluate("8.8.8.8", {FWD: "for=203.0.113.9"})
        assert d.removed == ("forwarded",)
        assert d.client is None

    def test_other_client_headers_removed(self) -> None:
        """Trusting Forwarded removes X-Forwarded-For and friends."""
        d = engine([FWD]).evaluate(PEER, {FWD: "for=203.0.113.9", XFF: "6.6.6.6",
                                          "X-Forwarded-Proto": "https"})
        assert d.client == "203.0.113.9"
        assert set(d.removed) == {"x-forwarded-for", "x-forwarded-proto"}

    def test_max_hops_applies(self) -> None:
        """More trusted elements than max_hops: the walk stops at the limit."""
        header = ", ".join(["for=203.0.113.9"] + [f"for=10.0.0.{i}" for i in range(1, 11)])
        d = engine([FWD], max_hops=4).evaluate(PEER, {FWD: header})
        assert d.client == "10.0.0.6"


class TestHopAligned:
    HEADERS: ClassVar[list[str]] = [XFF, "X-Forwarded-Proto", "X-Forwarded-Host",
                                    "X-Forwarded-Port", "X-Forwarded-Prefix"]

    def test_takes_the_outermost_trusted_proxys_value(self) -> None:
        """Each value is the one the proxy next to the client wrote."""
        e = engine(self.HEADERS, hop_aligned=True)
        d = e.evaluate(PEER, {XFF: "203.0.113.9, 10.0.0.5", "X-Forwarded-Proto": "https, http",
                              "X-Forwarded-Host": "www.example.com, lb.internal",
                              "X-Forwarded-Port": "443, 80",
                              "X-Forwarded-Prefix": "/shop, /"})
        assert (d.client, d.scheme, d.host, d.port, d.prefix) == (
            "203.0.113.9", "https", "www.example.com", "443", "/shop")

    def test_lists_are_invalid_without_the_option(self) -> None:
        """Without hop_aligned a list in a single-valued header is ignored."""
        d = engine(self.HEADERS).evaluate(PEER, {XFF: "203.0.113.9, 10.0.0.5",
                                                 "X-Forwarded-Proto": "https, http"})
        assert d.scheme is None

    def test_single_values_are_taken_as_they_are(self) -> None:
        """A proxy that overwrites (one value) is read as usual."""
        d = engine(self.HEADERS, hop_aligned=True).evaluate(
            PEER, {XFF: "203.0.113.9, 10.0.0.5", "X-Forwarded-Proto": "https"})
        assert d.scheme == "https"

    def test_short_list_is_ignored(self) -> None:
        """A list shorter than the chain has no value for the outermost proxy."""
        d = engine(self.HEADERS, hop_aligned=True).evaluate(
            PEER, {XFF: "203.0.113.9, 10.0.0.5, 10.0.0.6", "X-Forwarded-Proto": "https, http"})
        assert d.scheme is None
        assert d.ignored[0].reason == "fewer values than X-Forwarded-For hops"

    @given(st.lists(st.sampled_from(["http", "https", "junk", "wss"]), max_size=4),
           st.lists(st.sampled_from(["203.0.113.7", "198.51.100.1", "10.0.0.99", "junk"]),
                    max_size=4),
           st.sampled_from(["http", "https"]),
           st.lists(st.sampled_from(["http", "https"]), min_size=0, max_size=3))
    def test_client_never_chooses_the_value(self, forged_schemes: list[str],
                                            forged_addresses: list[str], outer: str,
                                            inner: list[str]) -> None:
        """Whatever a client prepends to both lists, the scheme is the one the
        outermost trusted proxy appended, because the X-Forwarded-For walk, not
        the client, says which element that is."""
        proxies = [f"10.0.0.{i + 1}" for i in range(len(inner))]
        xff = ", ".join([*forged_addresses, "192.0.2.33", *proxies])
        proto = ", ".join([*forged_schemes, outer, *inner])
        d = engine([XFF, "X-Forwarded-Proto"], hop_aligned=True).evaluate(
            PEER, {XFF: xff, "X-Forwarded-Proto": proto})
        assert d.client == "192.0.2.33"
        if "," in proto:
            assert d.scheme == outer
