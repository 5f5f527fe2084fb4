"""A policy file in any of the three forms, its form told from its name or content."""

from __future__ import annotations

import functools
import os
import pathlib
import re
from typing import TYPE_CHECKING

import yaml

from ..errors import ConfigError, Problem
from . import read_text
from .directives import DIRECTIVE_OPTIONS
from .express import shell_words

if TYPE_CHECKING:
    from ..policy import TrustPolicy
    from .yaml import Composed

__all__ = ["FORMATS", "detect_format", "load_file"]

#: The forms a policy file can take.
FORMATS = ("yaml", "directives", "express")
_EXTENSIONS = {".yaml": "yaml", ".yml": "yaml", ".conf": "directives", ".htaccess": "directives",
               ".args": "express", ".sh": "express", ".express": "express"}
_DIRECTIVE_LINE = re.compile(r"^[ \t]*wsgitrustedprox", re.IGNORECASE | re.MULTILINE)
_APACHE_BLOCK = re.compile(r"^\s*<(VirtualHost|Location|Directory)", re.IGNORECASE | re.MULTILINE)
_EXPRESS_OPTION = re.compile(r"^[^#\n]*--trust-proxy", re.MULTILINE)  # not in a comment
#: An option line as to_directives() writes it: '# trustedproxy: script_name /app'.
_OPTION_LINE = re.compile(r"^[ \t]*#[ \t]*trustedproxy:[ \t]*(?:"
                          + "|".join(DIRECTIVE_OPTIONS) + r")[ \t]", re.IGNORECASE | re.MULTILINE)
_CONTENT_LINE = re.compile(r"^[ \t]*[^#\s]", re.MULTILINE)  # a line that is not a comment
#: A directive-form marker at the start of a line inside a shell word (a quoted value).
_QUOTED_MARKER = re.compile(r"\n[ \t]*(?:wsgitrustedprox|<(?:VirtualHost|Location|Directory))",
                            re.IGNORECASE)
#: What the content of a file with no telling content is read as, and why.
_FALLBACK = ("yaml", "no WSGITrustedProxies/WSGITrustedProxyHeaders line, Apache block or "
                     "--trust-proxy option")


def detect_format(path: str, text: str) -> str:
    """Say which form a policy file is in: from its extension (``.yaml``/``.yml``,
    ``.conf``/``.htaccess``, ``.args``/``.sh``/``.express``), else from its
    content, else YAML.

    By content: YAML that reads as a mapping with a policy key
    (``trusted_proxies``...) is YAML, whatever its strings and comments hold,
    and so is text that is not valid YAML but has a line starting with a
    policy key and ``:`` (its YAML error is then reported, rather than words
    of its values read as another form); else a ``WSGITrustedProxies`` or
    ``WSGITrustedProxyHeaders`` line or an Apache ``<VirtualHost>``,
    ``<Location>`` or ``<Directory>`` block means directives (unless every
    such line is inside a shell-quoted value of a ``--trust-proxy`` command
    line); ``--trust-proxy`` outside a ``#`` comment, express arguments;
    ``# trustedproxy: OPTION VALUE`` lines mean directives only in a file
    that holds nothing but comments (what
    :func:`~trustedproxy.loaders.writers.to_directives` writes for a policy
    with options and no trust directives), so a YAML file whose comments
    happen to start that way is still read as YAML.
    """
    return _EXTENSIONS.get(_extension(path).lower()) or _content_form(text, _compose(text))[0]


def _extension(path: str) -> str:
    """The extension that tells a file's form: its suffix, or the whole name
    of a dot-file (``.htaccess``, which :mod:`pathlib` gives no suffix)."""
    pure = pathlib.PurePath(path)
    return pure.suffix or (pure.name if pure.name.startswith(".") else "")


def _content_form(text: str, composed: Composed | None) -> tuple[str, str]:
    """The form told from a file's content (see :func:`detect_format`), and
    what in the content told it (for messages); *composed* is
    :func:`_compose` of *text*."""
    return _looks_like(text, composed) or _FALLBACK


def _looks_like(text: str, composed: Composed | None) -> tuple[str, str] | None:
    """The form a file's content shows, and what shows it; ``None`` when
    nothing in it belongs to one form (YAML is then the default). *composed*
    is :func:`_compose` of *text*."""
    keys = _yaml_policy_keys(composed)
    if keys:
        return "yaml", f"a YAML mapping with the key{'s' * (len(keys) > 1)} {', '.join(keys)}"
    if keys is None:  # not YAML: but a line that starts with a policy key is broken YAML
        key_line = _yaml_key_line().search(text)
        if key_line:
            return "yaml", f"a line starting with the key {key_line.group(1)} (not valid YAML)"
    express = _express_options(text)
    quoted = express is not None and express[1]  # the markers below are in quoted values
    if _DIRECTIVE_LINE.search(text) and not quoted:
        return "directives", "a WSGITrustedProxies/WSGITrustedProxyHeaders line"
    if _APACHE_BLOCK.search(text) and not quoted:
        return "directives", "an Apache <VirtualHost>, <Location> or <Directory> block"
    if express:
        return "express", "a --trust-proxy option outside a comment"
    if _OPTION_LINE.search(text) and not _CONTENT_LINE.search(text):
        return "directives", "only comments, with '# trustedproxy:' option lines"
    return None


def _compose(text: str) -> Composed | None:
    """*text* composed as YAML, to tell its form and then, if it is YAML, to
    load it; ``None`` (not composed) when no policy key is written in it plainly."""
    from .yaml import KEYS, compose

    if not any(key in text for key in KEYS):  # no policy key written plainly: skip parsing
        return None
    return compose(text)


def _yaml_policy_keys(composed: Composed | None) -> list[str] | None:
    """The policy keys (``trusted_proxies``...) of a text read as a YAML
    mapping (*composed*, see :func:`_compose`), in the order written; none
    when it is not one; ``None`` when it is not YAML at all."""
    from .yaml import KEYS

    if composed is None:
        return []
    if composed.error is not None:
        return None
    root = composed.root
    if not isinstance(root, yaml.MappingNode):
        return []
    return list(dict.fromkeys(key.value for key, _ in root.value
                              if isinstance(key, yaml.ScalarNode) and key.value in KEYS))


@functools.cache
def _yaml_key_line() -> re.Pattern[str]:
    """A line that starts with a YAML policy key and ``:``: in a file that is
    not valid YAML, it tells broken YAML (Apache and a shell refuse such a line)."""
    from .yaml import KEYS

    return re.compile(r"^(" + "|".join(KEYS) + r")[ \t]*:(?:[ \t]|$)", re.MULTILINE)


def _express_options(text: str) -> tuple[bool, bool] | None:
    """Whether *text*, read as a shell command line, has a ``--trust-proxy``
    option (a word outside comments), and whether a line that starts with a
    trust directive or an Apache block is inside a quoted value; ``None`` for
    no option."""
    words = _shell_words(text)
    if words is None:  # an unterminated quote: not a command line, or a broken one
        return (True, False) if _EXPRESS_OPTION.search(text) else None
    if not any(word.startswith("--trust-proxy") for word in words):
        return None
    return True, any(_QUOTED_MARKER.search(word) for word in words)


def load_file(path: str | os.PathLike[str], *, format: str | None = None,
              block: str | None = None) -> TrustPolicy:
    """Load the policy file *path* in whichever form it is (see :func:`detect_format`).

    Args:
        path: the file.
        format: ``"yaml"``, ``"directives"`` or ``"express"`` to say the form
            rather than have it told.
        block: for a directive file, the block whose directives to use when
            blocks disagree (``"Location /api"``).

    Raises:
        ValueError: for a *format* that is not one of :data:`FORMATS`.
        ConfigError: for a file that cannot be read or does not hold a valid
            policy, a *block* for a file that is not in directive form, or a
            *format* the file cannot be in: nothing in it is read as that
            form, and it looks like another.
    """
    if format is not None and format not in FORMATS:
        msg = f"format must be one of {', '.join(map(repr, FORMATS))}, not {format!r}"
        raise ValueError(msg)
    name = os.fspath(path)
    text = read_text(name, "policy file")
    fmt = format or _EXTENSIONS.get(_extension(name).lower())
    told_by = ""  # what in the content told the form, when the content did
    composed = None  # the text composed as YAML, when telling its form did that
    if not fmt:
        composed = _compose(text)
        fmt, told_by = _content_form(text, composed)
    if block is not None and fmt != "directives":
        msg = (f"block {block!r}: a block applies to directive files only "
               f"(this file is read as {fmt})")
        raise ConfigError(msg, source=name, value=block)
    if format is not None:
        return _load_as_said(name, text, format, block, None)
    if not told_by:
        return _load_as_said(name, text, fmt, block, _extension(name))
    try:
        return _load(name, text, fmt, block, composed)
    except ConfigError as exc:  # the form was a guess: say how it was made, and how to say it
        others = " or ".join(f"format={f!r}" for f in FORMATS if f != fmt)
        hint = (f"this file was read as {fmt} because its name has no known extension and "
                f"its content has {told_by}; if it is in another form, say so "
                f"with {others} (on the command line: --format), or rename it")
        raise ConfigError([*exc.problems, Problem(name, None, hint)]) from None


#: What each form reads, said as what a file that holds none of it lacks.
_NOTHING = {
    "directives": "no WSGITrustedProxies/WSGITrustedProxyHeaders line and no "
                  "'# trustedproxy:' option line",
    "express": "no --trust-proxy or --trust-proxy-header option",
}


def _holds(fmt: str, text: str, policy: TrustPolicy) -> bool:
    """Whether anything in *text*, which loaded as *policy*, is read as *fmt*
    (for YAML: whatever loads)."""
    if fmt == "directives":
        return bool(_DIRECTIVE_LINE.search(text) or _OPTION_LINE.search(text))
    if fmt == "express":
        if policy.intervals or policy.trusted_headers:
            return True  # only the value of a --trust... word makes them: not split again
        if "--trust" not in text:  # no shell word can start with it
            return False
        words = _shell_words(text)
        # Words that cannot be split: the loader says what is wrong with them.
        return words is None or any(word.startswith("--trust") for word in words)
    return True


def _shell_words(text: str) -> list[str] | None:
    """The words of *text* read as a shell command line (comments dropped);
    ``None`` when it cannot be read as one (an unterminated quote)."""
    try:
        return [word for word, _ in shell_words(text)]
    except ConfigError:
        return None


def _load_as_said(name: str, text: str, fmt: str, block: str | None,
                  extension: str | None) -> TrustPolicy:
    """Load *text* in the form *fmt* that ``format=`` names (*extension*
    ``None``) or that the file name's *extension* tells. A file in which
    nothing is read as that form, and that looks like another form, is an
    error naming both (it would load as an empty policy); when loading fails
    and the file looks like another form, the last problem says so. A file
    that looks like no form in particular (empty, comments, a vhost with no
    trust directives) loads as before."""
    # What the file looks like is found only when it matters (loading failed,
    # or nothing in the file is of the form): a large policy that loads pays
    # nothing for the check. YAML is composed once, to load it and to tell.
    composed = _compose(text) if fmt == "yaml" else None
    try:
        policy = _load(name, text, fmt, block, composed)
    except ConfigError as exc:
        looks = _looks_like(text, composed if fmt == "yaml" else _compose(text))
        if looks is None or looks[0] == fmt:
            raise
        hint = _instead(fmt, extension, *looks)
        raise ConfigError([*exc.problems, Problem(name, fmt, f"{hint[0]}; {hint[1]}")]) from None
    if _holds(fmt, text, policy):
        return policy
    looks = _looks_like(text, _compose(text))
    if looks is None or looks[0] == fmt:
        return policy
    said, instead = _instead(fmt, extension, *looks)
    msg = f"{said}, but nothing in it is: it has {_NOTHING[fmt]}; {instead}"
    raise ConfigError(msg, source=name, value=fmt)


def _instead(fmt: str, extension: str | None, form: str, why: str) -> tuple[str, str]:
    """How *fmt* was said (by ``format=`` when *extension* is ``None``), and what
    to do instead for a file that looks like *form* because of *why*."""
    if extension is None:
        said = f"format={fmt!r} (on the command line: --format {fmt}) reads this file as {fmt}"
        instead = (f"it looks like {form}, for it has {why}: say format={form!r} "
                   f"(--format {form}), or leave the format out")
    else:
        said = f"the extension {extension!r} reads this file as {fmt}"
        instead = (f"it looks like {form}, for it has {why}: rename it, or say "
                   f"format={form!r} (--format {form})")
    return said, instead


def _load(name: str, text: str, fmt: str, block: str | None,
          composed: Composed | None = None) -> TrustPolicy:
    """Load *text* in the form *fmt*; YAML from *composed* when it was composed
    already (to tell the form), not composed again."""
    if fmt == "yaml":  # the text read above, not the file again
        from .yaml import parse_yaml

        return parse_yaml(text, name, os.path.dirname(name), composed=composed)
    if fmt == "directives":
        from .directives import parse_directives

        return parse_directives(text, name, block)
    from .express import parse_express_text

    return parse_express_text(text, name)
