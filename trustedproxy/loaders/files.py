"""A policy file in any of the three forms, its form told from its name or content."""

from __future__ import annotations

import os
import pathlib
import re
from typing import TYPE_CHECKING

from ..errors import ConfigError
from . import read_text

if TYPE_CHECKING:
    from ..policy import TrustPolicy

__all__ = ["FORMATS", "detect_format", "load_file"]

#: The forms a policy file can take.
FORMATS = ("yaml", "directives", "express")
_EXTENSIONS = {".yaml": "yaml", ".yml": "yaml", ".conf": "directives", ".htaccess": "directives",
               ".args": "express", ".sh": "express", ".express": "express"}
_DIRECTIVE_LINE = re.compile(r"^[ \t]*(?:wsgitrustedprox|#[ \t]*trustedproxy:)",
                             re.IGNORECASE | re.MULTILINE)
_APACHE_BLOCK = re.compile(r"^\s*<(VirtualHost|Location|Directory)", re.IGNORECASE | re.MULTILINE)
_EXPRESS_OPTION = re.compile(r"^[^#\n]*--trust-proxy", re.MULTILINE)  # not in a comment


def detect_format(path: str, text: str) -> str:
    """Say which form a policy file is in: from its extension (``.yaml``/``.yml``,
    ``.conf``/``.htaccess``, ``.args``/``.sh``/``.express``), else from its
    content (mod_wsgi directives or Apache blocks; ``--trust-proxy`` outside a
    ``#`` comment), else YAML."""
    by_extension = _EXTENSIONS.get(pathlib.PurePath(path).suffix.lower())
    if by_extension:
        return by_extension
    if _DIRECTIVE_LINE.search(text) or _APACHE_BLOCK.search(text):
        return "directives"
    if _EXPRESS_OPTION.search(text):
        return "express"
    return "yaml"


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
            policy, or a *block* for a file that is not in directive form.
    """
    from ..policy import TrustPolicy

    if format is not None and format not in FORMATS:
        msg = f"format must be one of {', '.join(map(repr, FORMATS))}, not {format!r}"
        raise ValueError(msg)
    name = os.fspath(path)
    text = read_text(name, "policy file")
    fmt = format or detect_format(name, text)
    if block is not None and fmt != "directives":
        msg = (f"block {block!r}: a block applies to directive files only "
               f"(this file is read as {fmt})")
        raise ConfigError(msg, source=name, value=block)
    if fmt == "yaml":  # the text read above, not the file again
        from .yaml import parse_yaml

        return parse_yaml(text, name, os.path.dirname(name))
    if fmt == "directives":
        return TrustPolicy.from_directives(text, source=name, block=block)
    return TrustPolicy.from_express_args(text, source=name)
