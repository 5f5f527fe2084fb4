"""The oracle still behaves as documented.

Checks that the real mod_wsgi 6.1.1 reproduces the observations recorded in
``shared/mod_wsgi-reference.md`` (§1-§4), and that :func:`build_environ`,
our model of the environ mod_wsgi builds, matches a mod_wsgi-express with no
trust configuration. None of this needs the trustedproxy package: if one of
these fails, the differential suite is comparing against something else
than the reference says.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest
from realservers import ManagedServer, RawConnection, raw_request, start_modwsgi_express
from realservers.rawhttp import ConnectionClosed

from differential.cases import CASES, SOURCES, TRUSTED_SOURCE, UNTRUSTED_SOURCE, TrustConfig
from differential.environ import (
    ENVIRON_APP,
    FIELDS,
    build_environ,
    observe_environ,
    observe_modwsgi,
)
from differential.observe import Observations, observe_all

pytestmark = [pytest.mark.realserver, pytest.mark.differential]


def express(*args: str, ready_target: str | None = "/") -> ManagedServer:
    return start_modwsgi_express(ENVIRON_APP, list(args), name="modwsgi-oracle",
                                 ready_target=ready_target)


def get(server: ManagedServer, headers: Sequence[tuple[str, str]] = (), *,
        source: str = TRUSTED_SOURCE, path: str = "/") -> dict[str, str]:
    response = raw_request(server.host, server.port, "GET", path, headers, source=source)
    assert response.status == 200, response.text
    env: dict[str, str] = response.json()
    return env


def proxies(*values: str) -> list[str]:
    return [arg for value in values for arg in ("--trust-proxy", value)]


def headers(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--trust-proxy-header", name)]


# --------------------------------------------------------------------------- environ model


@pytest.fixture(scope="module")
def baseline() -> Iterator[Observations]:
    """Every case against a mod_wsgi-express with no trust configuration."""
    config = TrustConfig("baseline", (), ())
    with express() as server:
        yield observe_all(server, config, CASES, SOURCES)


def test_environ_model_matches_modwsgi(baseline: Observations) -> None:
    assert not baseline.errors
    problems: list[str] = []
    for source in SOURCES:
        for case in CASES:
            env = baseline.environ[(case.id, source)]
            model = build_environ(case.wire_headers(baseline.port), source=source,
                                  path=case.path, listen_port=baseline.port)
            ours, theirs = observe_environ(model), observe_modwsgi(env)
            for field in FIELDS:
                if ours[field] != theirs[field]:
                    problems.append(f"{case.id} from {source}: {field}: model={ours[field]!r} "
                                    f"mod_wsgi={theirs[field]!r}")
            model_http = {k: v for k, v in model.items() if k.startswith("HTTP_")}
            real_http = {k: v for k, v in env.items() if k.startswith("HTTP_")}
            if model_http != real_http:
                problems.append(f"{case.id} from {source}: HTTP_*: model={model_http!r} "
                                f"mod_wsgi={real_http!r}")
    assert not problems, "\n".join(problems[:40])


def test_express_post_processing_of_prefix() -> None:
    """§2.3: express keeps the header's SCRIPT_NAME and the whole path in PATH_INFO;
    the C-level values survive in mod_wsgi.* keys."""
    with express(*proxies("127.0.0.1"), *headers("X-Script-Name")) as server:
        env = get(server, [("X-Script-Name", "/myapp")], path="/myapp/a/b")
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/myapp", "/myapp/a/b")
        assert env["mod_wsgi.mount_point"] == "/myapp"
        env = get(server, [("X-Script-Name", "")], path="/x")
        assert env["SCRIPT_NAME"] == ""
        assert env["mod_wsgi.mount_point"] == ""
        for value in ("prefix", "/trailing/", "//a//b", "/a%20b"):
            assert get(server, [("X-Script-Name", value)])["SCRIPT_NAME"] == value


# --------------------------------------------------------------------------- §4 X-Forwarded-For

#: mod_wsgi-reference.md §4: (X-Forwarded-For, REMOTE_ADDR, HTTP_X_FORWARDED_FOR after).
#: The reference's "garbage" is written "garbage!" here: mod_wsgi treats any
#: unparseable text alike, and getaddrinfo asks DNS about "garbage" but not
#: about a string that cannot be a host name (see cases.py).
XFF_CIDR_TABLE = [
    ("1.2.3.4", "1.2.3.4", "1.2.3.4"),
    ("1.2.3.4, 10.0.0.5, 10.0.0.6", "1.2.3.4", "1.2.3.4, 10.0.0.5, 10.0.0.6"),
    ("1.2.3.4, 5.6.7.8, 10.0.0.5", "5.6.7.8", "5.6.7.8, 10.0.0.5"),
    ("1.2.3.4, 10.0.0.5, 5.6.7.8", "5.6.7.8", "5.6.7.8"),
    ("10.0.0.5, 1.2.3.4, 10.0.0.6, 10.0.0.7", "1.2.3.4", "1.2.3.4, 10.0.0.6, 10.0.0.7"),
    ("10.0.0.5, 10.0.0.6", "10.0.0.5", "10.0.0.5, 10.0.0.6"),
    ("garbage!, 10.0.0.5", "garbage!", "garbage!, 10.0.0.5"),
    ("1.2.3.4, garbage!", "garbage!", "garbage!"),
    ("1.2.3.4, 10.0.0.5:8080", "10.0.0.5:8080", "10.0.0.5:8080"),
    ("[2001:db8::1]", "[2001:db8::1]", "[2001:db8::1]"),
    ("1.2.3.4, 2001:DB8::5", "1.2.3.4", "1.2.3.4, 2001:DB8::5"),
    ("1.2.3.4, ::ffff:10.0.0.5", "1.2.3.4", "1.2.3.4, ::ffff:10.0.0.5"),
    ("1.2.3.4, localhost", "1.2.3.4", "1.2.3.4, localhost"),
    ("1.2.3.4, 167772165", "1.2.3.4", "1.2.3.4, 167772165"),
    ("1.2.3.4, 10.5", "1.2.3.4", "1.2.3.4, 10.5"),
    ("1.2.3.4, 010.0.0.5", "010.0.0.5", "010.0.0.5"),
    ("1.2.3.4, fe80::1%lo", "fe80::1%lo", "fe80::1%lo"),
    (",,1.2.3.4,,10.0.0.5,", "1.2.3.4", "1.2.3.4, 10.0.0.5"),
    ("", TRUSTED_SOURCE, ""),
    (" , , ", TRUSTED_SOURCE, ", ,"),
]


def test_documented_xff_table_cidrs() -> None:
    with express(*proxies("127.0.0.0/24", "10.0.0.0/8", "2001:db8::/32"),
                 *headers("X-Forwarded-For")) as server, \
            RawConnection(server.host, server.port) as conn:
        for value, remote_addr, after in XFF_CIDR_TABLE:
            env = conn.request("GET", "/", [("X-Forwarded-For", value)]).json()
            assert (value, env["REMOTE_ADDR"], env.get("HTTP_X_FORWARDED_FOR")) == (
                value, remote_addr, after)


def test_documented_xff_single_ip() -> None:
    with express(*proxies("127.0.0.1"), *headers("X-Forwarded-For")) as server:
        assert get(server, [("X-Forwarded-For", "1.2.3.4, 10.0.0.5")])["REMOTE_ADDR"] == "10.0.0.5"
        assert get(server, [("X-Forwarded-For", "1.2.3.4, 127.0.0.1")])["REMOTE_ADDR"] == "1.2.3.4"
        # The peer itself is never part of the walk; an untrusted peer loses the header.
        env = get(server, [("X-Forwarded-For", "1.2.3.4")], source=UNTRUSTED_SOURCE)
        assert env["REMOTE_ADDR"] == UNTRUSTED_SOURCE
        assert "HTTP_X_FORWARDED_FOR" not in env


# --------------------------------------------------------------------------- §3 the algorithm


def test_without_trusted_proxies_every_peer_is_trusted_and_leftmost_wins() -> None:
    """§3.1: headers without proxies trust everyone; X-Forwarded-For's leftmost wins."""
    with express(*headers("X-Forwarded-For")) as server:
        for source in SOURCES:
            for value, remote_addr in [("garbage, 1.2.3.4", "garbage"),
                                       (", , 1.2.3.4, 5.6.7.8", "1.2.3.4"),
                                       ("1.2.3.4:8080", "1.2.3.4:8080")]:
                env = get(server, [("X-Forwarded-For", value)], source=source)
                assert env["REMOTE_ADDR"] == remote_addr
                assert env["HTTP_X_FORWARDED_FOR"] == value


def test_proxies_without_headers_do_nothing() -> None:
    """§3 step 1: WSGITrustedProxies alone does nothing."""
    sent = [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "public.example")]
    with express(*proxies("127.0.0.1")) as server:
        for source in SOURCES:
            env = get(server, sent, source=source)
            assert env["REMOTE_ADDR"] == source
            assert env["wsgi.url_scheme"] == "http"
            assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
            assert env["HTTP_X_FORWARDED_HOST"] == "public.example"


def test_untrusted_peer_loses_only_configured_groups() -> None:
    """§3.2: only configured categories are stripped; unknown headers always pass."""
    sent = [("X-Forwarded-For", "1.2.3.4"), ("X-Real-IP", "1.2.3.4"),
            ("X-Forwarded-Proto", "https"), ("X-Forwarded-SSL", "on"),
            ("X-Forwarded-Host", "public.example"), ("Forwarded", "for=1.2.3.4"),
            ("X-Forwarded-Prefix", "/p")]
    with express(*proxies("127.0.0.1"), *headers("X-Forwarded-Proto")) as server:
        env = get(server, sent, source=UNTRUSTED_SOURCE)
        assert "HTTP_X_FORWARDED_PROTO" not in env
        assert "HTTP_X_FORWARDED_SSL" not in env
        for key in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_HOST",
                    "HTTP_FORWARDED", "HTTP_X_FORWARDED_PREFIX"):
            assert key in env
        env = get(server, sent, source=TRUSTED_SOURCE)
        assert env["wsgi.url_scheme"] == "https"
        assert "HTTP_X_FORWARDED_SSL" not in env  # a synonym of the configured header
        assert env["HTTP_X_FORWARDED_PROTO"] == "https"


def test_scheme_values_https_and_request_scheme() -> None:
    """§2.1: scheme words and booleans; HTTPS never reaches the app; REQUEST_SCHEME stays."""
    words = {"https": "https", "HTTPS": "https", "HtTpS": "https", "http": "http",
             "junk": "http", "https, http": "http", "wss": "http", "": "http"}
    booleans = {"On": "https", "true": "https", "1": "https", "TRUE": "https", "off": "http",
                "yes": "http", "no": "http", "2": "http", "junk": "http", "": "http"}
    with express(*proxies("127.0.0.1"), *headers("X-Forwarded-Proto")) as server:
        for value, scheme in words.items():
            env = get(server, [("X-Forwarded-Proto", value)])
            assert (value, env["wsgi.url_scheme"]) == (value, scheme)
            assert "HTTPS" not in env
            assert env["REQUEST_SCHEME"] == "http"
    with express(*proxies("127.0.0.1"), *headers("X-Forwarded-SSL")) as server:
        for value, scheme in booleans.items():
            env = get(server, [("X-Forwarded-SSL", value)])
            assert (value, env["wsgi.url_scheme"]) == (value, scheme)


def test_host_server_port_verbatim() -> None:
    """§2.2: HTTP_HOST, SERVER_NAME, SERVER_PORT are replaced verbatim, unchecked."""
    with express(*proxies("127.0.0.1"),
                 *headers("X-Forwarded-Host", "X-Forwarded-Server", "X-Forwarded-Port")) as server:
        for host in ("a.example, b.example", "", "[2001:db8::1]:8080"):
            assert get(server, [("X-Forwarded-Host", host)])["HTTP_HOST"] == host
        assert get(server, [("X-Forwarded-Server", "proxy.example:8080")])["SERVER_NAME"] == (
            "proxy.example:8080")
        for port in ("abc", "-1", "99999", "443, 80", ""):
            assert get(server, [("X-Forwarded-Port", port)])["SERVER_PORT"] == port
        env = get(server, [], path="/", source=TRUSTED_SOURCE)
        assert env["SERVER_PORT"] == str(server.port)
        env = get(server, [("Host", "backend.internal:8000")])
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("backend.internal", "8000")


def test_two_headers_of_one_group_last_configured_wins() -> None:
    """§3.3: configuration order decides, wire order does not; a no-op still keeps its slot."""
    for order, winner in [(("X-Forwarded-For", "X-Real-IP"), "5.6.7.8"),
                          (("X-Real-IP", "X-Forwarded-For"), "1.2.3.4")]:
        with express(*proxies("127.0.0.1"), *headers(*order)) as server:
            for wire in ([("X-Forwarded-For", "1.2.3.4"), ("X-Real-IP", "5.6.7.8")],
                         [("X-Real-IP", "5.6.7.8"), ("X-Forwarded-For", "1.2.3.4")]):
                assert get(server, wire)["REMOTE_ADDR"] == winner
    with express(*proxies("127.0.0.1"), *headers("X-Forwarded-Proto", "X-Forwarded-SSL")) as server:
        env = get(server, [("X-Forwarded-Proto", "https"), ("X-Forwarded-SSL", "junk")])
        assert env["wsgi.url_scheme"] == "https"
        assert env["HTTP_X_FORWARDED_SSL"] == "junk"
        assert "HTTP_X_FORWARDED_PROTO" not in env


def test_underscore_header_name_crashes_every_request() -> None:
    """§1.1: a configured name with '_' is stored as NULL; every request kills the child."""
    with express(*proxies("127.0.0.1"), *headers("X_Forwarded_For"),
                 ready_target=None) as server:
        with pytest.raises((ConnectionClosed, ConnectionResetError)):
            raw_request(server.host, server.port, "GET", "/", [("X-Forwarded-For", "1.2.3.4")])
        for _ in range(100):  # Apache logs the dead child a moment later
            log = server.log_text()
            if "Segmentation fault" in log:
                break
            time.sleep(0.05)
    assert "exit signal Segmentation fault" in log, log
