"""The trust configurations and the generated request cases of the differential suite.

Everything here is deterministic: the same cases, in the same order, every run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

TRUSTED_SOURCE = "127.0.0.1"
UNTRUSTED_SOURCE = "127.0.0.2"
SOURCES = (TRUSTED_SOURCE, UNTRUSTED_SOURCE)


@dataclass(frozen=True)
class TrustConfig:
    """One mod_wsgi-express trust configuration (valid for mod_wsgi and for us)."""

    name: str
    proxies: tuple[str, ...]
    headers: tuple[str, ...]

    def express_args(self) -> list[str]:
        args: list[str] = []
        for proxy in self.proxies:
            args += ["--trust-proxy", proxy]
        for header in self.headers:
            args += ["--trust-proxy-header", header]
        return args


#: At most one header per group, proxies always given, names mod_wsgi and we both
#: accept: configurations that only one side accepts belong to test_config.py.
CONFIGS: tuple[TrustConfig, ...] = (
    TrustConfig(
        "single_ip_full_set",
        ("127.0.0.1",),
        ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Server",
         "X-Forwarded-Port", "X-Script-Name"),
    ),
    TrustConfig(
        "cidrs_ipv6",
        ("127.0.0.0/31", "10.0.0.0/8", "2001:db8::/32"),
        ("X-Forwarded-For", "X-Forwarded-SSL", "X-Host", "X-Forwarded-Port",
         "X-Forwarded-Script-Name"),
    ),
    TrustConfig(
        "real_ip_and_scheme",
        ("127.0.0.1", "::1"),
        ("X-Real-IP", "X-Scheme", "X-Forwarded-Server"),
    ),
    TrustConfig(
        "client_ip_and_https",
        ("127.0.0.1/32", "192.168.0.0/16"),
        ("X-Client-IP", "X-HTTPS"),
    ),
    TrustConfig("only_proto", ("127.0.0.1",), ("X-Forwarded-Proto",)),
    TrustConfig(
        "lower_case_names",
        ("127.0.0.1", "10.0.0.0/8"),
        ("x-forwarded-for", "x-forwarded-scheme", "x-forwarded-host"),
    ),
    TrustConfig(
        "our_additions",
        ("127.0.0.1", "10.0.0.0/8"),
        ("X-Forwarded-For", "X-Forwarded-Prefix", "Front-End-Https"),
    ),
    TrustConfig(
        "https_flag_and_port",
        ("127.0.0.1", "10.0.0.0/8", "2001:db8::/32"),
        ("X-Forwarded-HTTPS", "X-Forwarded-Port", "X-Forwarded-For"),
    ),
)


@dataclass(frozen=True)
class Case:
    """One request: its headers go on the wire exactly as listed, in order."""

    id: str
    headers: tuple[tuple[str, str], ...]
    path: str = "/"
    host: str | None = None  # None: "127.0.0.1:<listen port>"

    def wire_headers(self, listen_port: int) -> list[tuple[str, str]]:
        host = self.host if self.host is not None else f"127.0.0.1:{listen_port}"
        return [("Host", host), *self.headers]


# --------------------------------------------------------------------------- values

SCHEME_WORDS = ("https", "HTTPS", "HtTpS", "http", "HTTP", "wss", "ws", "WSS", "junk", "",
                "https, http", "http, https", "ftp")
SCHEME_BOOLS = ("on", "On", "ON", "true", "TRUE", "1", "off", "Off", "false", "0", "yes", "no",
                "2", "junk", "", "on, off")
HOSTS = ("public.example", "public.example:8443", "PUBLIC.Example", "[2001:db8::1]:8080",
         "[2001:db8::1]", "192.0.2.1", "192.0.2.1:80", "a.example, b.example", "", "bad host",
         "public.example:0", "public.example:65536", "public.example:abc", "-bad.example")
SERVERS = ("proxy.example", "proxy.example:8080", "", "a.example, b.example", "bad server",
           "192.0.2.1", "[2001:db8::1]", "PROXY.example")
PORTS = ("443", "8080", "1", "65535", "0", "65536", "abc", "-1", "", "443, 80")
PREFIXES = ("/myapp", "/myapp/", "/a/b", "//a//b", "", "/", "prefix", "/a%20b", "/a b",
            "/a/../b", "/a?x", "/a#x", "/a, /b")
SINGLE_ADDRESSES = ("1.2.3.4", "2001:db8::1", "1.2.3.4:80", "[2001:db8::1]:80", "garbage", "",
                    "1.2.3.4, 5.6.7.8", "::ffff:1.2.3.4", "010.0.0.1", "2001:DB8::1")
FORWARDED = ("for=1.2.3.4", "for=1.2.3.4;proto=https;host=public.example",
             'for="[2001:db8::1]:4711"', "for=unknown", "for=_hidden")

#: Values per header, by header (the canonical spelling).
VALUES: dict[str, tuple[str, ...]] = {
    "X-Forwarded-For": ("1.2.3.4", "1.2.3.4, 127.0.0.1", "", " , , "),
    "X-Real-IP": SINGLE_ADDRESSES,
    "X-Client-IP": SINGLE_ADDRESSES,
    "X-Forwarded-Proto": SCHEME_WORDS,
    "X-Forwarded-Scheme": SCHEME_WORDS,
    "X-Scheme": SCHEME_WORDS,
    "X-Forwarded-HTTPS": SCHEME_BOOLS,
    "X-Forwarded-SSL": SCHEME_BOOLS,
    "X-HTTPS": SCHEME_BOOLS,
    "Front-End-Https": SCHEME_BOOLS,
    "X-Forwarded-Host": HOSTS,
    "X-Host": HOSTS,
    "X-Forwarded-Server": SERVERS,
    "X-Forwarded-Port": PORTS,
    "X-Forwarded-Prefix": PREFIXES,
    "X-Script-Name": PREFIXES,
    "X-Forwarded-Script-Name": PREFIXES,
    "Forwarded": FORWARDED,
}

#: One ordinary, valid value per header, for the pair cases.
TYPICAL: dict[str, str] = {
    "X-Forwarded-For": "198.51.100.7",
    "X-Real-IP": "198.51.100.8",
    "X-Client-IP": "198.51.100.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Scheme": "https",
    "X-Scheme": "https",
    "X-Forwarded-HTTPS": "on",
    "X-Forwarded-SSL": "on",
    "X-HTTPS": "1",
    "Front-End-Https": "on",
    "X-Forwarded-Host": "public.example",
    "X-Host": "other.example",
    "X-Forwarded-Server": "proxy.example",
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/pfx",
    "X-Script-Name": "/script",
    "X-Forwarded-Script-Name": "/fscript",
    "Forwarded": "for=198.51.100.10;proto=https;host=fwd.example",
}

# X-Forwarded-For elements by role. Which of them a configuration trusts is
# decided by the configuration; the roles only make the chains varied.
# mod_wsgi's walk passes each element to getaddrinfo, which asks the DNS
# resolver about anything that looks like a host name ("garbage", "unknown",
# even "_hidden"). So the invalid elements are ones glibc settles without a
# query: numeric short forms, /etc/hosts names, and junk that is not a valid
# host name ("garbage!", "un known"); strace shows no packet leaves.
TRUSTED_ELEMENTS = ("127.0.0.1", "10.0.0.5", "::ffff:10.0.0.7", "2001:db8::5")
UNTRUSTED_ELEMENTS = ("1.2.3.4", "5.6.7.8", "2001:db9::1", "::ffff:1.2.3.4", "198.51.100.7")
INVALID_ELEMENTS = ("10.5", "167772165", "010.0.0.5", "localhost", "1.2.3", "garbage!",
                    "fe80::1%lo", "un known")
#: Valid for us, but in a form mod_wsgi cannot parse or copies verbatim.
ODD_FORM_ELEMENTS = ("1.2.3.4:8080", "10.0.0.5:80", "[2001:db8::1]", "[2001:db8::5]:443",
                     "2001:DB8::5", "[::ffff:1.2.3.4]")

ROLE_POOLS = {"T": TRUSTED_ELEMENTS, "U": UNTRUSTED_ELEMENTS, "I": INVALID_ELEMENTS}


def _chain_patterns() -> Iterator[str]:
    """Role patterns of 1-5 elements: every pattern up to 3 elements, and for
    4 and 5 elements every position of one invalid element among the rest."""
    for length in (1, 2, 3):
        for roles in itertools.product("TUI", repeat=length):
            yield "".join(roles)
    for length in (4, 5):
        for position in range(length):
            for filler in ("T", "U"):
                pattern = [filler] * length
                pattern[position] = "I"
                yield "".join(pattern)
            for other in range(length):
                if other != position:
                    pattern = ["T"] * length
                    pattern[position] = "U"
                    pattern[other] = "I"
                    yield "".join(pattern)
        yield "T" * length
        yield "U" + "T" * (length - 1)


def xff_chain_cases() -> list[Case]:
    cases: list[Case] = []
    counter = itertools.count()
    for pattern in dict.fromkeys(_chain_patterns()):
        n = next(counter)
        elements = [ROLE_POOLS[role][(n + i) % len(ROLE_POOLS[role])]
                     for i, role in enumerate(pattern)]
        cases.append(Case(f"xff-chain-{pattern}-{n}", (("X-Forwarded-For", ", ".join(elements)),)))
    # Odd (valid for us) forms in every position of 1-3 element chains.
    for odd in ODD_FORM_ELEMENTS:
        for length in (1, 2, 3):
            for position in range(length):
                elements = ["1.2.3.4" if i == 0 else "10.0.0.6" for i in range(length)]
                elements[position] = odd
                cases.append(Case(f"xff-odd-{odd}-{length}-{position}",
                                  (("X-Forwarded-For", ", ".join(elements)),)))
    # Spacing and empty elements, the documented table, duplicate lines.
    for value in (",,1.2.3.4,,10.0.0.5,", "1.2.3.4,10.0.0.5", "  1.2.3.4 ,\t10.0.0.5  ",
                  "1.2.3.4, 10.0.0.5, 10.0.0.6", "10.0.0.5, 1.2.3.4, 10.0.0.6, 10.0.0.7",
                  "10.0.0.5, 10.0.0.6", "1.2.3.4, 2001:DB8::5", "1.2.3.4, ::ffff:10.0.0.5",
                  "1.2.3.4, 127.0.0.1", "127.0.0.1"):
        cases.append(Case(f"xff-misc-{value!r}", (("X-Forwarded-For", value),)))
    cases.append(Case("xff-duplicate-lines",
                      (("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "10.0.0.5"))))
    cases.append(Case("xff-duplicate-lines-mixed-case",
                      (("x-forwarded-for", "1.2.3.4"), ("X-FORWARDED-FOR", "127.0.0.1"))))
    return cases


def single_header_cases() -> list[Case]:
    cases: list[Case] = []
    for header, values in VALUES.items():
        for i, value in enumerate(values):
            cases.append(Case(f"single-{header}-{i}={value!r}", ((header, value),)))
    return cases


def pair_cases() -> list[Case]:
    cases: list[Case] = []
    for first, second in itertools.combinations(TYPICAL, 2):
        cases.append(Case(f"pair-{first}+{second}",
                          ((first, TYPICAL[first]), (second, TYPICAL[second]))))
    return cases


def misc_cases() -> list[Case]:
    everything = tuple(TYPICAL.items())
    return [
        Case("none", ()),
        Case("everything", everything),
        Case("everything-reversed", tuple(reversed(everything))),
        Case("everything-at-prefix-path", everything, path="/pfx/a/b"),
        Case("prefix-and-path", (("X-Script-Name", "/myapp"), ("X-Forwarded-Prefix", "/myapp"),
                                 ("X-Forwarded-Script-Name", "/myapp")), path="/myapp/a/b"),
        # Header names mod_wsgi drops before anything else (not alnum or '-').
        Case("underscore-spoof", (("X_Forwarded_For", "6.6.6.6"), ("X_Forwarded_Proto", "https"),
                                  ("X_Forwarded_Host", "evil.example"))),
        Case("dotted-name", (("X.Forwarded.For", "6.6.6.6"),)),
        # Duplicate single-valued headers are merged into a list by the server.
        Case("duplicate-proto", (("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http"))),
        Case("duplicate-host", (("X-Forwarded-Host", "a.example"),
                                ("X-Forwarded-Host", "b.example"))),
        Case("duplicate-port", (("X-Forwarded-Port", "443"), ("X-Forwarded-Port", "443"))),
        Case("lower-case-names", tuple((k.lower(), v) for k, v in everything)),
        # Host header variants (the base SERVER_NAME / SERVER_PORT).
        Case("host-with-port", (("X-Forwarded-Proto", "https"),), host="backend.internal:8000"),
        Case("host-without-port", (("X-Forwarded-Port", "443"),), host="backend.internal"),
        Case("host-upper-case", (("X-Forwarded-Host", "public.example"),),
             host="Backend.Internal:8000"),
        Case("host-ipv6", (("X-Forwarded-Server", "proxy.example"),), host="[::1]:8000"),
        Case("unrelated-headers", (("X-Request-Id", "abc"), ("X-Original-URL", "/x"),
                                   ("True-Client-IP", "6.6.6.6"), ("CF-Connecting-IP", "6.6.6.6"))),
    ]


def all_cases() -> list[Case]:
    cases = [*single_header_cases(), *pair_cases(), *xff_chain_cases(), *misc_cases()]
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


CASES: Sequence[Case] = all_cases()
