"""Round trip: every policy written as YAML, directives or express arguments reads back equal."""

from __future__ import annotations

import contextlib
import ipaddress
import platform
import shlex

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from trustedproxy import ConfigError, TrustPolicy
from trustedproxy.addresses import _cidr_text, ipv6_text
from trustedproxy.headers import HEADERS, Group, Kind
from trustedproxy.policy import DEFAULT_MAX_HOPS

BY_GROUP = {group: [s.name for s in HEADERS.values()
                    if group in s.groups and s.kind is not Kind.FORWARDED] for group in Group}
NAMED = ["loopback", "private", "linklocal", "cgnat"]
CUSTOM_NAMES = ["CF-Connecting-IP", "True-Client-IP", "X-Original-Proto", "X-Original-Host",
                "X-Edge-Prefix"]


@st.composite
def v4_in_v6(draw: st.DrawFn) -> str:
    """An address in ::/96 (IPv4-compatible) or ::ffff:0:0/96 (IPv4-mapped), in hex
    or with a dotted IPv4 tail: the ranges inet_ntop and netaddr write dotted."""
    v4 = draw(st.integers(0, (1 << 32) - 1))
    high = draw(st.sampled_from([0, 0xFFFF]))
    if draw(st.booleans()):
        return f"::{'ffff:' if high else ''}{ipaddress.IPv4Address(v4)}"
    return f"::{'ffff:' if high else ''}{v4 >> 16:x}:{v4 & 0xFFFF:x}"


@st.composite
def networks(draw: st.DrawFn) -> str:
    """One network as an operator might write it (any prefix, host bits allowed),
    including addresses and networks in ::/96 and in the IPv4-mapped range."""
    kind = draw(st.sampled_from(["v4", "v6", "v4-in-v6"]))
    if kind == "v4":
        address = str(draw(st.ip_addresses(v=4)))
        prefix = draw(st.integers(0, 32))
    elif kind == "v6":
        address = str(draw(st.ip_addresses(v=6)))
        prefix = draw(st.integers(0, 128))
    else:
        address = draw(v4_in_v6())
        prefix = draw(st.integers(80, 128))
        if draw(st.booleans()):
            return address  # a single address
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network) if draw(st.booleans()) else f"{address}/{prefix}"


segments = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1,
                   max_size=8).filter(lambda s: s not in (".", ".."))


@st.composite
def policies(draw: st.DrawFn, options: bool = True, custom: bool = True) -> TrustPolicy:
    """Any valid policy: networks of both families and named ranges, at most one header
    a group (Forwarded and custom headers included), and every option."""
    proxies = draw(st.lists(networks() | st.sampled_from(NAMED), max_size=6))
    registered: dict[str, str] = {}
    if options and custom:
        registered = draw(st.dictionaries(st.sampled_from(CUSTOM_NAMES),
                                          st.sampled_from([g.value for g in Group]),
                                          max_size=3))
    choices = {group: BY_GROUP[group] + [n for n, g in registered.items() if g == group.value]
               for group in Group}
    headers = []
    taken: set[Group] = set()
    if draw(st.booleans()) and not draw(st.booleans()):  # a quarter: trust Forwarded
        headers.append("Forwarded")
        taken = {Group.CLIENT, Group.SCHEME, Group.HOST}
    headers += [name for group in Group if group not in taken
                if (name := draw(st.none() | st.sampled_from(choices[group]))) is not None]
    kwargs: dict[str, object] = {}
    unix = False
    if options:
        prefix = "".join("/" + s for s in draw(st.lists(segments, max_size=3)))
        unix = draw(st.booleans())
        kwargs = {"script_name": prefix, "strip_prefix_from_path": draw(st.booleans()),
                  "trust_unix_socket": unix, "max_hops": draw(st.integers(1, 1024)),
                  "hop_aligned": "X-Forwarded-For" in headers and draw(st.booleans()),
                  "custom_headers": registered}
    if headers and not proxies and not unix:
        proxies = ["10.0.0.0/8"]
    return TrustPolicy(trusted_proxies=proxies, trusted_headers=headers,
                       **kwargs)  # type: ignore[arg-type]


@given(policies())
def test_yaml_round_trip(policy: TrustPolicy) -> None:
    """For every policy p: TrustPolicy.from_yaml(p.to_yaml()) == p."""
    assert TrustPolicy.from_yaml(policy.to_yaml()) == policy


def unix_socket_only(policy: TrustPolicy) -> bool:
    """The policy trusts its headers from Unix-socket peers only (no IP proxies)."""
    return bool(policy.trusted_headers) and not policy.trusted_proxies


@given(policies(custom=False))
def test_directives_round_trip(policy: TrustPolicy) -> None:
    """For every policy p without custom headers that trusts some IP proxy (or no header):
    from_directives(p.to_directives()) == p, options included (they travel in
    '# trustedproxy:' comment lines)."""
    assume(not unix_socket_only(policy))
    assert TrustPolicy.from_directives(policy.to_directives()) == policy


@given(policies())
def test_directives_refuse_only_what_apache_cannot_carry(policy: TrustPolicy) -> None:
    """to_directives raises ConfigError exactly when the policy registers custom headers
    (a directive file cannot) or trusts its headers from Unix-socket peers only (Apache
    would trust every client); otherwise it reads back equal."""
    if policy.custom_headers:
        with pytest.raises(ConfigError, match="directive strings cannot register custom "
                                              "header"):
            policy.to_directives()
    elif unix_socket_only(policy):
        with pytest.raises(ConfigError, match="WSGITrustedProxyHeaders without "
                                              "WSGITrustedProxies makes mod_wsgi believe "
                                              "these headers from every client"):
            policy.to_directives()
    else:
        assert TrustPolicy.from_directives(policy.to_directives()) == policy


@given(policies(options=False))
def test_express_round_trip(policy: TrustPolicy) -> None:
    """For every policy p without the options express cannot carry:
    TrustPolicy.from_express_args(p.to_express_args()) == p, as a list and as a shell string."""
    args = policy.to_express_args()
    assert TrustPolicy.from_express_args(args) == policy
    assert TrustPolicy.from_express_args(shlex.join(args)) == policy


@given(policies())
def test_express_refuses_what_it_cannot_carry(policy: TrustPolicy) -> None:
    """to_express_args raises ConfigError exactly when the policy sets an option express
    has no flag for; it never drops one silently."""
    has_options = bool(policy.script_name or policy.strip_prefix_from_path
                       or policy.trust_unix_socket or policy.max_hops != DEFAULT_MAX_HOPS
                       or policy.hop_aligned or policy.custom_headers)
    if has_options:
        with pytest.raises(ConfigError, match=r"mod_wsgi-express has no option for|mod_wsgi-"
                                              r"express arguments cannot register") as info:
            policy.to_express_args()
        if unix_socket_only(policy) and not policy.custom_headers:
            assert "--trust-proxy-header without --trust-proxy makes mod_wsgi believe these " \
                   "headers from every client" in str(info.value)
    else:
        assert TrustPolicy.from_express_args(policy.to_express_args()) == policy


@given(policies(options=False))
def test_directives_are_what_mod_wsgi_accepts(policy: TrustPolicy) -> None:
    """Written directives hold only values real mod_wsgi accepts: no /0, no upper case,
    no IPv4-mapped IPv6, no dotted IPv4 tail in IPv6, and no trustedproxy comment lines
    when there are no options."""
    text = policy.to_directives()
    assert "# trustedproxy:" not in text
    for line in text.splitlines():
        if line.startswith("WSGITrustedProxies "):
            for word in line.split()[1:]:
                assert not word.endswith("/0")
                assert word == word.lower()
                if ":" in word:
                    address = ipaddress.IPv6Address(word.partition("/")[0])
                    assert address.ipv4_mapped is None  # ('::ffff:0/112' is not mapped)
                    assert "." not in word


class TestWriters:
    POLICY = TrustPolicy(trusted_proxies=["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"],
                         trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])

    def test_yaml(self) -> None:
        """to_yaml writes the two lists as block sequences, quoted where YAML needs it."""
        assert self.POLICY.to_yaml() == (
            "trusted_proxies:\n- 10.0.0.0/8\n- 192.0.2.7\n- 2001:db8::/32\n"
            "trusted_headers:\n- X-Forwarded-For\n- X-Forwarded-Proto\n")

    def test_directives(self) -> None:
        """to_directives writes one line per directive."""
        assert self.POLICY.to_directives() == (
            "WSGITrustedProxies 10.0.0.0/8 192.0.2.7 2001:db8::/32\n"
            "WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto\n")

    def test_express(self) -> None:
        """to_express_args repeats each option per value."""
        assert self.POLICY.to_express_args() == [
            "--trust-proxy", "10.0.0.0/8", "--trust-proxy", "192.0.2.7",
            "--trust-proxy", "2001:db8::/32",
            "--trust-proxy-header", "X-Forwarded-For", "--trust-proxy-header",
            "X-Forwarded-Proto"]

    def test_directives_with_options_and_extensions(self) -> None:
        """Options become comment lines, and headers mod_wsgi ignores are named."""
        policy = TrustPolicy(trusted_proxies=["0.0.0.0/0"],
                             trusted_headers=["X-Forwarded-Prefix"],
                             script_name="/app", strip_prefix_from_path=True)
        assert policy.to_directives() == (
            "WSGITrustedProxies 0.0.0.0/1 128.0.0.0/1\n"
            "WSGITrustedProxyHeaders X-Forwarded-Prefix\n"
            "# mod_wsgi itself ignores X-Forwarded-Prefix; trustedproxy's middleware reads it\n"
            "# mod_wsgi has no directive for the following; Apache ignores these lines and "
            "trustedproxy reads them:\n"
            "# trustedproxy: script_name /app\n"
            "# trustedproxy: strip_prefix_from_path on\n")

    def test_express_refuses_options(self) -> None:
        """Each option express cannot carry is named in the error."""
        policy = TrustPolicy(trusted_proxies=["10.0.0.1"], trust_unix_socket=True,
                             script_name="/x")
        with pytest.raises(ConfigError, match=r"script_name: mod_wsgi-express has no option "
                                              r"for script_name: keep this policy as YAML") as info:
            policy.to_express_args()
        assert [p.source for p in info.value.problems] == ["script_name", "trust_unix_socket"]

    UNIX_ONLY = TrustPolicy(trust_unix_socket=True,
                            trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])

    def test_directives_refuse_unix_socket_only(self) -> None:
        """Headers trusted from Unix-socket peers only cannot be written as directives:
        WSGITrustedProxyHeaders without WSGITrustedProxies trusts every client in Apache."""
        with pytest.raises(ConfigError, match=(
                r"^trusted_proxies: cannot write as mod_wsgi directives: this policy trusts "
                r"X-Forwarded-For, X-Forwarded-Proto from Unix-socket peers only "
                r"\(trust_unix_socket=True, trusted_proxies empty\), which mod_wsgi cannot "
                r"express: WSGITrustedProxyHeaders without WSGITrustedProxies makes mod_wsgi "
                r"believe these headers from every client\. Add your proxies' addresses to "
                r"trusted_proxies \(e\.g\. '127\.0\.0\.1' for a front end on the same "
                r"host\), or keep this policy as YAML or Python$")) as info:
            self.UNIX_ONLY.to_directives()
        assert info.value.source == "trusted_proxies"
        assert TrustPolicy.from_yaml(self.UNIX_ONLY.to_yaml()) == self.UNIX_ONLY

    def test_express_refuses_unix_socket_only_and_says_why(self) -> None:
        """to_express_args names the danger, not just the missing option."""
        with pytest.raises(ConfigError, match=(
                r"^trust_unix_socket: mod_wsgi-express has no option for trust_unix_socket, "
                r"and this policy trusts X-Forwarded-For, X-Forwarded-Proto from Unix-socket "
                r"peers only .*--trust-proxy-header without --trust-proxy makes mod_wsgi "
                r"believe these headers from every client")):
            self.UNIX_ONLY.to_express_args()

    def test_unix_socket_with_ip_proxies_or_without_headers_is_written(self) -> None:
        """trust_unix_socket is still written (as a comment line) when an IP proxy is
        trusted too, or when no header is trusted: Apache then trusts no more than asked."""
        for policy in (TrustPolicy(trusted_proxies=["127.0.0.1"], trust_unix_socket=True,
                                   trusted_headers=["X-Forwarded-For"]),
                       TrustPolicy(trust_unix_socket=True)):
            text = policy.to_directives()
            assert text.endswith("# trustedproxy: trust_unix_socket on\n")
            assert TrustPolicy.from_directives(text) == policy

    @pytest.mark.parametrize(("proxy", "written"), [
        ("::a00:1", "::a00:1"),
        ("::10.0.0.1", "::a00:1"),
        ("::10.0.0.0/104", "::a00:0/104"),
        ("::0.1.0.0", "::1:0"),
        ("::/96", "::/96"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
        ("::ffff:a00:1", "10.0.0.1"),
    ])
    def test_v4_in_v6_written_in_hex(self, proxy: str, written: str) -> None:
        """An IPv6 proxy in ::/96 is written in hex, never '::10.0.0.1' (which mod_wsgi and
        from_directives refuse), and reads back equal in every form; a mapped one is
        written as the IPv4 network it stands for."""
        policy = TrustPolicy(trusted_proxies=[proxy], trusted_headers=["X-Forwarded-For"])
        assert policy.trusted_proxies == (written,)
        assert policy.to_directives().startswith(f"WSGITrustedProxies {written}\n")
        assert policy.to_express_args()[:2] == ["--trust-proxy", written]
        assert TrustPolicy.from_directives(policy.to_directives()) == policy
        assert TrustPolicy.from_express_args(policy.to_express_args()) == policy
        assert TrustPolicy.from_yaml(policy.to_yaml()) == policy

    def test_empty_policy(self) -> None:
        """The empty policy writes as nothing and reads back from nothing."""
        empty = TrustPolicy()
        assert empty.to_directives() == ""
        assert empty.to_express_args() == []
        assert TrustPolicy.from_yaml(empty.to_yaml()) == empty


@given(st.integers(0, (1 << 128) - 1) | st.integers(0, (1 << 32) - 1)
       | st.integers(0, (1 << 32) - 1).map(lambda v: 0xFFFF << 32 | v)
       | st.lists(st.sampled_from([0, 0, 1, 0xFFFF]), min_size=8, max_size=8).map(
           lambda groups: int("".join(f"{g:04x}" for g in groups), 16)))
def test_ipv6_text(value: int) -> None:
    """For every 128-bit value v: ipv6_text(v) parses back to v; it has no dotted tail
    unless v is IPv4-mapped, and is the RFC 5952 text Python's ipaddress writes
    (which, before 3.13, writes mapped addresses in hex too)."""
    text = ipv6_text(value)
    assert int(ipaddress.IPv6Address(text)) == value
    mapped = value >> 32 == 0xFFFF
    assert ("." in text) == mapped
    if not mapped:
        assert text == str(ipaddress.IPv6Address(value))
    # The networks' canonical text: inet_ntop's (fast) where it has no dotted
    # tail, this one where it has; on glibc, the same as ipv6_text throughout.
    written = _cidr_text(value, 128, True).removesuffix("/128")
    assert written == text or (platform.libc_ver()[0] != "glibc" and "." not in written
                               and int(ipaddress.IPv6Address(written)) == value)


_APACHE_WORDS = st.sampled_from([
    "WSGITrustedProxies", "wsgitrustedproxyheaders", "<Location /a>", "</Location>",
    "<VirtualHost *:80>", "</VirtualHost>", "<IfModule x>", "</IfModule>", "10.0.0.1",
    "X-Forwarded-For", "X-Real-IP", "\\", "\n", " ", '"', "'", "#", "# trustedproxy:",
    "script_name", "/x", "on", "Define A 1", "${A}", "127.0.0", "::1", "2001:DB8::1"])


@given(st.lists(st.one_of(_APACHE_WORDS, st.text(max_size=5)), max_size=30).map("".join))
def test_directive_text_never_crashes(text: str) -> None:
    """For any text, from_directives returns a policy or raises ConfigError; never
    anything else."""
    with contextlib.suppress(ConfigError):
        TrustPolicy.from_directives(text)


@given(st.one_of(st.text(max_size=60),
                 st.lists(st.one_of(st.sampled_from(["--trust-proxy", "--trust-proxy-header",
                                                     "--trust-proxy=10.0.0.1", "--trust",
                                                     "10.0.0.1", "X-Real-IP", "--"]),
                                    st.text(max_size=8)), max_size=8)))
def test_express_args_never_crash(argv: str | list[str]) -> None:
    """For any argument list or string, from_express_args returns a policy or raises
    ConfigError; never anything else."""
    with contextlib.suppress(ConfigError):
        TrustPolicy.from_express_args(argv)


_YAML_WORDS = st.sampled_from([
    "trusted_proxies", "trusted_headers", "trusted_proxies_files", "script_name",
    "trust_unix_socket", ": ", "\n", "  - ", "[", "]", "{", "}", ", ", "10.0.0.1", "::1",
    "X-Forwarded-For", "!!python/object:os.system ", "&a ", "*a", "'", '"', "<<: ", "\t",
    "---\n", "yes", "1:2:3", "~", "%YAML 1.1\n"])


@given(st.lists(st.one_of(_YAML_WORDS, st.text(max_size=4)), max_size=30)
       .map(lambda words: "".join(words) + "\n"))
def test_yaml_text_never_crashes(text: str) -> None:
    """For any YAML text, from_yaml returns a policy or raises ConfigError (never a PyYAML
    exception)."""
    with contextlib.suppress(ConfigError):
        TrustPolicy.from_yaml(text)


def test_custom_header_order_does_not_matter() -> None:
    """The order custom headers are registered in changes neither trusted_headers nor
    equality (found by the YAML round trip: YAML wrote them in name order)."""
    first = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["B-X", "A-X"],
                        custom_headers={"B-X": "host", "A-X": "port"})
    second = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["A-X", "B-X"],
                         custom_headers={"A-X": "port", "B-X": "host"})
    assert first == second
    assert first.trusted_headers == ("A-X", "B-X")
    assert TrustPolicy.from_yaml(first.to_yaml()) == first


# --------------------------------------------------------------------------- review (s11)

#: Header-name tokens, YAML's special words among them ('On', 'No', 'Null', 'True').
_TOKEN = st.sampled_from(["On", "No", "Null", "True", "Y", "X", "Edge", "Orig", "1", "0x1F"])
_CUSTOM = st.lists(_TOKEN, min_size=1, max_size=3).map("-".join).filter(
    lambda name: name.lower() not in HEADERS and name[0].isalpha())
#: Prefix segments with the characters directives and YAML treat specially.
_WIDE_SEGMENTS = st.text(alphabet="abcXYZ09-_.~'\"$;{}@!&=+,:*%é€", min_size=1,
                         max_size=8).filter(lambda s: s not in (".", ".."))


@st.composite
def wide_policies(draw: st.DrawFn) -> TrustPolicy:
    """A valid policy with custom header names made of YAML's special words, a
    script_name holding quotes, '$', '{', '%', ':' and non-ASCII letters, and
    header names in any case."""
    registered = draw(st.dictionaries(_CUSTOM, st.sampled_from([g.value for g in Group]),
                                      max_size=3))
    if len({name.lower() for name in registered}) != len(registered):
        assume(False)
    choices = {group: BY_GROUP[group] + [n for n, g in registered.items() if g == group.value]
               for group in Group}
    headers = [name for group in Group
               if (name := draw(st.none() | st.sampled_from(choices[group]))) is not None]
    headers = [draw(st.sampled_from([h, h.lower(), h.upper()])) for h in headers]
    prefix = "".join("/" + s for s in draw(st.lists(_WIDE_SEGMENTS, max_size=3)))
    proxies = draw(st.lists(networks() | st.sampled_from(NAMED), min_size=1, max_size=6))
    try:
        return TrustPolicy(trusted_proxies=proxies, trusted_headers=headers,
                           script_name=prefix, max_hops=draw(st.integers(1, 1024)),
                           hop_aligned="x-forwarded-for" in map(str.lower, headers)
                           and draw(st.booleans()), custom_headers=registered)
    except ConfigError:  # a '%2e%2e' segment, say: not a valid policy
        assume(False)
        raise


@given(wide_policies())
def test_wide_round_trip(policy: TrustPolicy) -> None:
    """For every valid policy p, including YAML's special words as custom header
    names and quotes, '$', '{', '%' and non-ASCII letters in script_name:
    from_yaml(p.to_yaml()) == p, and, without custom headers,
    from_directives(p.to_directives()) == p."""
    assert TrustPolicy.from_yaml(policy.to_yaml()) == policy
    if not policy.custom_headers:
        assert TrustPolicy.from_directives(policy.to_directives()) == policy


EXTENSIONS = {"yaml": "yaml", "directives": "conf", "express": "args"}


@given(policies(options=False) | policies(custom=False) | policies())
def test_convert_on_the_command_line_round_trips(policy: TrustPolicy) -> None:
    """For every policy p and every pair of forms: `trustedproxy convert` of p
    written in one form, to another, reads back equal to p, or exits 2 with
    one error line a form (never a traceback) when the target form cannot
    carry p."""
    import io
    import tempfile
    from contextlib import redirect_stderr, redirect_stdout
    from pathlib import Path

    from trustedproxy.cli import main

    written: dict[str, str] = {"yaml": policy.to_yaml()}
    with contextlib.suppress(ConfigError):
        written["directives"] = policy.to_directives()
    with contextlib.suppress(ConfigError):
        written["express"] = shlex.join(policy.to_express_args())
    read = {"yaml": TrustPolicy.from_yaml, "directives": TrustPolicy.from_directives,
            "express": TrustPolicy.from_express_args}
    with tempfile.TemporaryDirectory() as tmp:
        for source, text in written.items():
            path = Path(tmp) / f"policy.{EXTENSIONS[source]}"
            path.write_text(text, encoding="utf-8")
            for target in ("yaml", "directives", "express"):
                out, err = io.StringIO(), io.StringIO()
                with redirect_stdout(out), redirect_stderr(err):
                    status = main(["convert", str(path), "--to", target])
                if target in written:
                    assert status == 0, err.getvalue()
                    assert read[target](out.getvalue() if target != "express"
                                        else out.getvalue().strip()) == policy
                else:
                    assert status == 2
                    assert out.getvalue() == ""
                    assert err.getvalue().startswith("trustedproxy: error: ")
                    assert "Traceback" not in err.getvalue()
