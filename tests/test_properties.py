"""Property tests of the promise in SPEC.md §1, over random peers, headers and policies."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import make_environ, run

from trustedproxy import TrustPolicy
from trustedproxy.addresses import parse_ip
from trustedproxy.headers import HEADERS, Group, Kind
from trustedproxy.values import parse_host, parse_prefix

TRUSTED = ["10.0.0.0/8", "127.0.0.1", "2001:db8::/32"]
KNOWN_KEYS = {spec.environ_key for spec in HEADERS.values()}
BY_GROUP = {group: [s.name for s in HEADERS.values()
                    if group in s.groups and s.kind is not Kind.FORWARDED] for group in Group}

trusted_peers = st.sampled_from(["127.0.0.1", "10.1.2.3", "::ffff:10.9.8.7", "2001:db8::1",
                                 "2001:DB8::abcd%eth0"])
untrusted_peers = st.sampled_from(["8.8.8.8", "192.0.2.1", "2001:db9::1", "::ffff:8.8.4.4",
                                   "", "/run/proxy.sock", "127.0.0.2"])
elements = st.one_of(
    st.sampled_from(["10.0.0.5", "127.0.0.1", "203.0.113.7", "[2001:db8::5]:80", "1.2.3.4:8080",
                     "unknown", "010.0.0.1", "::ffff:10.0.0.9", "2001:DB8::7", "_hidden", ""]),
    st.ip_addresses().map(str),
    st.text(max_size=12),
)
values = st.one_of(
    st.lists(elements, max_size=6).map(", ".join),
    st.sampled_from(["https", "HTTP", "wss", "on", "0", "443", "99999", "example.com:8443",
                     "[::1]:80", "/myapp/", "/a/../b", "junk", "", "a, b", "/x y"]),
    st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=30),  # latin-1, as servers give
)
header_sets = st.dictionaries(st.sampled_from([s.name for s in HEADERS.values()]), values)


@st.composite
def policies(draw: st.DrawFn) -> TrustPolicy:
    """A policy trusting a random choice of at most one header per group."""
    chosen = []
    for group in (Group.CLIENT, Group.SCHEME, Group.HOST, Group.SERVER, Group.PORT,
                  Group.PREFIX):
        name = draw(st.none() | st.sampled_from(BY_GROUP[group]))
        if name:
            chosen.append(name)
    return TrustPolicy(trusted_proxies=TRUSTED, trusted_headers=chosen,
                       strip_prefix_from_path=draw(st.booleans()))


def public(environ: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in environ.items() if not k.startswith("trustedproxy.")}


FAST = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(policies(), untrusted_peers, header_sets)
def test_untrusted_peer_only_loses_forwarded_headers(policy: TrustPolicy, peer: str,
                                                     headers: dict[str, str]) -> None:
    """(1) From an untrusted peer, the environ after equals the environ before minus
    the known forwarded headers: nothing else is changed."""
    before = make_environ(peer, headers)
    after = public(run(policy, dict(before)))
    assert after == {k: v for k, v in before.items() if k not in KNOWN_KEYS}


@FAST
@given(policies(), trusted_peers, header_sets)
def test_trusted_peer_gives_a_well_formed_environ(policy: TrustPolicy, peer: str,
                                                  headers: dict[str, str]) -> None:
    """(2) From a trusted peer, for any header values: no exception, REMOTE_ADDR is a
    valid IP address (or the unchanged peer), wsgi.url_scheme is http or https,
    SERVER_PORT is 1-65535, HTTP_HOST and SCRIPT_NAME are well-formed."""
    after = run(policy, make_environ(peer, headers))
    remote = after["REMOTE_ADDR"]
    assert remote == peer or parse_ip(remote) is not None
    assert after["wsgi.url_scheme"] in ("http", "https")
    assert 1 <= int(after["SERVER_PORT"]) <= 65535
    assert parse_host(after["HTTP_HOST"]) == (after["HTTP_HOST"], "")
    assert parse_prefix(after["SCRIPT_NAME"]) == (after["SCRIPT_NAME"], "")
    assert (after.get("HTTPS") == "on") == (after["wsgi.url_scheme"] == "https")


@FAST
@given(policies(), st.one_of(trusted_peers, untrusted_peers), header_sets)
def test_only_trusted_headers_remain(policy: TrustPolicy, peer: str,
                                     headers: dict[str, str]) -> None:
    """(3) Every forwarded header left in the environ is one the policy trusts, and
    only when the peer is trusted."""
    after = run(policy, make_environ(peer, headers))
    left = {k for k in after if k in KNOWN_KEYS}
    allowed = {HEADERS[n.lower()].environ_key for n in policy.trusted_headers}
    assert left <= allowed
    if not policy.compile().is_trusted(peer):
        assert not left


@FAST
@given(policies(), st.one_of(trusted_peers, untrusted_peers), header_sets)
def test_orig_reconstructs_the_environ_before(policy: TrustPolicy, peer: str,
                                              headers: dict[str, str]) -> None:
    """(4) environ["trustedproxy.orig"] plus the environ after reconstructs the environ
    before (a None original means the key was absent)."""
    before = make_environ(peer, headers)
    after = run(policy, dict(before))
    rebuilt = public(after)
    for key, value in after["trustedproxy.orig"].items():
        if value is None:
            rebuilt.pop(key, None)
        else:
            rebuilt[key] = value
    assert rebuilt == before


@FAST
@given(st.lists(st.sampled_from(["10.0.0.5", "10.0.0.6", "127.0.0.1", "2001:db8::9"]),
                min_size=1, max_size=5),
       st.lists(st.sampled_from(["203.0.113.1", "198.51.100.2", "8.8.8.8"]), min_size=1,
                max_size=3))
def test_client_cannot_choose_the_address(proxies: list[str], client_chain: list[str]) -> None:
    """Whatever a client prepends to X-Forwarded-For, REMOTE_ADDR is the address the
    first trusted proxy saw (the rightmost untrusted element)."""
    policy = TrustPolicy(trusted_proxies=TRUSTED, trusted_headers=["X-Forwarded-For"])
    header = ", ".join(client_chain + proxies)
    after = run(policy, make_environ("127.0.0.1", {"X-Forwarded-For": header}))
    assert after["REMOTE_ADDR"] == client_chain[-1]
