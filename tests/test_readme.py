"""README claims that must stay true: every code block, command, example output,
quoted message, table and number a user can act on, checked against the code."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib
import inspect
import json
import re
import shlex
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import make_environ

from trustedproxy import ConfigError, Decision, TrustedProxyMiddleware, TrustPolicy
from trustedproxy.cli import main
from trustedproxy.headers import HEADERS, Kind
from trustedproxy.wsgi import _PurePythonMiddleware

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_header_table_matches_the_code() -> None:
    """Every row of README's header table names a known header, its groups and
    whether mod_wsgi knows it, in table order; and no header is missing."""
    table = README.split("<!-- header-table")[1].split("<!-- /header-table -->")[0]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ")]
    rows = [[cell.strip() for cell in row] for row in rows[1:]]  # skip the heading row
    assert [row[0] for row in rows] == [spec.name for spec in HEADERS.values()]
    for row in rows:
        spec = HEADERS[row[0].lower()]
        groups = [g.strip() for g in row[1].split(",")]
        assert sorted(groups) == sorted(g.value for g in spec.groups), row
        assert (row[3] == "yes") == spec.in_mod_wsgi, row
        if spec.kind is Kind.PORT:
            assert "1-65535" in row[2]


def test_readme_opens_with_the_two_commands() -> None:
    """The README's first code block holds the demo and the test commands."""
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block is not None
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert "pip install . && trustedproxy demo" in lines
    assert "pip install -e '.[test]' && pytest" in lines


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls exactly the test command the README gives."""
    assert "pip install -e '.[test]' && pytest" in (ROOT / ".ci" / "run").read_text()


def test_differences_table_names_every_differential_deviation() -> None:
    """README's "Differences from mod_wsgi" is the differential suite's deviation
    table: every deviation the suite can attribute a difference to has its row."""
    from differential.deviations import DEVIATIONS

    section = README.split("## Differences from mod_wsgi")[1].split("\n## ")[0]
    for deviation in DEVIATIONS:
        assert f"`{deviation.id}`" in section, deviation.id


def test_every_yaml_example_loads() -> None:
    """Each YAML policy shown in the README loads (examples that name a file are
    checked by tests/test_config_examples.py)."""
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.S)
    assert len(blocks) >= 6
    for block in blocks:
        if "trusted_proxies_files" in block:
            continue
        TrustPolicy.from_yaml(block)


def test_every_python_policy_example_builds() -> None:
    """Each one-statement TrustPolicy(...) example in the README builds."""
    blocks = re.findall(r"```python\n(TrustPolicy\(.*?\))\n```", README, re.S)
    assert len(blocks) >= 5
    for block in blocks:
        assert isinstance(eval(block, {"TrustPolicy": TrustPolicy}), TrustPolicy)


def test_express_errors_name_the_option_of_a_value_on_a_shared_line() -> None:
    """README, express arguments: "Errors name the argument (... `file:line` for a
    string) and the option". A command on one line holds both options, so the
    line alone does not say which option a bad value was given to."""
    with pytest.raises(ConfigError, match=r"^<args>:1: --trust-proxy: invalid trusted "
                                          r"proxy 'bad': not an IP address"):
        TrustPolicy.from_express_args("mod_wsgi-express start-server app.wsgi "
                                      "--trust-proxy bad --trust-proxy-header X-Forwarded-For")
    with pytest.raises(ConfigError, match=r"^<args>:1: --trust-proxy-header: unknown header "
                                          r"'X-Forwarded-Fro': did you mean"):
        TrustPolicy.from_express_args("--trust-proxy 10.0.0.0/8 "
                                      "--trust-proxy-header X-Forwarded-Fro")


def test_yaml_python_tags_are_refused_on_lists_and_mappings_too() -> None:
    """README: "The file is read with `yaml.safe_load` rules (no Python tags)".
    safe_load refuses a Python tag wherever it stands, on a list or a mapping as
    on a single value, so such a file must not load."""
    tagged = [
        "trusted_proxies: !!python/tuple [10.0.0.1]\ntrusted_headers: [X-Forwarded-For]\n",
        "trusted_proxies: !!python/object/apply:os.getcwd []\n",
        "trusted_proxies: [10.0.0.1]\ntrusted_headers: !custom [X-Forwarded-For]\n",
        "--- !!python/object:dict\ntrusted_proxies: [10.0.0.1]\n"
        "trusted_headers: [X-Forwarded-For]\n",
        "trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Real-IP]\n"
        "custom_headers: !!python/object:dict {X-Test: client}\n",
    ]
    for text in tagged:
        with pytest.raises(yaml.YAMLError):
            yaml.safe_load(text)
        with pytest.raises(ConfigError, match=r"<yaml>:\d+: invalid YAML value: could not "
                                              r"determine a constructor for the tag .*no "
                                              r"Python tags"):
            TrustPolicy.from_yaml(text)
    # The standard tags keep their safe_load meaning.
    assert TrustPolicy.from_yaml("trusted_proxies: !!seq [10.0.0.1]\n"
                                 "trusted_headers: !!seq [X-Forwarded-For]\n"
                                 ) == TrustPolicy(trusted_proxies=["10.0.0.1"],
                                                  trusted_headers=["X-Forwarded-For"])


# --------------------------------------------------------------------------- helpers

SECURITY = (ROOT / "SECURITY.md").read_text(encoding="utf-8")

#: The Configuration section's policy, which the README's console examples load
#: as trust.yaml.
CONFIG_YAML = re.findall(r"```yaml\n(.*?)```",
                         README.split("\n## Configuration\n")[1], re.S)[0]


def _section(title: str, text: str = README) -> str:
    """The text of the section headed *title* (any level), up to the next heading
    of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", text, re.M)
    assert match is not None, title
    level = len(match.group(1))
    lines, fenced = [], False
    for line in text[match.end():].splitlines(keepends=True):
        fenced ^= line.startswith("```")
        heading = re.match(r"(#+) ", line)
        if not fenced and heading and len(heading.group(1)) <= level:
            break
        lines.append(line)
    return "".join(lines)


def _blocks(lang: str, text: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def _call(app: Callable[..., Iterable[bytes]], **environ: str) -> dict[str, Any]:
    """Call a WSGI *app* with a minimal environ plus *environ*; return the
    environ the innermost application saw (it is the same dict)."""
    env: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "",
                           "QUERY_STRING": "", "SERVER_NAME": "localhost",
                           "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
                           "wsgi.url_scheme": "http", "HTTP_HOST": "localhost", **environ}
    app(env, lambda status, headers, exc_info=None: None)
    return env


def _inner(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


FORGED = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_FORWARDED_PROTO": "https",
          "HTTP_X_FORWARDED_HOST": "www.example.com"}


# --------------------------------------------------------------------------- the top


def test_quick_start_fixes_flask_only_from_a_trusted_proxy() -> None:
    """Quick start, Flask: with the middleware in place, request.remote_addr,
    request.is_secure and url_for(..., _external=True) show the client's view when
    the peer is a listed proxy ("Use this if"), and the server's when it is not."""
    flask = pytest.importorskip("flask")
    code = _blocks("python", _section("Quick start"))[0]
    app = flask.Flask("readme")

    @app.route("/")
    def view() -> dict[str, object]:
        return {"remote_addr": flask.request.remote_addr, "secure": flask.request.is_secure,
                "url": flask.url_for("view", _external=True)}

    exec(code, {"app": app})
    client = app.test_client()
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "www.example.com"}
    for peer in ("10.0.0.5", "192.0.2.10"):
        seen = client.get("/", headers=headers, environ_base={"REMOTE_ADDR": peer}).json
        assert seen == {"remote_addr": "203.0.113.7", "secure": True,
                        "url": "https://www.example.com/"}, peer
    seen = client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "198.51.100.9"}).json
    assert seen == {"remote_addr": "198.51.100.9", "secure": False, "url": "http://localhost/"}


def test_quick_start_file_form_is_the_same_policy(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Quick start, "or, with the policy in a file": the trust.yaml shown, given to
    the middleware by name, is the policy of the Python form above it."""
    section = _section("Quick start")
    python = _blocks("python", section)
    (tmp_path / "trust.yaml").write_text(_blocks("yaml", section)[0])
    monkeypatch.chdir(tmp_path)
    first = types.SimpleNamespace(wsgi_app=_inner)
    exec(python[0], {"app": first})
    namespace: dict[str, Any] = {"application": _inner,
                                 "TrustedProxyMiddleware": TrustedProxyMiddleware}
    exec(python[1], namespace)
    assert namespace["application"].policy == first.wsgi_app.policy


def test_how_it_works_steps() -> None:
    """"What it does to a request": an untrusted peer loses every known forwarded
    header (not only the trusted ones) and nothing else changes; a trusted peer's
    invalid value is ignored and removed; a mapped IPv6 peer matches an IPv4
    network; REMOTE_ADDR is bare and canonical, X-Forwarded-For trimmed; originals
    (None: absent) and the Decision are in the environ."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                         trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])
    middleware = TrustedProxyMiddleware(_inner, policy)
    every = {spec.environ_key: "1" for spec in HEADERS.values()}
    env = _call(middleware, REMOTE_ADDR="198.51.100.9", **every)
    assert not set(every) & set(env)
    assert env["REMOTE_ADDR"] == "198.51.100.9"
    assert env["wsgi.url_scheme"] == "http"
    assert env["trustedproxy.orig"] == {"REMOTE_ADDR": "198.51.100.9", **every}

    env = _call(middleware, REMOTE_ADDR="::ffff:10.0.0.5",
                HTTP_X_FORWARDED_FOR="198.51.100.1, [2001:DB8::7]:4711, 10.0.0.7",
                HTTP_X_FORWARDED_PROTO="gopher", HTTP_X_REAL_IP="6.6.6.6")
    assert env["REMOTE_ADDR"] == "2001:db8::7"
    assert env["HTTP_X_FORWARDED_FOR"] == "[2001:DB8::7]:4711, 10.0.0.7"
    assert "HTTP_X_FORWARDED_PROTO" not in env
    assert "HTTP_X_REAL_IP" not in env
    assert env["trustedproxy.orig"]["REMOTE_ADDR"] == "::ffff:10.0.0.5"
    decision = env["trustedproxy.decision"]
    assert isinstance(decision, Decision)
    assert decision.trusted
    assert [i.header for i in decision.ignored] == ["X-Forwarded-Proto"]

    env = _call(middleware, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_PROTO="https")
    assert env["HTTPS"] == "on"
    assert env["trustedproxy.orig"]["HTTPS"] is None


# --------------------------------------------------------------------------- API


def test_api_import_line_and_signature() -> None:
    """The API section's import works, and the TrustPolicy signature in its heading
    is the constructor's: keyword-only, same names, same defaults."""
    exec(_blocks("python", _section("API"))[0], {})
    heading = re.search(r"^### `TrustPolicy\(\*, (.*)\)`$", README, re.M)
    assert heading is not None
    shown = dict(part.split("=", 1) for part in heading.group(1).split(", "))
    params = {name: p for name, p in inspect.signature(TrustPolicy).parameters.items()
              if not name.startswith("_")}
    assert list(shown) == list(params)
    for name, default in shown.items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        # custom_headers={} in the README; () in the code: both are "none".
        assert (ast.literal_eval(default) or None) == (params[name].default or None), name
    table = _section(heading.group(0)[4:])
    documented = {m for row in re.findall(r"^\| (`.*?) \|", table, re.M)
                  for m in re.findall(r"`(\w+)`", row)}
    assert documented == set(params)


def test_api_policy_claims() -> None:
    """The bullets under TrustPolicy: canonical forms, equality by meaning, warnings."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.1/8", "10.0.0.0/9"],
                         trusted_headers=["cf-connecting-ip", "x-forwarded-proto"],
                         custom_headers={"CF-Connecting-IP": "client"})
    assert policy.trusted_proxies == ("10.0.0.0/8",)
    assert set(policy.trusted_headers) == {"X-Forwarded-Proto", "CF-Connecting-IP"}
    assert policy == TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                                 trusted_headers=["CF-CONNECTING-IP", "X-Forwarded-Proto"],
                                 custom_headers={"cf-connecting-ip": "client"})
    claim = re.search(r"`(TrustPolicy\(trusted_proxies=.*?)`", _section("API"))
    assert claim is not None
    assert eval(claim.group(1), {"TrustPolicy": TrustPolicy}) is True
    assert policy.compile() is policy.compile()


def test_engine_example_outputs() -> None:
    """The TrustEngine example: each value shown in a comment is what the line before
    or beside it gives, with the Quick start's policy."""
    namespace: dict[str, Any] = {}
    exec(_blocks("python", _section("Quick start"))[0],
         {"app": types.SimpleNamespace(wsgi_app=_inner)}, namespace)
    code = _blocks("python", _section("`TrustEngine` and `Decision`"))[0]
    pending, checked = "", 0
    for line in code.splitlines():
        if line.startswith("#"):
            assert eval(pending, namespace) == ast.literal_eval(line[1:].strip()), pending
            checked += 1
        elif "  # " in line:
            expression, _, shown = line.partition("  # ")
            assert eval(expression, namespace) == ast.literal_eval(shown.strip()), line
            checked += 1
        else:
            try:
                compile(line, "<readme>", "eval")
                pending = line
            except SyntaxError:
                exec(line, namespace)
    assert checked == 3


def test_decision_fields_are_listed() -> None:
    """"Decision fields: ..." names every field of Decision."""
    text = _section("`TrustEngine` and `Decision`").split("`Decision` fields:")[1]
    listed = re.findall(r"(?:^|[ (,])`(\w+)`", text.split("\n\n")[0])
    fields = [f.name for f in dataclasses.fields(Decision)]
    assert set(fields) <= set(listed)
    assert Decision(peer="p", trusted=False).strip_prefix is False


def test_error_example_text(tmp_path: Path) -> None:
    """The Errors section's example is what a bad network on line 7 of trust.yaml
    gives, and ConfigError is the ValueError with the documented attributes."""
    shown = _blocks("", _section("Errors"))[0].strip()
    path = tmp_path / "trust.yaml"
    path.write_text("# trust.yaml\n" * 6 + "trusted_proxies: [10.0.0.0/33]\n")
    with pytest.raises(ConfigError) as caught:
        TrustPolicy.from_yaml(path)
    assert str(caught.value).replace(str(path), "trust.yaml") == shown
    assert isinstance(caught.value, ValueError)
    assert caught.value.value == "10.0.0.0/33"
    assert caught.value.source == f"{path}:7"


def test_asgi_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ASGI example wraps an ASGI 3 app with a policy file by name (any form);
    the application gets a rewritten copy of the scope, the server's is unchanged."""
    (tmp_path / "trust.yaml").write_text(CONFIG_YAML)
    monkeypatch.chdir(tmp_path)
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    namespace: dict[str, Any] = {"app": app}
    exec(_blocks("python", _section("ASGI"))[0], namespace)
    scope = {"type": "http", "scheme": "http", "path": "/", "root_path": "",
             "client": ("10.0.0.5", 4711), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"internal"), (b"x-forwarded-for", b"203.0.113.7"),
                         (b"x-forwarded-proto", b"https"),
                         (b"x-forwarded-host", b"www.example.com")]}
    before = json.dumps(scope, default=repr)
    asyncio.run(namespace["app"](scope, None, None))
    assert json.dumps(scope, default=repr) == before
    assert seen["client"] == ("203.0.113.7", 0)
    assert seen["scheme"] == "https"
    assert (b"host", b"www.example.com") in seen["headers"]
    (tmp_path / "trust.conf").write_text(TrustPolicy.from_yaml(CONFIG_YAML).to_directives())
    from trustedproxy.asgi import TrustedProxyMiddleware as AsgiMiddleware

    assert AsgiMiddleware(app, "trust.conf").policy == TrustPolicy.from_yaml(CONFIG_YAML)


# --------------------------------------------------------------------------- beyond mod_wsgi


def test_beyond_examples_yaml_and_python_agree() -> None:
    """"Each of these ... works the same in YAML and in Python": each YAML block of
    "Beyond mod_wsgi" gives the same policy as the Python block under it."""
    section = _section("Beyond mod_wsgi")
    pairs = re.findall(r"```yaml\n(.*?)```\n```python\n(.*?)```", section, re.S)
    assert len(pairs) == len(_blocks("yaml", section)) >= 6
    for text, code in pairs:
        assert TrustPolicy.from_yaml(text) == eval(code, {"TrustPolicy": TrustPolicy}), code


def _through_both_paths(policy: TrustPolicy, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The environs a request from trusted peer 10.0.0.9 with *headers* becomes
    on both WSGI paths, each sent twice (cold, then warm)."""
    seen = []
    for kind in (TrustedProxyMiddleware, _PurePythonMiddleware):
        middleware = kind(lambda env, start: [], policy)
        for _ in range(2):
            environ = make_environ("10.0.0.9", headers)
            middleware(environ, None)
            seen.append(environ)
    return seen


def test_named_ranges_and_limits_as_documented() -> None:
    """Named ranges stand for the networks listed; max_hops' default and bounds, the
    single-value length and the empty-element budget are the code's numbers."""
    from trustedproxy.engine import MAX_VALUE_LENGTH
    from trustedproxy.forwarded import MAX_GAP
    from trustedproxy.policy import DEFAULT_MAX_HOPS

    text = _section("Named ranges").split("```")[0]
    named = dict(re.findall(r"`(\w+)` \(([^)]*)\)", text))
    assert set(named) == {"loopback", "private", "linklocal", "cgnat"}
    for name, networks in named.items():
        assert TrustPolicy(trusted_proxies=[name]) == TrustPolicy(
            trusted_proxies=re.split(r",\s*", networks)), name
    bounded = _section("Bounded cost: `max_hops`")
    assert f"(default {DEFAULT_MAX_HOPS}, 1-1024)" in bounded
    assert f"longer than {MAX_VALUE_LENGTH:,} characters" in bounded
    assert f"up to {MAX_GAP:,} characters" in bounded
    # The cut walk's example, on both WSGI paths.
    example = re.search(r"`max_hops: (\d+)`, `([^`]+)` from a trusted peer\s+gives `REMOTE_ADDR` "
                        r"`([^`]+)`", bounded)
    assert example is not None
    hops, header, client = example.groups()
    cut = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"],
                      max_hops=int(hops))
    for seen in _through_both_paths(cut, {"X-Forwarded-For": header}):
        assert seen["REMOTE_ADDR"] == client
    for bad in (0, 1025):
        with pytest.raises(ConfigError, match="max_hops must be a whole number from 1 to 1024"):
            TrustPolicy(max_hops=bad)
    assert f"(default {DEFAULT_MAX_HOPS})" in SECURITY
    assert f"longer than {MAX_VALUE_LENGTH} characters" in SECURITY


def test_custom_header_refusals() -> None:
    """Custom headers: a name given twice in any case, Host, and headers HTTP or the
    client sets are refused; directive strings and express arguments cannot carry
    custom headers."""
    for custom, message in (
            ({"CF-Connecting-IP": "client", "cf-connecting-ip": "client"}, "given twice"),
            ({"Host": "host"}, "the request's own Host header"),
            ({"Content-Type": "client"}, "not a forwarded header"),
            ({"Authorization": "client"}, "not a forwarded header")):
        with pytest.raises(ConfigError, match=message):
            TrustPolicy(trusted_proxies=["10.0.0.0/8"], custom_headers=custom)
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                         custom_headers={"CF-Connecting-IP": "client"})
    with pytest.raises(ConfigError, match="cannot register custom header"):
        policy.to_directives()
    with pytest.raises(ConfigError, match="mod_wsgi-express arguments cannot register custom"):
        policy.to_express_args()


# --------------------------------------------------------------------------- configuration


def test_yaml_keys_table_is_the_loader_keys() -> None:
    """The YAML section's key table lists exactly the keys the loader accepts."""
    from trustedproxy.loaders.yaml import KEYS

    table = _section("YAML").split("```")[0]
    keys = {key for row in re.findall(r"^\| (`.*?) \|", table, re.M)
            for key in re.findall(r"`(\w+)`", row)}
    assert keys == set(KEYS)


def test_yaml_error_examples(tmp_path: Path) -> None:
    """The YAML section's error lines are what a file with those mistakes gives,
    all reported together; a number-like IPv6 value is refused with a hint."""
    shown = _blocks("", _section("YAML"))[0].strip().splitlines()
    (tmp_path / "cdn-ranges.txt").write_text(
        "".join(f"10.{i}.0.0/16\n" for i in range(13)) + "example.com\n")
    (tmp_path / "trust.yaml").write_text(
        "trusted_proxies:\n  - 10.0.0.0/8\n  - 10.0.0.0/33\n"
        "trusted_proxies_files: [cdn-ranges.txt]\n"
        "trusted_header: [X-Forwarded-For]\n"
        "trusted_proxies: [10.0.0.0/8]\n"
        "strip_prefix_from_path: false\n"
        "trusted_headers: X-Forwarded-For, X-Forwarded-Proto\n")
    with pytest.raises(ConfigError) as caught:
        TrustPolicy.from_yaml(tmp_path / "trust.yaml")
    got = str(caught.value).replace(f"{tmp_path}/", "").splitlines()
    assert len(got) == len(shown)
    for line, expected in zip(got, shown, strict=True):
        if expected.endswith("..."):
            assert line.startswith(expected[:-3]), line
        else:
            assert line == expected
    with pytest.raises(ConfigError, match=r"read by YAML as a number, not text: put it in "
                                          r"quotes"):
        TrustPolicy.from_yaml("trusted_proxies: [1:2:3:4:5:6:7:8]\n")


def test_directive_error_examples(tmp_path: Path) -> None:
    """The directive section's error lines name the line and the directive."""
    shown = _blocks("", _section("mod_wsgi directives"))[0].strip()
    path = tmp_path / "vhost.conf"
    path.write_text("# vhost.conf\n" * 11 + "WSGITrustedProxies 2001:DB8::/32\n"
                    "WSGITrustedProxyHeaders X_Forwarded_For\n")
    with pytest.raises(ConfigError) as caught:
        TrustPolicy.from_directives(path)
    assert str(caught.value).replace(f"{tmp_path}/", "") == shown


def test_option_comment_lines() -> None:
    """Options mod_wsgi has no directive for travel as the comment lines shown,
    which from_directives reads and to_directives writes."""
    lines = _blocks("apache", _section("mod_wsgi directives"))[0]
    text = "WSGITrustedProxies 10.0.0.0/8\nWSGITrustedProxyHeaders X-Forwarded-Prefix\n" + lines
    policy = TrustPolicy.from_directives(text)
    assert policy.script_name == "/myapp"
    assert policy.strip_prefix_from_path is True
    for line in lines.splitlines():
        assert line in policy.to_directives().splitlines()


def test_directive_and_express_claims() -> None:
    """The directive and express bullets: what loads, with which meaning."""
    both = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["X-Forwarded-For"])
    assert TrustPolicy.from_directives(
        "Define NET 10.0.0.0/8\nwsgitrustedproxies ${NET}\n"
        "# WSGITrustedProxies 192.0.2.1\n"
        "WSGITrustedProxyHeaders \\\n  \"X-Forwarded-For\"\n") == both
    assert TrustPolicy.from_directives(
        "WSGITrustedProxies 127.0.0\nWSGITrustedProxyHeaders X-Forwarded-For\n"
    ).trusted_proxies == ("127.0.0.0/24",)
    for value in ("010.0.0.1", "1.2.3.4/255.0.255.0", "::ffff:10.0.0.1", "0.0.0.0/0",
                  "2001:DB8::1", "private", "localhost"):
        with pytest.raises(ConfigError, match="WSGITrustedProxies: invalid trusted proxy"):
            TrustPolicy.from_directives(f"WSGITrustedProxies {value}\n"
                                        "WSGITrustedProxyHeaders X-Forwarded-For\n")
    vhost = ("WSGITrustedProxies 10.0.0.0/8\n<VirtualHost *:443>\n"
             "WSGITrustedProxyHeaders X-Forwarded-For\n<Location /api>\n"
             "WSGITrustedProxyHeaders X-Real-IP\n</Location>\n</VirtualHost>\n")
    with pytest.raises(ConfigError, match="give different policies"):
        TrustPolicy.from_directives(vhost)
    for block in ("Location /api", "/api", "VirtualHost *:443 > Location /api"):
        assert TrustPolicy.from_directives(vhost, block=block).trusted_headers == ("X-Real-IP",)
    everyone = TrustPolicy(trusted_proxies=["0.0.0.0/0", "::/0", "::10.0.0.1"],
                           trusted_headers=["X-Forwarded-For"])
    assert "WSGITrustedProxies 0.0.0.0/1 128.0.0.0/1 ::/1 8000::/1" in everyone.to_directives() \
        or "::a00:1" in everyone.to_directives()
    assert TrustPolicy.from_express_args(
        ["--trust-proxy=10.0.0.0/8", "--trust-proxy-h", "X-Forwarded-For"]) == both
    assert TrustPolicy.from_express_args(
        ["--trust-proxy", "127.0.0.1 10.0.0.0/8", "--trust-proxy-header", "X-Forwarded-For"]
    ).trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    with pytest.raises(ConfigError, match=r"^argv\[1\]: --trust-proxy: invalid trusted proxy "
                                          r"'private': mod_wsgi does not know named ranges"):
        TrustPolicy.from_express_args(["--trust-proxy", "private",
                                       "--trust-proxy-header", "X-Forwarded-For"])
    for refuse in ("trust.conf", "/etc/trust"):
        with pytest.raises(ConfigError, match=r"pass a pathlib\.Path"):
            TrustPolicy.from_directives(refuse)


# --------------------------------------------------------------------------- wiring it in


def test_wiring_flask_and_wsgi_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"Wiring it in": the Flask line and the wsgi.py module load trust.yaml once and
    wrap the application."""
    (tmp_path / "trust.yaml").write_text(CONFIG_YAML)
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python", _section("Wiring it in"))
    flask_app = types.SimpleNamespace(wsgi_app=_inner)
    exec(blocks[0], {"app": flask_app})
    expected = TrustPolicy.from_yaml(CONFIG_YAML)
    assert flask_app.wsgi_app.policy == expected
    myapp = types.ModuleType("myapp")
    myapp.app = _inner  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "myapp", myapp)
    namespace: dict[str, Any] = {}
    exec(blocks[2], namespace)
    assert namespace["application"].policy == expected
    assert _call(namespace["application"], REMOTE_ADDR="10.0.0.5", **FORGED)[
        "REMOTE_ADDR"] == "203.0.113.7"


def test_wiring_django(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Django wsgi.py wraps get_wsgi_application() with the policy file it names."""
    path = tmp_path / "trust.yaml"
    path.write_text(CONFIG_YAML)
    code = _blocks("python", _section("Wiring it in"))[1]
    assert "/etc/myproject/trust.yaml" in code
    django = types.ModuleType("django.core.wsgi")
    django.get_wsgi_application = lambda: _inner  # type: ignore[attr-defined]
    for name in ("django", "django.core", "django.core.wsgi"):
        monkeypatch.setitem(sys.modules, name, django)
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "")
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    namespace: dict[str, Any] = {}
    exec(code.replace("/etc/myproject/trust.yaml", str(path)), namespace)
    assert namespace["application"].policy == TrustPolicy.from_yaml(CONFIG_YAML)
    assert namespace["application"].app is _inner


def test_api_middleware_example(tmp_path: Path) -> None:
    """The API section's two middleware lines: Flask with a policy object, Django
    with the path of a policy file."""
    path = tmp_path / "trust.yaml"
    path.write_text(CONFIG_YAML)
    code = _blocks("python", _section("`TrustedProxyMiddleware(app, policy)`"))[0]
    assert "/etc/myapp/trust.yaml" in code
    policy = TrustPolicy.from_yaml(CONFIG_YAML)
    namespace: dict[str, Any] = {
        "app": types.SimpleNamespace(wsgi_app=_inner), "policy": policy,
        "get_wsgi_application": lambda: _inner,
        "TrustedProxyMiddleware": TrustedProxyMiddleware}
    exec(code.replace("/etc/myapp/trust.yaml", str(path)), namespace)
    assert namespace["app"].wsgi_app.policy is policy
    assert namespace["application"].policy == policy


def test_wiring_mod_wsgi_script_and_migration(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The mod_wsgi script file and the WSGITrustedProxies migration load the
    directives from a file of their own, given as a pathlib.Path."""
    conf = tmp_path / "trust.conf"
    conf.write_text(_blocks("apache", _section("Configuration"))[0])
    myapp = types.ModuleType("myapp")
    myapp.app = _inner  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "myapp", myapp)
    script = _blocks("python", _section("Wiring it in"))[3]
    migration = _blocks("python", _section("Migrating from WSGITrustedProxies"))[0]
    namespace: dict[str, Any] = {}
    exec(script.replace("/srv/myapp/trust.conf", str(conf)), namespace)
    assert namespace["application"].policy == TrustPolicy.from_yaml(CONFIG_YAML)
    exec("import pathlib\n" + migration.replace("/srv/myapp/trust.conf", str(conf)),
         {"TrustPolicy": TrustPolicy}, namespace)
    assert namespace["policy"] == TrustPolicy.from_yaml(CONFIG_YAML)


def test_server_commands_and_claims() -> None:
    """The server commands: waitress keeps the forwarded headers for the middleware
    only with its clearing turned off, as the text says (by default it removes
    them), and gunicorn's own scheme handling is as described."""
    waitress = pytest.importorskip("waitress.adjustments")
    proxy_headers = pytest.importorskip("waitress.proxy_headers")
    gunicorn = pytest.importorskip("gunicorn.config")
    commands = [shlex.split(line) for line in _blocks("sh", _section("Wiring it in"))[0]
                .splitlines()]
    assert [argv[0] for argv in commands] == ["gunicorn", "waitress-serve", "uwsgi"]
    argv = commands[1]
    kwargs, args = waitress.Adjustments.parse_args(argv[1:])
    assert args == ["wsgi:application"]
    assert not kwargs.pop("help")
    assert not kwargs.pop("call")
    adjustments = waitress.Adjustments(**kwargs)
    assert adjustments.clear_untrusted_proxy_headers is False
    assert adjustments.trusted_proxy is None
    assert waitress.Adjustments().clear_untrusted_proxy_headers is True
    assert set(proxy_headers.PROXY_HEADERS) == {"X_FORWARDED_FOR", "X_FORWARDED_HOST",
                                           "X_FORWARDED_PROTO", "X_FORWARDED_PORT",
                                           "X_FORWARDED_BY", "FORWARDED"}
    config = gunicorn.Config()
    assert set(config.secure_scheme_headers) == {"X-FORWARDED-PROTO", "X-FORWARDED-SSL",
                                                 "X-FORWARDED-PROTOCOL"}
    assert set(config.forwarded_allow_ips) == {"127.0.0.1", "::1"}


def test_proxyfix_migration() -> None:
    """"Migrating from Werkzeug ProxyFix": ProxyFix believes the headers from any
    peer; the policy that replaces it only from the listed addresses, and keeps the
    originals where the text says."""
    proxy_fix = pytest.importorskip("werkzeug.middleware.proxy_fix")
    code = _blocks("python", _section("Migrating from Werkzeug ProxyFix"))[0]
    before, _, after = code.partition("# after")
    names = {"ProxyFix": proxy_fix.ProxyFix, "TrustPolicy": TrustPolicy,
             "TrustedProxyMiddleware": TrustedProxyMiddleware}
    old, new = types.SimpleNamespace(wsgi_app=_inner), types.SimpleNamespace(wsgi_app=_inner)
    exec(before, {**names, "app": old})
    exec(after, {**names, "app": new})
    env = _call(old.wsgi_app, REMOTE_ADDR="198.51.100.9", **FORGED)
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert "werkzeug.proxy_fix.orig" in env
    env = _call(new.wsgi_app, REMOTE_ADDR="198.51.100.9", **FORGED)
    assert env["REMOTE_ADDR"] == "198.51.100.9"
    assert env["wsgi.url_scheme"] == "http"
    for peer in ("127.0.0.1", "::1"):
        env = _call(new.wsgi_app, REMOTE_ADDR=peer, **FORGED)
        assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"], env["HTTP_HOST"]) == (
            "203.0.113.7", "https", "www.example.com")
        assert env["trustedproxy.orig"]["REMOTE_ADDR"] == peer
    env = _call(new.wsgi_app, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_PORT="8443")
    assert env["SERVER_PORT"] == "80"  # X-Forwarded-Port is not trusted by this policy


# --------------------------------------------------------------------------- command line


def _console(title: str) -> tuple[list[str], list[str]]:
    """The command (as argv, after ``trustedproxy``) and the output lines of the
    console block in section *title*."""
    block = _blocks("console", _section(title))
    text = next(b for b in block) if block else ""
    lines = text.replace("\\\n", " ").splitlines()
    assert lines[0].startswith("$ trustedproxy ")
    return shlex.split(lines[0][len("$ trustedproxy "):]), lines[1:]


def test_check_console_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """The `check` example's output, for the Configuration section's trust.yaml and a
    vhost.conf trusting two client headers on its line 4; exit status 2 (errors)."""
    section = README.split("\n## Command line\n")[1].split("\n## ")[0]
    argv, shown = _console_in(section, "check")
    (tmp_path / "trust.yaml").write_text(CONFIG_YAML)
    (tmp_path / "vhost.conf").write_text(
        "<VirtualHost *:80>\n    WSGITrustedProxies 10.0.0.0/8\n\n"
        "    WSGITrustedProxyHeaders X-Forwarded-For X-Real-IP\n</VirtualHost>\n")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().out.splitlines() == shown


def test_explain_console_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The `explain` example's output, line for line, for the Configuration
    section's trust.yaml."""
    section = README.split("\n## Command line\n")[1].split("\n## ")[0]
    argv, shown = _console_in(section, "explain")
    (tmp_path / "trust.yaml").write_text(CONFIG_YAML)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == shown


def _console_in(text: str, command: str) -> tuple[list[str], list[str]]:
    for block in _blocks("console", text):
        lines = block.replace("\\\n", " ").splitlines()
        if lines[0].startswith(f"$ trustedproxy {command} "):
            return shlex.split(lines[0][len("$ trustedproxy "):]), lines[1:]
    msg = f"no console example of {command}"
    raise AssertionError(msg)


def test_cli_claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    """Every command has --help with an example; --server lists the documented
    servers; convert to a form that cannot carry the policy is an error (exit 2)."""
    for command in ("check", "explain", "convert", "demo"):
        try:
            status = main([command, "--help"])
        except SystemExit as done:
            status = done.code
        assert status == 0
        assert "example" in capsys.readouterr().out, command
    section = README.split("\n## Command line\n")[1].split("\n## ")[0]
    servers = re.search(r"`--server NAME` \(([^)]*)\)", section)
    assert servers is not None
    (tmp_path / "trust.yaml").write_text(CONFIG_YAML + "max_hops: 8\n")
    monkeypatch.chdir(tmp_path)
    for server in servers.group(1).split(", "):
        assert main(["check", "--server", server, "trust.yaml"]) == 0
    capsys.readouterr()
    assert main(["convert", "trust.yaml", "--to", "express"]) == 2
    assert "mod_wsgi-express has no option for max_hops" in capsys.readouterr().err


# --------------------------------------------------------------------------- links and names

_PATHS = re.compile(r"`((?:tests|\.ci|fuzz|benchmarks|trustedproxy|config-examples)"
                    r"/[\w./-]*)`")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped,
    spaces as -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("name", ["README.md", "SECURITY.md"])
def test_links_anchors_and_paths_exist(name: str) -> None:
    """Every link to a section goes to a heading of the file; every relative link
    and every repository path named in backticks exists."""
    text = (ROOT / name).read_text(encoding="utf-8")
    anchors = {_slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith("#"):
            assert target[1:] in anchors, target
        elif "://" not in target:
            assert (ROOT / target.split("#")[0]).exists(), target
    for path in _PATHS.findall(text):
        assert (ROOT / path.rstrip("/")).exists(), path


def test_dotted_names_exist() -> None:
    """Every `trustedproxy.module.NAME` the README names can be imported (the
    environ key `trustedproxy.orig` is not a name)."""
    names = set(re.findall(r"`(trustedproxy(?:\.\w+)+)`", README)) - {"trustedproxy.orig"}
    assert len(names) >= 3
    for dotted in names:
        module, _, attribute = dotted.rpartition(".")
        try:
            importlib.import_module(dotted)
        except ImportError:
            if dotted == "trustedproxy._speedups":
                continue  # optional: built only with a C compiler
            assert hasattr(importlib.import_module(module), attribute), dotted


def test_development_commands() -> None:
    """The Development section's install extras exist and hold the tools it runs."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    block = _blocks("sh", _section("Development"))[0]
    assert "pip install -e '.[test,dev]'" in block
    assert {"ruff", "mypy"} <= {re.split(r"[<>=]", d)[0] for d in extras["dev"]}
    assert "pytest" in {re.split(r"[<>=]", d)[0] for d in extras["test"]}


def _public_api() -> list[tuple[str, object]]:
    import trustedproxy
    from trustedproxy import asgi

    names = [(name, getattr(trustedproxy, name)) for name in trustedproxy.__all__
             if inspect.isclass(getattr(trustedproxy, name))]
    return [*names, ("asgi.TrustedProxyMiddleware", asgi.TrustedProxyMiddleware)]


@pytest.mark.parametrize(("name", "cls"), _public_api(), ids=[n for n, _ in _public_api()])
def test_public_docstrings_document_every_argument(name: str, cls: type) -> None:
    """The README's API is documented in the code too: every public class and
    method has a docstring, and each one that takes arguments names every one of
    them under ``Args:`` (Google style; a dataclass documents its fields under
    ``Attributes:``)."""
    assert cls.__doc__, name
    members = [("__init__", cls)] + [
        (attr, value) for attr, value in vars(cls).items()
        if not attr.startswith("_") and (inspect.isfunction(value)
                                         or isinstance(value, (classmethod, property)))]
    for attr, member in members:
        function = member.fget if isinstance(member, property) else getattr(
            member, "__func__", member)
        doc = inspect.getdoc(function)
        assert doc, f"{name}.{attr}"
        target = cls.__init__ if attr == "__init__" else function
        if attr == "__init__" and (target is object.__init__
                                   or "__dataclass_fields__" in vars(cls)):
            params = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(
                cls) else []
            section = "Attributes:"
        else:
            params = [p for p in inspect.signature(target).parameters
                      if p not in ("self", "cls") and not p.startswith("_")
                      and p not in ("args", "kwargs")]
            section = "Args:"
        if params and not (attr == "__init__" and cls.__init__ is Exception.__init__):
            assert section in doc, f"{name}.{attr}"
            documented = doc.split(section)[1]
            for param in params:
                assert re.search(rf"^\s+{param}:", documented, re.M), f"{name}.{attr}: {param}"


def test_setup_note_matches_the_package() -> None:
    """The note under the two commands gives the Python the package requires."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    version = project["requires-python"].removeprefix(">=")
    assert f"with Python {version} or later" in README.split("## Use this if")[0]


def test_compatibility_numbers_are_the_suites() -> None:
    """"Compatibility testing" counts what the differential suites really send."""
    from differential.cases import CASES, CONFIGS, SOURCES
    from differential.test_config import CASES as DIRECTIVE_CASES

    section = _section("Compatibility testing")
    requests = len(CONFIGS) * len(CASES) * len(SOURCES)
    assert f"once for each of {len(CONFIGS)} trust configurations" in section
    assert f"{len(CASES)} generated cases" in section
    assert f"**{requests:,} real requests**" in section
    assert f"{len(DIRECTIVE_CASES)} directive values" in section


def test_yaml_merge_keys_are_refused_plainly() -> None:
    """README: "yaml.safe_load rules (no Python tags, no `<<` merge keys)": a merge
    key gets one message that says so, not a tag error and an unknown key 'None'."""
    text = "<<: {trusted_proxies: [10.0.0.0/8]}\ntrusted_headers: [X-Forwarded-For]\n"
    with pytest.raises(ConfigError, match=r"^<yaml>:1: YAML merge keys \('<<'\) are not "
                                          r"supported in a policy file: write the keys out$"):
        TrustPolicy.from_yaml(text)
    assert "no `<<` merge keys" in _section("YAML")


def test_yaml_ipv6_quoting_advice() -> None:
    """README, YAML: an IPv6 address starting with ':' must be quoted in a [...] list,
    and needs no quotes one item a line."""
    expected = TrustPolicy(trusted_proxies=["127.0.0.1", "::1"])
    with pytest.raises(ConfigError, match=r"^<yaml>:1: invalid YAML"):
        TrustPolicy.from_yaml("trusted_proxies: [127.0.0.1, ::1]\n")
    assert TrustPolicy.from_yaml("trusted_proxies: [127.0.0.1, '::1']\n") == expected
    assert TrustPolicy.from_yaml("trusted_proxies:\n  - 127.0.0.1\n  - ::1\n") == expected
    assert "[127.0.0.1, '::1']" in _section("YAML")


def test_layout_names_every_module() -> None:
    """The Development section's layout names every module of the package (the
    package's own plumbing aside) and nothing that is not there."""
    text = _section("Development").split("Layout:")[1].split("CI runs")[0]
    named = {Path(name).name for name in re.findall(r"`([\w/]+\.(?:py|c)|\w+/)`", text)}
    package = ROOT / "trustedproxy"
    present = {p.name for p in package.iterdir()
               if p.suffix in (".py", ".c") and p.name not in
               ("__init__.py", "__main__.py", "_compiled.py")}
    present |= {"loaders"} if (package / "loaders").is_dir() else set()
    assert named == present


#: Values each "value accepted" cell of the header table promises, and values it
#: does not allow, by the cell's text.
_ACCEPTED = {
    "`http`, `https`, `ws`, `wss` (any case)": (
        ["http", "https", "ws", "wss", "HTTPS", "Wss"], ["ftp", "https, http", "on"]),
    "`on`/`off`, `true`/`false`, `1`/`0`": (
        ["on", "off", "true", "false", "1", "0", "ON", "True"], ["yes", "https", "2"]),
    "`host[:port]`: DNS name, IPv4 or `[IPv6]`, port 1-65535": (
        ["www.example.com", "www.example.com:8443", "192.0.2.7:1", "[2001:db8::1]:65535"],
        ["www.example.com:0", "host:65536", "2001:db8::1", "a b", "a,b"]),
    "a host without a port": (["www.example.com", "192.0.2.7", "[2001:db8::1]"],
                              ["www.example.com:443", "a b"]),
    "1-65535": (["1", "443", "65535"], ["0", "65536", "https", "443, 80"]),
    "empty or `/path` (normalised)": (["", "/", "/app", "//app//x/"],
                                      ["app", "/a?b", "/a/../b", "/a b"]),
    "one address, optional port": (["192.0.2.7", "192.0.2.7:4711", "[2001:db8::1]:80",
                                    "2001:db8::1"], ["host", "192.0.2.7, 192.0.2.8"]),
}


def test_header_table_value_column() -> None:
    """Each header's "value accepted" cell: the values it promises are used, the
    others are ignored (and removed)."""
    table = README.split("<!-- header-table")[1].split("<!-- /header-table -->")[0]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]]
            for line in table.splitlines() if line.startswith("| ")][1:]
    checked = 0
    for name, _, cell, _ in rows:
        if cell not in _ACCEPTED:
            assert HEADERS[name.lower()].kind in (Kind.FOR_LIST, Kind.FORWARDED), name
            continue
        engine = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=[name]).compile()
        good, bad = _ACCEPTED[cell]
        for value in good:
            decision = engine.evaluate("10.0.0.1", {name: value})
            assert not decision.ignored, (name, value)
            assert decision.kept == (name.lower(),), (name, value)
        for value in bad:
            decision = engine.evaluate("10.0.0.1", {name: value})
            assert [i.header for i in decision.ignored] == [name], (name, value)
            assert decision.removed == (name.lower(),), (name, value)
        checked += 1
    assert checked == 16


def test_forwarded_rewrite_as_documented() -> None:
    """The RFC 7239 section's example of how HTTP_FORWARDED is written anew holds,
    on both WSGI paths."""
    text = " ".join(_section("RFC 7239 `Forwarded`").split())
    example = re.search(r"\(`([^`]+)` becomes `([^`]+)`\)", text)
    assert example is not None
    sent, written = example.groups()
    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"], trusted_headers=["Forwarded"])
    for seen in _through_both_paths(policy, {"Forwarded": sent}):
        assert seen["HTTP_FORWARDED"] == written
        assert seen["REMOTE_ADDR"] == "203.0.113.9"
