"""YAML policy files (``yaml.safe_load`` semantics only; no Python tags)."""

from __future__ import annotations

import difflib
import os
import pathlib

import yaml

from ..errors import ConfigError
from ..policy import TrustPolicy

__all__ = ["KEYS", "load_yaml"]

#: The keys a YAML policy may hold.
KEYS = ("trusted_proxies", "trusted_headers", "script_name", "strip_prefix_from_path",
        "trust_unix_socket")


def _is_path(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    if "\n" in source:
        return False
    return source.endswith((".yaml", ".yml")) or os.path.isfile(source)


def load_yaml(source: str | os.PathLike[str]) -> TrustPolicy:
    """Load a policy from a YAML file path or YAML text.

    Raises:
        ConfigError: naming the file of every problem.
    """
    if _is_path(source):
        name = os.fspath(source)
        try:
            text = pathlib.Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"cannot read policy file: {exc.strerror or exc}"
            raise ConfigError(msg, source=name, value=name) from None
        except UnicodeDecodeError as exc:
            msg = f"not UTF-8 text: {exc.reason}"
            raise ConfigError(msg, source=name) from None
    else:
        name, text = "<yaml>", str(source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc)
        msg = f"invalid YAML: {problem}"
        raise ConfigError(msg, source=where) from None
    if data is None:
        msg = "empty policy file: expected a mapping with trusted_proxies and trusted_headers"
        raise ConfigError(msg, source=name)
    if not isinstance(data, dict):
        msg = (f"a policy file must be a mapping (key: value lines), "
               f"not {type(data).__name__}")
        raise ConfigError(msg, source=name)
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        key = str(unknown[0])
        close = difflib.get_close_matches(key, KEYS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "valid keys: " + ", ".join(KEYS)
        msg = f"unknown key {key!r}: {hint}"
        raise ConfigError(msg, source=name, value=key)
    return TrustPolicy(_source=name, **data)
