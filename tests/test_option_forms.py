"""The options added beyond mod_wsgi (max_hops, hop_aligned, custom_headers, named
ranges) in every configuration form: YAML, directives, express arguments."""

from __future__ import annotations

import pytest

from trustedproxy import ConfigError, TrustPolicy

FULL = TrustPolicy(trusted_proxies=["private"], trusted_headers=["X-Forwarded-For",
                                                                 "X-Forwarded-Proto"],
                   max_hops=5, hop_aligned=True)
CUSTOM = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["CF-Connecting-IP"],
                     custom_headers={"CF-Connecting-IP": "client"})


def test_yaml_reads_every_option() -> None:
    """YAML spells the options as keys, custom headers as a mapping."""
    policy = TrustPolicy.from_yaml(
        "trusted_proxies: [private]\n"
        "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto]\n"
        "max_hops: 5\nhop_aligned: true\n")
    assert policy == FULL
    policy = TrustPolicy.from_yaml(
        "trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [CF-Connecting-IP]\n"
        "custom_headers:\n  CF-Connecting-IP: client\n")
    assert policy == CUSTOM


@pytest.mark.parametrize("policy", [FULL, CUSTOM], ids=["options", "custom"])
def test_yaml_round_trip(policy: TrustPolicy) -> None:
    """to_yaml writes every option, and reads back equal."""
    assert TrustPolicy.from_yaml(policy.to_yaml()) == policy


def test_directives_carry_options_in_comment_lines() -> None:
    """Directive strings carry max_hops and hop_aligned as '# trustedproxy:' lines;
    named ranges are written out as CIDRs mod_wsgi understands."""
    text = FULL.to_directives()
    assert "WSGITrustedProxies 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7" in text
    assert "# trustedproxy: max_hops 5" in text
    assert "# trustedproxy: hop_aligned on" in text
    assert TrustPolicy.from_directives(text) == FULL


@pytest.mark.parametrize(("form", "call"), [
    ("directive strings", lambda p: p.to_directives()),
    ("mod_wsgi-express arguments", lambda p: p.to_express_args()),
])
def test_forms_without_custom_headers_refuse_them(form: str, call: object) -> None:
    """A form that cannot carry custom headers says so instead of dropping them."""
    with pytest.raises(ConfigError, match=f"{form} cannot register custom header "
                                          "'CF-Connecting-IP'"):
        call(CUSTOM)  # type: ignore[operator]


def test_express_refuses_options() -> None:
    """mod_wsgi-express has no option for max_hops or hop_aligned."""
    with pytest.raises(ConfigError, match="mod_wsgi-express has no option for max_hops"):
        FULL.to_express_args()


@pytest.mark.parametrize(("text", "message"), [
    ("trusted_proxies: [10.0.0.0/8]\nmax_hops: lots\n",
     r"<yaml>:2: max_hops must be a whole number from 1 to 1024, not 'lots'"),
    ("trusted_proxies: [10.0.0.0/8]\ncustom_headers:\n  CF-Connecting-IP: clinet\n",
     r"<yaml>:3: custom header 'CF-Connecting-IP': unknown group 'clinet'"),
    ("trusted_proxies: [10.0.0.0/8]\ncustom_headers: [CF-Connecting-IP]\n",
     "custom_headers must be a mapping"),
    ("trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [X-Forwarded-Proto]\n"
     "hop_aligned: true\n", "<yaml>:3: hop_aligned needs X-Forwarded-For"),
])
def test_yaml_option_errors_name_the_line(text: str, message: str) -> None:
    """Option errors in YAML name the line of the offending value."""
    with pytest.raises(ConfigError, match=message):
        TrustPolicy.from_yaml(text)


def test_directive_max_hops_error() -> None:
    """A bad max_hops comment line is an error naming its line."""
    with pytest.raises(ConfigError, match=r":3: .*max_hops must be a whole number"):
        TrustPolicy.from_directives("WSGITrustedProxies 10.0.0.0/8\n"
                                    "WSGITrustedProxyHeaders X-Forwarded-For\n"
                                    "# trustedproxy: max_hops many\n")
