"""Strict parsers for single-valued forwarded headers (SPEC.md §5).

Each parser takes the raw header value and returns ``(value, reason)``:
the normalised value and ``""``, or ``None`` and why the value was refused.
They never raise, whatever the input.
"""

from __future__ import annotations

import re
import unicodedata

from .addresses import parse_ip

__all__ = [
    "join_prefix",
    "prefix_char_problem",
    "parse_host",
    "parse_port",
    "parse_prefix",
    "parse_scheme_bool",
    "parse_scheme_word",
    "parse_server",
    "text_from_wsgi",
    "wsgi_from_text",
]

Result = tuple[str | None, str]

_OWS = " \t"
_SCHEME_WORDS = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_SCHEME_BOOLS = {"on": "https", "true": "https", "1": "https",
                 "off": "http", "false": "http", "0": "http"}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
#: A last label that makes URL parsers read a host as IPv4 (WHATWG's "ends in a
#: number"): decimal digits, or 0x and hex digits ("0x7f.1" is 127.0.0.1 to them).
_NUMBER_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_PORT = re.compile(r"[0-9]{1,5}")
_BAD_PREFIX_CHAR = re.compile(r"[\x00-\x20\x7f?#\\]")
#: Unicode categories a prefix may not hold: controls, format characters
#: (U+200B, U+FEFF, bidi controls), line and paragraph separators, spaces,
#: and lone surrogates (not text: they have no UTF-8 form).
_BAD_PREFIX_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})
_LIST = "a list of values in a single-valued header"


def _single(raw: str) -> tuple[str, str]:
    value = raw.strip(_OWS)
    return value, (_LIST if "," in value else "")


def parse_scheme_word(raw: str) -> Result:
    """``http``/``https`` in any case; ``ws``/``wss`` map to ``http``/``https``."""
    value, problem = _single(raw)
    if problem:
        return None, problem
    scheme = _SCHEME_WORDS.get(value.lower())
    return (scheme, "") if scheme else (None, "not a scheme: expected http or https")


def parse_scheme_bool(raw: str) -> Result:
    """``on``/``true``/``1`` mean https, ``off``/``false``/``0`` mean http (any case)."""
    value, problem = _single(raw)
    if problem:
        return None, problem
    scheme = _SCHEME_BOOLS.get(value.lower())
    return (scheme, "") if scheme else (None, "not a boolean: expected on/off, true/false or 1/0")


def parse_port(raw: str) -> Result:
    """Digits only, 1-65535; returned without leading zeros."""
    value, problem = _single(raw)
    if problem:
        return None, problem
    if not _PORT.fullmatch(value) or not 0 < int(value) <= 65535:
        return None, "not a port: expected a number from 1 to 65535"
    return str(int(value)), ""


def _host_problem(host: str) -> str:
    if host.startswith("["):
        if not host.endswith("]") or parse_ip(host[1:-1]) is None or ":" not in host:
            return "not a bracketed IPv6 address"
        return ""
    if len(host) > 253 or not _DNS_NAME.fullmatch(host):
        return "not a DNS name, IPv4 address or [IPv6] address"
    name = host.removesuffix(".")
    if _NUMBER_LABEL.fullmatch(name.rpartition(".")[2]) and parse_ip(name) is None:
        return ("not a valid IPv4 address (URLs read a name that ends in a number as "
                "IPv4, so '0x7f.1' or '1.2.3' is no DNS name either)")
    return ""


def parse_server(raw: str) -> Result:
    """A host name or address without a port."""
    value, problem = _single(raw)
    if problem:
        return None, problem
    problem = _host_problem(value)
    return (None, problem) if problem else (value, "")


def parse_host(raw: str) -> Result:
    """``host[:port]``: host a DNS name, IPv4 address or ``[IPv6]``; port 1-65535."""
    value, problem = _single(raw)
    if problem:
        return None, problem
    if value.count(":") > 1 and not value.startswith("["):
        return None, "an IPv6 host must be in brackets, e.g. '[2001:db8::1]'"
    host, port = value, ""
    colon = value.rfind(":")
    if colon > value.rfind("]"):
        host, port = value[:colon], value[colon + 1 :]
        if not _PORT.fullmatch(port) or not 0 < int(port) <= 65535:
            return None, "the port must be a number from 1 to 65535"
    problem = _host_problem(host)
    return (None, problem) if problem else (value, "")


def _char_text(char: str) -> str:
    """``U+00A0 (NO-BREAK SPACE)``; a control character has no name, only its number."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def prefix_char_problem(text: str, offset: int = 0) -> str:
    """Say which character of *text* a prefix may not hold, and where, or return ``""``.

    Refused: every control, format and white-space character (``str.isspace``,
    Unicode categories Cc, Cf, Zl, Zp, Zs: U+0085, U+00A0, U+2028, U+3000,
    U+200B, U+FEFF...), lone surrogates, ``?``, ``#`` and ``\\``. The position
    counts characters from 1, *offset* characters before *text* begins.
    """
    if text.isascii():
        found = _BAD_PREFIX_CHAR.search(text)
        if found is None:
            return ""
        index = found.start()
    else:
        for index, char in enumerate(text):  # noqa: B007 (index is used after the loop)
            if (char in "?#\\" or char.isspace()
                    or unicodedata.category(char) in _BAD_PREFIX_CATEGORIES):
                break
        else:
            return ""
    char, position = text[index], offset + index + 1
    if char in "?#\\":
        return f"a prefix may not hold '?', '#' or '\\': '{char}' at character {position}"
    return ("a prefix may not hold control characters or white space: "
            f"{_char_text(char)} at character {position}")


def parse_prefix(raw: str, *, text: bool = False) -> Result:
    """A path prefix: empty, or ``/``-led, without control characters, white
    space, ``?``, ``#``, ``\\`` or ``..`` segments.

    A trailing ``/`` is dropped and repeated ``/`` collapse, so ``/app//x/``
    becomes ``/app/x`` and ``/`` becomes the empty prefix.

    Args:
        raw: a header value as a WSGI native string (its bytes as latin-1);
            the characters checked are those its bytes stand for, read as
            UTF-8 (bytes that are not UTF-8: read both as latin-1 and as
            U+FFFD). So a UTF-8 ``/à`` (bytes C3 A0) is accepted, and U+0085
            or U+00A0, as UTF-8 or as a lone latin-1 byte, is not.
        text: *raw* is text (the operator's ``script_name``), checked as it is.
    """
    value = raw.strip(_OWS)
    if "," in value:
        return None, _LIST
    if value and not value.startswith("/"):
        return None, "a prefix must be empty or start with '/'"
    offset = len(raw) - len(raw.lstrip(_OWS))
    problem = prefix_char_problem(value, offset) if text or value.isascii() else (
        _native_problem(value, offset))
    if problem:
        return None, problem
    segments = [s for s in value.split("/") if s]
    # URL parsers read a percent-encoded dot as a dot (WHATWG: '%2e%2e' is a
    # '..' segment), so an application that writes SCRIPT_NAME into a URL
    # unquoted would step out of the prefix with one; servers that decode
    # '%2f' before resolving dot segments (nginx) read '..%2f' as '../'; and
    # servlet containers (Tomcat) read '..;x' as '..' with a path parameter.
    if any(s.partition(";")[0] == ".." for s in (
            _decoded_segments(value) if "%" in value else segments)):
        return None, ("a prefix may not hold a '..' segment (nor '%2e%2e', '.%2e' or '%2e.', "
                      "nor one set off by '%2f' or '%5c', nor '..;')")
    return "".join("/" + s for s in segments), ""


#: Percent-encoded dots, slashes and semicolons, and what servers that decode
#: them before resolving dot segments (nginx; IIS for the backslash) read them as.
_DECODED = (("%2e", "."), ("%2f", "/"), ("%5c", "/"), ("%3b", ";"))


def _decoded_segments(value: str) -> list[str]:
    """The segments of *value* once ``%2e``, ``%2f``, ``%5c`` and ``%3b`` (any
    case) are decoded: ``/a/..%2fb`` holds a ``..`` segment for a server that
    decodes ``%2f`` before it resolves dot segments, as nginx does."""
    text = value.lower()
    for encoded, char in _DECODED:
        text = text.replace(encoded, char)
    return text.split("/")


def _native_problem(native: str, offset: int) -> str:
    """:func:`prefix_char_problem` of the characters a WSGI native string stands
    for: its bytes read as UTF-8; when they are not UTF-8, both as latin-1 (the
    string itself) and as UTF-8 with U+FFFD for each bad byte (as an ASGI
    ``root_path`` or a framework reads them), so neither reading holds one."""
    try:
        data = native.encode("latin-1")
    except UnicodeEncodeError:  # not a WSGI string of bytes: check it as text
        return prefix_char_problem(native, offset)
    try:
        return prefix_char_problem(data.decode("utf-8"), offset)
    except UnicodeDecodeError:
        return (prefix_char_problem(native, offset)
                or prefix_char_problem(data.decode("utf-8", "replace"), offset))


def wsgi_from_text(text: str) -> str:
    """*text* as a WSGI native string (PEP 3333): its UTF-8 bytes, read as latin-1.

    An operator's ``script_name`` is text (``/café``); ``SCRIPT_NAME``, like
    every environ value a server decodes from the request, holds bytes as
    latin-1 (``/cafÃ©``). ASCII is the same in both.
    """
    return text if text.isascii() else text.encode("utf-8").decode("latin-1")


def text_from_wsgi(native: str) -> str:
    """The text a WSGI native string's bytes stand for, read as UTF-8.

    The inverse of :func:`wsgi_from_text`, for ASGI's ``root_path`` and
    ``path``, which are text. Bytes that are not UTF-8 become U+FFFD, as ASGI
    servers decode a path; a str that is not latin-1 (never a header value)
    is returned as it is.
    """
    if native.isascii():
        return native
    try:
        raw = native.encode("latin-1")
    except UnicodeEncodeError:
        return native
    return raw.decode("utf-8", "replace")


def join_prefix(prefix: str, script_name: str, path_info: str,
                strip: bool) -> tuple[str, str]:
    """Prepend *prefix* to *script_name*; with *strip*, remove it from the
    front of *path_info* when it stands there on a segment boundary.

    Returns the new ``(script_name, path_info)``.
    """
    if strip and prefix and path_info.startswith(prefix) and (
            len(path_info) == len(prefix) or path_info[len(prefix)] == "/"):
        path_info = path_info[len(prefix):]
    return prefix + script_name, path_info
