"""Front-ends that turn configuration text into a :class:`~trustedproxy.TrustPolicy`."""

from __future__ import annotations

import pathlib

from ..errors import ConfigError

__all__ = ["read_text"]


def read_text(name: str, what: str, source: str = "") -> str:
    """Read a configuration file as UTF-8 (a BOM is dropped).

    Raises:
        ConfigError: ``cannot read <what>: <reason>`` or ``not UTF-8 text``,
            with *source* (default: the file name) as its source.
    """
    try:
        return pathlib.Path(name).read_text(encoding="utf-8-sig")
    except OSError as exc:
        msg = f"cannot read {what}: {exc.strerror or exc}"
        raise ConfigError(msg, source=source or name, value=name) from None
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text: {exc.reason}"
        raise ConfigError(msg, source=source or name) from None
