"""The WSGI adapter: what the application sees, originals, decision, logging."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support import Recorder, make_environ, run

from trustedproxy import ConfigError, Decision, TrustedProxyMiddleware, TrustPolicy
from trustedproxy.headers import HEADERS
from trustedproxy.wsgi import _PurePythonMiddleware

FULL = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Server",
        "X-Forwarded-Port", "X-Forwarded-Prefix"]
POLICY = TrustPolicy(trusted_proxies=["127.0.0.1", "10.0.0.0/8", "::1"], trusted_headers=FULL)
FORGED = {spec.name: "1.2.3.4" for spec in HEADERS.values()}


class TestTrustedPeer:
    def test_full_rewrite(self) -> None:
        """Every trusted header rewrites its environ key; originals are kept."""
        environ = make_environ("127.0.0.1", {
            "X-Forwarded-For": "203.0.113.9, 10.0.0.2", "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "www.example.com", "X-Forwarded-Server": "www.example.com",
            "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/shop",
        }, REQUEST_SCHEME="http")
        seen = run(POLICY, environ)
        assert seen["REMOTE_ADDR"] == "203.0.113.9"
        assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 10.0.0.2"
        assert seen["wsgi.url_scheme"] == "https"
        assert seen["HTTPS"] == "on"
        assert seen["REQUEST_SCHEME"] == "https"
        assert seen["HTTP_HOST"] == "www.example.com"
        assert seen["SERVER_NAME"] == "www.example.com"
        assert seen["SERVER_PORT"] == "443"
        assert seen["SCRIPT_NAME"] == "/shop"
        assert seen["PATH_INFO"] == "/path"
        assert seen["trustedproxy.orig"] == {
            "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "HTTPS": None,
            "REQUEST_SCHEME": "http", "HTTP_HOST": "backend.internal:8000",
            "SERVER_NAME": "backend.internal", "SERVER_PORT": "8000", "SCRIPT_NAME": "",
        }
        decision = seen["trustedproxy.decision"]
        assert isinstance(decision, Decision)
        assert decision.trusted

    def test_http_scheme_removes_https(self) -> None:
        """A trusted 'http' removes a server-set HTTPS key and keeps REQUEST_SCHEME in step."""
        seen = run(POLICY, make_environ("127.0.0.1", {"X-Forwarded-Proto": "http"},
                                        HTTPS="on", REQUEST_SCHEME="https",
                                        **{"wsgi.url_scheme": "https"}))
        assert "HTTPS" not in seen
        assert seen["wsgi.url_scheme"] == "http"
        assert seen["REQUEST_SCHEME"] == "http"
        assert seen["trustedproxy.orig"]["HTTPS"] == "on"

    def test_request_scheme_not_invented(self) -> None:
        """REQUEST_SCHEME is updated only when the server set it."""
        seen = run(POLICY, make_environ("127.0.0.1", {"X-Forwarded-Proto": "https"}))
        assert "REQUEST_SCHEME" not in seen

    def test_unchanged_values_are_not_recorded(self) -> None:
        """orig lists what changed: a header equal to the current value is not a change."""
        seen = run(POLICY, make_environ("127.0.0.1", {"X-Forwarded-Port": "8000"}))
        assert seen["trustedproxy.orig"] == {"REMOTE_ADDR": "127.0.0.1"}

    def test_invalid_values_are_removed_and_logged_at_debug(
            self, caplog: pytest.LogCaptureFixture) -> None:
        """Junk from a trusted proxy is ignored, removed and logged at DEBUG, never raised."""
        caplog.set_level(logging.DEBUG, logger="trustedproxy")
        seen = run(POLICY, make_environ("127.0.0.1", {
            "X-Forwarded-Port": "99999", "X-Forwarded-Proto": "junk"}))
        assert seen["SERVER_PORT"] == "8000"
        assert seen["wsgi.url_scheme"] == "http"
        assert "HTTP_X_FORWARDED_PORT" not in seen
        assert "HTTP_X_FORWARDED_PROTO" not in seen
        assert seen["trustedproxy.orig"]["HTTP_X_FORWARDED_PORT"] == "99999"
        records = [r for r in caplog.records if r.name == "trustedproxy"]
        assert {r.levelno for r in records} == {logging.DEBUG}
        assert any("X-Forwarded-Port" in r.getMessage() and "99999" in r.getMessage()
                   for r in records)

    def test_a_huge_ignored_value_is_logged_short(
            self, caplog: pytest.LogCaptureFixture) -> None:
        """A megabyte of ignored header is one short debug line: the value's two
        ends (the right one, where the nearest proxy wrote) and its length."""
        caplog.set_level(logging.DEBUG, logger="trustedproxy")
        huge = "left" + "x" * (1 << 20) + "right-end"
        run(POLICY, make_environ("127.0.0.1", {"X-Forwarded-For": huge}))
        [line] = [r.getMessage() for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
        assert len(line) < 600
        assert f"({len(huge)} characters)" in line
        assert "'leftx" in line
        assert "xright-end'" in line

    def test_nothing_above_debug_per_request(self, caplog: pytest.LogCaptureFixture) -> None:
        """Per-request logging never goes above DEBUG, whatever the request."""
        middleware = TrustedProxyMiddleware(Recorder(), POLICY)
        caplog.set_level(logging.DEBUG, logger="trustedproxy")
        for peer in ("127.0.0.1", "8.8.8.8", ""):
            middleware(make_environ(peer, FORGED), lambda s, h: None)
        assert all(r.levelno <= logging.DEBUG for r in caplog.records)

    def test_prefix_strip_from_path(self) -> None:
        """strip_prefix_from_path removes the prefix from PATH_INFO on a segment boundary."""
        policy = TrustPolicy(trusted_proxies=["127.0.0.1"],
                             trusted_headers=["X-Forwarded-Prefix"], strip_prefix_from_path=True)
        seen = run(policy, make_environ("127.0.0.1", {"X-Forwarded-Prefix": "/myapp"},
                                        PATH_INFO="/myapp/login"))
        assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/myapp", "/login")
        assert seen["trustedproxy.orig"]["PATH_INFO"] == "/myapp/login"
        seen = run(policy, make_environ("127.0.0.1", {"X-Forwarded-Prefix": "/myapp"},
                                        PATH_INFO="/myapplication"))
        assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/myapp", "/myapplication")

    @pytest.mark.parametrize("peer", ["127.0.0.1", "8.8.8.8"])
    @pytest.mark.parametrize("strip", [False, True])
    def test_non_ascii_script_name_as_a_header_would_give_it(self, peer: str,
                                                               strip: bool) -> None:
        """A fixed non-ASCII script_name goes into SCRIPT_NAME as WSGI strings hold bytes:
        its UTF-8 bytes as latin-1, the form a trusted X-Forwarded-Prefix carrying those
        bytes gives; strip_prefix_from_path finds it in PATH_INFO, which has that form."""
        native = "/\u00e9t\u00e9".encode().decode("latin-1")  # '/Ã©tÃ©'
        path_info = native + "/x" if strip else "/x"
        fixed = TrustPolicy(trusted_proxies=["127.0.0.1"], trusted_headers=["X-Forwarded-For"],
                            script_name="/\u00e9t\u00e9", strip_prefix_from_path=strip)
        seen = run(fixed, make_environ(peer, PATH_INFO=path_info))
        assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == (native, "/x")
        assert seen["trustedproxy.decision"].prefix == native
        sent = TrustPolicy(trusted_proxies=["127.0.0.1"], trusted_headers=["X-Forwarded-Prefix"],
                           strip_prefix_from_path=strip)
        seen = run(sent, make_environ("127.0.0.1", {"X-Forwarded-Prefix": native},
                                      PATH_INFO=path_info))
        assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == (native, "/x")

    def test_prefix_prepended_to_server_script_name(self) -> None:
        """The prefix goes in front of the server's own mount point (mod_wsgi replaces it)."""
        seen = run(POLICY, make_environ("127.0.0.1", {"X-Forwarded-Prefix": "/public"},
                                        SCRIPT_NAME="/mounted"))
        assert seen["SCRIPT_NAME"] == "/public/mounted"


class TestUntrustedPeer:
    @pytest.mark.parametrize("peer", ["8.8.8.8", "2001:db8::66", "", None])
    def test_every_forwarded_header_removed(self, peer: str | None) -> None:
        """From an untrusted peer every known forwarded header goes; nothing else changes."""
        environ = make_environ(peer, FORGED)
        before = dict(environ)
        seen = run(POLICY, environ)
        for spec in HEADERS.values():
            assert spec.environ_key not in seen
        expected = {k: v for k, v in before.items() if not k.startswith("HTTP_X_")
                    and k != "HTTP_FRONT_END_HTTPS" and k != "HTTP_FORWARDED"}
        assert {k: v for k, v in seen.items() if not k.startswith("trustedproxy.")} == expected
        assert seen["trustedproxy.orig"]["REMOTE_ADDR"] == peer

    def test_fixed_script_name_still_applies(self) -> None:
        """The operator's script_name is not a client's claim: it applies to everyone."""
        policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=FULL,
                             script_name="/app")
        seen = run(policy, make_environ("8.8.8.8", {"X-Forwarded-Prefix": "/evil"}))
        assert seen["SCRIPT_NAME"] == "/app"
        assert "HTTP_X_FORWARDED_PREFIX" not in seen

    def test_other_headers_untouched(self) -> None:
        """Headers that are not forwarded headers pass through."""
        seen = run(POLICY, make_environ("8.8.8.8", {"X-Request-Id": "abc", "Accept": "*/*",
                                                    "X-Forwarded": "x"}))
        assert seen["HTTP_X_REQUEST_ID"] == "abc"
        assert seen["HTTP_ACCEPT"] == "*/*"
        assert seen["HTTP_X_FORWARDED"] == "x"


class TestConstruction:
    def test_policy_from_yaml_path(self, tmp_path: Path) -> None:
        """A path to a YAML file is accepted in place of a policy."""
        path = tmp_path / "trust.yaml"
        path.write_text("trusted_proxies: [127.0.0.1]\ntrusted_headers: [X-Forwarded-For]\n")
        for given in (str(path), path):
            middleware = TrustedProxyMiddleware(Recorder(), given)
            assert middleware.policy == TrustPolicy(trusted_proxies=["127.0.0.1"],
                                                    trusted_headers=["X-Forwarded-For"])

    def test_bad_policy_file_fails_at_construction(self, tmp_path: Path) -> None:
        """A bad file raises ConfigError naming it, before any request."""
        path = tmp_path / "trust.yaml"
        path.write_text("trusted_proxies: [10.0.0.0/33]\ntrusted_headers: [X-Forwarded-For]\n")
        with pytest.raises(ConfigError, match=r"trust\.yaml.*prefix length must be 0-32"):
            TrustedProxyMiddleware(Recorder(), str(path))
        with pytest.raises(ConfigError, match="cannot read policy file"):
            TrustedProxyMiddleware(Recorder(), str(tmp_path / "missing.yaml"))

    def test_wrong_type(self) -> None:
        """Anything but a policy or a path is a TypeError."""
        with pytest.raises(TypeError, match="policy must be a TrustPolicy or a path, not dict"):
            TrustedProxyMiddleware(Recorder(), {"trusted_proxies": []})  # type: ignore[arg-type]

    def test_warnings_logged_once_at_construction(self,
                                                  caplog: pytest.LogCaptureFixture) -> None:
        """Policy warnings are logged as warnings when the middleware is built."""
        policy = TrustPolicy(trusted_proxies=["0.0.0.0/0"], trusted_headers=["X-Real-IP"])
        with caplog.at_level(logging.WARNING, logger="trustedproxy"):
            TrustedProxyMiddleware(Recorder(), policy)
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        assert "trusts every IPv4 address" in caplog.records[0].getMessage()

    def test_returns_app_result(self) -> None:
        """The wrapped app's iterable is returned as is."""
        middleware = TrustedProxyMiddleware(Recorder(), POLICY)
        assert list(middleware(make_environ(), lambda s, h: None)) == [b"ok"]


class TestWithFlask:
    def test_url_for_and_redirect_carry_the_public_view(self) -> None:
        """Flask behind a proxy at /myapp: url_for, redirects, remote_addr, is_secure."""
        flask = pytest.importorskip("flask")
        app = flask.Flask(__name__)

        @app.route("/")
        def index() -> str:
            return "|".join([flask.request.remote_addr or "", str(flask.request.is_secure),
                             flask.url_for("index", _external=True)])

        @app.route("/go")
        def go() -> object:
            return flask.redirect(flask.url_for("index"))

        app.wsgi_app = TrustedProxyMiddleware(app.wsgi_app, TrustPolicy(  # type: ignore[method-assign]
            trusted_proxies=["127.0.0.1"],
            trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                             "X-Forwarded-Prefix"]))
        client = app.test_client()
        headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                   "X-Forwarded-Host": "www.example.com", "X-Forwarded-Prefix": "/myapp"}
        body = client.get("/", headers=headers,
                          environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
        assert body == "203.0.113.9|True|https://www.example.com/myapp/"
        response = client.get("/go", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        assert response.headers["Location"] == "/myapp/"
        forged = client.get("/", headers=headers,
                            environ_base={"REMOTE_ADDR": "192.0.2.50"}).get_data(as_text=True)
        assert forged == "192.0.2.50|False|http://localhost/"


def test_custom_headers_through_the_middleware() -> None:
    """A registered header is applied when trusted and stripped from untrusted peers."""
    policy = TrustPolicy(trusted_proxies=["127.0.0.1"], trusted_headers=["CF-Connecting-IP"],
                         custom_headers={"CF-Connecting-IP": "client",
                                         "Fastly-Client-IP": "client"})
    seen = run(policy, make_environ("127.0.0.1", {"CF-Connecting-IP": "203.0.113.5",
                                                  "Fastly-Client-IP": "6.6.6.6"}))
    assert seen["REMOTE_ADDR"] == "203.0.113.5"
    assert seen["HTTP_CF_CONNECTING_IP"] == "203.0.113.5"
    assert "HTTP_FASTLY_CLIENT_IP" not in seen
    seen = run(policy, make_environ("8.8.8.8", {"CF-Connecting-IP": "203.0.113.5"}))
    assert seen["REMOTE_ADDR"] == "8.8.8.8"
    assert "HTTP_CF_CONNECTING_IP" not in seen


def test_forwarded_through_the_middleware() -> None:
    """A trusted Forwarded header sets the client, scheme and host, and is trimmed."""
    policy = TrustPolicy(trusted_proxies=["127.0.0.1", "10.0.0.0/8"],
                         trusted_headers=["Forwarded"])
    seen = run(policy, make_environ("127.0.0.1", {
        "Forwarded": 'for=6.6.6.6;proto=http, for="[2001:db8::7]";proto=https;host=shop.example,'
                     " for=10.0.0.4", "X-Forwarded-For": "6.6.6.6"}))
    assert seen["REMOTE_ADDR"] == "2001:db8::7"
    assert seen["wsgi.url_scheme"] == "https"
    assert seen["HTTP_HOST"] == "shop.example"
    assert seen["HTTP_FORWARDED"] == (
        'for="[2001:db8::7]";proto=https;host=shop.example, for=10.0.0.4')
    assert "HTTP_X_FORWARDED_FOR" not in seen


@pytest.mark.parametrize("kind", [TrustedProxyMiddleware, _PurePythonMiddleware])
def test_middleware_is_set_up_once(kind: type[TrustedProxyMiddleware]) -> None:
    """Calling ``__init__`` again on a middleware raises and changes nothing:
    it keeps its app, policy and engine, and decides as before."""
    app = Recorder()
    middleware = kind(app, POLICY)
    engine = middleware.engine
    other = TrustPolicy(trusted_proxies=["192.0.2.1"], trusted_headers=["X-Forwarded-For"])
    with pytest.raises(RuntimeError, match="already set up; make a new one"):
        middleware.__init__(Recorder(), other)  # type: ignore[misc]
    assert (middleware.app, middleware.policy, middleware.engine) == (app, POLICY, engine)
    environ = make_environ("10.0.0.5", {"X-Forwarded-For": "203.0.113.7"})
    list(middleware(environ, lambda status, headers, exc_info=None: None))
    assert app.environ["REMOTE_ADDR"] == "203.0.113.7"
