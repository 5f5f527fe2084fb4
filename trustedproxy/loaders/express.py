"""mod_wsgi-express arguments: ``--trust-proxy`` and ``--trust-proxy-header``.

mod_wsgi-express collects each option into a list (``action='append'``),
joins the list with single spaces and pastes it, unquoted, into one
``WSGITrustedProxies`` / ``WSGITrustedProxyHeaders`` line at server level
(``mod_wsgi-reference.md`` §1). So ``--trust-proxy "127.0.0.1 10.0.0.0/8"``
counts as two values, and the words are split exactly as the directive
reader splits them. Every other argument is ignored, so a whole
``mod_wsgi-express start-server ...`` command line can be given, as a list
or as one shell string (``#`` comments and ``\\`` line continuations
allowed, as in a shell script).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence

from ..errors import ConfigError, Problem
from ..policy import TrustPolicy
from . import clip, read_text, refuse_file_name
from .directives import (
    HEADERS_DIRECTIVE,
    PROXIES,
    Setting,
    build_policy,
    policy_problems,
    split_words,
)

__all__ = ["OPTIONS", "load_express_args", "parse_express_text", "shell_words"]

#: The two options, and the directive each one becomes.
OPTIONS = {"--trust-proxy": PROXIES, "--trust-proxy-header": HEADERS_DIRECTIVE}


def shell_words(text: str, source: str = "<args>") -> list[tuple[str, str]]:
    """Split *text* into words as a POSIX shell does, each with ``source:line``.

    Handles ``'...'``, ``"..."`` (with ``\\`` escaping ``"``, ``\\``, ``$``
    and `````), backslash escapes, ``\\`` line continuations and ``#``
    comments. No expansion of any kind is done.

    Raises:
        ConfigError: for an unterminated quote.
    """
    words: list[tuple[str, str]] = []
    i, n, line = 0, len(text), 1
    word: list[str] | None = None
    start = 1
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
            line += 1
            continue
        if ch in " \t\r\n":
            if word is not None:
                words.append(("".join(word), f"{source}:{start}"))
                word = None
            if ch == "\n":
                line += 1
            i += 1
            continue
        if word is None:
            if ch == "#":
                while i < n and text[i] != "\n":
                    i += 1
                continue
            word, start = [], line
        if ch == "\\":
            if i + 1 < n:
                word.append(text[i + 1])
            i += 2
        elif ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise _unterminated("'", text, i, f"{source}:{line}")
            word.append(text[i + 1 : end])
            line += text.count("\n", i, end)
            i = end + 1
        elif ch == '"':
            opened = line  # the error names the line the quote opens on
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n and text[j + 1] in '"\\$`\n':
                    if text[j + 1] != "\n":
                        word.append(text[j + 1])
                    else:
                        line += 1
                    j += 2
                    continue
                if text[j] == "\n":
                    line += 1
                word.append(text[j])
                j += 1
            if j >= n:
                raise _unterminated('"', text, i, f"{source}:{opened}")
            i = j + 1
        else:
            word.append(ch)
            i += 1
    if word is not None:
        words.append(("".join(word), f"{source}:{start}"))
    return words


def _unterminated(quote: str, text: str, start: int, where: str) -> ConfigError:
    """The error for a quote opened at *start* and never closed: at the line it
    opens on, the value cut short (it runs to the end of the text)."""
    value = clip(text[start:].split("\n", 1)[0])
    kind = "single" if quote == "'" else "double"
    msg = (f"unterminated {kind} quote: {value!r} runs to the end of the text; close it "
           f"with {quote}")
    return ConfigError(msg, source=where, value=value)


def load_express_args(argv: Sequence[str] | str | os.PathLike[str], *,
                      source: str | None = None) -> TrustPolicy:
    """Load a policy from mod_wsgi-express arguments.

    Args:
        argv: a list of arguments, a shell command line as one string, or a
            path object naming a file that holds one.
        source: the name used in messages (default ``argv`` for a list,
            ``<args>`` for a string, the path for a file).

    Raises:
        ConfigError: naming the argument (``argv[3]``) or ``file:line`` and
            the option of every problem.
    """
    if isinstance(argv, (bytes, bytearray)) or not isinstance(argv, (str, os.PathLike,
                                                                     Sequence)):
        msg = ("arguments must be a list of strings, one string or a path, "
               f"not {type(argv).__name__}")
        raise ConfigError(msg, source=source or "argv")
    if isinstance(argv, os.PathLike):
        name = os.fspath(argv)
        source = source or name
        argv = read_text(name, "arguments file", source)
    elif isinstance(argv, str):
        refuse_file_name(argv, "mod_wsgi-express arguments", "from_express_args",
                         source or "<args>")
    if isinstance(argv, str):
        return parse_express_text(argv, source or "<args>")
    source = source or "argv"
    words: list[tuple[str, str]] = []
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
            msg = f"arguments must be strings, not {type(arg).__name__}"
            raise ConfigError(msg, source=f"{source}[{i}]", value=repr(arg))
        words.append((arg, f"{source}[{i}]"))
    return _from_words(words, source)


def parse_express_text(text: str, source: str) -> TrustPolicy:
    """Load a policy from a shell command line (for :func:`load_express_args`,
    and for a file already read), naming *source* in messages."""
    return _from_words(shell_words(text, source), source)


def _from_words(words: list[tuple[str, str]], source: str) -> TrustPolicy:
    errors: list[Problem] = []
    # A --trust-proxy may have been lost: an option that could have been it was
    # not understood, or its value was empty. "--trust-proxy-header without
    # --trust-proxy" would then only repeat that error: build_policy is told so.
    lost = False
    values: dict[str, list[tuple[str, str]]] = {PROXIES: [], HEADERS_DIRECTIVE: []}
    i = 0
    while i < len(words):
        arg, where = words[i]
        i += 1
        if arg == "--":
            break  # optparse: everything after is a positional argument
        if not arg.startswith("--trust"):
            continue
        option, eq, value = arg.partition("=")
        matches = [name for name in OPTIONS if name.startswith(option)]
        if option not in OPTIONS and len(matches) == 1:
            option = matches[0]  # optparse takes an unambiguous abbreviation
        elif option not in OPTIONS and matches:
            errors.append(Problem(where, arg, f"ambiguous option {option!r}: write "
                                              "--trust-proxy or --trust-proxy-header"))
            lost = True
            if not eq and i < len(words) and not words[i][0].startswith("-"):
                i += 1  # its value (an option after it is read as one)
            continue
        if option not in OPTIONS:
            close = difflib.get_close_matches(option, OPTIONS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else (
                "the trust options are --trust-proxy and --trust-proxy-header")
            errors.append(Problem(where, arg, f"unknown option {option!r}: {hint}"))
            # a misspelt --trust-proxy-header was not the --trust-proxy
            lost = lost or not close or OPTIONS[close[0]] == PROXIES
            if not eq and i < len(words) and not words[i][0].startswith("-"):
                i += 1
            continue
        if not eq:
            if i >= len(words):
                errors.append(Problem(where, arg, f"{option} needs a value, e.g. "
                                                  + ("'--trust-proxy 10.0.0.0/8'"
                                                     if option == "--trust-proxy" else
                                                     "'--trust-proxy-header X-Forwarded-For'")))
                lost = lost or option == "--trust-proxy"
                continue
            value, where = words[i]
            i += 1
        if "\n" in value or "\r" in value:
            errors.append(Problem(where, value, f"{option}: a value may not hold a line break"))
            lost = lost or option == "--trust-proxy"
            continue
        values[OPTIONS[option]].append((value, where))
    settings: dict[str, list[Setting]] = {}
    proxy_settings: list[Setting] = []
    header_settings: list[Setting] = []
    for directive, items, into in ((PROXIES, values[PROXIES], proxy_settings),
                                   (HEADERS_DIRECTIVE, values[HEADERS_DIRECTIVE],
                                    header_settings)):
        # mod_wsgi-express joins the values with spaces into one directive line;
        # keep each value's own position so that messages name its argument.
        option = next(k for k, v in OPTIONS.items() if v == directive)
        if items and not " ".join(v for v, _ in items).strip():
            # mod_wsgi-express writes the directive with no argument: Apache refuses it.
            errors.append(Problem(items[0][1], items[0][0], (
                f"{option} with an empty value: mod_wsgi-express would write {directive} "
                "with no argument, which Apache refuses; give "
                + ("an address, e.g. '--trust-proxy 10.0.0.0/8'" if directive == PROXIES else
                   "a header name, e.g. '--trust-proxy-header X-Forwarded-For'")
                + ", or remove the option")))
            lost = lost or directive == PROXIES
            continue
        if not items:
            continue
        for value, where in items:
            into.append(Setting(0, option, split_words(value), where))
    if proxy_settings:
        settings["proxies"] = proxy_settings
    if header_settings:
        settings["headers"] = header_settings
    if errors:
        raise ConfigError(errors + policy_problems(
            settings, source, proxies_name="--trust-proxy", headers_name="--trust-proxy-header",
            proxies_lost=lost))
    return build_policy(settings, source, proxies_name="--trust-proxy",
                        headers_name="--trust-proxy-header")
