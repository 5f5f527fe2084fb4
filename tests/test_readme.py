"""README claims that must stay true: the header table and the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

from trustedproxy.headers import HEADERS, Kind

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
    from trustedproxy import TrustPolicy

    blocks = re.findall(r"```yaml\n(.*?)```", README, re.S)
    assert len(blocks) >= 6
    for block in blocks:
        if "trusted_proxies_files" in block:
            continue
        TrustPolicy.from_yaml(block)


def test_every_python_policy_example_builds() -> None:
    """Each one-statement TrustPolicy(...) example in the README builds."""
    from trustedproxy import TrustPolicy

    blocks = re.findall(r"```python\n(TrustPolicy\(.*?\))\n```", README, re.S)
    assert len(blocks) >= 5
    for block in blocks:
        assert isinstance(eval(block, {"TrustPolicy": TrustPolicy}), TrustPolicy)


def test_express_errors_name_the_option_of_a_value_on_a_shared_line() -> None:
    """README, express arguments: "Errors name the argument (... `file:line` for a
    string) and the option". A command on one line holds both options, so the
    line alone does not say which option a bad value was given to."""
    import pytest

    from trustedproxy import ConfigError, TrustPolicy

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
    import pytest
    import yaml

    from trustedproxy import ConfigError, TrustPolicy

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
