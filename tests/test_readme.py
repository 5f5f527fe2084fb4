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
