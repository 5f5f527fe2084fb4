"""TrustPolicy: what an operator trusts, validated once, compared by meaning.

Every way of writing a policy (Python, YAML, mod_wsgi directives) ends in
:class:`TrustPolicy`'s constructor, so every front-end gets the same checks
and the same error messages.
"""

from __future__ import annotations

import difflib
import os
import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .addresses import V6, Matcher, NetworkError, format_interval, merge, parse_network
from .errors import ConfigError, Problem
from .headers import HEADERS, Group, HeaderSpec, custom_spec, header_name_problem
from .ranges import NAMED_RANGES, NOT_PUBLIC
from .values import parse_prefix

if TYPE_CHECKING:
    from .engine import TrustEngine

__all__ = ["DEFAULT_MAX_HOPS", "MAX_HOPS_RANGE", "Located", "TrustPolicy"]

#: How many X-Forwarded-For elements the walk passes at most, by default.
DEFAULT_MAX_HOPS = 32
#: The values ``max_hops`` may take (inclusive).
MAX_HOPS_RANGE = (1, 1024)
#: How the problem "trusted headers, no trusted proxies" starts: the loaders
#: recognise it by this (they drop or reword it), so its wording lives here.
NO_PROXIES = "trusted headers but no trusted proxies"



@dataclass(frozen=True, slots=True)
class Located:
    """A configuration value and where it was written (``trust.yaml:7``).

    Loaders wrap values in it so that errors and warnings name the place.
    """

    value: object
    source: str


def _not_public() -> Matcher:
    return Matcher(merge((n.first, n.last) for n in map(parse_network, NOT_PUBLIC)))


_NOT_PUBLIC = _not_public()

#: Public networks warned about one by one; the rest share one warning, so a
#: CDN's published list (thousands of networks) does not log thousands of lines.
MAX_PUBLIC_WARNINGS = 10


_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 4
_REPR.maxother = 60


def _shown(value: object) -> str:
    """A configuration value as a message shows it: ``repr``, but a value that
    is not text is cut short (a YAML alias can expand to millions of items, and
    Python refuses to write an integer of more than 4300 digits)."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    return _REPR.repr(value)


def _text(value: object) -> str:
    """A configuration value as a :class:`Problem`'s value: text as it is,
    anything else as :func:`_shown` shows it."""
    return value if isinstance(value, str) else _shown(value)


def _unwrap(raw: object, where: str) -> tuple[object, str]:
    """A configuration value and where it was written: a :class:`Located`'s own
    place, or *where* for a plain value."""
    return (raw.value, raw.source) if isinstance(raw, Located) else (raw, where)


def _items(values: object, field: str, source: str) -> tuple[Iterable[Located], list[Problem]]:
    """Unwrap a list field into located items, refusing a bare string."""
    values, where = _unwrap(values, source or field)
    if isinstance(values, (str, bytes)):
        # "a, b" (or "a b", as directives write it) is the list [a, b]; suggest
        # that, since a one-item list of the whole string is as wrong.
        text = values.decode("latin-1") if isinstance(values, bytes) else values
        suggested = ", ".join(repr(part) for part in re.split(r"[,\s]+", text) if part)
        return [], [Problem(where, text, f"{field} must be a list, not a single string: "
                                         f"write [{suggested}]")]
    if not isinstance(values, Iterable):
        return [], [Problem(where, None, f"{field} must be a list, not {type(values).__name__}")]
    # Lazily: each item is wrapped as the caller reaches it, so a list of
    # 100,000 networks never holds 100,000 wrappers at once.
    return (item if isinstance(item, Located) else Located(item, source or f"{field}[{i}]")
            for i, item in enumerate(values)), []


class TrustPolicy:
    """Which proxies to trust, which forwarded headers to believe from them,
    and how to apply them.

    A policy is immutable and hashable. Two policies are equal when they mean
    the same thing however they were written: networks are merged and
    normalised (``10.0.0.1/8`` is ``10.0.0.0/8``; ``10.0.0.0/9`` plus
    ``10.128.0.0/9`` is ``10.0.0.0/8``) and header names are compared without
    regard to case.

    Args:
        trusted_proxies: addresses and CIDR networks, IPv4 and IPv6, of the
            proxies whose forwarded headers are believed, or named ranges
            (``loopback``, ``private``, ``linklocal``, ``cgnat``; see
            :data:`trustedproxy.ranges.NAMED_RANGES`). Trusting every peer
            must be written out as ``0.0.0.0/0`` and ``::/0``.
        trusted_headers: at most one header of each group (see
            :data:`trustedproxy.headers.HEADERS`), e.g.
            ``["X-Forwarded-For", "X-Forwarded-Proto"]``.
        script_name: a fixed prefix for every request, for a proxy that sends
            no prefix header; a trusted prefix header, when valid, wins.
        strip_prefix_from_path: remove the prefix from the front of
            ``PATH_INFO`` too, for proxies that pass the full path through.
        trust_unix_socket: treat a peer that is not an IP address (a Unix
            socket: empty, a path, ``unix:``) as a trusted proxy. A malformed
            address (``127.0.0.1:8080``, ``[::1]``) is never trusted.
        max_hops: the most X-Forwarded-For elements walked past (trusted
            proxies); elements further left are never read, so a huge header
            costs no more than a normal one. 1-1024, default 32.
        custom_headers: further header names registered into a group, as
            ``{"CF-Connecting-IP": "client"}``: they are removed like the
            built-in ones and may be trusted (one header per group still).
            A client header holds one address, a scheme header a word
            (http/https), the others as their group's built-in headers.
            Names compare without regard to case; a name given twice (in
            any case), ``Host`` and the headers HTTP or the client sets
            (``Content-Type``, ``Cookie``...) are refused.
        hop_aligned: for proxies that append to single-valued headers as they
            append to X-Forwarded-For (``X-Forwarded-Proto: https, http``), take
            from each list the value the outermost trusted proxy wrote, located
            by the X-Forwarded-For walk. Needs X-Forwarded-For trusted.

    Raises:
        ConfigError: listing every problem found, each with its source, the
            offending value and what would be valid.

    Example::

        policy = TrustPolicy(
            trusted_proxies=["10.0.0.0/8", "192.0.2.10"],
            trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"],
        )
    """

    __slots__ = ("_custom", "_engine", "_headers", "_intervals", "_proxies", "_table",
                 "_warnings", "hop_aligned",
                 "max_hops",
                 "script_name", "strip_prefix_from_path", "trust_unix_socket")

    _intervals: tuple[tuple[int, int], ...]
    _headers: tuple[str, ...]
    script_name: str
    strip_prefix_from_path: bool
    trust_unix_socket: bool
    max_hops: int
    hop_aligned: bool
    _custom: tuple[tuple[str, str], ...]
    _table: MappingProxyType[str, HeaderSpec]
    _warnings: tuple[Problem, ...]
    _proxies: tuple[str, ...] | None
    _engine: TrustEngine | None

    def __init__(
        self,
        *,
        trusted_proxies: Iterable[str] | Any = (),
        trusted_headers: Iterable[str] | Any = (),
        script_name: str | Any = "",
        strip_prefix_from_path: bool | Any = False,
        trust_unix_socket: bool | Any = False,
        max_hops: int | Any = DEFAULT_MAX_HOPS,
        hop_aligned: bool | Any = False,
        custom_headers: Mapping[str, str] | Any = (),
        _source: str = "",
        _partial_ipv4: bool = False,
    ) -> None:
        errors: list[Problem] = []
        warnings: list[Problem] = []

        proxies, problems = _items(trusted_proxies, "trusted_proxies", _source)
        errors += problems
        proxies_failed = bool(problems)  # not a list: "no trusted proxies" would be noise
        intervals: list[tuple[int, int]] = []
        public = 0
        whole: set[int] = set()  # the families one network covers whole
        for item in proxies:
            if isinstance(item.value, str) and item.value.lower() in NAMED_RANGES:
                # A named range stands for its networks; it is private by definition.
                intervals.extend((n.first, n.last) for n in map(
                    parse_network, NAMED_RANGES[item.value.lower()]))
                continue
            try:
                network = parse_network(item.value, partial_ipv4=_partial_ipv4)
            except NetworkError as exc:
                hint = ""
                if isinstance(item.value, str) and item.value.isalpha():
                    hint = " (named ranges: " + ", ".join(NAMED_RANGES) + ")"
                errors.append(Problem(item.source, _text(item.value),
                                      f"invalid trusted proxy {_shown(item.value)}: {exc}{hint}"))
                continue
            intervals.append((network.first, network.last))
            for note in network.notes:
                warnings.append(Problem(item.source, str(item.value),
                                        f"trusted proxy {item.value!r}: {note}"))
            if network.first == 0 and network.last == (1 << 32) - 1:
                whole.add(4)
                warnings.append(Problem(item.source, network.text,
                                        "trusts every IPv4 address: any client can forge "
                                        "forwarded headers unless the port is firewalled"))
            elif network.last - network.first == (1 << 128) - 1:
                whole.add(6)
                warnings.append(Problem(item.source, network.text,
                                        "trusts every IPv6 address: any client can forge "
                                        "forwarded headers unless the port is firewalled"))
            elif not _NOT_PUBLIC.covers(network.first, network.last):
                public += 1
                if public <= MAX_PUBLIC_WARNINGS:
                    warnings.append(Problem(item.source, network.text,
                                            f"trusted proxy {network.text} is (partly) a "
                                            "public range: make sure only your proxies can "
                                            "connect from it"))
        if public > MAX_PUBLIC_WARNINGS:
            warnings.append(Problem(_source or "trusted_proxies", None,
                                    f"{public - MAX_PUBLIC_WARNINGS:,} more trusted proxies "
                                    "are (partly) public ranges: make sure only your proxies "
                                    "can connect from them"))

        table, custom = _custom_table(custom_headers, _source, errors)
        headers_where = _unwrap(trusted_headers, _source or "trusted_headers")[1]
        headers, problems = _items(trusted_headers, "trusted_headers", _source)
        errors += problems
        names: dict[str, Located] = {}
        by_group: dict[Group, Located] = {}
        for item in headers:
            problem = header_name_problem(item.value)
            if problem:
                errors.append(Problem(item.source, _text(item.value),
                                      f"invalid header name {_shown(item.value)}: {problem}"))
                continue
            assert isinstance(item.value, str)
            spec = table.get(item.value.lower())
            if spec is None:
                close = difflib.get_close_matches(
                    item.value.lower(), list(table), n=1, cutoff=0.6)
                hint = f"did you mean {table[close[0]].name!r}?" if close else (
                    "known headers: " + ", ".join(s.name for s in table.values()) +
                    "; register others with custom_headers")
                errors.append(Problem(item.source, item.value,
                                      f"unknown header {item.value!r}: {hint}"))
                continue
            if spec.key in names:
                continue  # the same header twice says nothing new
            names[spec.key] = item
            for group in spec.groups:
                other = by_group.get(group)
                if other is not None:
                    errors.append(Problem(
                        item.source, item.value,
                        f"{item.value!r} and {other.value!r} are both in the {group.value} "
                        f"group: trust one header per group (mod_wsgi would let the last one "
                        f"win silently); keep the one your proxy sets and drop the other"))
                else:
                    by_group[group] = item

        raw_script, script_source = _unwrap(script_name, _source or "script_name")
        prefix = ""
        if raw_script is None:
            raw_script = ""
        if not isinstance(raw_script, str):
            errors.append(Problem(script_source, _shown(raw_script),
                                  f"script_name must be a string such as '/myapp', "
                                  f"not {type(raw_script).__name__}"))
        else:
            normal, reason = parse_prefix(raw_script, text=True)
            if normal is None:
                errors.append(Problem(script_source, raw_script,
                                      f"invalid script_name {raw_script!r}: {reason}"))
            else:
                prefix = normal

        flags: dict[str, bool] = {}
        where_flag: dict[str, str] = {}
        for field, raw in (("strip_prefix_from_path", strip_prefix_from_path),
                           ("trust_unix_socket", trust_unix_socket),
                           ("hop_aligned", hop_aligned)):
            value, where = _unwrap(raw, _source or field)
            where_flag[field] = where
            if not isinstance(value, bool):
                errors.append(Problem(where, _shown(value),
                                      f"{field} must be true or false, not {_shown(value)}"))
                value = False
            flags[field] = value

        hops, hops_source = _unwrap(max_hops, _source or "max_hops")
        low, high = MAX_HOPS_RANGE
        if isinstance(hops, bool) or not isinstance(hops, int) or not low <= hops <= high:
            errors.append(Problem(hops_source, _shown(hops),
                                  f"max_hops must be a whole number from {low} to {high}, "
                                  f"not {_shown(hops)}"))
            hops = DEFAULT_MAX_HOPS

        merged = merge(intervals)
        # Networks that cover a family whole only together (0.0.0.0/1 and
        # 128.0.0.0/1, as to_directives writes 0.0.0.0/0 for Apache) trust it all too.
        for family, first, last in ((4, 0, (1 << 32) - 1), (6, V6, V6 + (1 << 128) - 1)):
            if family not in whole and any(a <= first and last <= b for a, b in merged):
                warnings.append(Problem(_source or "trusted_proxies", None,
                                        f"together, the trusted proxies trust every IPv{family} "
                                        "address: any client can forge forwarded headers "
                                        "unless the port is firewalled"))
        if (names and not merged and not flags["trust_unix_socket"] and not proxies_failed
                and not any(p.message.startswith("invalid trusted proxy") for p in errors)):
            errors.append(Problem(
                headers_where, None,
                f"{NO_PROXIES}: list the proxies' addresses in "
                "trusted_proxies (mod_wsgi would then believe these headers from every "
                "client); to trust every peer, write '0.0.0.0/0' and '::/0' explicitly"))
        if flags["hop_aligned"] and "x-forwarded-for" not in names:
            errors.append(Problem(where_flag["hop_aligned"], None,
                                  "hop_aligned needs X-Forwarded-For in trusted_headers: the "
                                  "walk over it locates each proxy's value in the lists"))
        if errors:
            raise ConfigError(errors)
        if not (merged or flags["trust_unix_socket"] or names or prefix):
            # Legal (every forwarded header is removed), but what an empty or
            # misread file, or a file name taken for configuration text, gives.
            # A script_name alone is a policy (SPEC.md section 5): no warning.
            warnings.append(Problem(_source or "trusted_proxies", None,
                                    "no trusted proxies and no trusted headers: this policy "
                                    "trusts no peer and removes every forwarded header"))
        if (merged or flags["trust_unix_socket"]) and not names:
            warnings.append(Problem(_source or "trusted_headers", None,
                                    "trusted proxies but no trusted headers: nothing is "
                                    "rewritten, and every forwarded header is removed"))
        if flags["strip_prefix_from_path"] and not prefix and Group.PREFIX not in by_group:
            warnings.append(Problem(_source or "strip_prefix_from_path", None,
                                    "strip_prefix_from_path does nothing without script_name "
                                    "or a trusted prefix header"))

        order = list(table)
        set_ = object.__setattr__
        set_(self, "_intervals", merged)
        set_(self, "_headers", tuple(table[k].name for k in sorted(names, key=order.index)))
        set_(self, "_custom", custom)
        set_(self, "_table", table)
        set_(self, "script_name", prefix)
        set_(self, "strip_prefix_from_path", flags["strip_prefix_from_path"])
        set_(self, "trust_unix_socket", flags["trust_unix_socket"])
        set_(self, "max_hops", hops)
        set_(self, "hop_aligned", flags["hop_aligned"])
        set_(self, "_warnings", tuple(warnings))
        set_(self, "_proxies", None)
        set_(self, "_engine", None)

    # ----------------------------------------------------------------- value object

    def __setattr__(self, name: str, value: object) -> None:
        msg = "TrustPolicy is immutable"
        raise AttributeError(msg)

    def __delattr__(self, name: str) -> None:
        msg = "TrustPolicy is immutable"
        raise AttributeError(msg)

    def _key(self) -> tuple[object, ...]:
        # Header names compare without regard to case: a custom header keeps the
        # spelling it was registered with, for display, but not for meaning.
        return (self._intervals, tuple(name.lower() for name in self._headers),
                self.script_name, self.strip_prefix_from_path, self.trust_unix_socket,
                self.max_hops, self.hop_aligned,
                tuple((name.lower(), group) for name, group in self._custom))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrustPolicy):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        proxies = self.trusted_proxies
        shown = ", ".join(map(repr, proxies[:8])) + (
            f", ... ({len(proxies) - 8} more)" if len(proxies) > 8 else "")
        args = [f"trusted_proxies=[{shown}]",
                f"trusted_headers={list(self.trusted_headers)!r}"]
        if self.script_name:
            args.append(f"script_name={self.script_name!r}")
        if self.strip_prefix_from_path:
            args.append("strip_prefix_from_path=True")
        if self.trust_unix_socket:
            args.append("trust_unix_socket=True")
        if self.max_hops != DEFAULT_MAX_HOPS:
            args.append(f"max_hops={self.max_hops}")
        if self.hop_aligned:
            args.append("hop_aligned=True")
        if self._custom:
            args.append(f"custom_headers={self.custom_headers!r}")
        return f"TrustPolicy({', '.join(args)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the canonical values; the warnings (with their file:line,
        # and a loader's own) are carried as they are, not recomputed from them.
        return (_rebuild, (self.trusted_proxies, self.trusted_headers, self.script_name,
                           self.strip_prefix_from_path, self.trust_unix_socket, self.max_hops,
                           self.hop_aligned, self.custom_headers), self._warnings)

    def __setstate__(self, state: tuple[Problem, ...]) -> None:
        object.__setattr__(self, "_warnings", tuple(state))

    # ----------------------------------------------------------------- accessors

    @property
    def trusted_proxies(self) -> tuple[str, ...]:
        """The trusted networks, merged and in canonical CIDR form (a single
        address is written without ``/32`` or ``/128``)."""
        if self._proxies is None:
            object.__setattr__(self, "_proxies", tuple(
                cidr for first, last in self._intervals for cidr in format_interval(first, last)))
        assert self._proxies is not None
        return self._proxies

    @property
    def trusted_headers(self) -> tuple[str, ...]:
        """The trusted header names, canonical spelling, in table order."""
        return self._headers

    @property
    def intervals(self) -> tuple[tuple[int, int], ...]:
        """The trusted networks as merged ``(first, last)`` integer keys
        (see :mod:`trustedproxy.addresses`)."""
        return self._intervals

    @property
    def custom_headers(self) -> dict[str, str]:
        """The registered custom headers, ``{name: group}``."""
        return dict(self._custom)

    @property
    def headers(self) -> MappingProxyType[str, HeaderSpec]:
        """Every header this policy knows (built-in and custom), by lower-case
        name: all of them are removed unless trusted."""
        return self._table

    def warnings(self) -> tuple[Problem, ...]:
        """What is legal but probably not meant: compatibility readings of
        values, trusting every address or a public range, a policy that does
        nothing. :class:`~trustedproxy.TrustedProxyMiddleware` logs them."""
        return self._warnings

    def compile(self) -> TrustEngine:
        """Return the compiled engine for this policy (built once, then shared)."""
        if self._engine is None:
            from .engine import TrustEngine

            object.__setattr__(self, "_engine", TrustEngine(self))
        assert self._engine is not None
        return self._engine

    # ----------------------------------------------------------------- front-ends

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> TrustPolicy:
        """Load a policy from a YAML file (a path) or from YAML text.

        Args:
            source: a path (an :class:`os.PathLike`, or a string with no line
                break that names an existing file or ends in
                ``.yaml``/``.yml``), or the YAML text itself.

        Returns:
            The policy. ``trusted_proxies_files`` paths are relative to the
            file (to the current directory for YAML given as text).

        Raises:
            ConfigError: naming the file and line of every problem.
        """
        from .loaders.yaml import load_yaml

        return load_yaml(source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, format: str | None = None,
                  block: str | None = None) -> TrustPolicy:
        """Load a policy file in any of the three forms: YAML, mod_wsgi directives or
        mod_wsgi-express arguments.

        The form comes from the extension (``.yaml``/``.yml``, ``.conf``/``.htaccess``,
        ``.args``/``.sh``/``.express``), else from the content (a ``WSGITrustedProxies``
        line or an Apache block means directives, ``--trust-proxy`` express
        arguments, ``# trustedproxy:`` option lines in a file of only comments
        directives), else YAML.

        Args:
            path: the file.
            format: ``"yaml"``, ``"directives"`` or ``"express"`` to say the
                form instead of guessing it.
            block: for directives, as for :meth:`from_directives`.

        Returns:
            The policy.

        Raises:
            ValueError: for an unknown *format*.
            ConfigError: for a file that cannot be read or holds an invalid policy,
                naming the file and line (or argument) of every problem.
        """
        from .loaders.files import load_file

        return load_file(path, format=format, block=block)

    @classmethod
    def from_directives(cls, text: str | os.PathLike[str], *, source: str | None = None,
                        block: str | None = None) -> TrustPolicy:
        """Load a policy from mod_wsgi ``WSGITrustedProxies`` /
        ``WSGITrustedProxyHeaders`` directive text (or a file, given as a path object).

        Other Apache directives are ignored, so a whole virtual host file can
        be given; *block* (``"Location /api"``) selects one block's directives
        when blocks disagree. Partial IPv4 (``127.0.0``) is read as mod_wsgi
        reads it, with a warning. A ``str`` is the text itself: one that looks
        like a file name is refused (pass a :class:`pathlib.Path`, or use
        :meth:`from_file`).

        Args:
            text: the directive text, or a :class:`os.PathLike` naming a file.
            source: the name used in messages (default: the path, or
                ``<directives>``).
            block: which block's directives to use when blocks disagree, e.g.
                ``"Location /api"``, ``"/api"`` or
                ``"VirtualHost *:443 > Location /api"``.

        Returns:
            The policy.

        Example::

            TrustPolicy.from_directives("WSGITrustedProxies 10.0.0.0/8\\n"
                                        "WSGITrustedProxyHeaders X-Forwarded-For")

        Raises:
            ConfigError: naming ``source:line`` and the directive of every problem.
        """
        from .loaders.directives import load_directives

        return load_directives(text, source=source, block=block)

    @classmethod
    def from_express_args(cls, argv: Sequence[str] | str | os.PathLike[str], *,
                          source: str | None = None) -> TrustPolicy:
        """Load a policy from mod_wsgi-express ``--trust-proxy`` and
        ``--trust-proxy-header`` arguments.

        *argv* is a list of arguments or one shell command line (a ``str``
        that looks like a file name is refused: pass a :class:`pathlib.Path`
        for a file); other arguments are ignored, so a whole
        ``mod_wsgi-express start-server`` command can be given.

        Args:
            argv: a list of arguments, one shell command line, or a
                :class:`os.PathLike` naming a file that holds one.
            source: the name used in messages (default ``argv`` for a list,
                ``<args>`` for a string, the path for a file).

        Returns:
            The policy.

        Example::

            TrustPolicy.from_express_args(["--trust-proxy", "10.0.0.0/8",
                                           "--trust-proxy-header", "X-Forwarded-For"])

        Raises:
            ConfigError: naming the argument and option of every problem.
        """
        from .loaders.express import load_express_args

        return load_express_args(argv, source=source)

    def to_yaml(self) -> str:
        """Return this policy as YAML text; :meth:`from_yaml` reads it back equal."""
        from .loaders.writers import to_yaml

        return to_yaml(self)

    def to_directives(self) -> str:
        """Return this policy as mod_wsgi directive lines; :meth:`from_directives`
        reads them back equal.

        Options mod_wsgi has no directive for are written as
        ``# trustedproxy: NAME VALUE`` comment lines: Apache ignores them,
        trustedproxy reads them.

        Raises:
            ConfigError: if the policy registers custom headers, or trusts
                headers from Unix-socket peers only (mod_wsgi would read the
                headers line alone as "trust every client").
        """
        from .loaders.writers import to_directives

        return to_directives(self)

    def to_express_args(self) -> list[str]:
        """Return this policy as mod_wsgi-express arguments;
        :meth:`from_express_args` reads them back equal.

        Raises:
            ConfigError: if the policy sets ``script_name``,
                ``strip_prefix_from_path``, ``trust_unix_socket``, ``max_hops``,
                ``hop_aligned`` or custom headers, which mod_wsgi-express
                cannot express.
        """
        from .loaders.writers import to_express_args

        return to_express_args(self)


def _rebuild(proxies: Sequence[str], headers: Sequence[str], script_name: str,
             strip: bool, unix: bool, max_hops: int, hop_aligned: bool,
             custom: Mapping[str, str]) -> TrustPolicy:
    return TrustPolicy(trusted_proxies=proxies, trusted_headers=headers,
                       script_name=script_name, strip_prefix_from_path=strip,
                       trust_unix_socket=unix, max_hops=max_hops, hop_aligned=hop_aligned,
                       custom_headers=custom)


#: Request headers that are not forwarded headers: HTTP itself or the client sets them,
#: and the server and the application read them. Registering one as a custom header
#: would remove it from every request of an untrusted peer (``Host``: ``HTTP_HOST``),
#: so it is refused. In WSGI, Content-Type and Content-Length are not even ``HTTP_``
#: keys; in ASGI they are headers like any other.
_NOT_FORWARDED = frozenset({
    "accept", "accept-charset", "accept-encoding", "accept-language", "authorization",
    "cache-control", "connection", "content-encoding", "content-language", "content-length",
    "content-location", "content-range", "content-type", "cookie", "date", "expect", "from",
    "host", "http2-settings", "if-match", "if-modified-since", "if-none-match", "if-range",
    "if-unmodified-since", "keep-alive", "max-forwards", "origin", "pragma", "priority",
    "proxy-authorization", "proxy-connection", "range", "referer", "sec-websocket-extensions",
    "sec-websocket-key", "sec-websocket-protocol", "sec-websocket-version", "te", "trailer",
    "transfer-encoding", "upgrade", "user-agent",
})


def _same_file_line(first: str, where: str) -> str:
    """Where *first* is, said from *where*: ``line 6`` in the same file, else in full."""
    head, _, line = first.rpartition(":")
    if line.isdigit() and head == where.rpartition(":")[0]:
        return f"line {line}"
    return first


def _custom_table(custom: object, source: str, errors: list[Problem]
                  ) -> tuple[MappingProxyType[str, HeaderSpec], tuple[tuple[str, str], ...]]:
    """Validate ``custom_headers``; return the whole header table and the
    canonical ``(name, group)`` pairs."""
    value, where = _unwrap(custom, source or "custom_headers")
    if not value:
        return HEADERS, ()
    if not isinstance(value, Mapping):
        errors.append(Problem(where, None, "custom_headers must be a mapping of header name "
                                           "to group, e.g. {'CF-Connecting-IP': 'client'}, "
                                           f"not {type(value).__name__}"))
        return HEADERS, ()
    groups = {g.value: g for g in Group}
    table = dict(HEADERS)
    pairs = []
    first: dict[str, tuple[str, str]] = {}  # lower-case name: (name as given, its source)
    for raw_name, raw_group in value.items():
        name, name_where = _unwrap(raw_name, where)
        group, group_where = _unwrap(raw_group, where)
        problem = header_name_problem(name)
        if problem:
            errors.append(Problem(name_where, _text(name),
                                  f"invalid custom header name {_shown(name)}: {problem}"))
            continue
        assert isinstance(name, str)
        key = name.lower()
        if key in first:
            # Header names are case-insensitive: a second spelling would silently
            # replace the first registration (and its group).
            earlier, earlier_where = first[key]
            said = [f"at {_same_file_line(earlier_where, name_where)}"] if (
                earlier_where != name_where) else []
            if earlier != name:
                said.append(f"as {earlier!r}; header names are case-insensitive")
            errors.append(Problem(name_where, name,
                                  f"custom header {name!r} is given twice"
                                  + (f" (first {', '.join(said)})" if said else "")
                                  + ": write it once"))
            continue
        first[key] = (name, name_where)
        if key in HEADERS:
            known = HEADERS[key]
            errors.append(Problem(name_where, name, f"custom header {name!r} is already known, "
                                                    f"as {known.name} in the "
                                                    f"{'/'.join(g.value for g in known.groups)}"
                                                    " group"))
            continue
        if key == "host":
            errors.append(Problem(name_where, name,
                                  f"custom header {name!r} is the request's own Host header, "
                                  "not a forwarded one: registering it would remove HTTP_HOST "
                                  "from every request of an untrusted peer; to take the host "
                                  "from your proxy, trust X-Forwarded-Host (or register the "
                                  "header your proxy sends it in, e.g. X-Original-Host)"))
            continue
        if key in _NOT_FORWARDED:
            errors.append(Problem(name_where, name,
                                  f"custom header {name!r} is not a forwarded header (HTTP "
                                  "or the client sets it, and the server or application "
                                  "reads it): registering it would remove it from every "
                                  "request of an untrusted peer; register only headers your "
                                  "proxy adds, such as CF-Connecting-IP"))
            continue
        if not isinstance(group, str) or group not in groups:
            close = difflib.get_close_matches(_text(group), list(groups), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "groups: " + ", ".join(groups)
            errors.append(Problem(group_where, _text(group),
                                  f"custom header {name!r}: unknown group {_shown(group)}: "
                                  f"{hint}"))
            continue
        spec = custom_spec(name, groups[group])
        table[spec.key] = spec
        pairs.append((name, str(group)))
    # Custom headers in name order, so that the order they were given in
    # changes neither trusted_headers nor equality.
    table = {**HEADERS, **{k: table[k] for k in sorted(table) if k not in HEADERS}}
    return MappingProxyType(table), tuple(sorted(pairs, key=lambda p: p[0].lower()))


def adapter_policy(policy: TrustPolicy | str | os.PathLike[str]) -> TrustPolicy:
    """The policy an adapter was given: *policy* itself, or the policy of the
    file it names (YAML, directives or express arguments, as
    :meth:`TrustPolicy.from_file` tells them); its warnings are logged once, at
    WARNING.

    Raises:
        TypeError: for anything else.
        ConfigError: for a file that does not hold a valid policy.
    """
    import logging

    if isinstance(policy, (str, os.PathLike)):
        policy = TrustPolicy.from_file(policy)
    elif not isinstance(policy, TrustPolicy):
        msg = f"policy must be a TrustPolicy or a path, not {type(policy).__name__}"
        raise TypeError(msg)
    for warning in policy.warnings():
        logging.getLogger("trustedproxy").warning("trusted proxy policy: %s", warning)
    return policy
