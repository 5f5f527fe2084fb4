"""Front-ends that turn configuration text into a :class:`~trustedproxy.TrustPolicy`."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import ConfigError, Problem

if TYPE_CHECKING:
    from ..policy import TrustPolicy

__all__ = ["MAX_FILE_SIZE", "add_warnings", "clip", "read_text", "refuse_file_name"]

#: The extensions of policy files (``from_file``), and ``.txt``.
_FILE_EXTENSIONS = (".conf", ".htaccess", ".args", ".sh", ".express", ".txt", ".yaml", ".yml")


#: The largest configuration file read (bytes): what is larger (``/dev/zero``)
#: is refused rather than read into memory.
MAX_FILE_SIZE = 16 << 20


def clip(text: str, limit: int = 40) -> str:
    """*text* for a message: as it is, or its first *limit* characters and
    ``...`` when it is longer (a value may be megabytes long)."""
    return text if len(text) <= limit else text[:limit] + "..."


def read_text(name: str, what: str, source: str = "") -> str:
    """Read a configuration file as UTF-8 (a BOM is dropped), its line ends as
    they are: a lone CR is not a line break to Apache or a shell, so it is not
    turned into one (each loader reads CRLF itself).

    Raises:
        ConfigError: ``cannot read <what>: <reason>`` (a file larger than
            :data:`MAX_FILE_SIZE` too) or ``not UTF-8 text``, with *source*
            (default: the file name) as its source.
    """
    if "\0" in name:  # open() raises ValueError, not OSError, for these
        msg = f"cannot read {what}: the path holds a NUL character"
        raise ConfigError(msg, source=source or name, value=name)
    try:
        with pathlib.Path(name).open("rb") as file:
            data = file.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        msg = f"cannot read {what}: {exc.strerror or exc}"
        raise ConfigError(msg, source=source or name, value=name) from None
    if len(data) > MAX_FILE_SIZE:
        msg = (f"cannot read {what}: larger than {MAX_FILE_SIZE >> 20} MiB, which no "
               "configuration file is")
        raise ConfigError(msg, source=source or name, value=name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text: {exc.reason}"
        raise ConfigError(msg, source=source or name) from None


def refuse_file_name(text: str, what: str, method: str, source: str) -> None:
    """Refuse configuration text that is a file name given as a ``str``.

    ``from_directives`` and ``from_express_args`` read a ``str`` as the
    configuration itself, so a file name given as one would load an empty
    policy without a word. Text that is a single word (no white space) and
    names an existing file, holds ``/`` or ``\\``, or ends in a policy file
    extension is taken for such a mistake. A word starting with ``-``, ``#``
    or ``<`` (an option, a comment, an Apache section) is not.

    Raises:
        ConfigError: saying the text was read as *what*, not as a file, and
            how to load the file.
    """
    word = text.strip()
    if not word or any(ch.isspace() for ch in word) or word[0] in "-#<":
        return
    if os.path.isfile(word):
        reason = "it names an existing file"
    elif "/" in word or "\\" in word:
        reason = "it holds a path separator"
    elif word.lower().endswith(_FILE_EXTENSIONS):
        reason = "it ends in a file extension"
    else:
        return
    msg = (f"{word!r} was read as {what}, not as a file ({reason}): a str is the "
           f"configuration itself; to load a file, pass a pathlib.Path "
           f"(TrustPolicy.{method}(pathlib.Path({word!r}))) or use "
           f"TrustPolicy.from_file({word!r})")
    raise ConfigError(msg, source=source, value=word)


def add_warnings(policy: TrustPolicy, warnings: Sequence[Problem]) -> TrustPolicy:
    """Return *policy*, just made by a loader, with the loader's own *warnings*
    (what it did not read, and why) after the policy's: ``check`` prints them
    and the middleware logs them, as it does the policy's own."""
    if warnings:
        object.__setattr__(policy, "_warnings", (*policy.warnings(), *warnings))
    return policy
