"""Configuration differential: directive values fed to real Apache and to from_directives.

Every value of mod_wsgi-reference.md §1.1-§1.2 goes into a minimal Apache
configuration that loads the mod_wsgi built by .ci/install-servers.sh and is
checked with ``apache2 -t``; the same text goes to
``TrustPolicy.from_directives``. Allowed outcomes:

* both accept, with the same meaning (the same networks and headers);
* we reject, for a reason SPEC.md §3 gives (our message must say it);
* both reject, unless SPEC.md §3 says we accept the value (with a warning);
* we accept what Apache rejects only where SPEC.md §3 says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from realservers import apache_config_test

from differential.deviations import BY_ID

pytestmark = [pytest.mark.realserver, pytest.mark.differential]

PROXY = "WSGITrustedProxies 127.0.0.1"
XFF = "WSGITrustedProxyHeaders X-Forwarded-For"

SAME = "same"  # both accept, same meaning
REJECT = "reject"  # we reject for the SPEC.md rule named in `rule`, message holds `says`
BOTH_REJECT = "both-reject"  # Apache rejects and so may we (SPEC.md does not require it)
SPEC_ACCEPTS = "spec-accepts"  # SPEC.md §3 says we accept it (maybe with a warning)


@dataclass(frozen=True)
class DirectiveCase:
    id: str
    text: str
    apache_accepts: bool  # as mod_wsgi-reference.md §1 documents it
    ours: str
    proxies: tuple[str, ...] = ()  # the meaning, when accepted
    headers: tuple[str, ...] = ("X-Forwarded-For",)
    rule: str = ""  # the SPEC.md §3 rule behind a difference
    says: str = ""  # a word our ConfigError message must contain
    deviation: str = ""  # a request deviation that gives the same policy another meaning


def proxies_case(value: str, apache_accepts: bool, ours: str, *meaning: str, rule: str = "",
                 says: str = "") -> DirectiveCase:
    return DirectiveCase(f"proxies {value!r}", f"WSGITrustedProxies {value}\n{XFF}",
                         apache_accepts, ours, tuple(meaning), rule=rule, says=says)


def headers_case(value: str, apache_accepts: bool, ours: str, *meaning: str, rule: str = "",
                 says: str = "", deviation: str = "") -> DirectiveCase:
    return DirectiveCase(f"headers {value!r}", f"{PROXY}\nWSGITrustedProxyHeaders {value}",
                         apache_accepts, ours, ("127.0.0.1",), tuple(meaning), rule=rule,
                         says=says, deviation=deviation)


# SPEC.md §3 accepts these, with a warning, in YAML and Python. Directive strings
# are mod_wsgi's own language, so there we refuse what real Apache refuses (issue
# 5: "the values mod_wsgi rejects are errors"): a directive that trustedproxy
# loaded and Apache then refused would break the deployment it was copied to.
UPPER = "directives: upper-case IPv6 rejected as mod_wsgi does (YAML/Python accept it)"
MAPPED = "directives: IPv4-mapped IPv6 rejected as mod_wsgi does (YAML/Python accept it)"
TRUST_ALL = "directives: /0 rejected as mod_wsgi does (YAML/Python accept 0.0.0.0/0, ::/0)"

CASES: tuple[DirectiveCase, ...] = (
    # §1.2: the pre-filter's rejections
    proxies_case("localhost", False, BOTH_REJECT, rule="§3: hostnames are not addresses"),
    proxies_case("*", False, BOTH_REJECT),
    proxies_case("all", False, BOTH_REJECT),
    proxies_case("127.0.0.1,10.0.0.1", False, BOTH_REJECT),
    proxies_case("::FFFF:7F00:1", False, BOTH_REJECT, rule=UPPER),
    proxies_case("2001:DB8::/32", False, BOTH_REJECT, rule=UPPER),
    proxies_case("::ffff:127.0.0.1", False, BOTH_REJECT, rule=MAPPED),
    proxies_case("fe80::1%lo", False, BOTH_REJECT),
    # §1.2: APR's rejections
    proxies_case("1.2.3.4/33", False, BOTH_REJECT),
    proxies_case("1.2.3.4/", False, BOTH_REJECT),
    proxies_case("2001:db8::/129", False, BOTH_REJECT),
    proxies_case("10.0.0.0/8/8", False, BOTH_REJECT),
    proxies_case("0.0.0.0/0", False, BOTH_REJECT, rule=TRUST_ALL),
    proxies_case("::/0", False, BOTH_REJECT, rule=TRUST_ALL),
    proxies_case("300.1.1.1", False, BOTH_REJECT),
    proxies_case("10/8", False, BOTH_REJECT),
    # §1.2: accepted by mod_wsgi
    proxies_case("1.2.3", True, SAME, "1.2.3.0/24"),
    proxies_case("127.0.0", True, SAME, "127.0.0.0/24"),
    proxies_case("127.0.0.0/255.255.255.254", True, SAME, "127.0.0.0/31"),
    proxies_case("1.2.3.4/255.0.255.0", True, REJECT,
                 rule="§3: a non-contiguous mask is an error", says="contiguous"),
    proxies_case("10.0.0.1/8", True, SAME, "10.0.0.0/8"),
    proxies_case("127.0.0.1/32", True, SAME, "127.0.0.1"),
    proxies_case("::1", True, SAME, "::1"),
    proxies_case("2001:db8::/32", True, SAME, "2001:db8::/32"),
    proxies_case("127.0.0.1 10.0.0.0/8", True, SAME, "127.0.0.1", "10.0.0.0/8"),
    DirectiveCase("proxies on two lines append",
                  f"WSGITrustedProxies 127.0.0.1\nWSGITrustedProxies 10.0.0.0/8\n{XFF}",
                  True, SAME, ("127.0.0.1", "10.0.0.0/8")),
    # §1.1: header names
    headers_case("x-forwarded-for", True, SAME, "X-Forwarded-For"),
    headers_case('"X-Forwarded-For"', True, SAME, "X-Forwarded-For"),
    headers_case("X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host", True, SAME,
                 "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"),
    headers_case("X-Forwarded-Prefix", True, SAME, "X-Forwarded-Prefix",
                 deviation="more-known-headers"),
    headers_case("Front-End-Https", True, SAME, "Front-End-Https",
                 deviation="more-known-headers"),
    headers_case("Forwarded", True, SPEC_ACCEPTS, "Forwarded",
                 rule="§2: Forwarded is a known header (client, scheme and host at once)"),
    headers_case("X-Not-A-Proxy-Header", True, REJECT,
                 rule="§3: an unknown header name is an error", says="unknown"),
    headers_case("X-Forwarded-Fro", True, REJECT,
                 rule="§3: an unknown header name, with a did-you-mean", says="X-Forwarded-For"),
    headers_case("X_Forwarded_For", True, REJECT,
                 rule="§3: '_' in a header name is an error (mod_wsgi crashes)", says="_"),
    headers_case("X-Forwarded-For,X-Forwarded-Proto", True, REJECT,
                 rule="§3: ',' in a header name is an error (mod_wsgi crashes)", says=","),
    headers_case("X-Forwarded-For X-Real-IP", True, REJECT,
                 rule="§3: two headers of one group", says="group"),
    headers_case("X-Forwarded-Proto X-Forwarded-SSL", True, REJECT,
                 rule="§3: two headers of one group", says="group"),
    DirectiveCase("headers without proxies", XFF, True, REJECT,
                  rule="§3: trusted headers with no trusted proxies", says="WSGITrustedProxies"),
    DirectiveCase("proxies without headers", PROXY, True, SAME, ("127.0.0.1",), ()),
)


def _ids() -> Iterator[str]:
    for case in CASES:
        yield case.id


@pytest.fixture(scope="module")
def apache_results() -> dict[str, tuple[bool, str]]:
    """``apache2 -t`` on every case, once."""
    results: dict[str, tuple[bool, str]] = {}
    for case in CASES:
        check = apache_config_test(case.text)
        results[case.id] = (check.accepted, check.output)
    return results


def test_case_ids_unique() -> None:
    assert len({case.id for case in CASES}) == len(CASES)
    for case in CASES:
        assert not case.deviation or case.deviation in BY_ID, case.deviation


@pytest.mark.parametrize("case", CASES, ids=list(_ids()))
def test_apache_behaves_as_documented(
    case: DirectiveCase, apache_results: dict[str, tuple[bool, str]]
) -> None:
    accepted, output = apache_results[case.id]
    assert accepted == case.apache_accepts, output
    if not accepted:
        assert "Unable to parse trusted proxy" in output, output


@pytest.mark.parametrize("case", CASES, ids=list(_ids()))
def test_from_directives_against_apache(
    case: DirectiveCase, apache_results: dict[str, tuple[bool, str]]
) -> None:
    from trustedproxy import ConfigError, TrustPolicy

    apache_accepted, apache_output = apache_results[case.id]
    try:
        ours = TrustPolicy.from_directives(case.text)
    except ConfigError as exc:
        message = str(exc)
        assert case.ours != SAME, (
            f"Apache accepts {case.text!r} with the same meaning, we reject: {message}")
        assert case.ours != SPEC_ACCEPTS, (
            f"we reject {case.text!r}, but SPEC.md says we accept it ({case.rule}): {message}")
        if case.ours == REJECT:
            assert case.says in message, (
                f"expected a reason saying {case.says!r} ({case.rule}): {message}")
        else:
            assert not apache_accepted, apache_output
        return
    assert case.ours in (SAME, SPEC_ACCEPTS), (
        f"we accept {case.text!r} (as {ours!r}) but expected {case.ours}: {case.rule}")
    if not apache_accepted:
        assert case.ours == SPEC_ACCEPTS, f"only we accept {case.text!r}, and SPEC.md says nothing"
    meaning = TrustPolicy(trusted_proxies=list(case.proxies), trusted_headers=list(case.headers))
    assert ours == meaning
