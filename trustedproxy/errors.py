"""Everything trustedproxy raises.

::

    TrustedProxyError            base class; never raised directly
    └── ConfigError(ValueError)  the operator's mistake, found at load time

Nothing a client sends raises: request-time problems are recorded in the
:class:`~trustedproxy.Decision` and logged at DEBUG level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ConfigError", "Problem", "TrustedProxyError"]


class TrustedProxyError(Exception):
    """Base class of every exception trustedproxy raises."""

    def __init__(self, *args: object) -> None:
        if type(self) is TrustedProxyError:
            msg = "TrustedProxyError is abstract: raise a subclass"
            raise TypeError(msg)
        super().__init__(*args)


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a configuration: an error or a warning.

    Attributes:
        source: where it is, e.g. ``trust.yaml:7``, ``vhost.conf:12``,
            ``argv[3]`` or ``trusted_proxies[2]``.
        value: the offending text, or ``None`` when no single value is at fault.
        message: what is wrong and what would be valid.
    """

    source: str
    value: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


class ConfigError(TrustedProxyError, ValueError):
    """A configuration is invalid; raised at load time, never per request.

    ``str(error)`` lists every problem found, one a line, each in the form
    ``source: message``.

    Args:
        problems: the problems found, or one message as a string (then
            *source* and *value* say where it is and what is at fault).
        source: for a single message, where it is.
        value: for a single message, the offending value.

    Raises:
        TypeError: if *problems* is empty.

    Attributes:
        problems: every problem found (at least one).
        source: the source of the first problem.
        value: the offending value of the first problem.
    """

    def __init__(self, problems: Iterable[Problem] | str, *, source: str = "",
                 value: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(source, value, problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            msg = "ConfigError needs at least one problem"
            raise TypeError(msg)
        self.source = self.problems[0].source
        self.value = self.problems[0].value
        super().__init__("\n".join(str(p) for p in self.problems))
