"""mod_wsgi directive strings: ``WSGITrustedProxies`` and ``WSGITrustedProxyHeaders``.

The text is read the way Apache reads a configuration file and mod_wsgi reads
its two directives (``mod_wsgi-reference.md`` §1):

* a line ending in ``\\`` continues on the next line, that one backslash
  dropped (as Apache 2.4 does, even when another backslash precedes it);
* a line whose first non-blank character is ``#`` is a comment; Apache has no
  comments after a directive, so a ``#`` word inside a trust directive is an
  error here (Apache would read it as a value);
* directive names are case-insensitive; the arguments are split into words
  as ``ap_getword_conf`` does (white space separates words; ``"..."`` and
  ``'...'`` quote, with ``\\"`` and ``\\\\`` escapes inside);
* a directive repeated in one block appends to the list;
* every other directive is ignored, so a whole virtual host file can be given;
  ``${NAME}`` in any line is replaced by the value of an earlier
  ``Define NAME VALUE``, as Apache does before reading the line (an undefined
  name in a trust directive is an error: Apache's environment is not read);
* a trust directive in ``<VirtualHost>``, ``<Location>``, ``<Directory>`` or
  ``<Files>`` (and the ``...Match`` forms) applies to that block, and a block
  that sets only one of the two directives inherits the other one from the
  enclosing block, as mod_wsgi merges them. Other sections (``<IfModule>``,
  ``<IfDefine>`` ...) are transparent. When blocks give different policies,
  ``block=`` says which one is meant;
* ``<IfModule !mod_wsgi.c>`` and ``<IfModule !wsgi_module>`` are skipped with
  all they hold, as Apache skips them with mod_wsgi loaded (which the WSGI
  directives need); a trust line in one draws a warning;
* ``Include`` and ``IncludeOptional`` are not followed (Apache reads a
  relative path from ``ServerRoot``, which the text does not say): each draws
  a warning naming the line and the file.

The options mod_wsgi has no directive for are written as comment lines that
Apache ignores and trustedproxy reads::

    # trustedproxy: script_name /myapp
    # trustedproxy: strip_prefix_from_path on
    # trustedproxy: trust_unix_socket on

Values mod_wsgi rejects are errors here too, with a clearer message; the
values it accepts and then misbehaves on (SPEC.md §3) are errors naming the
line; the values it accepts for compatibility (partial IPv4, dotted masks,
host bits set) load with the same meaning and a warning.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..addresses import ipv6_text, ipv6_value
from ..errors import ConfigError, Problem
from ..policy import NO_PROXIES, Located, TrustPolicy
from ..ranges import NAMED_RANGES
from . import add_warnings, read_text, refuse_file_name

__all__ = [
    "DIRECTIVE_OPTIONS",
    "PROXIES",
    "HEADERS_DIRECTIVE",
    "Setting",
    "build_policy",
    "load_directives",
    "logical_lines",
    "mod_wsgi_proxy_problem",
    "parse_directives",
    "policy_problems",
    "split_words",
]

#: The canonical spelling of the two mod_wsgi directives.
PROXIES = "WSGITrustedProxies"
HEADERS_DIRECTIVE = "WSGITrustedProxyHeaders"
_DIRECTIVES = {PROXIES.lower(): PROXIES, HEADERS_DIRECTIVE.lower(): HEADERS_DIRECTIVE}

#: The options written as ``# trustedproxy: NAME VALUE`` comment lines.
DIRECTIVE_OPTIONS = ("script_name", "strip_prefix_from_path", "trust_unix_socket", "max_hops",
                     "hop_aligned")
_MAGIC = "trustedproxy:"
_BOOLS = {"on": True, "true": True, "1": True, "yes": True,
          "off": False, "false": False, "0": False, "no": False}

#: Sections that scope trust directives (lower case -> canonical spelling).
_BLOCKS = {name.lower(): name for name in (
    "VirtualHost", "Location", "LocationMatch", "Directory", "DirectoryMatch",
    "Files", "FilesMatch")}

#: White space as Apache's parser knows it (C ``isspace``): ASCII only, so a
#: no-break space or U+2028 is part of a word, as in Apache.
_SPACE = " \t\n\v\f\r"

_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")  # Apache's ${NAME}, from Define
_V6_CHARS = frozenset("0123456789abcdef:/")
_V4_CHARS = frozenset("0123456789./")


# --------------------------------------------------------------------------- lexing


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first line number, text)`` of each configuration line.

    Joins continuation lines (a line ending in ``\\``, with nothing after it)
    as Apache 2.4's ``ap_cfg_getline`` does, and strips surrounding white space.
    """
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i + 1
        parts: list[str] = []
        while True:
            line = lines[i].removesuffix("\r")
            i += 1
            if line.endswith("\\") and i < len(lines):
                # Apache 2.4 continues the line and drops just this backslash,
                # even after another one (``a\\`` + ``b`` reads ``a\b``).
                parts.append(line[:-1])
                continue
            parts.append(line)
            break
        yield start, "".join(parts).strip(_SPACE)


def getword_conf(line: str, pos: int = 0) -> tuple[str, int]:
    """Read one word from *line* at *pos* as Apache's ``ap_getword_conf`` does.

    Returns the word and the position of the next word (white space skipped).
    A word that starts with ``"`` or ``'`` runs to the matching quote (or the
    end of the line); inside it ``\\<quote>`` and ``\\\\`` are escapes.
    Outside quotes only ``\\\\`` is an escape.
    """
    n = len(line)
    while pos < n and line[pos] in _SPACE:
        pos += 1
    if pos >= n:
        return "", n
    quote = line[pos] if line[pos] in "\"'" else ""
    out: list[str] = []
    i = pos + 1 if quote else pos
    while i < n:
        ch = line[i]
        if quote and ch == quote:
            i += 1
            break
        if not quote and ch in _SPACE:
            break
        if ch == "\\" and i + 1 < n and (line[i + 1] == "\\" or (quote and line[i + 1] == quote)):
            out.append(line[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    while i < n and line[i] in _SPACE:
        i += 1
    return "".join(out), i


def split_words(args: str) -> list[str]:
    """Split a directive's arguments into words as mod_wsgi does
    (``ap_getword_conf`` until the line is used up)."""
    words = []
    pos = 0
    args = args.lstrip(_SPACE)
    while pos < len(args):
        word, pos = getword_conf(args, pos)
        words.append(word)
    return words


# --------------------------------------------------------------------------- values


def mod_wsgi_proxy_problem(word: str) -> str | None:
    """Say why mod_wsgi refuses *word* as a trusted proxy where trustedproxy's
    own parser would accept it, or return ``None``.

    The rest (hostnames, bad masks, ``1.2.3.4/33`` ...) the policy's own
    parser rejects with its own message.
    """
    if word.startswith("#"):
        return ("Apache has no comments after a directive: this word and the ones after it "
                "would be read as values; move the comment to a line of its own")
    if word.lower() in NAMED_RANGES:
        return (f"mod_wsgi does not know named ranges: write {word!r} as "
                f"{' '.join(NAMED_RANGES[word.lower()])!r}")
    if ":" in word:
        if not set(word) <= _V6_CHARS and set(word) <= _V6_CHARS | set("ABCDEF"):
            return (f"mod_wsgi rejects upper-case IPv6: write {word.lower()!r}")
        address = word.partition("/")[0]
        value = ipv6_value(address)  # strict, whatever the C library's inet_pton takes
        if value is None:
            return None
        if value >> 32 == 0xFFFF:
            return ("mod_wsgi rejects IPv4-mapped IPv6 addresses: write the IPv4 address "
                    "or network itself (an IPv4 network also matches mapped peers)")
        if "." in address:
            hex_form = ipv6_text(value) + word[len(address):]  # the '/prefix', if any
            return ("mod_wsgi rejects an IPv6 address with a dotted IPv4 part: write it in "
                    f"hex, {hex_form!r}")
    elif not set(word) <= _V4_CHARS:
        return None
    _, slash, mask = word.partition("/")
    if slash and mask.isascii() and mask.isdigit() and int(mask) == 0:
        half = "'0.0.0.0/1 128.0.0.0/1'" if ":" not in word else "'::/1 8000::/1'"
        return ("mod_wsgi rejects a /0 mask; trusting every address lets any client forge "
                f"forwarded headers, but if that is really meant write {half}")
    return None


def _parse_bool(word: str) -> bool | None:
    return _BOOLS.get(word.lower())


# --------------------------------------------------------------------------- structure


@dataclass
class Setting:
    """One trust directive line (or option comment line, or express option) and its words."""

    line: int
    directive: str
    words: list[str]
    where: str = ""  # the position for messages, when not ``source:line``

    def at(self, source: str) -> str:
        return self.where or f"{source}:{self.line}"


@dataclass
class _Scope:
    """The server level or one scoping block, with the settings made in it."""

    kind: str  # "" for the server level
    arg: str
    line: int
    parent: _Scope | None
    settings: dict[str, list[Setting]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"<{self.kind} {self.arg}>" if self.kind else "the server level"

    @property
    def where(self) -> str:
        return f"{self.label} (line {self.line})" if self.kind else self.label

    @property
    def path(self) -> str:
        parts: list[str] = []
        scope: _Scope | None = self
        while scope is not None and scope.kind:
            parts.append(f"{scope.kind} {scope.arg}")
            scope = scope.parent
        return " > ".join(reversed(parts))

    def effective(self) -> dict[str, list[Setting]]:
        """The settings in force here: each one from the innermost block that sets it."""
        result: dict[str, list[Setting]] = {}
        scope: _Scope | None = self
        while scope is not None:
            for key, settings in scope.settings.items():
                result.setdefault(key, settings)
            scope = scope.parent
        return result


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


#: The names ``<IfModule>`` finds mod_wsgi by: its source file and its module
#: identifier (``LoadModule wsgi_module ...``), compared exactly, as Apache does.
_WSGI_MODULE = ("mod_wsgi.c", "wsgi_module")
#: Directives that read another file, which is not followed (lower case).
_INCLUDES = ("include", "includeoptional")


def _parse(text: str, source: str) -> tuple[list[_Scope], list[Problem], list[Problem]]:
    """Read the text into scopes; return every scope, the structural problems
    and the warnings (what was not read)."""
    server = _Scope("", "", 0, None)
    scopes = [server]
    # (section name, line, scope it opened, whether it starts a skipped region)
    stack: list[tuple[str, int, _Scope | None, bool]] = []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    defines: dict[str, str] = {}
    current = server
    skipped: tuple[str, int] | None = None  # the <IfModule !mod_wsgi.c> being skipped
    for number, line in logical_lines(text):
        where = f"{source}:{number}"
        if not line:
            continue
        if line.startswith("#"):
            body = line[1:].strip(_SPACE)
            if body.lower().startswith(_MAGIC):
                if skipped:
                    option = (split_words(body[len(_MAGIC):]) or [""])[0]
                    warnings.append(_skipped(where, f"# {_MAGIC} {option}".rstrip(), skipped))
                else:
                    _option(body[len(_MAGIC):], current, number, where, errors)
            continue
        if "${" in line and not skipped:  # Apache expands every line it reads, as a whole
            line = _VARIABLE.sub(lambda m: defines.get(m.group(1), m.group(0)), line)
        name, pos = getword_conf(line)
        if name.startswith("</"):
            closing = name[2:].rstrip(">").strip().lower()
            if not stack:
                errors.append(Problem(where, name, f"{name} closes a section that was "
                                                   "never opened"))
                continue
            opened, opened_line, scope, skips = stack.pop()
            if opened.lower() != closing:
                errors.append(Problem(where, name, f"expected </{opened}> (opened at line "
                                                   f"{opened_line}) but saw {name}"))
            if skips:
                skipped = None
            if scope is not None:
                current = scope.parent or server
            continue
        if name.startswith("<"):
            section = name[1:].rstrip(">")
            rest = line[pos:]
            if not rest.endswith(">") and not name.endswith(">"):
                errors.append(Problem(where, line, f"<{section} section line must end "
                                                   "with '>'"))
            if skipped:  # Apache only checks that what it skips nests
                stack.append((section, number, None, False))
                continue
            module = rest.rpartition(">")[0] if ">" in rest else rest
            if section.lower() == "ifmodule" and not getword_conf(module.removeprefix("!"))[0]:
                errors.append(Problem(where, line, f"<{section}> needs a module name (Apache "
                                                   "refuses to start without one)"))
            if section.lower() == "ifmodule" and _negated_wsgi(module):
                # Read only when mod_wsgi is not loaded, and then no WSGI
                # directive applies: skip it, as Apache does with mod_wsgi loaded.
                skipped = (f"<{section} {module}>", number)
                stack.append((section, number, None, True))
                continue
            arg = _strip_quotes(rest.rstrip().removesuffix(">"))
            kind = _BLOCKS.get(section.lower())
            if kind is None:
                stack.append((section, number, None, False))
                continue
            scope = _Scope(kind, arg, number, current)
            scopes.append(scope)
            stack.append((section, number, scope, False))
            current = scope
            continue
        directive = _DIRECTIVES.get(name.lower())
        if skipped:
            if directive is not None:
                warnings.append(_skipped(where, directive, skipped))
            continue
        if name.lower() == "define":
            define, after = getword_conf(line, pos)
            defines[define] = getword_conf(line, after)[0]
            continue
        if name.lower() in _INCLUDES:
            files = split_words(line[pos:])
            if len(files) != 1 or not files[0]:
                errors.append(Problem(where, line, (
                    f"{name} takes one argument, the file to include (Apache refuses to start "
                    "otherwise); quote a name that holds spaces")))
                continue
            included = files[0]
            warnings.append(Problem(where, included, (
                f"{name} {included!r} is not followed: trust directives in the included "
                "file are not read here; check that file as well (trustedproxy check "
                "FILE...)")))
            continue
        if directive is None:
            if name.lower().startswith("wsgitrust"):
                # Apache refuses to start on a misspelt directive; skipping it
                # would load a policy without it.
                close = difflib.get_close_matches(name.lower(), list(_DIRECTIVES), n=1,
                                                  cutoff=0.6)
                hint = (f"did you mean {_DIRECTIVES[close[0]]}?" if close else
                        f"the trust directives are {PROXIES} and {HEADERS_DIRECTIVE}")
                errors.append(Problem(where, name, f"unknown directive {name!r} (Apache "
                                                   f"refuses to start on it): {hint}"))
            continue  # some other Apache directive: not ours
        key = "proxies" if directive == PROXIES else "headers"
        args = line[pos:]  # ${NAME} expanded above, once, as Apache does
        unknown = sorted(set(_VARIABLE.findall(args)))
        if unknown:
            errors.append(Problem(where, f"${{{unknown[0]}}}", (
                f"{directive} uses ${{{unknown[0]}}}, which this text does not Define: "
                "trustedproxy does not read Apache's environment; write the value, or add "
                f"'Define {unknown[0]} VALUE' above")))
            continue
        words = split_words(args)
        if not words:
            what = ("no addresses: mod_wsgi then trusts no peer at all" if key == "proxies"
                    else "no header names: mod_wsgi then does nothing")
            errors.append(Problem(where, None, f"{directive} with {what}; "
                                               "give at least one value or remove the line"))
        current.settings.setdefault(key, []).append(Setting(number, directive, words))
    for opened, opened_line, _, _ in stack:
        errors.append(Problem(f"{source}:{opened_line}", opened,
                              f"<{opened}> is never closed: add </{opened}>"))
    return scopes, errors, warnings


def _negated_wsgi(argument: str) -> bool:
    """Whether Apache, with mod_wsgi loaded, skips ``<IfModule argument>``.

    As Apache 2.4 reads it (observed with ``apache2 -t``; the differential
    suite checks it): a ``!`` first negates, then the first word, quotes
    removed as for any directive word, is the module's name, compared with
    mod_wsgi's names exactly (``! "mod_wsgi.c" other`` is ``!mod_wsgi.c``;
    ``!MOD_WSGI.C`` names no module, so Apache reads that block). A quoted
    word that starts with ``!`` (``"!mod_wsgi.c"``, ``"! mod_ssl.c"``) is not
    a negation but a name starting with ``!``, which no module has: Apache
    never reads that block.
    """
    negated = argument.startswith("!")
    word = getword_conf(argument, 1 if negated else 0)[0]
    if not negated and word.startswith("!"):
        return True
    return negated and word in _WSGI_MODULE


def _skipped(where: str, what: str, block: tuple[str, int]) -> Problem:
    """The warning for a trust line inside a skipped ``<IfModule !mod_wsgi.c>``."""
    return Problem(where, None, f"{what} is inside {block[0]} (line {block[1]}), which Apache "
                                "skips when mod_wsgi is loaded: not read")


def _option(body: str, scope: _Scope, number: int, where: str, errors: list[Problem]) -> None:
    words = split_words(body)
    label = f"# {_MAGIC}"
    if not words:
        errors.append(Problem(where, None, f"{label} needs an option name and a value, "
                                           "e.g. '# trustedproxy: script_name /myapp'"))
        return
    option = words[0]
    if option not in DIRECTIVE_OPTIONS:
        close = difflib.get_close_matches(option, DIRECTIVE_OPTIONS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else (
            "known options: " + ", ".join(DIRECTIVE_OPTIONS))
        errors.append(Problem(where, option, f"{label} unknown option {option!r}: {hint}"))
        return
    if len(words) != 2:
        errors.append(Problem(where, body.strip(), f"{label} {option} takes exactly one value"))
        return
    if option in scope.settings:
        first = scope.settings[option][0].line
        errors.append(Problem(where, option, f"{label} {option} is given twice in "
                                             f"{scope.label} (first at line {first})"))
        return
    scope.settings[option] = [Setting(number, f"{label} {option}", words[1:])]


# --------------------------------------------------------------------------- policy


def _matches(scope: _Scope, block: str) -> bool:
    wanted = _strip_quotes(block.strip().removeprefix("<").removesuffix(">"))
    if not scope.kind:
        return wanted.lower() in ("", "server")
    own = f"{scope.kind} {scope.arg}"
    if wanted.lower() == own.lower() or wanted == scope.arg:
        return True
    return " ".join(wanted.split()).lower() == " ".join(scope.path.split()).lower()


def build_policy(settings: dict[str, list[Setting]], source: str, *,
                 partial_ipv4: bool = True, proxies_name: str = PROXIES,
                 headers_name: str = HEADERS_DIRECTIVE) -> TrustPolicy:
    """Build a :class:`TrustPolicy` from the settings in force, naming the
    line and directive of every problem.

    Args:
        settings: by key (``proxies``, ``headers`` or an option name), the
            settings that apply, in order.
        source: the file name used for settings without their own position.
        partial_ipv4: read ``127.0.0`` as ``127.0.0.0/24``, as mod_wsgi does.
        proxies_name: what to call the proxies setting in messages.
        headers_name: what to call the headers setting in messages.

    Raises:
        ConfigError: with every problem found.
    """
    policy, problems = _build(settings, source, partial_ipv4, proxies_name, headers_name,
                              proxies_lost=False)
    if problems or policy is None:
        raise ConfigError(problems)
    return policy


def policy_problems(settings: dict[str, list[Setting]], source: str, *,
                    proxies_name: str = PROXIES, headers_name: str = HEADERS_DIRECTIVE,
                    proxies_lost: bool = False) -> list[Problem]:
    """The problems :func:`build_policy` finds in *settings* (none: they make
    a policy), for a caller that has found problems of its own.

    Args:
        settings: as for :func:`build_policy`.
        source: as for :func:`build_policy`.
        proxies_name: as for :func:`build_policy`.
        headers_name: as for :func:`build_policy`.
        proxies_lost: the caller could not read a proxies setting it was
            given (its own problem says why), so the headers' "without
            proxies" problem would only repeat that one: it is left out.
    """
    return _build(settings, source, True, proxies_name, headers_name,
                  proxies_lost=proxies_lost)[1]


def _build(settings: dict[str, list[Setting]], source: str, partial_ipv4: bool,
           proxies_name: str, headers_name: str, *,
           proxies_lost: bool) -> tuple[TrustPolicy | None, list[Problem]]:
    """:func:`build_policy`'s work: the policy, or ``None``, and the problems in order."""
    errors: list[Problem] = []
    directive_at: dict[str, str] = {}
    # An express command line may give both options on one line (one place):
    # a problem with a trusted proxy names the proxies option, not the last one.
    proxies_at: dict[str, str] = {}
    kwargs: dict[str, object] = {}
    proxies: list[Located] = []
    proxy_rejected = False
    for setting in settings.get("proxies", []):
        where = setting.at(source)
        directive_at[where] = proxies_at[where] = setting.directive
        for word in setting.words:
            reason = mod_wsgi_proxy_problem(word)
            if reason:
                proxy_rejected = True
                errors.append(Problem(where, word, f"{setting.directive}: invalid trusted proxy "
                                                   f"{word!r}: {reason}"))
                if word.startswith("#"):
                    break
                continue
            proxies.append(Located(word, where))
    headers: list[Located] = []
    for setting in settings.get("headers", []):
        where = setting.at(source)
        directive_at[where] = setting.directive
        for word in setting.words:
            if word.startswith("#"):
                errors.append(Problem(where, word, f"{setting.directive}: invalid header name "
                                                   f"{word!r}: Apache has no comments after a "
                                                   "directive; move the comment to a line of "
                                                   "its own"))
                break
            headers.append(Located(word, where))
    policy_source = source
    for key in ("headers", "proxies"):
        if settings.get(key):
            policy_source = settings[key][0].at(source)
            break
    for option in DIRECTIVE_OPTIONS:
        if option not in settings:
            continue
        setting = settings[option][0]
        where = setting.at(source)
        directive_at[where] = setting.directive
        value: object = setting.words[0]
        if option == "max_hops":
            word = setting.words[0]
            if len(word) > 1 and word.startswith("0") and word.isascii() and word.isdigit():
                octal = set(word) <= set("01234567") and len(word) < 20
                note = f", {int(word, 8)} in YAML 1.1" if octal else ""
                errors.append(Problem(where, word, (
                    f"{setting.directive}: {word!r} has a leading zero (octal to some "
                    f"readers{note}): write it without, in plain decimal digits")))
                continue
            # Plain decimal digits only, as in YAML; anything else goes to the
            # policy's own check as text. (A number of thousands of digits is
            # not converted: int() refuses it.)
            value = int(word) if word.isascii() and word.isdigit() and len(word) < 20 else word
        elif option != "script_name":
            flag = _parse_bool(setting.words[0])
            if flag is None:
                errors.append(Problem(where, setting.words[0],
                                      f"{setting.directive}: expected on or off, "
                                      f"not {setting.words[0]!r}"))
                continue
            value = flag
        kwargs[option] = Located(value, where)
    unix = kwargs.get("trust_unix_socket")
    if settings.get("headers") and not settings.get("proxies") and not proxies_lost \
            and isinstance(unix, Located) and unix.value is True:
        # trustedproxy would trust Unix-socket peers only; Apache, which skips the
        # comment line, would believe these headers from every client.
        errors.append(Problem(settings["headers"][0].at(source), None, (
            f"{headers_name} without {proxies_name}: mod_wsgi would then believe these "
            f"headers from every client ('# {_MAGIC} trust_unix_socket on' at {unix.source} "
            "is a comment to Apache and does not limit them to Unix-socket peers); add "
            f"{proxies_name} with your proxies' addresses, or keep a policy that trusts "
            "Unix-socket peers only as YAML")))
    try:
        policy = TrustPolicy(trusted_proxies=proxies, trusted_headers=headers,
                             _source=policy_source, _partial_ipv4=partial_ipv4,
                             **kwargs)
    except ConfigError as exc:
        for problem in exc.problems:
            message = problem.message
            if message.startswith(NO_PROXIES):
                if proxy_rejected or proxies_lost:
                    continue
                message = (f"{headers_name} without {proxies_name}: mod_wsgi would then "
                           "believe these headers from every client; add "
                           f"{proxies_name} with your proxies' addresses (to trust every "
                           "peer, write '0.0.0.0/1 128.0.0.0/1 ::/1 8000::/1' explicitly)")
            elif problem.source in proxies_at and message.startswith("invalid trusted proxy"):
                message = f"{proxies_at[problem.source]}: {message}"
            elif problem.source in directive_at:
                message = f"{directive_at[problem.source]}: {message}"
            errors.append(Problem(problem.source, problem.value, message))
        return None, _in_order(errors)
    return (None if errors else policy), _in_order(errors)


def _line_of(problem: Problem) -> int:
    tail = problem.source.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def _in_order(problems: Sequence[Problem]) -> list[Problem]:
    return sorted(problems, key=_line_of)


def load_directives(text: str | os.PathLike[str], *, source: str | None = None,
                    block: str | None = None) -> TrustPolicy:
    """Load a policy from mod_wsgi directive text (or a file, given as a path object).

    Args:
        text: the directives, e.g. a whole Apache virtual host file.
        source: the name used in messages (default: the path, or
            ``<directives>``).
        block: which block's directives to use when blocks disagree, e.g.
            ``"Location /api"``, ``"/api"`` or
            ``"VirtualHost *:443 > Location /api"``; ``"server"`` is the
            server level.

    Raises:
        ConfigError: naming ``source:line`` and the directive of every problem.
    """
    if isinstance(text, os.PathLike):
        name = os.fspath(text)
        source = source or name
        text = read_text(name, "directives file", source)
    elif isinstance(text, str):
        refuse_file_name(text, "directive text", "from_directives", source or "<directives>")
    if not isinstance(text, str):
        msg = f"directives must be text, not {type(text).__name__}"
        raise ConfigError(msg, source=source or "<directives>")
    return parse_directives(text, source or "<directives>", block)


def parse_directives(text: str, source: str, block: str | None = None) -> TrustPolicy:
    """Load a policy from directive *text* (for :func:`load_directives`, and
    for a file already read), naming *source* in messages."""
    scopes, errors, warnings = _parse(text, source)
    if errors:
        raise ConfigError(_in_order(errors))
    return add_warnings(_choose(scopes, source, block), warnings)


def _choose(scopes: list[_Scope], source: str, block: str | None) -> TrustPolicy:
    """The policy of the block *block*, or the one every block agrees on."""
    if block is not None:
        chosen = [s for s in scopes if _matches(s, block)]
        if len(chosen) != 1:
            labels = ", ".join(f"{s.path or 'server'} (line {s.line})"
                               for s in (chosen or scopes[1:]))
            what = "matches no block" if not chosen else "matches more than one block"
            msg = (f"block {block!r} {what}" + (f"; the blocks are: {labels}" if labels else
                                                "; the text has no blocks"))
            raise ConfigError(msg, source=source, value=block)
        return build_policy(chosen[0].effective(), source)
    candidates = [s for s in scopes if s.settings]
    with_headers = [s for s in candidates if "headers" in s.effective()]
    if with_headers:
        candidates = with_headers
    if not candidates:
        return TrustPolicy(_source=source)  # no directive: its warning names the text
    policies: list[tuple[_Scope, TrustPolicy]] = []
    problems: list[Problem] = []
    for scope in candidates:
        try:
            policies.append((scope, build_policy(scope.effective(), source)))
        except ConfigError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise ConfigError(_in_order(problems))
    first_scope, first = policies[0]
    for scope, policy in policies[1:]:
        if policy != first:
            where = f"{source}:{scope.line}"
            options = " or ".join(repr(s.path or "server") for s, _ in policies)
            msg = (f"the trust directives of {first_scope.where} and {scope.where} give "
                   f"different policies: say which one is meant with block={options} "
                   "(on the command line: --block)")
            raise ConfigError(msg, source=where, value=scope.path)
    # Equal policies, but each block's lines draw their own warnings (host bits set...).
    warnings = list(first.warnings())
    for _, policy in policies[1:]:
        warnings += [w for w in policy.warnings() if w not in warnings]
    return add_warnings(first, warnings[len(first.warnings()):])
