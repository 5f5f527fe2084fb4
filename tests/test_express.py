"""mod_wsgi-express arguments: --trust-proxy and --trust-proxy-header."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest

from trustedproxy import ConfigError, TrustPolicy
from trustedproxy.errors import Problem
from trustedproxy.loaders import express
from trustedproxy.loaders.express import shell_words

EXPECTED = TrustPolicy(trusted_proxies=["127.0.0.1", "10.0.0.0/8"],
                       trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])


@pytest.mark.parametrize("argv", [
    pytest.param(["--trust-proxy", "127.0.0.1", "--trust-proxy", "10.0.0.0/8",
                  "--trust-proxy-header", "X-Forwarded-For",
                  "--trust-proxy-header", "X-Forwarded-Proto"], id="separate values"),
    pytest.param(["--trust-proxy=127.0.0.1", "--trust-proxy=10.0.0.0/8",
                  "--trust-proxy-header=X-Forwarded-For",
                  "--trust-proxy-header=X-Forwarded-Proto"], id="equals form"),
    pytest.param(["--trust-proxy", "127.0.0.1 10.0.0.0/8",
                  "--trust-proxy-header", "X-Forwarded-For  X-Forwarded-Proto"],
                 id="several words in one value"),
    pytest.param(["mod_wsgi-express", "start-server", "app.py", "--port", "8000",
                  "--trust-proxy", "127.0.0.1", "--processes", "2",
                  "--trust-proxy-header", "X-Forwarded-For", "--trust-proxy=10.0.0.0/8",
                  "--trust-proxy-header", "x-forwarded-proto", "--log-to-terminal"],
                 id="a whole command line"),
    pytest.param("mod_wsgi-express start-server app.py \\\n"
                 "    --trust-proxy '127.0.0.1 10.0.0.0/8' # the proxies\n"
                 '    --trust-proxy-header="X-Forwarded-For"'
                 ' --trust-proxy-header X-Forwarded-Proto',
                 id="a shell string"),
])
def test_forms(argv: list[str] | str) -> None:
    """Every way mod_wsgi-express accepts the options gives the same policy."""
    assert TrustPolicy.from_express_args(argv) == EXPECTED


def test_other_arguments_ignored() -> None:
    """A command line without trust options is the policy that trusts nobody."""
    assert TrustPolicy.from_express_args(["start-server", "--port", "80"]) == TrustPolicy()


def test_double_dash_ends_options() -> None:
    """After '--' nothing is an option (optparse rule)."""
    policy = TrustPolicy.from_express_args(["--trust-proxy", "10.0.0.1", "--",
                                            "--trust-proxy", "10.0.0.2"])
    assert policy.trusted_proxies == ("10.0.0.1",)


def test_value_starting_with_dash_is_consumed() -> None:
    """Like optparse, an option takes the next argument even if it looks like an option."""
    with pytest.raises(ConfigError, match=r"argv\[1\]: --trust-proxy: invalid trusted proxy "
                                          r"'--trust-proxy-header'"):
        TrustPolicy.from_express_args(["--trust-proxy", "--trust-proxy-header",
                                       "X-Forwarded-For"])


def test_abbreviations() -> None:
    """Like optparse, an unambiguous abbreviation of an option is that option."""
    policy = TrustPolicy.from_express_args(["--trust-proxy", "10.0.0.1",
                                            "--trust-proxy-head", "X-Real-IP",
                                            "--trust-proxy-h=X-Forwarded-Proto"])
    assert policy.trusted_headers == ("X-Real-IP", "X-Forwarded-Proto")


def test_partial_ipv4_accepted() -> None:
    """mod_wsgi-express pastes values into a directive, so partial IPv4 works as there."""
    policy = TrustPolicy.from_express_args(["--trust-proxy", "127.0.0",
                                            "--trust-proxy-header", "X-Forwarded-For"])
    assert policy.trusted_proxies == ("127.0.0.0/24",)
    assert "partial IPv4 address read as 127.0.0.0/24" in str(policy.warnings()[0])


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["--trust-proxy-headr", "X", "--trust-proxy", "10.0.0.1"],
                 r"argv\[0\]: unknown option '--trust-proxy-headr': did you mean "
                 r"'--trust-proxy-header'\?", id="typo"),
    pytest.param(["--trustworthy-upstreams"],
                 r"unknown option '--trustworthy-upstreams': the trust options "
                 r"are --trust-proxy and --trust-proxy-header",
                 id="unknown"),
    pytest.param(["--trust-prox", "10.0.0.1"],
                 r"argv\[0\]: ambiguous option '--trust-prox': write --trust-proxy or "
                 r"--trust-proxy-header", id="ambiguous"),
    pytest.param(["--trust-proxy", "10.0.0.1", "--trust-proxy-header"],
                 r"argv\[2\]: --trust-proxy-header needs a value, e.g. "
                 r"'--trust-proxy-header X-Forwarded-For'", id="missing value"),
    pytest.param(["--trust-proxy"], r"--trust-proxy needs a value, e.g. "
                                     r"'--trust-proxy 10.0.0.0/8'", id="missing proxy"),
    pytest.param(["--trust-proxy-header", "X-Forwarded-For"],
                 r"argv\[1\]: --trust-proxy-header without --trust-proxy: mod_wsgi would then "
                 r"believe these headers from every client", id="no proxies"),
    pytest.param(["--trust-proxy", "10.0.0.1", "--trust-proxy-header", "X_Forwarded_For"],
                 r"argv\[3\]: --trust-proxy-header: invalid header name 'X_Forwarded_For'",
                 id="underscore"),
    pytest.param(["--trust-proxy", "2001:DB8::1"],
                 r"argv\[1\]: --trust-proxy: invalid trusted proxy '2001:DB8::1': mod_wsgi "
                 r"rejects upper-case IPv6", id="upper-case v6"),
    pytest.param(["--trust-proxy", "Loopback"],
                 r"argv\[1\]: --trust-proxy: invalid trusted proxy 'Loopback': mod_wsgi does "
                 r"not know named ranges: write 'Loopback' as '127.0.0.0/8 ::1/128'",
                 id="named range"),
    pytest.param(["--trust-proxy", "10.0.0.1\n10.0.0.2"], "a value may not hold a line break",
                 id="line break"),
    pytest.param(["--trust-proxy", 7], r"argv\[1\]: arguments must be strings, not int",
                 id="not a string"),
])
def test_errors(argv: list[str], message: str) -> None:
    """Mistakes are errors naming the argument and the option."""
    with pytest.raises(ConfigError, match=message):
        TrustPolicy.from_express_args(argv)


def test_errors_name_lines_in_a_string() -> None:
    """In a shell string, errors name the line."""
    with pytest.raises(ConfigError, match=r"^<args>:3: --trust-proxy-header: unknown header"):
        TrustPolicy.from_express_args("x \\\n  --trust-proxy 10.0.0.1\n"
                                      "  --trust-proxy-header X-Nope")


class TestShellWords:
    @pytest.mark.parametrize(("text", "words"), [
        pytest.param("a 'b c' \"d e\"", ["a", "b c", "d e"], id="quotes"),
        pytest.param(r"a\ b", ["a b"], id="escaped space"),
        pytest.param('"a\\"b\\$"', ['a"b$'], id="escapes in double quotes"),
        pytest.param(r"'a\b'", ["a\\b"], id="no escapes in single quotes"),
        pytest.param("a \\\nb", ["a", "b"], id="continuation"),
        pytest.param("a#b # c\nd", ["a#b", "d"], id="comment only at a word start"),
        pytest.param("x''", ["x"], id="empty quotes join"),
    ])
    def test_split(self, text: str, words: list[str]) -> None:
        """Words split as a POSIX shell splits them (no expansion)."""
        assert [w for w, _ in shell_words(text)] == words

    def test_lines(self) -> None:
        """Each word carries the line it starts on."""
        assert shell_words("a \\\nb\n'c\nd' e", "f") == [
            ("a", "f:1"), ("b", "f:2"), ("c\nd", "f:3"), ("e", "f:4")]

    @pytest.mark.parametrize(("text", "message"), [
        pytest.param("a 'b", "unterminated single quote", id="single"),
        pytest.param('a "b', "unterminated double quote", id="double"),
    ])
    def test_unterminated(self, text: str, message: str) -> None:
        """An unterminated quote is a ConfigError naming the line."""
        with pytest.raises(ConfigError, match=f"<args>:1: {message}"):
            shell_words(text)


def test_file(tmp_path: pathlib.Path) -> None:
    """A path object is read as a file holding a command line."""
    path = tmp_path / "express.args"
    path.write_text("--trust-proxy 10.0.0.1\n--trust-proxy-header X-Real-IP\n")
    assert TrustPolicy.from_express_args(path) == TrustPolicy(
        trusted_proxies=["10.0.0.1"], trusted_headers=["X-Real-IP"])
    with pytest.raises(ConfigError, match="cannot read arguments file"):
        TrustPolicy.from_express_args(tmp_path / "nothing.args")


def test_not_utf8(tmp_path: pathlib.Path) -> None:
    """An arguments file that is not UTF-8 is a ConfigError naming it."""
    path = tmp_path / "x.args"
    path.write_bytes(b"--trust-proxy \xff\n")
    with pytest.raises(ConfigError, match=r"x.args: not UTF-8 text: invalid"):
        TrustPolicy.from_express_args(path)


@pytest.mark.parametrize(("text", "reason"), [
    pytest.param("/srv/app/express.args", "it holds a path separator", id="path"),
    pytest.param("express.args", "it ends in a file extension", id="bare name"),
    pytest.param("start.sh", "it ends in a file extension", id="script"),
])
def test_file_name_as_str_is_refused(text: str, reason: str) -> None:
    """A str is a command line; one that looks like a file name is refused rather than read
    as a command line without trust options (an empty policy)."""
    with pytest.raises(ConfigError, match=(
            rf"^<args>: '{re.escape(text)}' was read as mod_wsgi-express arguments, not as a "
            rf"file \({reason}\): a str is the configuration itself; to load a file, pass a "
            rf"pathlib.Path \(TrustPolicy.from_express_args\(pathlib.Path\("
            rf"'{re.escape(text)}'\)\)\) or use TrustPolicy.from_file\('{re.escape(text)}'\)$")):
        TrustPolicy.from_express_args(text)


def test_existing_file_name_as_str_is_refused(tmp_path: pathlib.Path) -> None:
    """A str naming an existing file is refused; as a Path it loads."""
    path = tmp_path / "start"
    path.write_text("--trust-proxy 10.0.0.1 --trust-proxy-header X-Real-IP\n")
    with pytest.raises(ConfigError, match=r"was read as mod_wsgi-express arguments, not as a "
                                          r"file \(it names an existing file\)"):
        TrustPolicy.from_express_args(str(path))
    assert TrustPolicy.from_express_args(path).trusted_headers == ("X-Real-IP",)


@pytest.mark.parametrize("text", ["--trust-proxy=10.0.0.0/8", "mod_wsgi-express", ""])
def test_one_word_command_line_is_still_text(text: str) -> None:
    """A one-word command line (an option with '=' and a '/' in its value) is still read
    as arguments."""
    TrustPolicy.from_express_args(text)


# --------------------------------------------------------------------------- review (s11)


@pytest.mark.parametrize("argv", [
    ["--trust-p", "10.0.0.1", "--trust-proxy-header", "X-Forwarded-For"],
    ["--trust-p=10.0.0.1", "--trust-proxy-header", "X-Forwarded-For"],
    ["--trust-proxy-header", "X-Forwarded-For", "--trust-prox", "10.0.0.1"],
    ["--trusted-proxy", "10.0.0.1", "--trust-proxy-header", "X-Forwarded-For"],
])
def test_a_misread_option_is_one_error(argv: list[str]) -> None:
    """An ambiguous or unknown option that was probably meant as --trust-proxy
    is the only error: not also "--trust-proxy-header without --trust-proxy",
    which it caused."""
    with pytest.raises(ConfigError, match=r"^argv\[\d\]: (ambiguous|unknown) option") as info:
        TrustPolicy.from_express_args(argv)
    assert len(info.value.problems) == 1, info.value.problems


def test_an_ambiguous_option_does_not_swallow_the_next_option() -> None:
    """'--trust-p --trust-proxy-header H': the ambiguous option took the next
    argument as its value, so --trust-proxy-header was never read."""
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_express_args(["--trust-p", "--trust-proxy-header", "X_Bad"])
    assert [p.source for p in info.value.problems] == ["argv[0]", "argv[2]"]
    assert "invalid header name 'X_Bad'" in info.value.problems[1].message


@pytest.mark.parametrize(("argv", "kind"), [(b"--trust-proxy 10.0.0.1", "bytes"),
                                            (None, "NoneType"), (7, "int")])
def test_arguments_that_are_neither_text_nor_a_list(argv: object, kind: str) -> None:
    """bytes was read as a list of ints ("arguments must be strings, not int" at
    argv[0]); None and numbers were a TypeError. Each says what is wanted."""
    with pytest.raises(ConfigError, match=rf"^argv: arguments must be a list of strings, one "
                                          rf"string or a path, not {kind}$"):
        TrustPolicy.from_express_args(argv)  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "where", "option"), [
    (["--trust-proxy", "", "--trust-proxy-header", "X-Forwarded-For"], "argv[1]",
     "--trust-proxy"),
    (["--trust-proxy", "10.0.0.1", "--trust-proxy-header= "], "argv[2]", "--trust-proxy-header"),
])
def test_an_empty_value_is_an_error_of_its_own(argv: list[str], where: str, option: str) -> None:
    """'--trust-proxy ""' was read as no --trust-proxy at all, so the error
    said "--trust-proxy-header without --trust-proxy" (or the policy loaded
    with no headers); mod_wsgi-express would write the directive with no
    argument, which Apache refuses."""
    with pytest.raises(ConfigError, match=rf"^{re.escape(where)}: {option} with an empty value: "
                                          r"mod_wsgi-express would write WSGITrusted\w+ with no "
                                          r"argument, which Apache refuses") as info:
        TrustPolicy.from_express_args(argv)
    assert len(info.value.problems) == 1


@pytest.mark.parametrize(("quote", "kind"), [('"', "double"), ("'", "single")])
def test_an_unterminated_quote_is_named_where_it_opens(quote: str, kind: str) -> None:
    """An unterminated double quote was reported at the last line of the text
    (its loop counted the lines it ran through), with the rest of the text,
    however long, as its value; now at the line it opens on, cut short, with
    what to do."""
    text = f"mod_wsgi-express start-server \\\n  --trust-proxy {quote}10.0.0.1\n" + "\n" * 50 \
        + "--trust-proxy-header " + "X" * 1000 + "\n"
    with pytest.raises(ConfigError, match=rf"^s.sh:2: unterminated {kind} quote: "
                                          rf"{re.escape(repr(quote + '10.0.0.1'))} runs to the "
                                          rf"end of the text; close it with {quote}$") as info:
        TrustPolicy.from_express_args(text, source="s.sh")
    assert info.value.problems[0].value == f"{quote}10.0.0.1"


def test_a_long_unterminated_value_is_cut_after_40_characters() -> None:
    """The value of an unterminated quote is its line from the quote on, cut
    to 40 characters and '...' when longer (shared with the YAML loader's
    messages: loaders.clip)."""
    text = "--trust-proxy '" + "1" * 100 + "\n--trust-proxy-header X-Forwarded-For\n"
    cut = "'" + "1" * 39 + "..."
    with pytest.raises(ConfigError, match=rf"^<args>:1: unterminated single quote: "
                                          rf"{re.escape(repr(cut))} runs to the end") as info:
        TrustPolicy.from_express_args(text)
    assert info.value.problems[0].value == cut


# --------------------------------------------------------------------------- review (s12)


@pytest.mark.parametrize("argv", [
    pytest.param(["--trust-proxy-headr", "X-Real-IP", "--trust-proxy-header", "X-Forwarded-For"],
                 id="misspelt header option"),
    pytest.param(["--trust-proxy-headers=X-Real-IP", "--trust-proxy-header", "X-Forwarded-For"],
                 id="misspelt header option with ="),
    pytest.param(["--trust-proxy-header", "X-Forwarded-For", "--trust-proxy-header", "a\nb"],
                 id="a value with a line break"),
])
def test_headers_without_proxies_is_reported_once(argv: list[str]) -> None:
    """When the misread option cannot have been --trust-proxy (it is a misspelt
    --trust-proxy-header), or the other error is of another kind, the policy
    still has no trusted proxies: "--trust-proxy-header without --trust-proxy"
    is reported, exactly once. (It was dropped whenever any option was not
    understood, by matching the start of its message.)"""
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_express_args(argv)
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 2, messages
    assert sum("without --trust-proxy" in m for m in messages) == 1, messages
    assert re.match(r"--trust-proxy-header without --trust-proxy: mod_wsgi would then believe "
                    r"these headers from every client", messages[1])


def test_the_follow_on_error_is_dropped_whatever_its_wording(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The express loader tells the policy builder that a --trust-proxy may
    have been lost, rather than dropping problems whose message starts a
    certain way: with every message the builder returns reworded, a misread
    --trust-proxy is still the only error."""
    def reworded(real: Any) -> Any:
        def builder(*args: Any, **kwargs: Any) -> Any:
            try:
                result = real(*args, **kwargs)
            except ConfigError as exc:
                raise ConfigError([Problem(p.source, p.value, "Reworded: " + p.message)
                                   for p in exc.problems]) from None
            if isinstance(result, list):  # policy_problems
                return [Problem(p.source, p.value, "Reworded: " + p.message) for p in result]
            return result
        return builder

    for name in ("build_policy", "policy_problems"):
        if hasattr(express, name):
            monkeypatch.setattr(express, name, reworded(getattr(express, name)))
    with pytest.raises(ConfigError, match=r"^argv\[0\]: ambiguous option") as info:
        TrustPolicy.from_express_args(["--trust-p", "10.0.0.1", "--trust-proxy-header",
                                       "X-Forwarded-For"])
    assert len(info.value.problems) == 1, info.value.problems
