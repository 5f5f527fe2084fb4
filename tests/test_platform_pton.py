"""Strict address parsing on any C library.

Every address a client sends is parsed by the platform's ``inet_pton``. glibc's
is as strict as trustedproxy promises (a dotted quad with no leading zeros, an
RFC 4291 IPv6 address with no zone, no white space); a C library that accepts
more must not make the environ hold ``0x7f.1`` or trust ``010.0.0.1``. So
``addresses`` probes the platform's ``inet_pton`` at import and, when it accepts
any lenient form, checks each text against RFC 3986's address grammar first,
and the compiled speedups (which call ``inet_pton`` directly) stay unused.

glibc is the oracle here: these tests need it, and CI runs on it.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trustedproxy import _compiled, addresses
from trustedproxy.addresses import PROBE_INVALID, PROBE_VALID, is_strict, strict_pton

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                           reason="glibc's inet_pton is the oracle of the strict grammar")
FAMILIES = (socket.AF_INET, socket.AF_INET6)
REAL_PTON = socket.inet_pton


def accepted(pton: addresses._Pton, family: int, text: str) -> bytes | None:
    try:
        return pton(family, text)
    except (OSError, ValueError):
        return None


def lenient_pton(family: int, text: str) -> bytes:
    """An ``inet_pton`` as lax as a C library may be: BSD ``inet_aton`` forms
    for IPv4 (``1``, ``0x7f.1``, octal ``010.0.0.1``, trailing junk after a
    space), and for IPv6 white space, zone ids and leading zeros in a dotted tail."""
    text = text.strip()
    if family == socket.AF_INET:
        return socket.inet_aton(text)
    text = text.partition("%")[0]
    head, colon, tail = text.rpartition(":")
    if colon and "." in tail:
        text = head + colon + socket.inet_ntoa(socket.inet_aton(tail))
    return REAL_PTON(family, text)


# ------------------------------------------------------------------ strategies

def _octet(draw: st.DrawFn) -> str:
    value = draw(st.integers(0, 300))
    style = draw(st.sampled_from(["dec", "dec", "dec", "zeros", "hex"]))
    if style == "zeros":
        return "0" * draw(st.integers(1, 2)) + str(value)
    return hex(value) if style == "hex" else str(value)


@st.composite
def ipv4_like(draw: st.DrawFn) -> str:
    """Dotted quads, mostly valid, with the usual lenient forms mixed in."""
    parts = [_octet(draw) for _ in range(draw(st.sampled_from([4, 4, 4, 1, 2, 3, 5])))]
    return ".".join(parts)


@st.composite
def ipv6_like(draw: st.DrawFn) -> str:
    """IPv6 texts, mostly valid: 1..9 pieces of 1..5 hex digits in any case,
    with or without one (or two) "::", and sometimes a dotted tail."""
    count = draw(st.integers(1, 9))
    pieces = [draw(st.text(alphabet="0123456789abcdefABCDEF", min_size=1,
                           max_size=draw(st.sampled_from([4, 4, 4, 5]))))
              for _ in range(count)]
    if draw(st.booleans()):
        pieces[-1] = draw(ipv4_like())
    text = ":".join(pieces)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        cut = draw(st.integers(0, len(pieces)))
        text = ":".join(pieces[:cut]) + "::" + ":".join(pieces[cut:])
    return text


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """*base* with a character inserted, removed or replaced, or padded."""
    text = draw(base)
    edit = draw(st.sampled_from(["none", "insert", "delete", "replace", "pad"]))
    where = draw(st.integers(0, len(text)))
    char = draw(st.sampled_from([*"0123456789abcdefxX:.% \t\n[]/+-", "\u0661", "\uff11"]))
    if edit == "insert":
        return text[:where] + char + text[where:]
    if edit == "delete":
        return text[:where] + text[where + 1:]
    if edit == "replace":
        return text[:where] + char + text[where + 1:]
    if edit == "pad":
        return draw(st.sampled_from([" ", "\t", "%eth0", "%1"])) + text
    return text


ADDRESS_LIKE = st.one_of(
    mutated(ipv4_like()), mutated(ipv6_like()),
    st.text(alphabet="0123456789abcdefABCDEF:.%x ", max_size=46),
)


# ------------------------------------------------------------------ the grammar

@pytest.mark.parametrize(("family", "text"), PROBE_VALID)
def test_probe_valid_texts_follow_the_grammar(family: int, text: str) -> None:
    """The probe's valid texts are addresses by RFC 3986's grammar."""
    assert addresses._grammar()[family].fullmatch(text)


@pytest.mark.parametrize(("family", "text"), PROBE_INVALID)
def test_probe_invalid_texts_break_the_grammar(family: int, text: str) -> None:
    """The probe's invalid texts are not addresses by RFC 3986's grammar."""
    assert not addresses._grammar()[family].fullmatch(text)


@glibc
@settings(max_examples=3000)
@given(text=ADDRESS_LIKE)
@example(text="1:2:3:4:5:6:7::")
@example(text="::1:2:3:4:5:6:7")
@example(text="1:2:3:4:5:6:7:1.2.3.4")
@example(text="::ffff:1.2.3.04")
def test_grammar_accepts_what_glibc_accepts(text: str) -> None:
    """For any text and both families, RFC 3986's grammar matches it exactly
    when glibc's inet_pton accepts it: the check on a lax platform rejects
    nothing glibc takes and takes nothing glibc rejects."""
    grammar = addresses._grammar()
    for family in FAMILIES:
        assert (grammar[family].fullmatch(text) is not None) == (
            accepted(socket.inet_pton, family, text) is not None), (family, text)


# ------------------------------------------------------------------ the probe

@glibc
def test_glibc_inet_pton_passes_the_probe_and_is_used_as_is() -> None:
    """On a strict C library the probe passes and addresses are parsed by
    inet_pton itself, with no extra check on the request path."""
    assert is_strict(socket.inet_pton)
    assert addresses.PLATFORM_STRICT
    assert strict_pton(socket.inet_pton) is socket.inet_pton
    assert addresses._pton is socket.inet_pton
    assert _compiled.NOT_USED in ("", "TRUSTEDPROXY_PURE_PYTHON is set")


@pytest.mark.parametrize("form", [
    ("IPv4 leading zero", socket.AF_INET, "01.2.3.4"),
    ("IPv4 short form", socket.AF_INET, "1.2"),
    ("IPv4 hex", socket.AF_INET, "0x1.2.3.4"),
    ("IPv4 trailing junk", socket.AF_INET, "1.2.3.4 x"),
    ("IPv6 zone id", socket.AF_INET6, "fe80::1%1"),
    ("IPv6 white space", socket.AF_INET6, " ::1"),
    ("IPv6 dotted tail with a leading zero", socket.AF_INET6, "::ffff:1.2.3.04"),
])
def test_probe_catches_each_lenient_form(form: tuple[str, int, str]) -> None:
    """An inet_pton that is strict but for one lax form fails the probe: the
    probe holds each form and every entry counts."""
    _, lax_family, lax_text = form

    def one_lax(family: int, text: str) -> bytes:
        if (family, text) == (lax_family, lax_text):
            return lenient_pton(family, text)
        return socket.inet_pton(family, text)

    assert accepted(lenient_pton, lax_family, lax_text) is not None
    assert (lax_family, lax_text) in PROBE_INVALID
    assert not is_strict(one_lax)


@glibc
@settings(max_examples=3000)
@given(text=ADDRESS_LIKE)
def test_lax_inet_pton_behind_the_check_is_glibc(text: str) -> None:
    """For any text and both families, a lax inet_pton behind the grammar check
    accepts exactly what glibc accepts, with the same bytes."""
    assert not is_strict(lenient_pton)
    checked = strict_pton(lenient_pton)
    for family in FAMILIES:
        assert accepted(checked, family, text) == accepted(socket.inet_pton, family, text)


@glibc
@pytest.mark.parametrize(("family", "text"), PROBE_VALID + PROBE_INVALID)
def test_checked_lax_inet_pton_on_the_probe(family: int, text: str) -> None:
    """On every probe text, the checked lax inet_pton agrees with glibc."""
    checked = strict_pton(lenient_pton)
    assert accepted(checked, family, text) == accepted(socket.inet_pton, family, text)


# ------------------------------------------------------------------ a lax platform, end to end

#: A script: import trustedproxy with the real inet_pton (argv[1] "strict") or
#: a lax one ("lax"), send the requests of argv[2], print what it found.
LAX_PLATFORM = "import socket\nREAL_PTON = socket.inet_pton\n" + inspect.getsource(
    lenient_pton) + textwrap.dedent('''
    import json, sys
    if sys.argv[1] == "lax":
        socket.inet_pton = lenient_pton  # before trustedproxy is imported
    from trustedproxy import TrustPolicy, TrustedProxyMiddleware, addresses, cli, wsgi
    app = TrustedProxyMiddleware(lambda environ, start: environ, TrustPolicy(
        trusted_proxies=["10.0.0.0/8", "2001:db8::/32"],
        trusted_headers=["X-Forwarded-For", "X-Forwarded-Host"]))
    seen = []
    for peer, xff in json.loads(sys.argv[2]):
        environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": xff, "HTTP_HOST": "in"}
        out = app(environ, None)
        seen.append([out.get("REMOTE_ADDR"), out.get("HTTP_X_FORWARDED_FOR"),
                     out["trustedproxy.decision"].client])
    from trustedproxy.loaders.directives import mod_wsgi_proxy_problem
    hints = [mod_wsgi_proxy_problem(word) for word in json.loads(sys.argv[3])]
    print(json.dumps({"strict": addresses.PLATFORM_STRICT, "speedups": wsgi.SPEEDUPS,
                      "version": cli.version_text(), "seen": seen, "hints": hints}))
''')

REQUESTS = [
    ["10.0.0.1", "203.0.113.7"],
    ["10.0.0.1", "203.0.113.7, 010.0.0.2"],  # octal-looking "trusted" hop
    ["10.0.0.1", "0x7f.1"],
    ["10.0.0.1", "127.1"],
    ["10.0.0.1", "1.2.3.4 x"],
    ["10.0.0.1", "203.0.113.7, 10.0.0.9"],
    ["2001:db8::1", "fe80::1%eth0"],
    ["2001:db8::1", "::ffff:1.2.3.04, 2001:db8::2"],
    ["010.0.0.1", "203.0.113.7"],  # a peer the server itself would not write
    ["127.1", "203.0.113.7"],
]


#: Trusted-proxy words of mod_wsgi directives, for the hints on what mod_wsgi
#: refuses (some in forms only a lax inet_pton takes).
PROXY_WORDS = ["::ffff:127.0.0.1", "::ffff:1.2.3.04", "::ffff:01.2.3.4/128", "::1.2.3.4",
               "::01.2.3.4", "fe80::1%eth0", " ::1", "2001:db8::/32", "10.0.0.0/8"]


def run_platform(mode: str) -> dict[str, Any]:
    """The LAX_PLATFORM script's findings, run with the real or a lax inet_pton
    (and the compiled path allowed, whatever this run's TRUSTEDPROXY_PURE_PYTHON)."""
    env = {k: v for k, v in os.environ.items() if k != "TRUSTEDPROXY_PURE_PYTHON"}
    result = subprocess.run(
        [sys.executable, "-c", LAX_PLATFORM, mode, json.dumps(REQUESTS),
         json.dumps(PROXY_WORDS)], env=env,
        capture_output=True, text=True, timeout=120, check=True)
    found: dict[str, Any] = json.loads(result.stdout)
    return found


@glibc
def test_a_lax_platform_decides_as_a_strict_one() -> None:
    """With a lax inet_pton in place before trustedproxy is imported, the probe
    fails, the compiled path stays unused (and --version says why), and every
    request is decided exactly as on glibc: no lenient form becomes a client,
    a trusted hop or the peer."""
    strict = run_platform("strict")
    lax = run_platform("lax")
    assert strict["strict"] is True
    assert lax["strict"] is False
    assert lax["speedups"] is False
    assert "inet_pton accepts address forms the strict parser rejects" in str(lax["version"])
    assert lax["seen"] == strict["seen"]
    # The directives loader's hints parse as strictly: no hint about a mapped
    # or dotted address for a text no strict parser takes as one.
    assert lax["hints"] == strict["hints"]
    assert [hint and hint.split(":")[0] for hint in strict["hints"]] == [
        "mod_wsgi rejects IPv4-mapped IPv6 addresses", None, None,
        "mod_wsgi rejects an IPv6 address with a dotted IPv4 part", None, None, None, None,
        None]
    clients = [client for _, _, client in strict["seen"]]
    assert clients[0] == "203.0.113.7"
    assert not {"0x7f.1", "127.1", "010.0.0.2", "1.2.3.4 x", "fe80::1%eth0"} & set(clients)
