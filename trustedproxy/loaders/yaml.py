"""YAML policy files (``yaml.safe_load`` semantics only; no Python tags).

The file is composed into PyYAML's node tree with the safe loader, and the
nodes are turned into values here, so that every value carries the
``file:line`` it was written on (:class:`~trustedproxy.policy.Located`) and
the policy's own checks name that line. Every problem of a file is collected
and raised in one :class:`~trustedproxy.ConfigError`.

Keys (:data:`KEYS`): ``trusted_proxies``, ``trusted_headers``, ``script_name``,
``strip_prefix_from_path``, ``trust_unix_socket``, ``max_hops``,
``hop_aligned``, ``custom_headers`` and ``trusted_proxies_files``: paths
(relative to the YAML file; to the current directory for YAML given as text)
of plain lists of addresses and networks, one a line, ``#`` comments allowed,
as a CDN or cloud provider publishes them.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import ConfigError, Problem
from ..policy import MAX_HOPS_RANGE, NO_PROXIES, Located, TrustPolicy, _shown, _text
from . import clip, read_text

__all__ = ["KEYS", "Composed", "compose", "load_yaml", "parse_yaml", "read_ranges_file"]

#: The keys a YAML policy may hold.
KEYS = ("trusted_proxies", "trusted_headers", "script_name", "strip_prefix_from_path",
        "trust_unix_socket", "trusted_proxies_files", "max_hops", "hop_aligned",
        "custom_headers")
_LISTS = ("trusted_proxies", "trusted_headers", "trusted_proxies_files")
#: The tags of a list or mapping written without one.
_PLAIN_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
#: The tag of a ``<<`` merge key, which a policy file may not use.
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MERGE = "YAML merge keys ('<<') are not supported in a policy file: write the keys out"
_EXAMPLE = {
    "trusted_proxies": "['10.0.0.0/8']",
    "trusted_headers": "[X-Forwarded-For, X-Forwarded-Proto]",
    "trusted_proxies_files": "[cdn-ranges.txt]",
}


def _is_path(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    if "\n" in source:
        return False
    return source.endswith((".yaml", ".yml")) or os.path.isfile(source)


_LINE_END = re.compile(r"\r\n|\r|\n")


def read_ranges_file(path: str) -> tuple[list[Located], list[Problem]]:
    """Read a ranges file: one address or network a line, ``#`` comments allowed.

    Returns the values, each located at ``path:line``, and the problems
    (an unreadable file is one problem, with the file as source).
    """
    try:
        text = read_text(path, "ranges file")
    except ConfigError as exc:
        return [], list(exc.problems)
    values = []
    # Lines end at LF, CRLF or CR alone, as editors number them: str.splitlines
    # would also break at a form feed, U+2028 and the like.
    for number, line in enumerate(_LINE_END.split(text), 1):
        value = line.partition("#")[0].strip()
        if value:
            values.append(Located(value, f"{path}:{number}"))
    return values, []


#: What :meth:`_Reader.scalar` returns for a node it could not construct (the
#: problem is recorded): callers drop the value, so that it draws no second error.
_BAD: Any = object()

#: How a message calls the value of each tag safe_load constructs.
_TAG_KINDS = {"int": "an integer", "float": "a float", "bool": "a boolean",
              "timestamp": "a timestamp", "null": "null", "binary": "binary data"}


def _shown_value(text: str) -> str:
    """A scalar's text for a message: quoted, and cut after 40 characters."""
    shown = clip(text)
    return repr(shown) if shown == text else f"{shown!r} ({len(text)} characters)"


#: The keys whose value is an integer, with the range the policy takes; the
#: only form one is read from: decimal digits, with no leading zero, '+' sign
#: or '_' separator.
_INTEGERS = {"max_hops": MAX_HOPS_RANGE}
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)")


def _integer_form(text: str) -> str:
    """How a message calls a YAML 1.1 integer that is not plain decimal digits."""
    digits = text.lstrip("+-").lower()
    if digits.startswith("0x"):
        return "a hexadecimal number"
    if digits.startswith("0b"):
        return "a binary number"
    if ":" in digits:
        return "a base-60 number"
    if digits.startswith("0") and len(digits) > 1:
        return "an octal number (a leading 0)"
    if "_" in digits:
        return "a number with '_' separators"
    if text.startswith("+"):
        return "a number with a '+' sign"
    return "an integer in a form other than decimal digits"


def _unconstructable(node: Node, where: str, exc: Exception) -> Problem:
    """The problem of a scalar whose tag safe_load knows but whose text matches
    no form of it (a plain ``2001-13-45`` is a timestamp with month 13; an
    integer longer than Python converts; ``!!bool maybe``)."""
    text = node.value if isinstance(node, ScalarNode) else ""
    kind = _TAG_KINDS.get(node.tag.rpartition(":")[2], f"the tag {node.tag}")
    if isinstance(exc, ValueError) and "digits" in str(exc):
        reason = f"it has more than {sys.get_int_max_str_digits()} digits"
    elif isinstance(exc, ValueError):
        reason = str(exc)
    else:
        reason = "it is not in any form YAML gives one"
    return Problem(where, text, f"invalid YAML value {_shown_value(text)}: YAML reads it as "
                                f"{kind}, but {reason}: put it in quotes if it is text")


class _Reader:
    """Turns composed nodes into located values, collecting problems."""

    def __init__(self, name: str, base: str) -> None:
        self.name = name
        self.base = base
        self.errors: list[Problem] = []
        self.constructor = yaml.SafeLoader("")

    def at(self, node: Node) -> str:
        return f"{self.name}:{node.start_mark.line + 1}"

    def scalar(self, node: Node) -> object:
        """The Python value of a node, with safe_load's meaning, or :data:`_BAD`
        (the problem recorded) for a node safe_load cannot construct."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.errors.append(Problem(self.at(node), node.tag, f"invalid YAML value: {problem} "
                                                                 "(only plain YAML is allowed, "
                                                                 "no Python tags)"))
        except RecursionError:
            self.errors.append(Problem(self.at(node), None, "invalid YAML value: nested too "
                                                            "deeply to read"))
        except Exception as exc:
            # PyYAML's constructors raise ValueError, KeyError, AttributeError...
            # for a value that matches no form of its tag.
            self.errors.append(_unconstructable(node, self.at(node), exc))
        finally:
            # A failed construction leaves half-built state behind; start afresh.
            self.constructor.constructed_objects.clear()
            self.constructor.recursive_objects.clear()
        return _BAD

    def decimal(self, key: str, node: Node, value: object) -> object:
        """*value*, an integer-valued key's, or :data:`_BAD` (the problem
        recorded) for an integer YAML 1.1 read from a form other than plain
        decimal digits (``0x10``, ``017``, ``1:30``...): a reader of the file
        may well take ``017`` for seventeen. What is not an integer is left
        to the policy's own check."""
        if (isinstance(value, bool) or not isinstance(value, int)
                or not isinstance(node, ScalarNode) or _DECIMAL.fullmatch(node.value)):
            return value
        text = node.value
        low, high = _INTEGERS[key]
        read = str(value) if value.bit_length() <= 128 else _shown(value)
        self.errors.append(Problem(
            self.at(node), text,
            f"{key} {_shown_value(text)} is {_integer_form(text)} to YAML 1.1, read as {read}: "
            f"write a whole number from {low} to {high} in plain decimal digits"
            + (f" ({key}: {value})" if low <= value <= high else "")))
        return _BAD

    def merge_key(self, node: Node) -> bool:
        """Whether *node* is a ``<<`` merge key (a problem, recorded)."""
        if node.tag != _MERGE_TAG:
            return False
        self.errors.append(Problem(self.at(node), "<<", _MERGE))
        return True

    def plain(self, node: Node) -> bool:
        """Whether a list or mapping *node* may be read item by item: it has
        no tag, or a tag safe_load knows (an unknown or Python tag is recorded
        as a problem, as safe_load refuses it wherever it stands)."""
        if node.tag in _PLAIN_TAGS:
            return True
        problems = len(self.errors)
        self.scalar(node)  # safe_load's verdict on the tag
        return len(self.errors) == problems

    def items(self, key: str, node: Node) -> object:
        """A list field: a list of located items, or a located bad value."""
        where = self.at(node)
        if isinstance(node, SequenceNode) and not self.plain(node):
            return []
        if isinstance(node, SequenceNode):
            out = []
            for item in node.value:
                value = self.scalar(item)
                if value is _BAD:
                    continue
                if (isinstance(item, ScalarNode) and item.style is None
                        and isinstance(value, (int, float, bool))):
                    kind = "a boolean" if isinstance(value, bool) else "a number"
                    self.errors.append(Problem(
                        self.at(item), item.value,
                        f"{key} item {item.value!r} is read by YAML as {kind}, not text: "
                        "put it in quotes"))
                    continue
                out.append(Located(value, self.at(item)))
            return out
        if isinstance(node, MappingNode):
            self.errors.append(Problem(where, None, f"{key} must be a list, not a mapping: "
                                                    f"write e.g. {key}: {_EXAMPLE[key]}"))
            return []
        value = self.scalar(node)
        if value is _BAD:
            return []
        if value is None:
            self.errors.append(Problem(where, None, f"{key} has no value: write a list, e.g. "
                                                    f"{key}: {_EXAMPLE[key]}, or remove the key"))
            return []
        return Located(value, where)

    def custom_headers(self, node: MappingNode) -> dict[Located, Located]:
        """The ``custom_headers`` mapping, each name and group located (a name
        that is not text is an error here). Every entry is kept, so that the
        policy's own check finds a name given twice (in any case), at its line."""
        out: dict[Located, Located] = {}
        for key_node, value_node in node.value:
            if self.merge_key(key_node):
                continue
            name = self.scalar(key_node)
            group = self.scalar(value_node)
            if name is _BAD or group is _BAD:
                continue
            if not isinstance(name, str):
                self.errors.append(Problem(self.at(key_node), _shown(name),
                                           "custom_headers: a header name must be text, "
                                           f"not {type(name).__name__}"))
                continue
            out[Located(name, self.at(key_node))] = Located(group, self.at(value_node))
        return out

    def files(self, node: Node) -> tuple[list[Located], bool]:
        """Read every ranges file; return their values and whether one failed."""
        listed = self.items("trusted_proxies_files", node)
        if isinstance(listed, Located):  # a single string: TrustPolicy-style message
            if isinstance(listed.value, str):
                self.errors.append(Problem(listed.source, listed.value,
                                           "trusted_proxies_files must be a list, not a single "
                                           f"string: write [{listed.value!r}]"))
            else:
                self.errors.append(Problem(listed.source, _shown(listed.value),
                                           "trusted_proxies_files must be a list of paths, "
                                           f"not {type(listed.value).__name__}"))
            return [], True
        assert isinstance(listed, list)
        values: list[Located] = []
        failed = False
        for item in listed:
            if not isinstance(item.value, str) or not item.value:
                self.errors.append(Problem(item.source, _shown(item.value),
                                           "trusted_proxies_files: each item must be the path "
                                           "of a ranges file"))
                failed = True
                continue
            path = item.value if os.path.isabs(item.value) else os.path.join(
                self.base, item.value)
            found, problems = read_ranges_file(os.path.normpath(path))
            for problem in problems:
                failed = True
                self.errors.append(Problem(item.source, item.value,
                                           f"trusted_proxies_files: {problem.message} "
                                           f"({problem.source})"))
            values += found
        return values, failed


def load_yaml(source: str | os.PathLike[str], *, name: str | None = None) -> TrustPolicy:
    """Load a policy from a YAML file path or YAML text.

    Args:
        source: a path (a path object, or a string with no line break that
            names an existing file or ends in ``.yaml``/``.yml``) or YAML text.
        name: the file name used in messages (default: the path, or ``<yaml>``).

    Raises:
        ConfigError: naming the file and line of every problem.
    """
    if not isinstance(source, (str, os.PathLike)):
        msg = f"YAML must be text or a path, not {type(source).__name__}"
        raise ConfigError(msg, source=name or "<yaml>")
    if _is_path(source):
        path = os.fspath(source)
        return parse_yaml(read_text(path, "policy file"), name or path, os.path.dirname(path))
    return parse_yaml(str(source), name or "<yaml>", ".")


_COLON_LED = re.compile(r"::[0-9A-Za-z:./%]*")  # IPv6 text led by ":" starts "::"


def _colon_led_value(text: str, mark: Any) -> str | None:
    """The value YAML stopped at, when it is an IPv6 text led by ``::`` (``::1``
    unquoted in a flow list ``[127.0.0.1, ::1]``, which YAML cannot read), else
    ``None``."""
    if mark is None:
        return None
    lines = text.splitlines()
    if mark.line >= len(lines):
        return None
    found = _COLON_LED.match(lines[mark.line], mark.column)
    return found.group() if found else None


@dataclasses.dataclass(frozen=True)
class Composed:
    """YAML text composed into PyYAML's node tree with the safe loader, so that
    a text composed once (to tell a file's form) is not composed again to load it.

    Attributes:
        root: the root node; ``None`` for an empty document or when composing failed.
        error: what composing raised (a ``yaml.YAMLError``, or ``RecursionError``
            for lists or mappings nested too deeply), else ``None``.
    """

    root: Node | None
    error: yaml.YAMLError | RecursionError | None = None


def compose(text: str) -> Composed:
    """*text* composed with PyYAML's safe loader (see :class:`Composed`)."""
    try:
        return Composed(yaml.compose(text, Loader=yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError) as exc:
        return Composed(None, exc.with_traceback(None))  # not the frames: only the message is used


def parse_yaml(text: str, name: str, base: str, *, composed: Composed | None = None) -> TrustPolicy:
    """:func:`load_yaml` of *text* already read: *name* for messages, *base* the
    directory that ``trusted_proxies_files`` paths are relative to, *composed*
    what :func:`compose` gave for *text*, if it was composed already.

    Raises:
        ConfigError: naming the file and line of every problem.
    """
    if composed is None:
        composed = compose(text)
    exc = composed.error
    if isinstance(exc, RecursionError):
        msg = "invalid YAML: lists or mappings nested too deeply to read"
        raise ConfigError(msg, source=name)
    if exc is not None:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        msg = "invalid YAML: " + (f"{context}, {problem}" if context else problem)
        value = _colon_led_value(text, mark)
        if value is not None:
            msg += (f"; an IPv6 address that starts with ':' must be quoted in YAML: "
                    f"write '{value}'")
        raise ConfigError(msg, source=where, value=value)
    root = composed.root
    if root is None:
        msg = ("empty policy file: expected a mapping with trusted_proxies and "
               "trusted_headers, e.g. 'trusted_proxies: [10.0.0.0/8]'")
        raise ConfigError(msg, source=name)
    reader = _Reader(name, base)
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else f"the value {root.value!r}"
        msg = (f"a policy file must be a mapping (key: value lines such as "
               f"'trusted_proxies: [10.0.0.0/8]'), not {kind}")
        raise ConfigError(msg, source=reader.at(root))
    if not reader.plain(root):
        raise ConfigError(reader.errors)
    return _build(reader, root)


def _build(reader: _Reader, root: MappingNode) -> TrustPolicy:
    seen: dict[str, int] = {}
    kwargs: dict[str, Any] = {}
    extra: list[Located] = []
    files_failed = False
    proxies_bad = False
    for key_node, value_node in root.value:
        where = reader.at(key_node)
        if reader.merge_key(key_node):
            proxies_bad = True  # what it would have merged in is not there
            continue
        key = reader.scalar(key_node)
        if key is _BAD:
            continue
        if not isinstance(key, str) or key not in KEYS:
            shown = _text(key)
            close = difflib.get_close_matches(shown, KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "valid keys: " + ", ".join(KEYS)
            reader.errors.append(Problem(where, shown, f"unknown key {shown!r}: {hint}"))
            if close and close[0] in ("trusted_proxies", "trusted_proxies_files"):
                proxies_bad = True  # "no trusted proxies" would only repeat this
            continue
        if key in seen:
            reader.errors.append(Problem(where, key, f"duplicate key {key!r} (first at line "
                                                     f"{seen[key]}): write it once"))
            continue
        seen[key] = key_node.start_mark.line + 1
        errors_before = len(reader.errors)
        if key == "trusted_proxies_files":
            extra, files_failed = reader.files(value_node)
            files_failed = files_failed or len(reader.errors) > errors_before
        elif key in _LISTS:
            kwargs[key] = reader.items(key, value_node)
            if key == "trusted_headers" and isinstance(kwargs[key], list):
                # The list as a whole is at its key's line ("trusted headers but
                # no trusted proxies" names it).
                kwargs[key] = Located(kwargs[key], where)
            if key == "trusted_proxies" and len(reader.errors) > errors_before:
                proxies_bad = True
        elif key == "custom_headers" and isinstance(value_node, MappingNode):
            if reader.plain(value_node):
                kwargs[key] = Located(reader.custom_headers(value_node), reader.at(value_node))
        else:
            value = reader.scalar(value_node)
            if key in _INTEGERS and value is not _BAD:
                value = reader.decimal(key, value_node, value)
            if value is not _BAD:
                kwargs[key] = Located(value, reader.at(value_node))
    if extra:
        proxies = kwargs.get("trusted_proxies", [])
        if isinstance(proxies, list):
            kwargs["trusted_proxies"] = proxies + extra
    errors = reader.errors
    try:
        policy = TrustPolicy(_source=reader.name, **kwargs)
    except ConfigError as exc:
        for problem in exc.problems:
            if (problem.message.startswith(NO_PROXIES)
                    and (files_failed or proxies_bad)):
                continue  # a consequence of a problem already reported
            errors.append(problem)
    if errors:
        raise ConfigError(sorted(errors, key=lambda p: _order(p, reader.name)))
    return policy


def _order(problem: Problem, name: str) -> tuple[int, int]:
    """Sort key: problems in the policy file by line, then those in ranges files."""
    head, _, line = problem.source.rpartition(":")
    if head == name and line.isdigit():
        return 0, int(line)
    return 1, 0
