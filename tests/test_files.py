"""TrustPolicy.from_file: a policy file in any of the three forms, and the middleware given one."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import Recorder, make_environ

from trustedproxy import ConfigError, TrustedProxyMiddleware, TrustPolicy
from trustedproxy.asgi import TrustedProxyMiddleware as AsgiMiddleware

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
    assert TrustPolicy.from_file(path) == TrustPolicy()  # as directives: it holds none


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
