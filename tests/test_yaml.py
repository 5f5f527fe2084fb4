"""YAML policy files: safe_load semantics, file:line on every problem, ranges files."""

from __future__ import annotations

import pathlib
import re

import pytest

from trustedproxy import ConfigError, TrustPolicy

XFF = ["X-Forwarded-For"]


def write(tmp_path: pathlib.Path, text: str, name: str = "trust.yaml") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_full_policy(tmp_path: pathlib.Path) -> None:
    """Every key loads, from a path object or a path string."""
    path = write(tmp_path, "trusted_proxies: [10.0.0.0/8, '::1']\n"
                           "trusted_headers:\n  - X-Forwarded-For\n  - X-Forwarded-Prefix\n"
                           "script_name: /myapp\nstrip_prefix_from_path: true\n"
                           "trust_unix_socket: yes\n")
    expected = TrustPolicy(trusted_proxies=["10.0.0.0/8", "::1"],
                           trusted_headers=["X-Forwarded-For", "X-Forwarded-Prefix"],
                           script_name="/myapp", strip_prefix_from_path=True,
                           trust_unix_socket=True)
    assert TrustPolicy.from_yaml(path) == expected
    assert TrustPolicy.from_yaml(str(path)) == expected


def test_text() -> None:
    """YAML text is read as text and named <yaml>."""
    assert TrustPolicy.from_yaml("trusted_proxies: [10.0.0.1]\ntrusted_headers: [x-real-ip]\n"
                                 ) == TrustPolicy(trusted_proxies=["10.0.0.1"],
                                                  trusted_headers=["X-Real-IP"])
    with pytest.raises(ConfigError, match=r"^<yaml>:1: invalid trusted proxy 'x'"):
        TrustPolicy.from_yaml("trusted_proxies: [x]\n")


def test_empty_mapping_is_the_empty_policy() -> None:
    """'{}' is a policy that trusts nobody."""
    assert TrustPolicy.from_yaml("{}\n") == TrustPolicy()


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("", r"^trust.yaml: empty policy file: expected a mapping with trusted_proxies",
                 id="empty"),
    pytest.param("# only a comment\n", "empty policy file", id="only comments"),
    pytest.param("- 10.0.0.1\n", r"^trust.yaml:1: a policy file must be a mapping .* not a list",
                 id="list"),
    pytest.param("\n10.0.0.1\n", r"^trust.yaml:2: a policy file must be a mapping .*not the "
                                 r"value '10.0.0.1'", id="scalar"),
    pytest.param("trusted_proxies: [10.0.0.1\n",
                 r"^trust.yaml:2: invalid YAML: while parsing a flow sequence, expected ',' or "
                 r"']', but got '<stream end>'", id="invalid yaml"),
    pytest.param("a: 1\n---\nb: 2\n", r"^trust.yaml:2: invalid YAML: expected a single document "
                                      r"in the stream, but found another document",
                 id="two documents"),
    pytest.param("trusted_proxies: [10.0.0.1]\n\ttrusted_headers: []\n",
                 r"^trust.yaml:2: invalid YAML:", id="tab"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_headerz: [X-Forwarded-For]\n",
                 r"^trust.yaml:2: unknown key 'trusted_headerz': did you mean 'trusted_headers'\?",
                 id="unknown key"),
    pytest.param("peers: [10.0.0.1]\n", r"unknown key 'peers': valid keys: trusted_proxies, ",
                 id="unknown key no hint"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_proxies: [10.0.0.2]\n",
                 r"^trust.yaml:2: duplicate key 'trusted_proxies' \(first at line 1\): write it "
                 r"once", id="duplicate key"),
    pytest.param("trusted_proxies: 10.0.0.1\n",
                 r"^trust.yaml:1: trusted_proxies must be a list, not a single string: write "
                 r"\['10.0.0.1'\]", id="string for list"),
    pytest.param("trusted_proxies:\n  a: 1\n",
                 r"^trust.yaml:2: trusted_proxies must be a list, not a mapping", id="mapping"),
    pytest.param("trusted_proxies:\n", r"^trust.yaml:1: trusted_proxies has no value: write a "
                                       r"list", id="no value"),
    pytest.param("trusted_proxies: 7\n", r"trusted_proxies must be a list, not int",
                 id="number for list"),
    pytest.param("trusted_proxies:\n  - 10.0.0.1\n  - 10.0.0.0/33\n",
                 r"^trust.yaml:3: invalid trusted proxy '10.0.0.0/33': prefix length must be "
                 r"0-32", id="bad address"),
    pytest.param("trusted_proxies:\n  - 1:2:3:4:5:6:7:8\n",
                 r"^trust.yaml:2: trusted_proxies item '1:2:3:4:5:6:7:8' is read by YAML as a "
                 r"number, not text: put it in quotes", id="sexagesimal"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_headers:\n  - X-Forwarded-For\n"
                 "  - X-Real-IP\n", r"^trust.yaml:4: 'X-Real-IP' and 'X-Forwarded-For' are both "
                                    r"in the client group", id="duplicate group"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Forwarded-Fro]\n",
                 r"^trust.yaml:2: unknown header 'X-Forwarded-Fro': did you mean "
                 r"'X-Forwarded-For'\?", id="unknown header"),
    pytest.param("trusted_headers: [X-Forwarded-For]\n",
                 r"^trust.yaml:1: trusted headers but no trusted proxies", id="no proxies"),
    pytest.param("trusted_proxies: [10.0.0.1]\nscript_name: !!python/object:os.system x\n",
                 r"^trust.yaml:2: invalid YAML value: could not determine a constructor for the "
                 r"tag 'tag:yaml.org,2002:python/object:os.system' \(only plain YAML",
                 id="python tag"),
    pytest.param("trusted_proxies: [10.0.0.1]\nscript_name: myapp\n",
                 r"^trust.yaml:2: invalid script_name 'myapp': a prefix must be empty or start "
                 r"with '/'", id="bad script name"),
    pytest.param("trusted_proxies: [10.0.0.1]\n\nstrip_prefix_from_path: maybe\n",
                 r"^trust.yaml:3: strip_prefix_from_path must be true or false, not 'maybe'",
                 id="bad flag"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_proxies_files: r.txt\n",
                 r"^trust.yaml:2: trusted_proxies_files must be a list, not a single string",
                 id="files string"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_proxies_files: [7]\n",
                 r"^trust.yaml:2: trusted_proxies_files item '7' is read by YAML as a number",
                 id="files number"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_headers: [yes]\n",
                 r"^trust.yaml:2: trusted_headers item 'yes' is read by YAML as a boolean, "
                 r"not text: put it in quotes", id="boolean"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_proxies_files: 7\n",
                 r"^trust.yaml:2: trusted_proxies_files must be a list of paths, not int",
                 id="files number scalar"),
    pytest.param("trusted_proxies: [10.0.0.1]\ncustom_headers:\n  CF-Connecting-IP: client\n"
                 "  cf-connecting-ip: client\n",
                 r"^trust.yaml:4: custom header 'cf-connecting-ip' is given twice \(first at "
                 r"line 3, as 'CF-Connecting-IP'; header names are case-insensitive\): write "
                 r"it once$", id="custom header twice"),
    pytest.param("trusted_proxies: [10.0.0.1]\ncustom_headers:\n  X-A: client\n  X-A: scheme\n",
                 r"^trust.yaml:4: custom header 'X-A' is given twice \(first at line 3\): "
                 r"write it once$", id="custom header twice, same spelling"),
    pytest.param("trusted_proxies: [10.0.0.1]\ncustom_headers:\n  Host: host\n",
                 r"^trust.yaml:3: custom header 'Host' is the request's own Host header, not a "
                 r"forwarded one: registering it would remove HTTP_HOST", id="custom header Host"),
    pytest.param("trusted_headers: X-Forwarded-For, X-Forwarded-Proto\n",
                 r"^trust.yaml:1: trusted_headers must be a list, not a single string: write "
                 r"\['X-Forwarded-For', 'X-Forwarded-Proto'\]$", id="headers comma string"),
    pytest.param("trusted_proxies: 10.0.0.0/8, 192.0.2.1\n",
                 r"^trust.yaml:1: trusted_proxies must be a list, not a single string: write "
                 r"\['10.0.0.0/8', '192.0.2.1'\]$", id="proxies comma string"),
    pytest.param("script_name: /x\n\ntrusted_headers:\n  - X-Forwarded-For\n",
                 r"^trust.yaml:3: trusted headers but no trusted proxies: list the proxies' "
                 r"addresses in trusted_proxies", id="no proxies, key line"),
    pytest.param("trusted_proxies: ['010.000.000.001']\n",
                 r"^trust.yaml:1: invalid trusted proxy '010.000.000.001': leading zeros are "
                 r"ambiguous \('010' is 10 in decimal but 8 in octal, as some parsers read "
                 r"it\): write '10.0.0.1' if you mean decimal, '8.0.0.1' if octal$",
                 id="leading zeros"),
    pytest.param("trusted_proxies: [10.0.0.0/8]\nscript_name: \"/my\\u3000app\"\n",
                 r"^trust.yaml:2: invalid script_name '/my\\u3000app': a prefix may not hold "
                 r"control characters or white space: U\+3000 \(IDEOGRAPHIC SPACE\) at "
                 r"character 4$", id="script_name unicode space"),
    pytest.param("trusted_proxies: [10.0.0.1]\ncustom_headers:\n  [a]: client\n",
                 r"^trust.yaml:3: custom_headers: a header name must be text, not list",
                 id="custom header not text"),
    pytest.param("trusted_proxies: [10.0.0.1]\ncustom_headers:\n  X-A: [client]\n",
                 r"^trust.yaml:3: custom header 'X-A': unknown group \['client'\]: did you "
                 r"mean 'client'\?", id="custom group not text"),
    pytest.param("trusted_proxies: [10.0.0.1]\ntrusted_proxies_files: [[a]]\n",
                 r"^trust.yaml:2: trusted_proxies_files: each item must be the path",
                 id="files list"),
])
def test_errors(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, text: str,
                message: str) -> None:
    """Each mistake is one clear ConfigError naming file and line, never a PyYAML traceback."""
    write(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        TrustPolicy.from_yaml("trust.yaml")


def test_all_errors_together(tmp_path: pathlib.Path) -> None:
    """Every problem of a file is reported at once, in line order."""
    path = write(tmp_path, "trusted_headers: [X-Nope]\ntrusted_proxies:\n  - bad\n"
                           "trusted_proxie: 1\nscript_name: x\n")
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_yaml(path)
    assert [p.source.rpartition(":")[2] for p in info.value.problems] == ["1", "3", "4", "5"]
    assert info.value.source == f"{path}:1"


class TestRangesFiles:
    def test_relative_to_the_yaml_file(self, tmp_path: pathlib.Path) -> None:
        """Ranges files are found next to the YAML file; comments and blank lines skipped."""
        (tmp_path / "ranges").mkdir()
        (tmp_path / "ranges" / "cdn.txt").write_text(
            "# the CDN's published ranges\n192.0.2.0/24\n\n2001:db8::/32  # IPv6\n")
        path = write(tmp_path, "trusted_proxies: [10.0.0.1]\n"
                               "trusted_proxies_files: [ranges/cdn.txt]\n"
                               "trusted_headers: [X-Forwarded-For]\n")
        assert TrustPolicy.from_yaml(path) == TrustPolicy(
            trusted_proxies=["10.0.0.1", "192.0.2.0/24", "2001:db8::/32"], trusted_headers=XFF)

    def test_only_files(self, tmp_path: pathlib.Path) -> None:
        """trusted_proxies may be left out when a ranges file gives the proxies."""
        (tmp_path / "r.txt").write_text("10.0.0.0/8\n")
        path = write(tmp_path, "trusted_proxies_files: [r.txt]\n"
                               "trusted_headers: [X-Forwarded-For]\n")
        assert TrustPolicy.from_yaml(path).trusted_proxies == ("10.0.0.0/8",)

    def test_bad_line(self, tmp_path: pathlib.Path) -> None:
        """A bad line in a ranges file is named by that file's path and line."""
        (tmp_path / "r.txt").write_text("10.0.0.0/8\n# x\nexample.com\n")
        path = write(tmp_path, "trusted_proxies_files: [r.txt]\n"
                               "trusted_headers: [X-Forwarded-For]\n")
        with pytest.raises(ConfigError, match=r"r.txt:3: invalid trusted proxy 'example.com': "
                                              r"not an IP address") as info:
            TrustPolicy.from_yaml(path)
        assert info.value.source == f"{tmp_path / 'r.txt'}:3"

    def test_missing(self, tmp_path: pathlib.Path) -> None:
        """A missing ranges file is an error at its line in the YAML file, and does not
        also cause a 'no trusted proxies' error."""
        path = write(tmp_path, "trusted_headers: [X-Forwarded-For]\n"
                               "trusted_proxies_files:\n  - none.txt\n")
        with pytest.raises(ConfigError, match=r"trust.yaml:3: trusted_proxies_files: cannot read "
                                              r"ranges file: No such file or directory") as info:
            TrustPolicy.from_yaml(path)
        assert len(info.value.problems) == 1


def test_missing_policy_file(tmp_path: pathlib.Path) -> None:
    """A missing policy file is a ConfigError."""
    with pytest.raises(ConfigError, match="cannot read policy file: No such file"):
        TrustPolicy.from_yaml(tmp_path / "none.yaml")


def test_warnings_name_the_line(tmp_path: pathlib.Path) -> None:
    """Warnings carry the file:line of the value."""
    path = write(tmp_path, "trusted_proxies:\n  - 10.0.0.0/8\n  - 10.0.0.1/8\n"
                           "trusted_headers: [X-Forwarded-For]\n")
    assert [str(w) for w in TrustPolicy.from_yaml(path).warnings()] == [
        f"{path}:3: trusted proxy '10.0.0.1/8': host bits set: read as 10.0.0.0/8"]


def test_not_utf8(tmp_path: pathlib.Path) -> None:
    """A policy file that is not UTF-8 is a ConfigError naming it."""
    path = tmp_path / "x.yaml"
    path.write_bytes(b"trusted_proxies: [\xff]\n")
    with pytest.raises(ConfigError, match=r"x.yaml: not UTF-8 text: invalid"):
        TrustPolicy.from_yaml(path)


# --------------------------------------------------------------------------- review (s11)


@pytest.mark.parametrize(("text", "match"), [
    pytest.param("trusted_proxies: [10.0.0.1]\nscript_name: 2001-13-45\n",
                 r"^trust.yaml:2: invalid YAML value '2001-13-45': YAML reads it as a "
                 r"timestamp, but month must be in 1\.\.12: put it in quotes if it is text$",
                 id="plain date out of range"),
    pytest.param("trusted_proxies: [10.0.0.1]\nmax_hops: " + "9" * 5000 + "\n",
                 r"^trust.yaml:2: invalid YAML value '9{40}\.\.\.' \(5000 characters\): YAML "
                 r"reads it as an integer, but it has more than 4300 digits",
                 id="huge integer"),
    pytest.param("trusted_proxies:\n  - 10.0.0.1\n  - " + "1" * 4400 + "\n",
                 r"^trust.yaml:3: invalid YAML value '1{40}\.\.\.' \(4400 characters\)",
                 id="huge integer in a list"),
    pytest.param("trusted_proxies: [10.0.0.1]\nmax_hops: !!int abc\n",
                 r"^trust.yaml:2: invalid YAML value 'abc': YAML reads it as an integer, but "
                 r"invalid literal", id="int tag on a word"),
    pytest.param("trusted_proxies: [10.0.0.1]\nmax_hops: !!float abc\n",
                 r"^trust.yaml:2: invalid YAML value 'abc': YAML reads it as a float",
                 id="float tag on a word"),
])
def test_values_yaml_cannot_construct_are_config_errors(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, text: str, match: str) -> None:
    """A value safe_load itself fails on (a plain date with month 13, an integer
    past Python's digit limit) was a ValueError out of the loader; it is a
    ConfigError naming the line, the value and how to make it text."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=match) as info:
        TrustPolicy.from_yaml(write(tmp_path, text).name)
    assert len(info.value.problems) == 1


@pytest.mark.parametrize(("text", "line"), [
    ("trusted_proxies:\n  - !foo 10.0.0.1\ntrusted_headers: [X-Forwarded-For]\n", 2),
    ("trusted_proxies: [!!python/name:os.system x]\ntrusted_headers: [X-Forwarded-For]\n", 1),
    ("trusted_proxies: [10.0.0.1]\ntrusted_headers: [!x X-Forwarded-For]\n", 2),
    ("trusted_proxies: [10.0.0.1]\ntrusted_proxies_files: [!x r.txt]\n", 2),
    ("trusted_proxies: [10.0.0.1]\ncustom_headers: {CF-Connecting-IP: !x client}\n", 2),
    ("trusted_proxies: [10.0.0.1]\ncustom_headers: {!x CF-Connecting-IP: client}\n", 2),
    ("trusted_proxies: [10.0.0.1]\n!x script_name: /a\n", 2),
    ("trusted_proxies: !x [10.0.0.1]\ntrusted_headers: [X-Forwarded-For]\n", 1),
    ("trusted_proxies: !x 10.0.0.1\ntrusted_headers: [X-Forwarded-For]\n", 1),
])
def test_a_tag_on_one_value_is_one_error(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                                         text: str, line: int) -> None:
    """A tag safe_load refuses gives one error, at its line: not also
    "invalid trusted proxy None", "unknown group None", "unknown key 'None'" or
    "trusted headers but no trusted proxies" for the value it spoiled."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=rf"^trust.yaml:{line}: invalid YAML value: could not "
                                          r"determine a constructor for the tag") as info:
        TrustPolicy.from_yaml(write(tmp_path, text).name)
    assert len(info.value.problems) == 1, info.value.problems


def test_a_ranges_file_path_with_a_nul_is_a_config_error(tmp_path: pathlib.Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A path no file can have (a NUL in it) was a ValueError out of the loader."""
    path = write(tmp_path, 'trusted_proxies_files: ["r\\0.txt"]\n'
                           "trusted_headers: [X-Forwarded-For]\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^trust.yaml:1: trusted_proxies_files: cannot read "
                                          r"ranges file: the path holds a NUL character") as info:
        TrustPolicy.from_yaml(path.name)
    assert len(info.value.problems) == 1


@pytest.mark.parametrize(("source", "kind"), [(None, "NoneType"), (b"trusted_proxies: []\n",
                                                                    "bytes"), (7, "int")])
def test_from_yaml_of_neither_text_nor_path(source: object, kind: str) -> None:
    """from_yaml of something that is neither text nor a path says so, as a
    ConfigError like from_directives', not a TypeError from deep inside."""
    with pytest.raises(ConfigError, match=rf"^<yaml>: YAML must be text or a path, not {kind}$"):
        TrustPolicy.from_yaml(source)  # type: ignore[arg-type]


def test_ranges_file_lines_are_counted_as_editors_count_them(tmp_path: pathlib.Path) -> None:
    """Only a line feed ends a line of a ranges file (CRLF too): a form feed or
    U+2028 inside a line no longer shifts the line numbers of what follows."""
    (tmp_path / "r.txt").write_text("10.0.0.1\x0c\n10.0.0.2 # a\u2028b\nbogus\r\n",
                                    encoding="utf-8")
    path = write(tmp_path, "trusted_proxies_files: [r.txt]\ntrusted_headers: [X-Forwarded-For]\n")
    with pytest.raises(ConfigError, match=r"r.txt:3: invalid trusted proxy 'bogus'") as info:
        TrustPolicy.from_yaml(path)
    assert len(info.value.problems) == 1


@pytest.mark.parametrize("text", [
    "trusted_proxies: " + "[" * 5000 + "]" * 5000 + "\n",
    "trusted_proxies: [10.0.0.1]\ncustom_headers: {a: " + "{a: " * 3000 + "1" + "}" * 3001 + "\n",
    "".join(" " * i + "-\n" for i in range(4000)),
])
def test_deep_nesting_is_a_config_error(text: str) -> None:
    """Lists or mappings nested thousands deep were a RecursionError out of
    PyYAML's composer; they are a ConfigError naming the text."""
    with pytest.raises(ConfigError, match=r"^<yaml>(:\d+)?: invalid YAML(: lists or mappings| "
                                          r"value:) nested too deeply"):
        TrustPolicy.from_yaml(text)


@pytest.mark.parametrize("key", ["trusted_proxie", "trusted_proxy_files", "Trusted_Proxies"])
def test_a_misspelt_proxies_key_is_one_error(key: str) -> None:
    """A misspelt trusted_proxies (or trusted_proxies_files) key also drew
    "trusted headers but no trusted proxies", which it caused."""
    with pytest.raises(ConfigError, match=rf"^<yaml>:1: unknown key '{key}': did you mean "
                                          r"'trusted_proxies(_files)?'\?$") as info:
        TrustPolicy.from_yaml(f"{key}: [10.0.0.1]\ntrusted_headers: [X-Forwarded-For]\n")
    assert len(info.value.problems) == 1


def test_an_unrelated_unknown_key_keeps_the_no_proxies_error() -> None:
    """An unknown key that is not a misspelt proxies key does not hide the
    missing trusted_proxies."""
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_yaml("colour: blue\ntrusted_headers: [X-Forwarded-For]\n")
    assert [p.message.split(":")[0] for p in info.value.problems] == [
        "unknown key 'colour'", "trusted headers but no trusted proxies"]


# --------------------------------------------------------------------------- review (s12)


@pytest.mark.parametrize(("value", "kind", "read"), [
    pytest.param("0x10", "a hexadecimal number", "16", id="hex"),
    pytest.param("017", "an octal number (a leading 0)", "15", id="octal"),
    pytest.param("010", "an octal number (a leading 0)", "8", id="octal ten"),
    pytest.param("0b11", "a binary number", "3", id="binary"),
    pytest.param("1_000", "a number with '_' separators", "1000", id="separators"),
    pytest.param("1:30", "a base-60 number", "90", id="sexagesimal"),
    pytest.param("+5", "a number with a '+' sign", "5", id="plus sign"),
    pytest.param("!!int 0x20", "a hexadecimal number", "32", id="tagged hex"),
])
def test_max_hops_only_in_plain_decimal(tmp_path: pathlib.Path, value: str, kind: str,
                                        read: str) -> None:
    """YAML 1.1 reads 0x10, 017, 0b11, 1_000, 1:30 and +5 as integers (017 is 15,
    1:30 is 90), and max_hops took them silently; only plain decimal digits are
    a number of hops now, and the error names the line, the value, how YAML
    reads it and what to write."""
    path = write(tmp_path, f"trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Forwarded-For]\n"
                           f"max_hops: {value}\n")
    shown = value.removeprefix("!!int ")
    with pytest.raises(ConfigError, match=(
            rf"^{re.escape(str(path))}:3: max_hops {re.escape(repr(shown))} is {re.escape(kind)} "
            rf"to YAML 1\.1, read as {read}: write a whole number from 1 to 1024 in plain decimal "
            r"digits")) as info:
        TrustPolicy.from_yaml(path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].value == shown


@pytest.mark.parametrize(("value", "hops"), [("16", 16), ("1", 1), ("1024", 1024),
                                             ("!!int 7", 7)])
def test_max_hops_in_decimal_loads(value: str, hops: int) -> None:
    """Plain decimal digits (tagged !!int or not) are read as they are written."""
    policy = TrustPolicy.from_yaml("trusted_proxies: [10.0.0.1]\n"
                                   f"trusted_headers: [X-Forwarded-For]\nmax_hops: {value}\n")
    assert policy.max_hops == hops


def test_max_hops_huge_hex_is_one_error() -> None:
    """A hexadecimal max_hops too long for Python to write in decimal is named by its size."""
    with pytest.raises(ConfigError, match=r"^<yaml>:2: max_hops '0xf{38}\.\.\.' \(5002 "
                                          r"characters\) is a hexadecimal number to YAML "
                                          r"1\.1, read as an integer of 20000 bits: write a "
                                          r"whole number") as info:
        TrustPolicy.from_yaml("trusted_proxies: [10.0.0.1]\nmax_hops: 0x" + "f" * 5000 + "\n")
    assert len(info.value.problems) == 1


@pytest.mark.parametrize("key", ["strip_prefix_from_path", "trust_unix_socket", "hop_aligned"])
@pytest.mark.parametrize(("value", "flag"), [
    ("true", True), ("false", False), ("True", True), ("FALSE", False),
    ("yes", True), ("no", False), ("on", True), ("Off", False),
])
def test_yaml_booleans_that_load(key: str, value: str, flag: bool) -> None:
    """The boolean options take true/false and YAML 1.1's yes/no/on/off (in the
    three casings YAML knows), each read as what it says: the directive comment
    lines take on/off and yes/no too, and trust_unix_socket: yes has always loaded."""
    text = (f"trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Forwarded-For, "
            f"X-Forwarded-Prefix]\nscript_name: /app\n{key}: {value}\n")
    assert getattr(TrustPolicy.from_yaml(text), key) is flag


@pytest.mark.parametrize("key", ["strip_prefix_from_path", "trust_unix_socket", "hop_aligned"])
@pytest.mark.parametrize(("value", "shown"), [
    ("1", "1"), ("0", "0"), ("y", "'y'"), ("n", "'n'"), ("'true'", "'true'"), ("oN", "'oN'"),
    ("0x1", "1"), ("~", "None"),
])
def test_yaml_booleans_that_do_not(key: str, value: str, shown: str) -> None:
    """Anything else (a number, y/n, quoted text, a mixed case YAML does not
    read as a boolean, null) is an error naming the line, the value and what
    is valid."""
    text = f"trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Forwarded-For]\n{key}: {value}\n"
    with pytest.raises(ConfigError, match=rf"^<yaml>:3: {key} must be true or false, "
                                          rf"not {re.escape(shown)}$"):
        TrustPolicy.from_yaml(text)
