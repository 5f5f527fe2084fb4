"""``trustedproxy demo``: the app, and the real server started from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

from realservers import free_port
from support import make_environ

from trustedproxy.cli import DEMO_POLICY, demo_app, main


def call(environ: dict[str, Any]) -> dict[str, Any]:
    statuses: list[str] = []
    body = b"".join(demo_app()(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["200 OK"]
    result: dict[str, Any] = json.loads(body)
    return result


def test_demo_policy_trusts_loopback_and_the_common_headers() -> None:
    """The built-in policy trusts loopback and X-Forwarded-For/-Proto/-Host/-Port/-Prefix."""
    assert DEMO_POLICY.trusted_proxies == ("127.0.0.0/8", "::1")
    assert DEMO_POLICY.trusted_headers == ("X-Forwarded-For", "X-Forwarded-Proto",
                                           "X-Forwarded-Host", "X-Forwarded-Port",
                                           "X-Forwarded-Prefix")


def test_demo_app_shows_environ_originals_and_decision() -> None:
    """The demo app answers JSON with the environ after, the originals and the decision."""
    shown = call(make_environ("127.0.0.1", {"X-Forwarded-For": "203.0.113.7",
                                            "X-Forwarded-Proto": "https",
                                            "X-Real-IP": "6.6.6.6"}))
    assert shown["environ"]["REMOTE_ADDR"] == "203.0.113.7"
    assert shown["environ"]["wsgi.url_scheme"] == "https"
    assert "HTTP_X_REAL_IP" not in shown["environ"]
    assert shown["original"]["REMOTE_ADDR"] == "127.0.0.1"
    assert shown["original"]["HTTP_X_REAL_IP"] == "6.6.6.6"
    assert shown["decision"]["trusted"] is True
    assert shown["decision"]["removed"] == ["x-real-ip"]
    assert shown["decision"]["chain"] == [["203.0.113.7", "client"]]


def test_demo_app_shows_values_as_text() -> None:
    """Header values reach WSGI as their bytes read as latin-1; the demo shows them
    as text (UTF-8), in the environ, the originals and the ignored values, as
    ``explain`` does."""
    def wsgi(text: str) -> str:
        return text.encode().decode("latin-1")

    shown = call(make_environ("127.0.0.1", {"X-Forwarded-Prefix": wsgi("/café"),
                                            "X-Forwarded-Host": wsgi("bad hôst"),
                                            "X-Client-IP": wsgi("ünknown")}))
    assert shown["environ"]["SCRIPT_NAME"] == "/café"
    assert shown["environ"]["HTTP_X_FORWARDED_PREFIX"] == "/café"
    assert shown["original"]["HTTP_X_FORWARDED_HOST"] == "bad hôst"
    assert shown["original"]["HTTP_X_CLIENT_IP"] == "ünknown"
    assert [i["value"] for i in shown["decision"]["ignored"]] == ["bad hôst"]


def test_demo_help() -> None:
    """`demo --help` exits 0 and shows an example."""
    assert main(["demo", "--help"]) == 0


def test_demo_bad_config_is_a_clean_error(tmp_path: Any, capsys: Any) -> None:
    """A bad --config prints one error line per problem and exits 2, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("trusted_proxies: [nope]\ntrusted_headers: [X-Forwarded-For]\n")
    assert main(["demo", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "trustedproxy: error:" in err
    assert "Traceback" not in err


def test_demo_server_end_to_end() -> None:
    """`python -m trustedproxy demo` serves on loopback, prints curl lines, answers JSON."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "trustedproxy", "demo", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        body = None
        for _ in range(100):  # bounded: at most ~10 s
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/x",
                    headers={"X-Forwarded-For": "203.0.113.7",
                             "X-Forwarded-Host": "www.example.com"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None, "demo server did not answer"
        assert body["environ"]["REMOTE_ADDR"] == "203.0.113.7"
        assert body["environ"]["HTTP_HOST"] == "www.example.com"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert out.count("curl -s") == 3
    assert "--config" in out
