"""TrustPolicy: validation at construction, warnings, equality by meaning."""

from __future__ import annotations

import pickle
import re
import time
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustedproxy import ConfigError, TrustedProxyError, TrustedProxyMiddleware, TrustPolicy
from trustedproxy.policy import Located

XFF = ["X-Forwarded-For"]


def policy(**kwargs: object) -> TrustPolicy:
    kwargs.setdefault("trusted_proxies", ["10.0.0.0/8"])
    kwargs.setdefault("trusted_headers", XFF)
    return TrustPolicy(**kwargs)  # type: ignore[arg-type]


class TestErrors:
    @pytest.mark.parametrize(("kwargs", "message"), [
        pytest.param({"trusted_headers": ["X-Forwarded-For", "X-Real-IP"]},
                     r"trusted_headers\[1\]: 'X-Real-IP' and 'X-Forwarded-For' are both in "
                     r"the client group: trust one header per group", id="two in client"),
        pytest.param({"trusted_headers": ["X-Forwarded-Proto", "X-Forwarded-SSL"]},
                     "are both in the scheme group", id="two in scheme"),
        pytest.param({"trusted_headers": ["X-Forwarded-Host", "x-host"]},
                     "are both in the host group", id="two in host"),
        pytest.param({"trusted_headers": ["X-Script-Name", "X-Forwarded-Prefix"]},
                     "are both in the prefix group", id="two in prefix"),
        pytest.param({"trusted_headers": ["X-Forwarded-Fro"]},
                     r"unknown header 'X-Forwarded-Fro': did you mean 'X-Forwarded-For'\?",
                     id="typo"),
        pytest.param({"trusted_headers": ["X-Not-A-Proxy-Header-At-All"]},
                     "unknown header .*known headers: X-Forwarded-For", id="unknown"),
        pytest.param({"trusted_headers": ["X_Forwarded_For"]},
                     r"header names use '-', not '_' \(did you mean 'X-Forwarded-For'\?\)",
                     id="underscore"),
        pytest.param({"trusted_headers": ["X-Forwarded-For,X-Forwarded-Proto"]},
                     "one header name per entry", id="comma list"),
        pytest.param({"trusted_headers": ["X-Forwarded.For"]},
                     "may hold only letters, digits and '-'", id="dot"),
        pytest.param({"trusted_headers": [""]}, "cannot be empty", id="empty name"),
        pytest.param({"trusted_headers": [7]}, "must be a string, not int", id="int name"),
        pytest.param({"trusted_headers": ["Forwarded", "X-Forwarded-For"]},
                     "'X-Forwarded-For' and 'Forwarded' are both in the client group",
                     id="forwarded with xff"),
        pytest.param({"trusted_headers": ["Forwarded", "X-Forwarded-Proto"]},
                     "are both in the scheme group", id="forwarded with proto"),
        pytest.param({"trusted_headers": ["X-Host", "Forwarded"]},
                     "are both in the host group", id="forwarded with host"),
        pytest.param({"trusted_headers": ["X-Forwarded-Proto"], "hop_aligned": True},
                     "hop_aligned needs X-Forwarded-For in trusted_headers", id="hop aligned"),
        pytest.param({"trusted_proxies": [], "trusted_headers": XFF},
                     "trusted headers but no trusted proxies.*write '0.0.0.0/0' and '::/0'",
                     id="headers without proxies"),
        pytest.param({"trusted_proxies": ["10.0.0.0/33"]},
                     r"trusted_proxies\[0\]: invalid trusted proxy '10.0.0.0/33': prefix "
                     r"length must be 0-32 for IPv4", id="bad prefix"),
        pytest.param({"trusted_proxies": ["proxy.example.com"]},
                     "host names are never looked up", id="host name"),
        pytest.param({"trusted_proxies": ["1.2.3.4/255.0.255.0"]}, "not contiguous",
                     id="non-contiguous mask"),
        pytest.param({"trusted_proxies": ["127.0.0"]}, r"did you mean '127\.0\.0\.0/24'",
                     id="partial ipv4 outside directives"),
        pytest.param({"trusted_proxies": "10.0.0.0/8"},
                     r"trusted_proxies must be a list, not a single string: write "
                     r"\['10.0.0.0/8'\]", id="bare string"),
        pytest.param({"trusted_headers": "X-Forwarded-For"},
                     "trusted_headers must be a list, not a single string", id="bare header"),
        pytest.param({"trusted_headers": "X-Forwarded-For, X-Forwarded-Proto"},
                     r"^trusted_headers: trusted_headers must be a list, not a single string: "
                     r"write \['X-Forwarded-For', 'X-Forwarded-Proto'\]$", id="comma headers"),
        pytest.param({"trusted_proxies": "10.0.0.0/8,192.0.2.1  2001:db8::/32"},
                     r"^trusted_proxies: trusted_proxies must be a list, not a single string: "
                     r"write \['10.0.0.0/8', '192.0.2.1', '2001:db8::/32'\]$",
                     id="comma and space proxies"),
        pytest.param({"trusted_proxies": [], "trusted_headers": [Located("X-Real-IP", "t.yaml:3")]},
                     r"^trusted_headers: trusted headers but no trusted proxies",
                     id="headers without proxies: source"),
        pytest.param({"trusted_proxies": [],
                      "trusted_headers": Located([Located("X-Real-IP", "t.yaml:3")], "t.yaml:2")},
                     r"^t.yaml:2: trusted headers but no trusted proxies",
                     id="headers without proxies: located list"),
        pytest.param({"trusted_proxies": 10}, "trusted_proxies must be a list, not int",
                     id="not a list"),
        pytest.param({"script_name": "myapp"},
                     "invalid script_name 'myapp': a prefix must be empty or start with '/'",
                     id="relative script_name"),
        pytest.param({"script_name": "/a/../b"}, "'..' segment", id="dotdot script_name"),
        pytest.param({"script_name": 3}, "script_name must be a string", id="int script_name"),
        pytest.param({"strip_prefix_from_path": "yes"},
                     "strip_prefix_from_path must be true or false, not 'yes'", id="strip"),
        pytest.param({"trust_unix_socket": 1}, "trust_unix_socket must be true or false",
                     id="unix"),
    ])
    def test_config_errors(self, kwargs: dict[str, object], message: str) -> None:
        """Each mistake raises ConfigError naming the source, value and what is valid."""
        with pytest.raises(ConfigError, match=message):
            policy(**kwargs)

    def test_all_errors_are_collected(self) -> None:
        """One ConfigError lists every problem, each with its source and value."""
        with pytest.raises(ConfigError) as info:
            TrustPolicy(trusted_proxies=["10.0.0.0/8", "bad", "1.2.3.4/40"],
                        trusted_headers=["X-Forwarded-For", "X-Nope"])
        error = info.value
        assert [p.source for p in error.problems] == [
            "trusted_proxies[1]", "trusted_proxies[2]", "trusted_headers[1]"]
        assert error.source == "trusted_proxies[1]"
        assert error.value == "bad"
        assert str(error).count("\n") == 2
        assert isinstance(error, ValueError)
        assert isinstance(error, TrustedProxyError)

    def test_located_values_name_their_source(self) -> None:
        """Loaders wrap values in Located so messages name file and line."""
        with pytest.raises(ConfigError, match=r"^trust\.yaml:7: invalid trusted proxy"):
            TrustPolicy(trusted_proxies=[Located("10.0.0.0/33", "trust.yaml:7")])

    def test_unix_socket_alone_allows_headers(self) -> None:
        """Trusting Unix-socket peers is a proxy list of its own."""
        p = TrustPolicy(trusted_headers=XFF, trust_unix_socket=True)
        assert p.trust_unix_socket

    def test_base_error_is_abstract(self) -> None:
        """TrustedProxyError itself cannot be raised."""
        with pytest.raises(TypeError, match="abstract"):
            TrustedProxyError("x")

    def test_config_error_needs_a_problem(self) -> None:
        """An empty ConfigError is a programming error."""
        with pytest.raises(TypeError, match="at least one problem"):
            ConfigError([])


class TestLeadingZeros:
    @pytest.mark.parametrize(("value", "message"), [
        pytest.param("010.000.000.001",
                     r"invalid trusted proxy '010.000.000.001': leading zeros are ambiguous "
                     r"\('010' is 10 in decimal but 8 in octal, as some parsers read it\): "
                     r"write '10.0.0.1' if you mean decimal, '8.0.0.1' if octal$", id="octal"),
        pytest.param("010.010.0.0/16",
                     r"\('010' is 10 in decimal but 8 in octal, as some parsers read it\): "
                     r"write '10.10.0.0/16' if you mean decimal, '8.8.0.0/16' if octal$",
                     id="twice, with a mask"),
        pytest.param("192.168.001.001",
                     r"'192.168.001.001': leading zeros are not allowed \(some parsers read "
                     r"them as octal\): write '192.168.1.1'$", id="octal reads the same"),
        pytest.param("10.0.0.09/32",
                     r"leading zeros are not allowed \(some parsers read them as octal\): "
                     r"write '10.0.0.9/32'$", id="not octal"),
        pytest.param("010.0.0.09",
                     r"leading zeros are not allowed .*: write '10.0.0.9'$",
                     id="one part not octal: no octal reading"),
        pytest.param("01.300.0.1", r"'01.300.0.1': each part of an IPv4 address must be "
                                   r"0-255$", id="out of range too"),
    ])
    def test_leading_zeros_say_what_to_write(self, value: str, message: str) -> None:
        """A leading zero names the decimal value to write; where an octal reader would
        see another address, both readings, so the operator picks the one meant."""
        with pytest.raises(ConfigError, match=message) as info:
            policy(trusted_proxies=[value])
        for written in re.findall(r"write '([^']+)'|, '([^']+)' if octal", str(info.value)):
            suggestion = "".join(written)
            assert policy(trusted_proxies=[suggestion]).trusted_proxies  # loads

    def test_partial_ipv4_in_directives(self) -> None:
        """A partial address in a directive is suggested in its partial form."""
        with pytest.raises(ConfigError, match=r"invalid trusted proxy '010.0.0': leading "
                                              r"zeros are ambiguous .*: write '10.0.0' if you "
                                              r"mean decimal, '8.0.0' if octal$"):
            TrustPolicy.from_directives("WSGITrustedProxies 010.0.0")


class TestWarnings:
    @pytest.mark.parametrize(("kwargs", "message"), [
        pytest.param({"trusted_proxies": ["10.0.0.1/8"]},
                     "'10.0.0.1/8': host bits set: read as 10.0.0.0/8", id="host bits"),
        pytest.param({"trusted_proxies": ["10.0.0.0/255.0.0.0"]},
                     "dotted mask '255.0.0.0' read as /8", id="dotted mask"),
        pytest.param({"trusted_proxies": ["FD00::/8"]}, "upper-case IPv6", id="upper v6"),
        pytest.param({"trusted_proxies": ["::ffff:10.0.0.0/104"]},
                     "IPv4-mapped IPv6 read as 10.0.0.0/8", id="mapped"),
        pytest.param({"trusted_proxies": ["0.0.0.0/0"]}, "trusts every IPv4 address",
                     id="every v4"),
        pytest.param({"trusted_proxies": ["::/0"]}, "trusts every IPv6 address", id="every v6"),
        pytest.param({"trusted_proxies": ["0.0.0.0/1", "128.0.0.0/1"]},
                     "together, the trusted proxies trust every IPv4 address",
                     id="every v4 in halves"),
        pytest.param({"trusted_proxies": [f"{i}.0.0.0/8" for i in range(256)]},
                     "together, the trusted proxies trust every IPv4 address",
                     id="every v4 in /8s"),
        pytest.param({"trusted_proxies": ["::/1", "8000::/1"]},
                     "together, the trusted proxies trust every IPv6 address",
                     id="every v6 in halves"),
        pytest.param({"trusted_proxies": ["8.8.8.0/24"]},
                     "8.8.8.0/24 is \\(partly\\) a public range", id="public"),
        pytest.param({"trusted_proxies": ["0.0.0.0/7"]},
                     "0.0.0.0/7 is \\(partly\\) a public range", id="public beyond 0/8"),
        pytest.param({"trusted_headers": []}, "trusted proxies but no trusted headers",
                     id="no headers"),
        pytest.param({"strip_prefix_from_path": True},
                     "strip_prefix_from_path does nothing", id="strip without prefix"),
    ])
    def test_warnings(self, kwargs: dict[str, object], message: str) -> None:
        """Legal but suspicious policies load and say why in warnings()."""
        warnings = policy(**kwargs).warnings()
        assert any(re.search(message, w.message) for w in warnings), warnings

    def test_one_warning_for_trusting_everyone(self) -> None:
        """0.0.0.0/0 and ::/0 each say so once, not again as 'together'."""
        warnings = policy(trusted_proxies=["0.0.0.0/0", "::/0", "10.0.0.0/8"]).warnings()
        assert [w.message.split(":")[0] for w in warnings] == [
            "trusts every IPv4 address", "trusts every IPv6 address"]

    @pytest.mark.parametrize("proxies", [
        ["10.0.0.0/8"], ["192.168.1.1"], ["127.0.0.1", "::1"], ["fd12::/16"],
        ["100.64.0.0/10"], ["192.0.2.10"], ["fe80::/10"], ["0.0.0.0"], ["0.0.0.0/8"], ["::"],
    ])
    def test_no_warning_for_private_ranges(self, proxies: list[str]) -> None:
        """Private, loopback, CGNAT and documentation ranges draw no warning, nor
        do "this network" 0.0.0.0/8 and the unspecified ``::``, which no TCP peer
        has (uWSGI names a Unix-socket peer 0.0.0.0)."""
        assert policy(trusted_proxies=proxies).warnings() == ()

    def test_empty_policy_warns_and_the_middleware_logs_it(
            self, caplog: pytest.LogCaptureFixture) -> None:
        """A policy that trusts nothing is legal (it removes every forwarded
        header) but is what an empty or misread file gives: it warns, and the
        middleware logs that when it is built. A Unix-socket-only policy, or one
        with only a script_name (the ReverseProxied pattern), does not."""
        from trustedproxy import TrustedProxyMiddleware

        message = ("no trusted proxies and no trusted headers: this policy trusts no peer and "
                   "removes every forwarded header")
        assert [(w.source, w.message) for w in TrustPolicy().warnings()] == [
            ("trusted_proxies", message)]
        with caplog.at_level("WARNING", logger="trustedproxy"):
            TrustedProxyMiddleware(lambda environ, start_response: [], TrustPolicy())
        assert caplog.messages == [f"trusted proxy policy: trusted_proxies: {message}"]
        for useful in (TrustPolicy(trust_unix_socket=True), TrustPolicy(script_name="/app")):
            assert not any("no trusted proxies and no trusted headers" in w.message
                           for w in useful.warnings())
        assert TrustPolicy.from_directives("ServerName example.org").warnings()[0].source == (
            "<directives>")


class TestValueObject:
    @pytest.mark.parametrize(("a", "b"), [
        pytest.param({"trusted_proxies": ["10.0.0.1/8"]}, {"trusted_proxies": ["10.0.0.0/8"]},
                     id="host bits"),
        pytest.param({"trusted_proxies": ["10.0.0.0/9", "10.128.0.0/9"]},
                     {"trusted_proxies": ["10.0.0.0/8"]}, id="merged"),
        pytest.param({"trusted_proxies": ["10.0.0.0/8", "10.1.2.3"]},
                     {"trusted_proxies": ["10.0.0.0/8"]}, id="contained"),
        pytest.param({"trusted_headers": ["x-forwarded-for", "X-FORWARDED-PROTO"]},
                     {"trusted_headers": ["X-Forwarded-Proto", "X-Forwarded-For"]},
                     id="header case and order"),
        pytest.param({"trusted_proxies": ["::ffff:10.0.0.0/104"]},
                     {"trusted_proxies": ["10.0.0.0/8"]}, id="mapped"),
        pytest.param({"script_name": "/app/"}, {"script_name": "/app"}, id="script_name"),
        pytest.param({"trusted_proxies": ["2001:DB8::/32"]},
                     {"trusted_proxies": ["2001:db8::/32"]}, id="v6 case"),
    ])
    def test_equal_by_meaning(self, a: dict[str, object], b: dict[str, object]) -> None:
        """Policies that mean the same thing are equal and hash alike."""
        assert policy(**a) == policy(**b)
        assert hash(policy(**a)) == hash(policy(**b))

    def test_different_policies_differ(self) -> None:
        """Any change of meaning makes policies unequal."""
        base = policy()
        assert base != policy(trusted_proxies=["10.0.0.0/9"])
        assert base != policy(trusted_headers=["X-Real-IP"])
        assert base != policy(script_name="/x")
        assert base != policy(trust_unix_socket=True)
        assert base != policy(strip_prefix_from_path=True, script_name="/x") != policy(
            script_name="/x")
        assert base.__eq__(object()) is NotImplemented

    def test_immutable(self) -> None:
        """A policy cannot be changed after construction."""
        p = policy()
        with pytest.raises(AttributeError, match="immutable"):
            p.script_name = "/x"
        with pytest.raises(AttributeError, match="immutable"):
            del p.script_name

    def test_keyword_only(self) -> None:
        """Positional arguments are refused."""
        with pytest.raises(TypeError):
            TrustPolicy(["10.0.0.0/8"])  # type: ignore[misc]

    def test_accessors_and_repr(self) -> None:
        """Canonical proxies and headers, and a repr that reads like the call."""
        p = TrustPolicy(trusted_proxies=["10.0.0.7", "2001:db8::/32", "192.168.0.0/16"],
                        trusted_headers=["x-forwarded-proto", "x-forwarded-for"],
                        script_name="/app", trust_unix_socket=True)
        assert p.trusted_proxies == ("10.0.0.7", "192.168.0.0/16", "2001:db8::/32")
        assert p.trusted_headers == ("X-Forwarded-For", "X-Forwarded-Proto")
        assert repr(p) == (
            "TrustPolicy(trusted_proxies=['10.0.0.7', '192.168.0.0/16', '2001:db8::/32'], "
            "trusted_headers=['X-Forwarded-For', 'X-Forwarded-Proto'], script_name='/app', "
            "trust_unix_socket=True)")
        assert eval(repr(p)) == p

    def test_long_repr_is_shortened(self) -> None:
        """A policy of many networks shows the first few."""
        p = policy(trusted_proxies=[f"10.{i}.0.1" for i in range(20)])
        assert "(12 more)" in repr(p)

    def test_pickle(self) -> None:
        """Policies survive pickling (multiprocessing servers copy them)."""
        p = policy(script_name="/x", strip_prefix_from_path=True)
        assert pickle.loads(pickle.dumps(p)) == p

    def test_compile_once(self) -> None:
        """compile() builds the engine once and shares it."""
        p = policy()
        assert p.compile() is p.compile()
        assert p.compile().policy is p


class TestNamedRanges:
    @pytest.mark.parametrize(("name", "cidrs"), [
        ("loopback", ["127.0.0.0/8", "::1"]),
        ("private", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]),
        ("linklocal", ["169.254.0.0/16", "fe80::/10"]),
        ("cgnat", ["100.64.0.0/10"]),
        ("LOOPBACK", ["127.0.0.0/8", "::1"]),
    ])
    def test_named_range_equals_its_networks(self, name: str, cidrs: list[str]) -> None:
        """A named range means exactly its networks, with no public-range warning."""
        named = TrustPolicy(trusted_proxies=[name], trusted_headers=["X-Forwarded-For"])
        assert named == TrustPolicy(trusted_proxies=cidrs, trusted_headers=["X-Forwarded-For"])
        assert named.trusted_proxies == tuple(cidrs)
        assert named.warnings() == ()

    def test_named_ranges_mix_with_networks(self) -> None:
        """Names and networks combine; the engine trusts both."""
        engine = TrustPolicy(trusted_proxies=["loopback", "203.0.113.0/24"],
                             trusted_headers=["X-Forwarded-For"]).compile()
        assert engine.is_trusted("127.0.0.9")
        assert engine.is_trusted("::1")
        assert engine.is_trusted("203.0.113.4")
        assert not engine.is_trusted("10.0.0.1")

    def test_unknown_name_lists_the_named_ranges(self) -> None:
        """A word that is no named range says which names exist."""
        with pytest.raises(ConfigError, match=r"named ranges: loopback, private, linklocal, "
                                              r"cgnat"):
            TrustPolicy(trusted_proxies=["privat"], trusted_headers=["X-Forwarded-For"])


class TestCustomHeaders:
    def test_registered_header_can_be_trusted(self) -> None:
        """A custom client header is read as one address, like X-Real-IP."""
        p = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["cf-connecting-ip"],
                        custom_headers={"CF-Connecting-IP": "client"})
        assert p.trusted_headers == ("CF-Connecting-IP",)
        assert p.custom_headers == {"CF-Connecting-IP": "client"}
        d = p.compile().evaluate("10.0.0.1", {"CF-Connecting-IP": "203.0.113.5:443"})
        assert d.client == "203.0.113.5"
        assert p.compile().evaluate("10.0.0.1", {"CF-Connecting-IP": "junk"}).client is None

    def test_registered_header_is_removed_when_not_trusted(self) -> None:
        """Known means removed: from untrusted peers, and when another header is trusted."""
        p = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"],
                        custom_headers={"True-Client-IP": "client",
                                        "X-Forwarded-Protocol": "scheme"})
        d = p.compile().evaluate("10.0.0.1", {"True-Client-IP": "6.6.6.6",
                                              "X-Forwarded-Protocol": "https"})
        assert set(d.removed) == {"true-client-ip", "x-forwarded-protocol"}
        d = p.compile().evaluate("8.8.8.8", {"True-Client-IP": "6.6.6.6"})
        assert d.removed == ("true-client-ip",)

    def test_one_per_group_includes_custom_headers(self) -> None:
        """A custom header joins its group's one-header rule."""
        with pytest.raises(ConfigError, match="'X-Forwarded-For' and 'Fastly-Client-IP' are "
                                              "both in the client group"):
            TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                        trusted_headers=["Fastly-Client-IP", "X-Forwarded-For"],
                        custom_headers={"Fastly-Client-IP": "client"})

    @pytest.mark.parametrize(("custom", "message"), [
        ({"X-Real-IP": "client"}, "already known, as X-Real-IP in the client group"),
        ({"CF_Connecting_IP": "client"}, "invalid custom header name.*'-', not '_'"),
        ({"CF-Connecting-IP": "clinet"}, r"unknown group 'clinet': did you mean 'client'\?"),
        (["CF-Connecting-IP"], "custom_headers must be a mapping"),
    ])
    def test_errors(self, custom: object, message: str) -> None:
        """Bad registrations fail at load time with the reason."""
        with pytest.raises(ConfigError, match=message):
            TrustPolicy(trusted_proxies=["10.0.0.0/8"], custom_headers=custom)

    @pytest.mark.parametrize("second", ["cf-connecting-ip", "CF-CONNECTING-IP"])
    def test_a_name_given_twice_in_any_case_is_refused(self, second: str) -> None:
        """Header names are case-insensitive: two spellings of one name are refused, as
        YAML refuses them, instead of the last one silently changing its group."""
        with pytest.raises(ConfigError, match=rf"^custom_headers: custom header '{second}' is "
                                              r"given twice \(first as 'CF-Connecting-IP'; "
                                              r"header names are case-insensitive\): write "
                                              r"it once$"):
            TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["CF-Connecting-IP"],
                        custom_headers={"CF-Connecting-IP": "client", second: "scheme"})

    def test_a_name_given_twice_names_the_first_place(self) -> None:
        """With located names (a loader's), the message says where the first one is."""
        with pytest.raises(ConfigError, match=r"^t.yaml:4: custom header 'x-a' is given twice "
                                              r"\(first at line 3, as 'X-A'; header names"):
            TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                        custom_headers={Located("X-A", "t.yaml:3"): "client",
                                        Located("x-a", "t.yaml:4"): "client"})

    def test_equal_whatever_the_case_of_the_name(self) -> None:
        """Policies that differ only in the case of a custom header name are equal, hash
        alike, and each one's YAML loads back equal to the other."""
        a = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["CF-Connecting-IP"],
                        custom_headers={"CF-Connecting-IP": "client"})
        b = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["cf-connecting-ip"],
                        custom_headers={"cf-connecting-ip": "client"})
        assert a == b
        assert hash(a) == hash(b)
        assert TrustPolicy.from_yaml(a.to_yaml()) == b
        assert TrustPolicy.from_yaml(b.to_yaml()) == a
        assert a != TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                                trusted_headers=["cf-connecting-ip"],
                                custom_headers={"cf-connecting-ip": "host"})

    def test_host_is_refused(self) -> None:
        """Registering Host would strip HTTP_HOST from every untrusted request: refused."""
        with pytest.raises(ConfigError, match=r"^custom_headers: custom header 'host' is the "
                                              r"request's own Host header, not a forwarded "
                                              r"one: registering it would remove HTTP_HOST "
                                              r"from every request of an untrusted peer; to "
                                              r"take the host from your proxy, trust "
                                              r"X-Forwarded-Host"):
            TrustPolicy(trusted_proxies=["10.0.0.0/8"], custom_headers={"host": "host"})

    @pytest.mark.parametrize("name", ["Content-Type", "Content-Length", "Cookie",
                                      "Authorization", "User-Agent", "TRANSFER-ENCODING",
                                      "Connection", "Origin", "Proxy-Authorization"])
    def test_headers_that_are_not_forwarded_are_refused(self, name: str) -> None:
        """A request header HTTP or the client sets is no forwarded header: registering it
        would remove it from every untrusted request, so it is refused with the reason."""
        with pytest.raises(ConfigError, match=rf"^custom_headers: custom header '{name}' is "
                                              r"not a forwarded header \(HTTP or the client "
                                              r"sets it, and the server or application reads "
                                              r"it\): registering it would remove it from "
                                              r"every request of an untrusted peer"):
            TrustPolicy(trusted_proxies=["10.0.0.0/8"], custom_headers={name: "client"})

    def test_host_of_an_untrusted_request_is_kept(self) -> None:
        """HTTP_HOST reaches the application from an untrusted peer (the review's case,
        now refused at load time, cannot arise; an allowed custom host header is removed
        while Host stays)."""
        p = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"],
                        custom_headers={"X-Original-Host": "host"})
        seen: dict[str, object] = {}
        TrustedProxyMiddleware(lambda e, s: seen.update(e) or [], p)(  # type: ignore[arg-type]
            {"REMOTE_ADDR": "203.0.113.5", "HTTP_HOST": "www.example.com",
             "HTTP_X_ORIGINAL_HOST": "evil.example"}, None)  # type: ignore[arg-type]
        assert seen["HTTP_HOST"] == "www.example.com"
        assert "HTTP_X_ORIGINAL_HOST" not in seen

    def test_unknown_header_hint_mentions_registration(self) -> None:
        """An unknown trusted header points at custom_headers."""
        with pytest.raises(ConfigError, match="register others with custom_headers"):
            TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Zzz-Qqq-Www"])

    def test_equality_and_pickle(self) -> None:
        """Custom headers are part of a policy's meaning and survive pickling."""
        a = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                        custom_headers={"CF-Connecting-IP": "client"})
        assert a != TrustPolicy(trusted_proxies=["10.0.0.0/8"])
        assert pickle.loads(pickle.dumps(a)) == a
        assert "custom_headers={'CF-Connecting-IP': 'client'}" in repr(a)


def test_pickle_keeps_every_option() -> None:
    """Every option survives pickling (multiprocessing servers copy policies)."""
    p = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"],
                    script_name="/x", strip_prefix_from_path=True, trust_unix_socket=True,
                    max_hops=7, hop_aligned=True, custom_headers={"X-My-Ip": "client"})
    assert pickle.loads(pickle.dumps(p)) == p


#: The Unicode categories script_name refuses, with white space (str.isspace).
REFUSED_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp", "Zs")


class TestScriptName:
    @pytest.mark.parametrize(("name", "shown", "char", "at"), [
        ("/my\u00a0app", r"/my\\xa0app", r"U\+00A0 \(NO-BREAK SPACE\)", 4),
        ("/my\u0085app", r"/my\\x85app", r"U\+0085", 4),
        ("/my\u2028app", r"/my\\u2028app", r"U\+2028 \(LINE SEPARATOR\)", 4),
        ("/my\u2029app", r"/my\\u2029app", r"U\+2029 \(PARAGRAPH SEPARATOR\)", 4),
        ("/my\u3000app", r"/my\\u3000app", r"U\+3000 \(IDEOGRAPHIC SPACE\)", 4),
        ("/a/\u200bb", r"/a/\\u200bb", r"U\+200B \(ZERO WIDTH SPACE\)", 4),
        ("/\ufeffapp", r"/\\ufeffapp", r"U\+FEFF \(ZERO WIDTH NO-BREAK SPACE\)", 2),
        ("/a\u202eb", r"/a\\u202eb", r"U\+202E \(RIGHT-TO-LEFT OVERRIDE\)", 3),
        ("/a\ud800", r"/a\\ud800", r"U\+D800", 3),
        ("/a\x1fb", r"/a\\x1fb", r"U\+001F", 3),
        ("/a b", r"/a b", r"U\+0020 \(SPACE\)", 3),
        ("/a\tb", r"/a\\tb", r"U\+0009", 3),
        ("  /a\u00a0", r"  /a\\xa0", r"U\+00A0 \(NO-BREAK SPACE\)", 5),
    ])
    def test_white_space_and_controls_are_refused(self, name: str, shown: str, char: str,
                                                   at: int) -> None:
        """Every Unicode white space, control, format and separator character (and a lone
        surrogate, which has no UTF-8 form) is refused, named as U+XXXX with its place."""
        with pytest.raises(ConfigError, match=rf"^script_name: invalid script_name "
                                              rf"'{shown}': a prefix may not hold control "
                                              rf"characters or white space: {char} at "
                                              rf"character {at}$"):
            policy(script_name=name)

    def test_query_fragment_and_backslash_are_named(self) -> None:
        """'?', '#' and '\\' are refused, named with their place."""
        with pytest.raises(ConfigError, match=r"a prefix may not hold '\?', '#' or '\\': "
                                              r"'#' at character 3$"):
            policy(script_name="/a#b")

    @pytest.mark.parametrize("name", ["/\u00e9t\u00e9", "/\u00e0", "/\u00c5", "/\u00df",
                                      "/\u0440\u0443", "/\u65e5\u672c", "/a-b_c.d~e"])
    def test_non_ascii_letters_are_kept(self, name: str) -> None:
        """Letters of any script are fine, including those whose UTF-8 bytes are 0x85 or
        0xA0 (U+00C5, U+00E0), and the directive and YAML forms load back equal."""
        p = policy(script_name=name)
        assert p.script_name == name
        assert TrustPolicy.from_directives(p.to_directives()) == p
        assert TrustPolicy.from_yaml(p.to_yaml()) == p


def _refused(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in REFUSED_CATEGORIES


SAFE = st.characters(categories=("L", "M", "N", "P", "S"), exclude_characters="?#\\,/")


@given(st.lists(st.text(SAFE, min_size=1, max_size=5).filter(lambda s: s not in ("..", ".")),
                max_size=3))
def test_script_name_without_refused_characters_round_trips(segments: list[str]) -> None:
    """Invariant: a /-led script_name of letters, marks, digits, punctuation and symbols
    (no '?', '#', '\\', ',' or '..' segment) loads unchanged, and its YAML and directive
    forms load back equal; no character of it is white space or a control."""
    name = "".join("/" + s for s in segments)
    p = policy(script_name=name)
    assert p.script_name == name
    assert not any(_refused(c) for c in p.script_name)
    assert TrustPolicy.from_yaml(p.to_yaml()) == p
    assert TrustPolicy.from_directives(p.to_directives()) == p


@given(st.text(SAFE, max_size=6), st.characters(categories=REFUSED_CATEGORIES),
       st.text(SAFE, min_size=1, max_size=6))
def test_script_name_with_any_refused_character_is_refused(before: str, bad: str,
                                                           after: str) -> None:
    """Invariant: a script_name holding any white space, control, format or separator
    character (categories Cc, Cf, Cs, Zl, Zp, Zs) never loads, and the message names
    that character as U+XXXX and its place."""
    name = "/" + before + bad + after
    with pytest.raises(ConfigError) as info:
        policy(script_name=name)
    assert str(info.value) == (
        f"script_name: invalid script_name {name!r}: a prefix may not hold control "
        f"characters or white space: U+{ord(bad):04X}"
        + (f" ({unicodedata.name(bad)})" if unicodedata.name(bad, "") else "")
        + f" at character {len(before) + 2}")


# --------------------------------------------------------------------------- review (s11)


def test_max_hops_too_long_to_print_is_a_config_error() -> None:
    """max_hops=10**5000 was a ValueError: repr() refuses integers of more than
    4300 digits, and the message wrote it out."""
    with pytest.raises(ConfigError, match=r"^max_hops: max_hops must be a whole number from 1 to "
                                          r"1024, not an integer of 16610 bits$"):
        TrustPolicy(max_hops=10**5000)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"trusted_proxies": [[1] * 10**6]},
     r"^trusted_proxies\[0\]: invalid trusted proxy \[1, 1, 1, 1, \.\.\.\]: expected a string"),
    ({"trusted_headers": [[[2] * 10**6]]},
     r"^trusted_headers\[0\]: invalid header name \[\[2, 2, 2, 2, \.\.\.\]\]: a header name"),
    ({"hop_aligned": list(range(10**6))},
     r"^hop_aligned: hop_aligned must be true or false, not \[0, 1, 2, 3, \.\.\.\]$"),
    ({"custom_headers": {"X-A": [[[3] * 10**6]]}},
     r"^custom_headers: custom header 'X-A': unknown group \[\[\[\.\.\.\]\]\]: groups: client"),
])
def test_a_huge_value_is_cut_short_in_messages(kwargs: dict[str, object], match: str) -> None:
    """A value that is not text is shown cut short, in the message and as the
    problem's value: a YAML alias can expand to millions of items."""
    with pytest.raises(ConfigError, match=match) as info:
        TrustPolicy(**kwargs)  # type: ignore[arg-type]
    assert len(str(info.value)) < 300
    assert all(len(p.value or "") < 100 for p in info.value.problems)


def test_yaml_aliases_that_expand_exponentially_fail_fast() -> None:
    """Nine aliases a level, eight levels deep (43 million items from 300 bytes
    of YAML): the error took 5 s and held a 226 MB message; it is short and fast.
    (The line is the anchor's, where the value is written.)"""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    lines.append("trusted_proxies: [*h]")
    started = time.perf_counter()
    match = re.escape("<yaml>:8: invalid trusted proxy [[[...], [...], [...], [...], ...], ")
    with pytest.raises(ConfigError, match=match) as info:
        TrustPolicy.from_yaml("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 2
    assert len(str(info.value)) < 5000
