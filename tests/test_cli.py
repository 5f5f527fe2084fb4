"""The check, explain and convert commands, through main(argv)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from trustedproxy import TrustPolicy, _compiled
from trustedproxy.cli import SERVERS, _walk_lines, explain, main
from trustedproxy.errors import ConfigError
from trustedproxy.loaders.files import detect_format

YAML = ("trusted_proxies: [10.0.0.0/8, 127.0.0.1]\n"
        "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Port, "
        "X-Forwarded-Prefix]\n")
POLICY = TrustPolicy(trusted_proxies=["10.0.0.0/8", "127.0.0.1"],
                     trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto",
                                      "X-Forwarded-Port", "X-Forwarded-Prefix"])


@pytest.fixture
def files(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A directory with a policy in each form, as the current directory."""
    (tmp_path / "trust.yaml").write_text(YAML)
    (tmp_path / "vhost.conf").write_text(POLICY.to_directives())
    (tmp_path / "express.args").write_text(" ".join(POLICY.to_express_args()) + "\n")
    (tmp_path / "bad.yaml").write_text("trusted_proxies:\n  - 10.0.0.0/33\n"
                                       "trusted_headers: [X-Forwarded-Fro]\n")
    (tmp_path / "warn.yaml").write_text("trusted_proxies: [10.0.0.1/8]\n"
                                        "trusted_headers: [X-Forwarded-For]\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


class TestCheck:
    def test_clean(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Clean files in every form: exit 0 and one 'ok' line each."""
        assert main(["check", "trust.yaml", "vhost.conf", "express.args"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0] == ("trust.yaml: ok: 2 trusted networks; headers: X-Forwarded-For, "
                          "X-Forwarded-Proto, X-Forwarded-Port, X-Forwarded-Prefix")
        assert [line.split(":")[0] for line in out] == ["trust.yaml", "vhost.conf",
                                                        "express.args"]

    def test_errors(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Errors print as file:line: error: message; exit 2, other files still checked."""
        assert main(["check", "bad.yaml", "trust.yaml"]) == 2
        out = capsys.readouterr().out.splitlines()
        assert out[:2] == [
            "bad.yaml:2: error: invalid trusted proxy '10.0.0.0/33': prefix length must be "
            "0-32 for IPv4",
            "bad.yaml:3: error: unknown header 'X-Forwarded-Fro': did you mean "
            "'X-Forwarded-For'?"]
        assert out[2].startswith("trust.yaml: ok")

    def test_warnings(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Warnings print as file:line: warning: message; exit 0, or 1 with --strict."""
        assert main(["check", "warn.yaml"]) == 0
        out = capsys.readouterr().out
        assert ("warn.yaml:1: warning: trusted proxy '10.0.0.1/8': host bits set: read as "
                "10.0.0.0/8\n") in out
        assert out.endswith("; 1 warning\n")
        assert main(["check", "--strict", "warn.yaml"]) == 1
        assert main(["check", "--strict", "trust.yaml"]) == 0

    def test_empty_policy_warns(self, files: pathlib.Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
        """A file that trusts nothing draws a warning (a vhost without trust directives)."""
        (files / "plain.conf").write_text("ServerName example.com\n")
        assert main(["check", "--strict", "plain.conf"]) == 1
        assert ("plain.conf: warning: no trusted proxies and no trusted headers: this policy "
                "trusts no peer") in capsys.readouterr().out

    def test_missing_file(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A missing file is an error line, not a traceback."""
        assert main(["check", "nothing.yaml"]) == 2
        assert capsys.readouterr().out == ("nothing.yaml: error: cannot read policy file: No such "
                                           "file or directory\n")

    def test_not_utf8(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A file that is not UTF-8 is an error line."""
        (files / "x.yaml").write_bytes(b"\xff\n")
        assert main(["check", "x.yaml"]) == 2
        assert capsys.readouterr().out.startswith("x.yaml: error: not UTF-8 text: invalid")

    def test_block(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--block picks a block of a directive file; it is refused for other forms."""
        (files / "two.conf").write_text(
            "<Location /a>\nWSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Real-IP\n"
            "</Location>\n<Location /b>\nWSGITrustedProxies 10.0.0.2\n"
            "WSGITrustedProxyHeaders X-Real-IP\n</Location>\n")
        assert main(["check", "two.conf"]) == 2
        assert "give different policies: say which one is meant with block=" in (
            capsys.readouterr().out)
        assert main(["check", "--block", "/b", "two.conf"]) == 0
        assert main(["check", "--block", "/b", "trust.yaml"]) == 2
        assert capsys.readouterr().out.endswith(
            "trust.yaml: error: block '/b': a block applies to directive files only (this file "
            "is read as yaml)\n")

    def test_format_option(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--format overrides detection; a file with nothing in the form it names
        that looks like another form is an error (it loaded an empty policy with
        a warning), exit status 2; a file of that form with nothing in it loads."""
        (files / "policy.txt").write_text(YAML)
        assert main(["check", "--format", "yaml", "policy.txt"]) == 0
        capsys.readouterr()
        assert main(["check", "trust.yaml", "--format", "express"]) == 2
        assert capsys.readouterr().out == (
            "trust.yaml: error: format='express' (on the command line: --format express) reads "
            "this file as express, but nothing in it is: it has no --trust-proxy or "
            "--trust-proxy-header option; it looks like yaml, for it has a YAML mapping with "
            "the keys trusted_proxies, trusted_headers: say format='yaml' (--format yaml), or "
            "leave the format out\n")
        assert main(["check", "--format", "directives", "policy.txt"]) == 2
        assert main(["explain", "--format", "directives", "policy.txt", "--peer", "::1"]) == 2
        assert "trustedproxy: error: policy.txt: format='directives'" in (
            capsys.readouterr().err)
        (files / "start.txt").write_text("mod_wsgi-express start-server app.wsgi\n")
        assert main(["check", "--strict", "--format", "express", "start.txt"]) == 1
        assert "start.txt: warning: no trusted proxies and no trusted headers" in (
            capsys.readouterr().out)


@pytest.mark.parametrize(("name", "text", "fmt"), [
    pytest.param("a.yml", "", "yaml", id="yml"),
    pytest.param("a.conf", "", "directives", id="conf"),
    pytest.param("a.args", "", "express", id="args"),
    pytest.param("policy", "  wsgiTrustedProxies 10.0.0.1\n", "directives", id="directive"),
    pytest.param("policy", "<VirtualHost *:80>\n</VirtualHost>\n", "directives", id="vhost"),
    pytest.param("policy", "mod_wsgi-express start-server --trust-proxy 1.2.3.4", "express",
                 id="express"),
    pytest.param("policy", "trusted_proxies: []\n", "yaml", id="yaml content"),
    pytest.param("policy", "# as mod_wsgi-express --trust-proxy 10.0.0.1 would\n"
                 "trusted_proxies: [10.0.0.1]\n", "yaml", id="express option in a comment"),
    pytest.param("policy", "  --trust-proxy 1.2.3.4 # and a comment\n", "express",
                 id="express option before a comment"),
])
def test_detect_format(name: str, text: str, fmt: str) -> None:
    """The form comes from the extension, else from the content."""
    assert detect_format(name, text) == fmt


class TestExplain:
    ARGS = ("explain", "trust.yaml", "--peer", "10.0.0.5",
            "-H", "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.0.0.7",
            "-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Port: 99999",
            "-H", "X-Real-IP: 6.6.6.6", "-H", "X-Forwarded-Prefix: /myapp", "--path", "/page")

    def test_text(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The readable report shows peer, walk, sources, ignored, removed and environ."""
        assert main(self.ARGS) == 0
        out = capsys.readouterr().out
        assert "peer:    10.0.0.5 is a trusted proxy (in 10.0.0.0/8)\n" in out
        assert "   3. 10.0.0.7      trusted proxy (in 10.0.0.0/8)\n" in out
        assert "   2. 203.0.113.7   client: the walk stops here\n" in out
        assert "   1. 198.51.100.1  not looked at\n" in out
        assert "  REMOTE_ADDR           203.0.113.7            from X-Forwarded-For\n" in out
        assert ("ignored:\n  X-Forwarded-Port: '99999': not a port: expected a number from 1 "
                "to 65535\n") in out
        assert "  X-Real-IP: '6.6.6.6': not a trusted header\n" in out
        assert "  REMOTE_ADDR              10.0.0.5 -> 203.0.113.7\n" in out
        assert "  SCRIPT_NAME              '' -> /myapp\n" in out
        assert "  HTTP_X_REAL_IP           6.6.6.6 -> (removed)\n" in out

    def test_json(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--json gives the same facts for tools."""
        assert main([*self.ARGS, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["policy"] == "trust.yaml"
        assert result["trusted"] is True
        assert result["network"] == "10.0.0.0/8"
        assert result["chain"] == [
            {"element": "198.51.100.1", "verdict": "unvisited", "network": None},
            {"element": "203.0.113.7", "verdict": "client", "network": None},
            {"element": "10.0.0.7", "verdict": "trusted", "network": "10.0.0.0/8"}]
        assert {"key": "wsgi.url_scheme", "value": "https",
                "header": "X-Forwarded-Proto"} in result["set"]
        assert result["ignored"] == [{"header": "X-Forwarded-Port", "value": "99999",
                                      "reason": "not a port: expected a number from 1 to 65535"}]
        assert {"header": "X-Real-IP", "value": "6.6.6.6",
                "reason": "not a trusted header"} in result["removed"]
        assert {"header": "X-Forwarded-Port", "value": "99999",
                "reason": "its value is invalid (see ignored)"} in result["removed"]
        assert result["kept"] == ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Prefix"]
        assert result["environ"]["before"]["REMOTE_ADDR"] == "10.0.0.5"
        assert result["environ"]["after"]["REMOTE_ADDR"] == "203.0.113.7"
        assert result["environ"]["after"]["PATH_INFO"] == "/page"
        assert result["warnings"] == []

    @pytest.mark.parametrize(("chain", "line"), [
        pytest.param("1.2.3.4, junk, 10.0.0.7, 10.0.0.8",
                     "   3. 10.0.0.7  client: the last trusted hop before an invalid element "
                     "(in 10.0.0.0/8)\n", id="junk"),
        pytest.param("10.0.0.7, 10.0.0.8",
                     "   1. 10.0.0.7  client: every element is a trusted proxy, so the leftmost "
                     "(in 10.0.0.0/8)\n", id="all trusted"),
        pytest.param("1.2.3.4, junk",
                     "   2. junk     not an address: the walk stops here\n", id="junk last"),
    ])
    def test_walk_notes(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str],
                        chain: str, line: str) -> None:
        """The walk says why a trusted hop became the client, and where junk stopped it."""
        assert main(["explain", "trust.yaml", "--peer", "10.0.0.5", "-H",
                     f"X-Forwarded-For: {chain}"]) == 0
        assert line in capsys.readouterr().out

    def test_untrusted_peer(self, files: pathlib.Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
        """An untrusted peer: every forwarded header removed, nothing else changes."""
        assert main(["explain", "trust.yaml", "--peer", "8.8.8.8", "-H",
                     "X-Forwarded-For: 1.2.3.4", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["trusted"] is False
        assert result["network"] is None
        assert result["removed"] == [{"header": "X-Forwarded-For", "value": "1.2.3.4",
                                      "reason": "the peer is not a trusted proxy"}]
        assert result["environ"]["after"]["REMOTE_ADDR"] == "8.8.8.8"
        assert main(["explain", "trust.yaml", "--peer", "8.8.8.8"]) == 0
        assert ("8.8.8.8 is NOT a trusted proxy: every forwarded header is removed"
                in capsys.readouterr().out)

    def test_mapped_peer_and_fixed_prefix(self, files: pathlib.Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
        """An IPv4-mapped peer is found in its IPv4 network; a fixed script_name is shown."""
        (files / "fixed.yaml").write_text("trusted_proxies: [10.0.0.0/8]\n"
                                          "trusted_headers: [X-Forwarded-Proto]\n"
                                          "script_name: /app\n")
        assert main(["explain", "fixed.yaml", "--peer", "::ffff:10.1.2.3", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["network"] == "10.0.0.0/8"
        assert result["set"] == [{"key": "SCRIPT_NAME", "value": "/app",
                                  "header": "script_name (the policy's fixed prefix)"}]

    def test_repeated_header_lines_merge(self, files: pathlib.Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
        """Two -H lines of one header merge with ', ', as servers do."""
        assert main(["explain", "trust.yaml", "--peer", "127.0.0.1", "-H",
                     "X-Forwarded-For: 1.2.3.4", "-H", "x-forwarded-for: 10.0.0.9",
                     "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["environ"]["before"]["HTTP_X_FORWARDED_FOR"] == "1.2.3.4, 10.0.0.9"
        assert result["environ"]["after"]["REMOTE_ADDR"] == "1.2.3.4"

    def test_bad_header(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A malformed -H is an error line and exit 2."""
        assert main(["explain", "trust.yaml", "--peer", "10.0.0.1", "-H", "no colon"]) == 2
        assert capsys.readouterr().err == (
            "trustedproxy: error: command line: -H 'no colon': expected 'Name: value', e.g. "
            "-H 'X-Forwarded-For: 203.0.113.7'\n")

    def test_invalid_policy(self, files: pathlib.Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
        """An invalid policy prints each problem without a traceback; exit 2."""
        assert main(["explain", "bad.yaml", "--peer", "10.0.0.1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("trustedproxy: error: bad.yaml:2: invalid trusted proxy")
        assert "Traceback" not in err


class TestConvert:
    @pytest.mark.parametrize("source", ["trust.yaml", "vhost.conf", "express.args"])
    @pytest.mark.parametrize("to", ["yaml", "directives", "express"])
    def test_every_pair(self, files: pathlib.Path, capsys: pytest.CaptureFixture[str],
                        source: str, to: str) -> None:
        """Each form converts to each other form, and the output loads back equal."""
        assert main(["convert", source, "--to", to]) == 0
        out = capsys.readouterr().out
        target = files / {"yaml": "out.yaml", "directives": "out.conf",
                          "express": "out.args"}[to]
        target.write_text(out)
        assert main(["check", str(target)]) == 0
        loader = {"yaml": TrustPolicy.from_yaml, "directives": TrustPolicy.from_directives,
                  "express": TrustPolicy.from_express_args}[to]
        assert loader(target) == POLICY  # type: ignore[operator]

    def test_directives_text(self, files: pathlib.Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
        """The directive output is the two mod_wsgi lines plus notes."""
        assert main(["convert", "trust.yaml", "--to", "directives"]) == 0
        assert capsys.readouterr().out == (
            "WSGITrustedProxies 10.0.0.0/8 127.0.0.1\n"
            "WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto X-Forwarded-Port "
            "X-Forwarded-Prefix\n"
            "# mod_wsgi itself ignores X-Forwarded-Prefix; trustedproxy's middleware reads it\n")

    def test_directives_refuse_custom_headers(self, files: pathlib.Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
        """A policy with custom headers does not convert to directives: exit 2."""
        (files / "custom.yaml").write_text("trusted_proxies: [10.0.0.1]\n"
                                           "trusted_headers: [CF-Connecting-IP]\n"
                                           "custom_headers: {CF-Connecting-IP: client}\n")
        assert main(["convert", "custom.yaml", "--to", "directives"]) == 2
        assert capsys.readouterr().err == (
            "trustedproxy: error: custom_headers: directive strings cannot register custom "
            "header 'CF-Connecting-IP': keep this policy as YAML (or Python)\n")
        assert main(["convert", "custom.yaml", "--to", "yaml"]) == 0

    def test_express_refuses_options(self, files: pathlib.Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
        """A policy with script_name does not convert to express: exit 2, clear message."""
        (files / "fixed.yaml").write_text("trusted_proxies: [10.0.0.1]\nscript_name: /app\n")
        assert main(["convert", "fixed.yaml", "--to", "express"]) == 2
        assert capsys.readouterr().err.startswith(
            "trustedproxy: error: script_name: mod_wsgi-express has no option for script_name")


@pytest.mark.parametrize("command", ["check", "explain", "convert"])
def test_help_has_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every command's --help exits 0 and shows an example."""
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"  trustedproxy {command} " in out
    assert "example" in out


@pytest.mark.parametrize("argv", [
    pytest.param(["explain", "trust.yaml"], id="explain without --peer"),
    pytest.param(["convert", "trust.yaml", "--to", "json"], id="unknown form"),
    pytest.param(["check"], id="no files"),
])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Usage mistakes exit 2 with argparse's message, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert "Traceback" not in err


def test_explain_custom_and_forwarded_headers() -> None:
    """explain knows the policy's custom headers and a trusted Forwarded header."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["CF-Connecting-IP"],
                         custom_headers={"CF-Connecting-IP": "client"})
    result = explain(policy, "10.0.0.5", ["CF-Connecting-IP: 203.0.113.7",
                                          "X-Real-IP: 6.6.6.6"])
    assert result["set"] == [{"key": "REMOTE_ADDR", "value": "203.0.113.7",
                              "header": "CF-Connecting-IP"}]
    assert result["kept"] == ["CF-Connecting-IP"]
    assert result["removed"] == [{"header": "X-Real-IP", "value": "6.6.6.6",
                                  "reason": "not a trusted header"}]
    forwarded = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["Forwarded"])
    result = explain(forwarded, "10.0.0.5", ["Forwarded: for=203.0.113.7;proto=https"])
    assert result["environ"]["after"]["REMOTE_ADDR"] == "203.0.113.7"
    assert {"key": "REMOTE_ADDR", "value": "203.0.113.7", "header": "Forwarded"} in result["set"]
    assert result["chain"][-1]["verdict"] == "client"


def test_explain_non_ascii_text_in_and_out() -> None:
    """explain puts the path and header values in the environ as a server would (UTF-8
    bytes, as latin-1), so a non-ASCII script_name is stripped from the path, and shows
    every value as text again."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                         trusted_headers=["X-Forwarded-For", "X-Forwarded-Host"],
                         script_name="/\u00e9t\u00e9", strip_prefix_from_path=True)
    result = explain(policy, "10.0.0.5", ["X-Forwarded-For: \u00fcn\u00ef",
                                          "X-Real-IP: caf\u00e9"], "/\u00e9t\u00e9/x?q=\u00e0")
    after = result["environ"]["after"]
    assert (after["SCRIPT_NAME"], after["PATH_INFO"]) == ("/\u00e9t\u00e9", "/x")
    assert after["QUERY_STRING"] == "q=\u00e0"
    assert result["environ"]["before"]["HTTP_X_FORWARDED_FOR"] == "\u00fcn\u00ef"
    assert result["chain"] == [{"element": "\u00fcn\u00ef", "verdict": "invalid",
                                "network": None}]
    assert result["ignored"][0]["value"] == "\u00fcn\u00ef"
    assert "'\u00fcn\u00ef' is not an IP address" in result["ignored"][0]["reason"]
    assert {"header": "X-Real-IP", "value": "caf\u00e9",
            "reason": "not a trusted header"} in result["removed"]


class TestBytesNotUtf8:
    """A command-line argument's bytes that are not UTF-8 reach main() as lone
    surrogates U+DC80-U+DCFF (PEP 383): explain puts the bytes themselves in the
    environ, as a server would, and shows each as \\xNN, never a traceback."""

    def test_path_and_header_bytes_reach_the_environ(
            self, files: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The byte 0xE9 in -H X-Forwarded-Prefix and in --path is the same byte:
        strip_prefix_from_path strips it; the text report shows it as \\xe9."""
        (files / "strip.yaml").write_text("trusted_proxies: [10.0.0.0/8]\n"
                                          "trusted_headers: [X-Forwarded-Prefix]\n"
                                          "strip_prefix_from_path: true\n")
        argv = ["explain", "strip.yaml", "--peer", "10.0.0.5", "-H",
                "X-Forwarded-Prefix: /caf\udce9", "--path", "/caf\udce9/x\udcff?q=\udcff"]
        assert main(argv) == 0
        out = capsys.readouterr().out.splitlines()
        assert "  SCRIPT_NAME  /caf\\xe9  from X-Forwarded-Prefix" in out
        assert "  HTTP_X_FORWARDED_PREFIX  /caf\\xe9" in out
        assert "  PATH_INFO                /caf\\xe9/x\\xff -> /x\\xff" in out
        assert "  QUERY_STRING             q=\\xff" in out
        assert main([*argv, "--json"]) == 0
        after = json.loads(capsys.readouterr().out)["environ"]["after"]
        assert (after["SCRIPT_NAME"], after["PATH_INFO"]) == ("/caf\\xe9", "/x\\xff")

    def test_header_bytes_in_the_walk(self, files: pathlib.Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
        """A byte in X-Forwarded-For is junk for the walk, shown as \\xNN in every part."""
        assert main(["explain", "trust.yaml", "--peer", "10.0.0.5", "-H",
                     "X-Forwarded-For: 1.2.3.4\udcff, 10.0.0.7"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert "   1. 1.2.3.4\\xff  not an address: the walk stops here" in out
        assert "   2. 10.0.0.7     client: the last trusted hop before an invalid element " \
               "(in 10.0.0.0/8)" in out
        assert "  HTTP_X_FORWARDED_FOR  1.2.3.4\\xff, 10.0.0.7 -> 10.0.0.7" in out

    def test_peer_and_file_name(self, files: pathlib.Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
        """A byte in --peer or in the policy file's name is shown as \\xNN too."""
        (files / "caf\udcff.yaml").write_text(YAML)
        assert main(["explain", "caf\udcff.yaml", "--peer", "10.0.0.5\udcff"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[:2] == [
            "policy:  caf\\xff.yaml: 2 trusted networks; headers: X-Forwarded-For, "
            "X-Forwarded-Proto, X-Forwarded-Port, X-Forwarded-Prefix",
            "peer:    10.0.0.5\\xff is NOT a trusted proxy: every forwarded header is removed"]
        assert "  REMOTE_ADDR      10.0.0.5\\xff" in out
        assert main(["check", "caf\udcff.yaml"]) == 0
        assert capsys.readouterr().out.startswith("caf\\xff.yaml: ok: 2 trusted networks")
        assert main(["explain", "caf\udcff.yaml", "--peer", "10.0.0.5", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["policy"] == "caf\\xff.yaml"
        assert main(["check", "gone\udcff.yaml"]) == 2
        assert capsys.readouterr().out == ("gone\\xff.yaml: error: cannot read policy file: "
                                           "No such file or directory\n")
        assert main(["explain", "gone\udcff.yaml", "--peer", "10.0.0.5"]) == 2
        assert capsys.readouterr().err == ("trustedproxy: error: gone\\xff.yaml: cannot read "
                                           "policy file: No such file or directory\n")

    @pytest.mark.parametrize("argv", [
        pytest.param(["--path", "/\ud800"], id="path"),
        pytest.param(["-H", "X-Forwarded-Prefix: /\ud800"], id="header"),
    ])
    def test_a_surrogate_that_is_no_byte(self, files: pathlib.Path,
                                         capsys: pytest.CaptureFixture[str],
                                         argv: list[str]) -> None:
        """A lone surrogate outside U+DC80-U+DCFF (never from sys.argv) stands for no
        byte: one error line, exit 2."""
        assert main(["explain", "trust.yaml", "--peer", "10.0.0.5", *argv]) == 2
        option, value = argv[0], argv[1].partition(": ")[2] or argv[1]
        assert capsys.readouterr().err == (
            f"trustedproxy: error: command line: {option} {value!r}: '\\ud800' at position "
            "1 is a lone surrogate, neither text nor a byte\n")
        with pytest.raises(ConfigError, match=r"^command line: --path '/\\ud800': "):
            explain(POLICY, "10.0.0.5", path="/\ud800")


class TestWalkText:
    """The walk's lines: the header walked, each hop's network, and why a trusted
    hop became the client."""

    def test_forwarded(self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A Forwarded walk is titled so, and its trusted hops show their network."""
        policy = tmp_path / "fwd.yaml"
        policy.write_text("trusted_proxies: [10.0.0.0/8, '2001:db8::/32']\n"
                          "trusted_headers: [Forwarded]\n")
        assert main(["explain", str(policy), "--peer", "10.0.0.5", "-H",
                     'Forwarded: for=203.0.113.7;proto=https, for="[2001:db8::1]:4711", '
                     "for=10.0.0.7"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[3:7] == [
            "Forwarded, walked from the right:",
            "   3. for=10.0.0.7                 trusted proxy (in 10.0.0.0/8)",
            '   2. for="[2001:db8::1]:4711"     trusted proxy (in 2001:db8::/32)',
            "   1. for=203.0.113.7;proto=https  client: the walk stops here"]
        assert main(["explain", str(policy), "--peer", "10.0.0.5", "--json", "-H",
                     "Forwarded: for=10.0.0.9, for=10.0.0.7"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["walked"] == "Forwarded"
        assert result["chain"] == [
            {"element": "for=10.0.0.9", "verdict": "client", "network": "10.0.0.0/8"},
            {"element": "for=10.0.0.7", "verdict": "trusted", "network": "10.0.0.0/8"}]

    @pytest.mark.parametrize(("header", "lines"), [
        pytest.param("X-Forwarded-For: 198.51.100.1, 10.0.0.8, 10.0.0.7, 10.0.0.6", [
            "X-Forwarded-For, walked from the right:",
            "   4. 10.0.0.6              trusted proxy (in 10.0.0.0/8)",
            "   3. 10.0.0.7              trusted proxy (in 10.0.0.0/8)",
            "   2. 10.0.0.8              client: the walk stops after max_hops (2) trusted "
            "proxies, so the leftmost element read (in 10.0.0.0/8)",
            "   1. (13 more characters)  not read: beyond max_hops (2)"], id="X-Forwarded-For"),
        pytest.param("Forwarded: for=198.51.100.1, for=10.0.0.8, for=10.0.0.7, for=10.0.0.6", [
            "Forwarded, walked from the right:",
            "   4. for=10.0.0.6      trusted proxy (in 10.0.0.0/8)",
            "   3. for=10.0.0.7      trusted proxy (in 10.0.0.0/8)",
            "   2. for=10.0.0.8      client: the walk stops after max_hops (2) trusted "
            "proxies, so the leftmost element read (in 10.0.0.0/8)",
            "   1. for=198.51.100.1  not read: beyond max_hops (2)"], id="Forwarded"),
        pytest.param("Forwarded: for=198.51.100.1, for=10.0.0.8, for=203.0.113.7, for=10.0.0.6",
                     ["Forwarded, walked from the right:",
                      "   4. for=10.0.0.6      trusted proxy (in 10.0.0.0/8)",
                      "   3. for=203.0.113.7   client: the walk stops here",
                      "   2. for=10.0.0.8      not looked at",
                      "   1. for=198.51.100.1  not read: beyond max_hops (2)"],
                     id="Forwarded, client before the cut"),
    ])
    def test_max_hops_cut(self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                          header: str, lines: list[str]) -> None:
        """When max_hops cuts the header, the client is the leftmost element read, and
        the explanation says so (not "every element is a trusted proxy")."""
        name = header.partition(":")[0]
        policy = tmp_path / "hops.yaml"
        policy.write_text(f"trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [{name}]\n"
                          "max_hops: 2\n")
        assert main(["explain", str(policy), "--peer", "10.0.0.5", "-H", header]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[3:3 + len(lines)] == lines
        assert main(["explain", str(policy), "--peer", "10.0.0.5", "-H", header, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["walked"] == name
        assert result["chain"][0]["verdict"] == "unexamined"

    def test_cut_short_of_max_hops(self) -> None:
        """A cut with fewer trusted hops than max_hops (the engine also stops reading
        after a run of empty parts) does not claim max_hops were walked."""
        chain = [{"element": "(40 more characters)", "verdict": "unexamined", "network": None},
                 {"element": "10.0.0.7", "verdict": "client", "network": "10.0.0.0/8"}]
        assert _walk_lines(chain, 3) == [
            "   2. 10.0.0.7              client: the rest of the header was not read, so the "
            "leftmost element read (in 10.0.0.0/8)",
            "   1. (40 more characters)  not read: beyond 4096 characters of empty elements"]

    def test_cut_by_a_run_of_empty_elements(self, tmp_path: pathlib.Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
        """When a run of empty elements longer than MAX_GAP ends the read, the
        explanation says that, not max_hops."""
        from trustedproxy.forwarded import MAX_GAP

        policy = tmp_path / "gap.yaml"
        policy.write_text("trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [X-Forwarded-For]\n")
        header = "X-Forwarded-For: 203.0.113.7" + "," * (MAX_GAP + 2) + "10.0.0.2"
        assert main(["explain", str(policy), "--peer", "10.0.0.5", "-H", header]) == 0
        out = capsys.readouterr().out.splitlines()
        walk = out[out.index("X-Forwarded-For, walked from the right:") + 1:][:2]
        assert [line.split("  ")[-1] for line in walk] == [
            "client: the rest of the header was not read, so the leftmost element read "
            "(in 10.0.0.0/8)", f"not read: beyond {MAX_GAP} characters of empty elements"]


@pytest.mark.parametrize(("server", "warned"), [
    ("uwsgi", "uWSGI keeps header names with '_'"),
    ("other", "check that your server drops header names with '_'"),
    ("waitress", "waitress removes X-Forwarded-For, -Host, -Proto, -Port, -By and Forwarded"),
    ("uvicorn-wsgi", "uvicorn --interface wsgi (its own WSGI bridge, as a2wsgi's) merges "
                     "header names with '_' as uWSGI does"),
    ("granian-wsgi", "Granian's WSGI interface (--interface wsgi) files header names with '_' "
                "under the CGI key of the '-' name"),
    ("gunicorn", None), ("mod_wsgi", None), ("uvicorn", None), ("hypercorn", None),
    ("granian", None),
])
def test_check_server_underscore_warning(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                                         server: str, warned: str | None) -> None:
    """check --server warns about servers that keep '_' header names (SECURITY.md)
    and about waitress's own header clearing, and --strict turns that warning
    into exit status 1."""
    path = tmp_path / "trust.yaml"
    path.write_text("trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [X-Forwarded-For]\n")
    code = main(["check", "--strict", "--server", server, str(path)])
    out = capsys.readouterr().out
    if warned is None:
        assert code == 0
        assert "warning" not in out
    else:
        assert code == 1
        assert f"warning: --server {server}: {warned}" in out


@pytest.mark.parametrize(("built", "not_used", "says"), [
    (True, "", "request path: compiled (trustedproxy._speedups)"),
    (False, "TRUSTEDPROXY_PURE_PYTHON is set",
     "request path: pure Python (TRUSTEDPROXY_PURE_PYTHON is set)"),
    (False, _compiled.LAX_PLATFORM,
     "request path: pure Python (this platform's inet_pton accepts address forms"),
    (False, "", "request path: pure Python: the C speedups are not built (reinstall with a C "
                "compiler"),
])
def test_version_says_which_request_path(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], built: bool,
                                         not_used: str, says: str) -> None:
    """--version prints the version and whether the compiled request path is in use, and
    why not (pip hides a failed compile's warning), on its own lines; exit status 0."""
    from trustedproxy import __version__

    monkeypatch.setattr(_compiled, "speedups", object() if built else None)
    monkeypatch.setattr(_compiled, "NOT_USED", not_used)
    assert main(["--version"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith(f"trustedproxy {__version__} on ")
    assert second.startswith(says)


def test_version_with_pure_python_set_in_the_environment() -> None:
    """TRUSTEDPROXY_PURE_PYTHON, set before trustedproxy is imported, leaves the
    compiled path unused, and --version says so."""
    env = {**os.environ, "TRUSTEDPROXY_PURE_PYTHON": "1"}
    result = subprocess.run([sys.executable, "-m", "trustedproxy", "--version"], env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.splitlines()[1] == (
        "request path: pure Python (TRUSTEDPROXY_PURE_PYTHON is set)")


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_that_cannot_show_a_character_gets_it_escaped(
        tmp_path: pathlib.Path, encoding: str) -> None:
    """With stdout and stderr in an encoding that lacks a character (an ASCII
    or latin-1 locale, a Windows code page), a non-ASCII file name or value is
    printed escaped: never a UnicodeEncodeError traceback."""
    (tmp_path / "caf\u00e9.yaml").write_text(
        "trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [X-Forward\u0117d-For]\n",
        encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    result = subprocess.run([sys.executable, "-m", "trustedproxy", "check", "caf\u00e9.yaml"],
                            cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False)
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    out = result.stdout.decode(encoding)
    assert out.startswith("caf\\xe9.yaml:2: error:" if encoding == "ascii"
                          else "caf\u00e9.yaml:2: error:")
    assert "X-Forward\\u0117d-For" in out


def test_explain_says_a_malformed_peer_is_not_a_unix_socket(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With trust_unix_socket, explain says why a malformed address is not trusted."""
    policy = tmp_path / "trust.yaml"
    policy.write_text("trusted_headers: [X-Forwarded-For]\ntrust_unix_socket: true\n")
    for peer, trusted in (("127.0.0.1:8080", False), ("/run/proxy.sock", True)):
        assert main(["explain", str(policy), "--peer", peer,
                     "-H", "X-Forwarded-For: 203.0.113.7"]) == 0
        out = capsys.readouterr().out
        assert ("malformed address: trust_unix_socket does not cover it" in out) is not trusted
        assert (f"peer:    {peer} is a trusted proxy (trust_unix_socket)" in out) is trusted


def test_explain_counts_networks_as_check_does(files: pathlib.Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """explain said "1 trusted network(s)" where check says "1 trusted network"."""
    (files / "one.yaml").write_text("trusted_proxies: [10.0.0.1]\n"
                                    "trusted_headers: [X-Forwarded-For]\n")
    assert main(["check", "one.yaml"]) == 0
    assert capsys.readouterr().out.startswith("one.yaml: ok: 1 trusted network; ")
    assert main(["explain", "one.yaml", "--peer", "10.0.0.1"]) == 0
    assert capsys.readouterr().out.startswith("policy:  one.yaml: 1 trusted network; ")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.yaml", b"", "empty policy file"),
    ("date.yaml", b"trusted_proxies: [10.0.0.1]\nscript_name: 2001-13-45\n",
     "date.yaml:2: error: invalid YAML value '2001-13-45'"),
    ("deep.yaml", b"trusted_proxies: " + b"[" * 5000 + b"]" * 5000 + b"\n",
     "deep.yaml: error: invalid YAML: lists or mappings nested too deeply"),
    ("latin1.conf", b"WSGITrustedProxies 10.0.0.1 # caf\xe9\n", "latin1.conf: error: not UTF-8"),
    ("typo.conf", b"WSGITrustedProxy 10.0.0.1\n", "typo.conf:1: error: unknown directive"),
    ("nul.yaml", b"trusted_proxies_files: [\"a\\0b\"]\n",
     "nul.yaml:1: error: trusted_proxies_files"),
])
def test_check_odd_files_exit_2_with_one_line_each(
        files: pathlib.Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes,
        message: str) -> None:
    """Odd files (empty, non-UTF-8, values PyYAML cannot construct, nesting too
    deep for it, a misspelt directive) exit 2 with an error line naming the
    file, never a traceback, under check, explain and convert alike."""
    (files / name).write_bytes(content)
    assert main(["check", name]) == 2
    out = capsys.readouterr().out
    assert message in out
    assert "Traceback" not in out
    for argv in (["explain", name, "--peer", "10.0.0.1"], ["convert", name, "--to", "yaml"]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("trustedproxy: error: ")
        assert message.replace(": error:", ":") in captured.err


def test_a_directory_or_missing_file(files: pathlib.Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A directory and a missing file are errors naming them, exit 2."""
    (files / "adir").mkdir()
    assert main(["check", "adir", "nope.yaml", "trust.yaml"]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "adir: error: cannot read policy file: Is a directory"
    assert out[1] == "nope.yaml: error: cannot read policy file: No such file or directory"
    assert out[2].startswith("trust.yaml: ok: ")


def test_convert_help_names_every_refusal(files: pathlib.Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """convert --help said what express and directives cannot carry, but not
    that neither can carry headers trusted from Unix-socket peers only, which
    convert also refuses (exit 2)."""
    assert main(["convert", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split()).replace("Unix- socket", "Unix-socket")
    assert "Unix-socket peers only" in help_text
    assert "(exit status 2)" in help_text
    (files / "unix.yaml").write_text("trust_unix_socket: true\ntrusted_headers: [X-Real-IP]\n")
    for form in ("directives", "express"):
        assert main(["convert", "unix.yaml", "--to", form]) == 2
        assert "Unix-socket peers only" in capsys.readouterr().err


#: The servers that serve ASGI apps safely and WSGI apps with '_' names merged:
#: (ASGI choice, WSGI choice, the WSGI choice's warning, the ASGI choice's note,
#: what the 'other' note says of them).
ASGI_AND_WSGI = [
    ("uvicorn", "uvicorn-wsgi",
     "uvicorn --interface wsgi (its own WSGI bridge, as a2wsgi's) merges header names with '_' "
     "as uWSGI does: a client's 'X_Forwarded_For' line is joined to HTTP_X_FORWARDED_FOR before "
     "the WSGI middleware sees it, so a trusted proxy that passes it through lets the client "
     "add to the list; serve the WSGI app as ASGI instead, with "
     "trustedproxy.asgi.TrustedProxyMiddleware around the bridge (it removes such names before "
     "the bridge merges them), or make the front-end drop such headers (nginx does by default: "
     "underscores_in_headers off)",
     "an ASGI app needs nothing; for a WSGI app served with --interface wsgi, check with "
     "--server uvicorn-wsgi",
     ["uvicorn --interface wsgi do not"]),
    ("granian", "granian-wsgi",
     "Granian's WSGI interface (--interface wsgi) files header names with '_' under the CGI key "
     "of the '-' name, and of two spellings the one whose first line comes later replaces the "
     "other: a client's 'X_Forwarded_For' (or 'X_Forwarded_Proto') line that a front-end "
     "passes on after its own X-Forwarded-For (-Proto) replaces it in HTTP_X_FORWARDED_FOR "
     "(HTTP_X_FORWARDED_PROTO), so the client chooses REMOTE_ADDR (the scheme); Caddy's "
     "reverse_proxy passes such lines on so, and nginx with underscores_in_headers on; make the "
     "front-end drop header names with '_' (nginx does by default), or serve an ASGI app with "
     "--interface asgi and trustedproxy.asgi.TrustedProxyMiddleware (check with --server "
     "granian)",
     "an ASGI app (--interface asgi) needs nothing; for a WSGI app served with --interface "
     "wsgi, check with --server granian-wsgi",
     ["Granian serving ASGI", "Granian's WSGI interface"]),
]


@pytest.mark.parametrize(("asgi", "wsgi", "warning", "note", "other"), ASGI_AND_WSGI,
                         ids=[row[0] for row in ASGI_AND_WSGI])
def test_check_server_says_what_a_wsgi_user_should_do(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], asgi: str, wsgi: str,
        warning: str, note: str, other: list[str]) -> None:
    """check --server uvicorn said nothing, though uvicorn --interface wsgi
    merges a client's 'X_Forwarded_For' into HTTP_X_FORWARDED_FOR as uWSGI
    does (and Granian's WSGI interface lets it replace the front-end's header,
    as tests/e2e/test_granian.py measures). --server uvicorn-wsgi (granian-wsgi)
    warns about it and says what to do, in the voice of the uWSGI note;
    --server uvicorn (granian), an ASGI app, which needs nothing, prints a note
    pointing there, which --strict does not count; 'other' names them."""
    path = tmp_path / "trust.yaml"
    path.write_text("trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [X-Forwarded-For]\n")
    assert main(["check", "--strict", "--server", wsgi, str(path)]) == 1
    assert f"{path}: warning: --server {wsgi}: {warning}\n" in capsys.readouterr().out
    assert main(["check", "--strict", "--server", asgi, str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: note: --server {asgi}: {note}",
        f"{path}: ok: 1 trusted network; headers: X-Forwarded-For"]
    for words in other:
        assert words in (SERVERS["other"] or "")


def test_the_uvicorn_advice_works() -> None:
    """What the uvicorn note advises: the ASGI middleware around uvicorn's WSGI
    bridge. Straight through the bridge, a client's X_Forwarded_For joins the
    header (the fact the note states); with the middleware around it, the WSGI
    app sees only what the trusted proxy wrote."""
    import asyncio
    import warnings

    wsgi_bridge = pytest.importorskip("uvicorn.middleware.wsgi")
    from trustedproxy.asgi import TrustedProxyMiddleware as AsgiMiddleware

    seen: dict[str, str] = {}

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update({k: v for k, v in environ.items() if k.startswith(("HTTP_", "REMOTE_"))})
        start_response("200 OK", [("Content-Length", "0")])
        return []

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # uvicorn's own bridge is deprecated
        bridge = wsgi_bridge.WSGIMiddleware(wsgi_app)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/", "raw_path": b"/", "root_path": "",
             "query_string": b"", "server": ("127.0.0.1", 8000), "client": ("10.0.0.5", 40000),
             "headers": [(b"host", b"app"), (b"x-forwarded-for", b"203.0.113.7"),
                         (b"x_forwarded_for", b"10.0.0.9")]}

    async def call(app: Any) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        await app(dict(scope, headers=list(scope["headers"])), receive, send)

    asyncio.run(call(bridge))
    assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.7,10.0.0.9"  # merged: the client's is last
    seen.clear()
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"])
    asyncio.run(call(AsgiMiddleware(bridge, policy)))
    assert (seen["REMOTE_ADDR"], seen["HTTP_X_FORWARDED_FOR"]) == ("203.0.113.7", "203.0.113.7")


# --------------------------------------------------------------------------- a closed stdout

#: A policy file whose check prints 20,000 warnings (host bits set), and whose
#: convert prints 20,000 networks (none adjacent, so none merge): far more
#: than a pipe holds.
BIG = ("trusted_proxies:\n" + "".join(f"  - 10.{i // 256}.{i % 256}.1/31\n" for i in range(20000))
       + "trusted_headers: [X-Forwarded-For]\n")
PAD = ["-H", "X-Pad-1: " + "a" * 100_000, "-H", "X-Pad-2: " + "b" * 100_000,
       "-H", "X-Pad-3: " + "c" * 100_000]


def run_into_closed_pipe(argv: list[str], cwd: pathlib.Path,
                        env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run the command line with stdout into a pipe that is closed after the
    first read (at most 4 KiB), as '| head -1' does; return the exit status,
    what was read and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "trustedproxy", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    with proc:
        try:
            first = os.read(proc.stdout.fileno(), 4096)
            proc.stdout.close()
            err = proc.stderr.read()
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    return code, first, err


@pytest.mark.parametrize(("argv", "first"), [
    pytest.param(["check", "big.yaml"], b"big.yaml:2: warning: trusted proxy '10.0.0.1/31': "
                                        b"host bits set: read as 10.0.0.0/31\n", id="check"),
    pytest.param(["explain", "big.yaml", "--peer", "10.0.0.5", *PAD],
                 b"policy:  big.yaml: 20000 trusted networks; headers: X-Forwarded-For\n",
                 id="explain"),
    pytest.param(["explain", "big.yaml", "--peer", "10.0.0.5", "--json", *PAD], b"{\n",
                 id="explain --json"),
    pytest.param(["convert", "big.yaml", "--to", "yaml"], b"trusted_proxies:\n",
                 id="convert --to yaml"),
    pytest.param(["convert", "big.yaml", "--to", "directives"],
                 b"WSGITrustedProxies 10.0.0.0/31 10.0.1.0/31 ", id="convert --to directives"),
])
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_a_stdout_closed_early_ends_the_command_quietly(
        tmp_path: pathlib.Path, argv: list[str], first: bytes, unbuffered: bool) -> None:
    """'trustedproxy explain ... | head -1' printed 'trustedproxy: error: [Errno
    32] Broken pipe' and exited 2. A closed stdout now ends the command with no
    message and no traceback, with exit status 141 (128 + SIGPIPE, what the
    shell reports for a command that SIGPIPE ends), for every command that
    writes much; with PYTHONUNBUFFERED too (where a write cut short by the
    close is dropped without an error, so a single large write ended with 0)."""
    (tmp_path / "big.yaml").write_text(BIG)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    code, line, err = run_into_closed_pipe(argv, tmp_path, env)
    assert (code, err) == (141, b"")
    shown = min(len(line), len(first))  # unbuffered print writes the line and its end apart
    assert shown
    assert line[:shown] == first[:shown]


@pytest.mark.parametrize(("argv", "status"), [
    (["check", "trust.yaml"], 141), (["convert", "trust.yaml", "--to", "express"], 141),
    (["explain", "trust.yaml", "--peer", "10.0.0.5"], 141),
    (["--version"], 0), (["check", "--help"], 0),
])
def test_a_stdout_closed_before_anything_is_written(tmp_path: pathlib.Path,
                                                    argv: list[str], status: int) -> None:
    """A stdout with no reader from the start: short output ends as quietly,
    with status 141 (output that waits in Python's buffer is flushed before
    main returns, never at exit, where it would print 'Exception ignored'
    and give status 120). --help and --version are argparse's own: it
    ignores the failed write and exits 0, quietly too."""
    (tmp_path / "trust.yaml").write_text(YAML)
    read, write = os.pipe()
    os.close(read)  # no reader: the first write fails
    try:
        result = subprocess.run([sys.executable, "-m", "trustedproxy", *argv], cwd=tmp_path,
                                stdout=write, stderr=subprocess.PIPE, timeout=60, check=False)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (status, b"")


def test_help_names_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    """The top-level help and check's help list the exit statuses, 141 included."""
    assert main(["--help"]) == 0
    assert ("exit status: 0 fine, 1 warnings (check --strict), 2 usage or configuration "
            "error,\n141 stdout closed before the output was written (| head)") in (
        capsys.readouterr().out)
    assert main(["check", "--help"]) == 0
    assert "141 stdout closed early (| head)" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(("policy", "warned"), [
    ("trusted_proxies: []\ntrust_unix_socket: true\ntrusted_headers: [X-Forwarded-For]\n", True),
    ("trusted_proxies: [10.0.0.0/8]\ntrust_unix_socket: true\n"
     "trusted_headers: [X-Forwarded-For]\n", True),
    ("trusted_proxies: [0.0.0.0]\ntrust_unix_socket: true\n"
     "trusted_headers: [X-Forwarded-For]\n", False),
    ("trusted_proxies: [0.0.0.0]\ntrusted_headers: [X-Forwarded-For]\n", False),
    ("trusted_proxies: [10.0.0.0/8]\ntrusted_headers: [X-Forwarded-For]\n", False),
])
def test_check_server_uwsgi_unix_socket(tmp_path: pathlib.Path,
                                        capsys: pytest.CaptureFixture[str],
                                        policy: str, warned: bool) -> None:
    """uWSGI reports a Unix-socket peer as REMOTE_ADDR 0.0.0.0, an address that
    trust_unix_socket does not cover (tests/e2e/test_unix_socket.py): check
    --server uwsgi says so for a policy that trusts Unix sockets but not 0.0.0.0,
    and for no other policy, nor for another server."""
    path = tmp_path / "trust.yaml"
    path.write_text(policy)
    message = ("--server uwsgi: uWSGI reports a peer on a Unix socket as REMOTE_ADDR 0.0.0.0, "
               "an IP address, which trust_unix_socket does not cover: add 0.0.0.0 to "
               "trusted_proxies (no TCP peer has that address)")
    main(["check", "--server", "uwsgi", str(path)])
    assert (message in capsys.readouterr().out) is warned
    main(["check", "--server", "gunicorn", str(path)])
    assert "0.0.0.0" not in capsys.readouterr().out
