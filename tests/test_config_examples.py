"""Every file in config-examples/ loads, each twin gives the same policy as its YAML,
and each example's request (its '# explain:' line) gets the result its '# expect:'
line promises."""

from __future__ import annotations

import json
import pathlib
import re
import shlex

import pytest

from trustedproxy import TrustPolicy
from trustedproxy.cli import main

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "config-examples"
YAMLS = sorted(EXAMPLES.glob("*.yaml"))
TWINS = sorted([*EXAMPLES.glob("*.conf"), *EXAMPLES.glob("*.args")])
WITHOUT_TWIN = {"demo-untrusted.yaml"}  # the demo's policy, not a deployment


def _ids(paths: list[pathlib.Path]) -> list[str]:
    return [p.name for p in paths]


def _line(path: pathlib.Path, tag: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"# {tag}:"):
            return line.partition(":")[2].strip()
    msg = f"{path.name} has no '# {tag}:' line"
    raise AssertionError(msg)


def test_there_are_examples() -> None:
    """The deployments the issue lists are all there, each with a twin."""
    stems = {p.stem for p in YAMLS} - {"demo-untrusted"}
    assert stems == {"apache-subpath", "apache-remote-host", "nginx-full",
                     "cloud-load-balancer", "kubernetes-ingress", "cdn-load-balancer",
                     "fixed-script-name", "express-proxy-mount-point"}
    assert {p.stem for p in TWINS} == stems


@pytest.mark.parametrize("path", [*YAMLS, *TWINS], ids=_ids([*YAMLS, *TWINS]))
def test_loads_cleanly(path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each example passes 'trustedproxy check --strict' (no errors, no warnings)."""
    assert main(["check", "--strict", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok: ")


@pytest.mark.parametrize("twin", TWINS, ids=_ids(TWINS))
def test_twin_is_equal(twin: pathlib.Path) -> None:
    """A directive or express twin gives a policy equal to its YAML file's."""
    assert TrustPolicy.from_file(str(twin)) == TrustPolicy.from_file(str(twin.with_suffix(".yaml")))


@pytest.mark.parametrize("path", [p for p in YAMLS if p.name not in WITHOUT_TWIN],
                         ids=_ids([p for p in YAMLS if p.name not in WITHOUT_TWIN]))
def test_explain(path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The example's request, explained, gives the environ its '# expect:' line states
    (an empty value: the key is removed), from a trusted peer, with a front-end snippet
    documented alongside; every trusted header sets a value, none is ignored."""
    text = path.read_text()
    assert "proxy_set_header" in text or "ProxyPass" in text or "--proxy-mount-point" in text
    argv = ["explain", str(path), *shlex.split(_line(path, "explain")), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trusted"] is True
    assert result["network"] is not None
    assert result["ignored"] == []
    assert result["warnings"] == []
    # The sample request shows every header the example trusts at work.
    used = {item["header"] for item in result["set"]} - {"script_name (the policy's fixed prefix)"}
    assert used == set(TrustPolicy.from_file(str(path)).trusted_headers)
    after = result["environ"]["after"]
    for item in shlex.split(_line(path, "expect")):
        key, _, value = item.partition("=")
        assert after.get(key) == (value or None), key
    assert main(argv[:-1]) == 0  # the readable form works too
    assert "is a trusted proxy" in capsys.readouterr().out


def test_directive_twin_of_fixed_script_name_keeps_it() -> None:
    """The option mod_wsgi cannot express travels in the directive twin's comment line."""
    assert TrustPolicy.from_file(str(EXAMPLES / "fixed-script-name.conf")).script_name == "/app"


def test_ranges_file_is_used() -> None:
    """The CDN example takes its edge ranges from the ranges file next to it."""
    policy = TrustPolicy.from_file(str(EXAMPLES / "cdn-load-balancer.yaml"))
    assert "2001:db8:c0de::/48" in policy.trusted_proxies


def test_readme_shows_one_policy_three_ways() -> None:
    """README's Configuration section: its YAML, directive and express blocks give one
    policy, the same as the Python quick start's."""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n")[1].split("\n### ")[0]
    blocks = dict(re.findall(r"```(yaml|apache|sh)\n(.*?)```", section, re.S))
    expected = TrustPolicy(trusted_proxies=["10.0.0.0/8", "192.0.2.10"],
                           trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto",
                                            "X-Forwarded-Host"])
    assert TrustPolicy.from_yaml(blocks["yaml"]) == expected
    assert TrustPolicy.from_directives(blocks["apache"]) == expected
    assert TrustPolicy.from_express_args(blocks["sh"]) == expected
