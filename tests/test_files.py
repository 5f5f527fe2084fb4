"""TrustPolicy.from_file: a policy file in any of the three forms, and the middleware given one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from support import Recorder, make_environ

from trustedproxy import ConfigError, TrustedProxyMiddleware, TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware as AsgiMiddleware
from trustedproxy.loaders import express, files
from trustedproxy.loaders.files import detect_format

POLICY = TrustPolicy(trusted_proxies=["10.0.0.0/8", "192.0.2.10"],
                     trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])
YAML = ("trusted_proxies: [10.0.0.0/8, 192.0.2.10]\n"
        "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto]\n")
DIRECTIVES = ("<VirtualHost *:80>\n  ServerName example.com\n"
              "  WSGITrustedProxies 10.0.0.0/8 192.0.2.10\n"
              "  WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto\n</VirtualHost>\n")
EXPRESS = ("mod_wsgi-express start-server app.wsgi --port 8000 \\\n"
           "    --trust-proxy 10.0.0.0/8 --trust-proxy 192.0.2.10 \\\n"
           "    --trust-proxy-header X-Forwarded-For --trust-proxy-header X-Forwarded-Proto\n")
FORMS = {"yaml": YAML, "directives": DIRECTIVES, "express": EXPRESS}
NAMES = {"yaml": ["trust.yaml", "trust.yml", "policy"], "directives": ["trust.conf", "policy"],
         "express": ["start.sh", "trust.args", "policy"]}


@pytest.mark.parametrize(("form", "name"), [(form, name) for form, names in NAMES.items()
                                            for name in names])
def test_every_form_loads_the_same_policy(tmp_path: Path, form: str, name: str) -> None:
    """Each form, told from the extension or (for "policy") from the content, gives the
    same policy, as a str path or a Path, with format= said or not."""
    path = tmp_path / name
    path.write_text(FORMS[form])
    for given in (str(path), path):
        assert TrustPolicy.from_file(given) == POLICY
        assert TrustPolicy.from_file(given, format=form) == POLICY


@pytest.mark.parametrize("form", list(FORMS))
def test_middleware_given_a_path_reads_every_form(tmp_path: Path, form: str) -> None:
    """The WSGI and ASGI middleware take a path to a file in any form and apply it."""
    path = tmp_path / "policy"
    path.write_text(FORMS[form])
    recorder = Recorder()
    wsgi = TrustedProxyMiddleware(recorder, str(path))
    assert wsgi.policy == POLICY
    wsgi(make_environ("10.1.2.3", {"X-Forwarded-For": "203.0.113.9",
                                   "X-Forwarded-Proto": "https"}), lambda s, h: None)
    assert (recorder.environ["REMOTE_ADDR"], recorder.environ["wsgi.url_scheme"]) == (
        "203.0.113.9", "https")
    assert AsgiMiddleware(recorder, path).policy == POLICY


def test_format_said_wins_over_the_extension(tmp_path: Path) -> None:
    """format= reads the file in that form whatever its name says."""
    path = tmp_path / "trust.conf"
    path.write_text(YAML)
    assert TrustPolicy.from_file(path, format="yaml") == POLICY
    # Read as directives (its extension), it holds none and looks like YAML: an
    # error naming the file, the extension and the form it looks like (it loaded
    # as an empty policy).
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_file(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}: the extension '.conf' reads this file as directives, but nothing in it is: "
        "it has no WSGITrustedProxies/WSGITrustedProxyHeaders line and no '# trustedproxy:' "
        "option line; it looks like yaml, for it has a YAML mapping with the keys "
        "trusted_proxies, trusted_headers: rename it, or say format='yaml' (--format yaml)"]


@pytest.mark.parametrize(("name", "form"), [
    ("trust.yaml", "directives"), ("trust.yml", "express"), ("trust.args", "directives"),
    ("trust.sh", "yaml"), ("vhost.conf", "express"),
])
def test_an_extension_the_content_contradicts(tmp_path: Path, name: str, form: str) -> None:
    """A file whose extension names one form and whose content is plainly another
    is an error (or, when reading it as the extension's form fails, its last
    problem says what it looks like); it is never an empty policy."""
    path = tmp_path / name
    path.write_text(FORMS[form])
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_file(path)
    last = str(info.value.problems[-1])
    assert last.startswith(f"{path}: the extension {path.suffix!r} reads this file as ")
    assert f"it looks like {form}, for it has " in last
    assert last.endswith(f"rename it, or say format={form!r} (--format {form})")
    assert TrustPolicy.from_file(path, format=form) != TrustPolicy()


def test_block_picks_a_block_of_a_directive_file(tmp_path: Path) -> None:
    """block= is passed on to the directive reader."""
    path = tmp_path / "vhost.conf"
    path.write_text("<Location /a>\nWSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders "
                    "X-Real-IP\n</Location>\n<Location /b>\nWSGITrustedProxies 10.0.0.2\n"
                    "WSGITrustedProxyHeaders X-Real-IP\n</Location>\n")
    assert TrustPolicy.from_file(path, block="Location /b") == TrustPolicy(
        trusted_proxies=["10.0.0.2"], trusted_headers=["X-Real-IP"])


def test_errors_name_the_file(tmp_path: Path) -> None:
    """A bad policy, a missing file, a block for a YAML file and an unknown format each
    fail at load time, saying what is wrong and where."""
    bad = tmp_path / "bad.conf"
    bad.write_text("WSGITrustedProxies 10.0.0.0/33\n")
    with pytest.raises(ConfigError, match=r"bad\.conf:1.*10\.0\.0\.0/33"):
        TrustPolicy.from_file(bad)
    with pytest.raises(ConfigError, match=r"cannot read policy file: No such file") as info:
        TrustPolicy.from_file(tmp_path / "missing.yaml")
    assert info.value.source == str(tmp_path / "missing.yaml")
    good = tmp_path / "trust.yaml"
    good.write_text(YAML)
    with pytest.raises(ConfigError, match=r"block '/api': a block applies to directive files "
                                          r"only \(this file is read as yaml\)"):
        TrustPolicy.from_file(good, block="/api")
    with pytest.raises(ValueError, match=r"format must be one of 'yaml', 'directives', "
                                         r"'express', not 'json'"):
        TrustPolicy.from_file(good, format="json")


@pytest.mark.parametrize(("text", "fmt"), [
    pytest.param("# trustedproxy: policy for the shop\ntrusted_proxies: [10.0.0.0/8]\n",
                 "yaml", id="yaml whose comment starts '# trustedproxy:'"),
    pytest.param("# trustedproxy: script_name /app\ntrusted_proxies: [10.0.0.0/8]\n",
                 "yaml", id="yaml with an option-like comment"),
    pytest.param("# trustedproxy: script_name /app\n", "directives",
                 id="option lines alone"),
    pytest.param("# mod_wsgi has no directive for the following\n\n"
                 "  #trustedproxy: TRUST_UNIX_SOCKET on\n", "directives",
                 id="option lines among comments"),
    pytest.param("# trustedproxy: script_name /app\nWSGITrustedProxies 10.0.0.1\n",
                 "directives", id="option line and a directive"),
    pytest.param("# trustedproxy:\n", "yaml", id="no option named"),
])
def test_detect_option_comment_lines(text: str, fmt: str) -> None:
    """A '# trustedproxy: OPTION' line means directives only in a file of comments
    (as to_directives writes a policy with options and no trust directives)."""
    assert detect_format("policy", text) == fmt


@pytest.mark.parametrize("policy", [
    TrustPolicy(script_name="/app", strip_prefix_from_path=True),
    TrustPolicy(trust_unix_socket=True),
    POLICY,
    TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=["X-Forwarded-Prefix"],
                script_name="/app", max_hops=4),
])
def test_written_directives_are_detected(tmp_path: Path, policy: TrustPolicy) -> None:
    """What to_directives writes loads back from a file with no extension."""
    path = tmp_path / "policy"
    path.write_text(policy.to_directives())
    assert TrustPolicy.from_file(path) == policy


def test_yaml_with_trustedproxy_comment_and_no_extension(tmp_path: Path) -> None:
    """A YAML policy whose first comment starts '# trustedproxy:' loads as YAML."""
    path = tmp_path / "policy.txt"
    path.write_text("# trustedproxy: policy for the shop\n" + YAML)
    assert TrustPolicy.from_file(path) == POLICY


def test_guessed_form_error_says_how_to_force_it(tmp_path: Path) -> None:
    """When the form was told from the content and loading fails, the last problem says
    how the form was chosen and how to say it; with an extension or format= it does not."""
    path = tmp_path / "policy"
    path.write_text("# trustedproxy: script_name /app\nServerName example.com\n")
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_file(path)
    assert str(info.value.problems[-1]) == (
        f"{path}: this file was read as yaml because its name has no known extension and its "
        "content has no WSGITrustedProxies/WSGITrustedProxyHeaders line, Apache block or "
        "--trust-proxy option; if it is in another form, say so with format='directives' or "
        "format='express' (on the command line: --format), or rename it")
    assert TrustPolicy.from_file(path, format="directives").script_name == "/app"
    path.write_text("WSGITrustedProxies 10.0.0.0/33\n")
    with pytest.raises(ConfigError, match=r"this file was read as directives because its name "
                                          r"has no known extension and its content has a "
                                          r"WSGITrustedProxies/WSGITrustedProxyHeaders line; "
                                          r"if it is in another form, say so with "
                                          r"format='yaml' or format='express'"):
        TrustPolicy.from_file(path)
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_file(path, format="directives")
    assert "this file was read as" not in str(info.value)


# --------------------------------------------------------------------------- review (s12)


@pytest.mark.parametrize(("text", "fmt"), [
    # YAML, with the other forms' markers in strings, list items, block scalars, comments
    pytest.param(YAML + "script_name: \"/--trust-proxy\"\n", "yaml", id="yaml: quoted value"),
    pytest.param(YAML + "script_name: /--trust-proxy-header\n", "yaml", id="yaml: plain value"),
    pytest.param("trusted_proxies: [10.0.0.0/8]\ntrusted_headers:\n  - X-Forwarded-For\n"
                 "  - --trust-proxy\n", "yaml", id="yaml: list item"),
    pytest.param(YAML + "# as --trust-proxy 10.0.0.0/8 in mod_wsgi-express\n", "yaml",
                 id="yaml: comment"),
    pytest.param(YAML + "script_name: |\n  WSGITrustedProxies 10.0.0.1\n", "yaml",
                 id="yaml: directive line in a block scalar"),
    pytest.param(YAML + "script_name: >\n  <VirtualHost *:80>\n", "yaml",
                 id="yaml: Apache block in a block scalar"),
    pytest.param("{trusted_proxies: [10.0.0.1], trusted_headers: ['--trust-proxy-header']}\n",
                 "yaml", id="yaml: flow mapping"),
    pytest.param("# WSGITrustedProxies 10.0.0.1\n" + YAML, "yaml", id="yaml: directive comment"),
    # directives, with the other forms' markers
    pytest.param(DIRECTIVES + "# mod_wsgi-express start-server --trust-proxy 10.0.0.0/8\n",
                 "directives", id="directives: express comment"),
    pytest.param("Header set X-Note \"--trust-proxy\"\n" + DIRECTIVES, "directives",
                 id="directives: express option in a quoted value"),
    pytest.param("# trusted_proxies: [10.0.0.0/8]\n" + DIRECTIVES, "directives",
                 id="directives: YAML comment"),
    pytest.param("# trustedproxy: script_name /app\n# --trust-proxy 10.0.0.1\n", "directives",
                 id="directives: option lines and an express comment"),
    # express, with the other forms' markers
    pytest.param("# WSGITrustedProxies 10.0.0.0/8\n" + EXPRESS, "express",
                 id="express: directive comment"),
    pytest.param("# trusted_proxies: [10.0.0.0/8]\n" + EXPRESS, "express",
                 id="express: YAML comment"),
    pytest.param(EXPRESS.rstrip("\n") + " \\\n    --setenv NOTE 'see\nWSGITrustedProxies in "
                 "the vhost'\n", "express", id="express: directive line in a quoted value"),
    pytest.param(EXPRESS.rstrip("\n") + " --log-format 'trusted_proxies: %h'\n", "express",
                 id="express: YAML-like text in a quoted value"),
    pytest.param(EXPRESS.rstrip("\n") + " --include-file \"\n<VirtualHost *:80>\"\n",
                 "express", id="express: Apache block in a quoted value"),
    pytest.param("<VirtualHost *:80>\nHeader set X-Note \"--trust-proxy\"\n</VirtualHost>\n",
                 "directives", id="directives: a block, and an option in a quoted value"),
])
def test_detect_each_form_whatever_the_others_markers(text: str, fmt: str) -> None:
    """Each form is told from its content even when it holds another form's
    marker in a string, a list item, a block scalar or a comment: YAML that
    reads as a mapping with policy keys is YAML (a quoted '--trust-proxy' made
    it express arguments), and a directive line inside a shell-quoted value
    does not make express arguments directives."""
    assert detect_format("policy", text) == fmt


def test_yaml_with_an_express_marker_loads(tmp_path: Path) -> None:
    """The policy of a YAML file with '--trust-proxy' in a value loads (it loaded
    as express arguments: an empty policy, one warning)."""
    path = tmp_path / "policy"
    path.write_text("trusted_proxies: [10.0.0.0/8, 192.0.2.10]\n"
                    "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto]\n"
                    "custom_headers: {X-Note--trust-proxy: client}\n")
    assert TrustPolicy.from_file(path) == TrustPolicy(
        trusted_proxies=["10.0.0.0/8", "192.0.2.10"],
        trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"],
        custom_headers={"X-Note--trust-proxy": "client"})


@pytest.mark.parametrize(("given", "form", "looks", "why"), [
    ("express", "yaml", "yaml", "a YAML mapping with the keys trusted_proxies, trusted_headers"),
    ("directives", "yaml", "yaml", "a YAML mapping with the keys trusted_proxies, "
                                   "trusted_headers"),
    ("express", "directives", "directives", "a WSGITrustedProxies/WSGITrustedProxyHeaders line"),
    ("directives", "express", "express", "a --trust-proxy option outside a comment"),
])
def test_a_format_the_file_cannot_be_is_an_error(tmp_path: Path, given: str, form: str,
                                                 looks: str, why: str) -> None:
    """format= (--format) naming a form the file is not in loaded an empty policy
    with a warning; when nothing in the file is read as that form and it looks
    like another, it is an error naming the file, the form given and the form
    the file looks like."""
    path = tmp_path / "policy.txt"
    path.write_text(FORMS[form])
    nothing = {"express": "no --trust-proxy or --trust-proxy-header option",
               "directives": "no WSGITrustedProxies/WSGITrustedProxyHeaders line and no "
                             "'# trustedproxy:' option line"}[given]
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_file(path, format=given)
    assert [str(p) for p in info.value.problems] == [
        f"{path}: format={given!r} (on the command line: --format {given}) reads this file as "
        f"{given}, but nothing in it is: it has {nothing}; it looks like {looks}, for it has "
        f"{why}: say format={looks!r} (--format {looks}), or leave the format out"]
    assert info.value.value == given


@pytest.mark.parametrize(("form", "looks", "why"), [
    ("directives", "directives", "a WSGITrustedProxies/WSGITrustedProxyHeaders line"),
    ("express", "express", "a --trust-proxy option outside a comment"),
])
def test_format_yaml_on_another_form_says_what_it_looks_like(tmp_path: Path, form: str,
                                                            looks: str, why: str) -> None:
    """format='yaml' on a file in another form was already an error (not a
    mapping); its last problem now says what the file looks like."""
    path = tmp_path / "policy.txt"
    path.write_text(FORMS[form])
    with pytest.raises(ConfigError, match=r"a policy file must be a mapping") as info:
        TrustPolicy.from_file(path, format="yaml")
    assert str(info.value.problems[-1]) == (
        f"{path}: format='yaml' (on the command line: --format yaml) reads this file as yaml; "
        f"it looks like {looks}, for it has {why}: say format={looks!r} (--format {looks}), "
        "or leave the format out")


@pytest.mark.parametrize(("form", "text"), [
    ("express", ""), ("express", "# nothing yet\n"),
    ("express", "mod_wsgi-express start-server app.wsgi --port 8000\n"),
    ("directives", ""), ("directives", "<VirtualHost *:80>\nServerName a\n</VirtualHost>\n"),
    ("directives", "ServerName example.com\n"), ("express", "ServerName example.com\n"),
])
def test_a_file_of_the_form_given_with_nothing_in_it_still_loads(
        tmp_path: Path, form: str, text: str) -> None:
    """An empty file, or one of the form given that trusts nothing (a start-server
    line without --trust-proxy, a vhost without trust directives), or one that
    looks like no form in particular, loads as before: an empty policy, whose
    warning says it trusts nothing."""
    path = tmp_path / "policy.txt"
    path.write_text(text)
    policy = TrustPolicy.from_file(path, format=form)
    assert policy == TrustPolicy()
    assert "this policy trusts no peer" in str(policy.warnings()[0])


@pytest.mark.parametrize(("form", "name"), [("yaml", "trust.yaml"), ("directives", "trust.conf"),
                                            ("express", "trust.args"), ("yaml", "policy")])
def test_a_file_that_loads_in_its_form_is_not_looked_at_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, name: str) -> None:
    """What a file looks like (a YAML parse and a shell-word split of the whole
    text) is worked out only when loading fails or the file holds nothing of
    its form: a large policy that loads is read once (a 100,000-network YAML
    file spent 2 of its 5 s in that check)."""
    path = tmp_path / name
    path.write_text(FORMS[form])
    if name == "policy":  # no extension: the form is guessed once, from the content
        calls: list[str] = []
        real = files._looks_like
        monkeypatch.setattr(files, "_looks_like",
                            lambda text, composed: calls.append(text) or real(text, composed))
        assert TrustPolicy.from_file(path) == POLICY
        assert len(calls) == 1
        return

    def looked(text: str, composed: object) -> None:
        raise AssertionError("_looks_like called for a file that loads in its form")

    monkeypatch.setattr(files, "_looks_like", looked)
    assert TrustPolicy.from_file(path) == POLICY
    assert TrustPolicy.from_file(path, format=form) == POLICY


@pytest.mark.parametrize("name", ["trust.args", "start.sh"])
def test_an_express_file_that_loads_is_split_into_words_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """An express file, told by its extension, that loads a policy with trusted
    proxies or headers is split into shell words once: the check that
    something in it is of its form (a word starting with --trust) was a second
    split of the whole text (0.3 of 1.6 s for a file of 100,000 --trust-proxy
    options)."""
    path = tmp_path / name
    path.write_text(EXPRESS)
    calls: list[str] = []
    real = express.shell_words

    def counted(text: str, source: str = "<args>") -> list[tuple[str, str]]:
        calls.append(text)
        return real(text, source)

    monkeypatch.setattr(express, "shell_words", counted)
    monkeypatch.setattr(files, "shell_words", counted)
    assert TrustPolicy.from_file(path) == POLICY
    assert len(calls) == 1


@pytest.fixture
def compose_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts ``yaml.compose`` is called with during the test."""
    calls: list[str] = []
    real = yaml.compose

    def counted(stream: str, Loader: type) -> object:
        calls.append(stream)
        return real(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "compose", counted)
    return calls


_GUESSED = (r"\n{path}: this file was read as yaml because its name has no known extension "
            r"and its content has a line starting with the key trusted_proxies \(not valid YAML\)")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(YAML, None, id="loads"),
    pytest.param("trusted_proxies: [10.0.0.0/8\ntrusted_headers: [X-Forwarded-For]\n",
                 r"^{path}:2: invalid YAML: while parsing a flow sequence, expected ',' or ']', "
                 r"but got ':'" + _GUESSED, id="invalid"),
    pytest.param("trusted_proxies: " + "[" * 5000 + "]" * 5000 + "\n",
                 r"^{path}: invalid YAML: lists or mappings nested too deeply to read" + _GUESSED,
                 id="too-deep"),
])
def test_a_file_without_extension_is_composed_once(
        tmp_path: Path, compose_calls: list[str], text: str, expected: str | None) -> None:
    """A YAML file whose form is told from its content is composed once: the
    node tree (or the YAML error) that told its form is the one loaded (a
    100,000-network file spent 2 of its 4.5 s composing it a second time).
    Loading it gives the same policy, or the same error, as before."""
    path = tmp_path / "policy"
    path.write_text(text)
    if expected is None:
        assert TrustPolicy.from_file(path) == POLICY
    else:
        with pytest.raises(ConfigError, match=expected.format(path=re.escape(str(path)))):
            TrustPolicy.from_file(path)
    assert len(compose_calls) == 1


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("trusted_proxies: [10.0.0.1, 10.0.0.777]\n",
                 r"^{path}:1: invalid trusted proxy '10.0.0.777': each part of an IPv4 address "
                 r"must be 0-255$", id="invalid proxy"),
    pytest.param("trusted_proxies: [10.0.0.1\n",
                 r"^{path}:2: invalid YAML: while parsing a flow sequence, expected ',' or ']', "
                 r"but got '<stream end>'$", id="invalid YAML"),
    pytest.param("WSGITrustedProxies 10.0.0.1\n# trusted_proxies\n",
                 r"^{path}:1: a policy file must be a mapping \(key: value lines such as "
                 r"'trusted_proxies: \[10.0.0.0/8\]'\), not the value 'WSGITrustedProxies "
                 r"10.0.0.1'\n{path}: the extension '.yaml' reads this file as yaml; it looks "
                 r"like directives, for it has a WSGITrustedProxies/WSGITrustedProxyHeaders "
                 r"line: rename it, or say format='directives' \(--format directives\)$",
                 id="looks like directives"),
])
def test_a_yaml_file_that_fails_is_composed_once(
        tmp_path: Path, compose_calls: list[str], text: str, expected: str) -> None:
    """A .yaml file that fails to load is composed once: the node tree that
    failed to load is the one that tells what the file looks like for the
    message (a 100,000-network file with one bad address spent 2 of its 4.6 s
    composing it a second time). The error is the same as before."""
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected.format(path=re.escape(str(path)))):
        TrustPolicy.from_file(path)
    assert len(compose_calls) == 1
