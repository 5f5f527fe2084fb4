"""The WSGI adapter: the only module that reads or writes a WSGI environ.

It hands the TCP peer and the forwarded headers present to the engine, then
applies the :class:`~trustedproxy.Decision`: removes what is not vouched for,
rewrites what is, and keeps every original value in
``environ["trustedproxy.orig"]``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._compiled import speedups
from .engine import Decision, Hop
from .errors import ConfigError
from .headers import HEADERS, Kind, environ_key
from .policy import TrustPolicy, adapter_policy
from .values import join_prefix

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    class _Base:
        """What the compiled base class (``_speedups.Core``) offers, for type checkers."""

        def __call__(self, environ: WSGIEnvironment,
                     start_response: StartResponse) -> Iterable[bytes]: ...
        def _setup(self, **config: Any) -> None: ...
        def _clear_caches(self) -> None: ...
        def _decide(self, environ: WSGIEnvironment) -> Decision: ...
else:
    _Base = object if speedups is None else speedups.Core

__all__ = ["ORIG_KEY", "DECISION_KEY", "SPEEDUPS", "TrustedProxyMiddleware", "apply_decision"]

#: Whether requests take the compiled fast path (``trustedproxy._speedups``).
#: False when the extension was not built, or when the environment variable
#: ``TRUSTEDPROXY_PURE_PYTHON`` is set (not empty or ``0``) at import time.
SPEEDUPS: bool = _Base is not object

#: environ key of the dict of original values (``None``: the key was absent).
ORIG_KEY = "trustedproxy.orig"
#: environ key of the :class:`~trustedproxy.Decision` for the request.
DECISION_KEY = "trustedproxy.decision"

logger = logging.getLogger("trustedproxy")

#: The attributes __init__ derives from the policy: a copy derives them anew.
_DERIVED = frozenset({"engine", "_plain", "_env_to_name", "_env_keys", "_key_order"})


def _slot_values(obj: object) -> dict[str, Any]:
    """The values set in the ``__slots__`` *obj*'s classes declare (a
    subclass's: a copy keeps them, as it keeps the attributes in its
    ``__dict__``), by attribute name (private names mangled)."""
    values: dict[str, Any] = {}
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{cls.__name__.lstrip('_')}{name}"
            if name not in values and hasattr(obj, name):
                values[name] = getattr(obj, name)
    return values


def _new_instance(cls: Any) -> Any:
    """A middleware of *cls* not yet set up (what copies and pickles start from)."""
    return cls.__new__(cls)


def reduce_middleware(middleware: Any, derived: frozenset[str]) -> tuple[Any, ...]:
    """``__reduce__`` of a middleware (WSGI or ASGI): a new instance of its
    class, then :func:`restore_middleware` with its ``app``, its ``policy`` and
    every other attribute but the *derived* ones (which ``__init__`` makes
    anew), in its ``__dict__`` or a subclass's ``__slots__``."""
    state = {key: value for key, value in vars(middleware).items() if key not in derived}
    state["app"] = middleware.app  # with SPEEDUPS, the WSGI one's is a slot of the compiled base
    return (_new_instance, (type(middleware),), (state, _slot_values(middleware)))


def restore_middleware(middleware: Any, init: Callable[[Any, Any, TrustPolicy], None],
                       state: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """``__setstate__`` of a middleware copied by :func:`reduce_middleware`:
    set up by the adapter's own *init* (not a subclass's ``__init__``, whose
    arguments the copy does not know), then its ``__dict__`` attributes and
    the ``__slots__`` a subclass declared."""
    attributes, slots = dict(state[0]), state[1]
    init(middleware, attributes.pop("app"), attributes.pop("policy"))
    vars(middleware).update(attributes)
    for name, value in slots.items():
        setattr(middleware, name, value)

_NAME_TO_ENV = {spec.key: spec.environ_key for spec in HEADERS.values()}
_NO_HEADERS: dict[str, str] = {}


#: The most characters of an ignored value a debug line shows (its two ends).
LOGGED_VALUE = 256


def log_ignored(decision: Decision) -> None:
    """Log each value *decision* ignored, at debug level (one line each, naming
    the peer, the header, the value and why); the WSGI and ASGI adapters share it.
    A value longer than :data:`LOGGED_VALUE` characters shows its two ends and
    its length, so that a client's megabyte header is not a megabyte of log."""
    if decision.ignored and logger.isEnabledFor(logging.DEBUG):
        for item in decision.ignored:
            value = item.value
            if len(value) > LOGGED_VALUE:
                value = (f"{value[:LOGGED_VALUE // 4]!r} ... ({len(value)} characters) ... "
                         f"{value[-LOGGED_VALUE // 2:]!r}")
            else:
                value = repr(value)
            logger.debug("peer %s: ignored %s: %s (%s)", decision.peer, item.header,
                         value, item.reason)


def apply_decision(decision: Decision, environ: WSGIEnvironment) -> dict[str, Any]:
    """Apply *decision* to *environ* in place; return the original values.

    The returned dict maps every environ key that was changed or removed to
    its value before (``None`` when the key was absent); ``REMOTE_ADDR``, the
    TCP peer, is always in it.
    """
    orig: dict[str, Any] = {"REMOTE_ADDR": environ.get("REMOTE_ADDR")}
    # Straight-line code, not helper functions: this runs on every request
    # that carries a forwarded header. An old value is kept only when it is
    # the very str to be set: one of another type (a server's mistake) is
    # replaced, never compared (its class could say it is equal, or raise).
    for name in decision.removed:
        key = _NAME_TO_ENV.get(name) or environ_key(name)  # or a custom header
        if key in environ:
            orig[key] = environ.pop(key)
    for name, trimmed in decision.aligned:  # hop-aligned lists, trimmed
        key = _NAME_TO_ENV.get(name) or environ_key(name)
        old = environ.get(key)
        if type(old) is not str or old != trimmed:
            orig.setdefault(key, old)
            environ[key] = trimmed
    scheme = decision.scheme
    for key, value in (("REMOTE_ADDR", decision.client),
                       ("HTTP_X_FORWARDED_FOR", decision.forwarded_for),
                       ("HTTP_FORWARDED", decision.forwarded),
                       ("wsgi.url_scheme", scheme),
                       ("HTTP_HOST", decision.host),
                       ("SERVER_NAME", decision.server),
                       ("SERVER_PORT", decision.port)):
        if value is not None:
            old = environ.get(key)
            if type(old) is not str or old != value:
                if key not in orig:
                    orig[key] = old
                environ[key] = value
    if scheme is not None:
        if scheme == "https":
            old = environ.get("HTTPS")
            if type(old) is not str or old != "on":
                orig.setdefault("HTTPS", old)
                environ["HTTPS"] = "on"
        elif "HTTPS" in environ:
            orig.setdefault("HTTPS", environ.pop("HTTPS"))
        if "REQUEST_SCHEME" in environ:
            old = environ["REQUEST_SCHEME"]
            if type(old) is not str or old != scheme:
                orig.setdefault("REQUEST_SCHEME", old)
                environ["REQUEST_SCHEME"] = scheme
    if decision.prefix:
        _apply_prefix(decision.prefix, decision.strip_prefix, environ, orig)
    return orig


def _apply_prefix(prefix: str, strip: bool, environ: WSGIEnvironment,
                  orig: dict[str, Any]) -> None:
    """The prefix part of :func:`apply_decision`: *prefix* in front of
    ``SCRIPT_NAME`` and, with *strip*, cut from the front of ``PATH_INFO``
    (on a segment boundary).

    A ``SCRIPT_NAME`` that is not a ``str`` (a server's mistake) reads as
    absent: the prefix replaces it (its value is kept in *orig*). A
    ``PATH_INFO`` that is not a ``str`` is left as it is: nothing is cut.
    """
    old_script = environ.get("SCRIPT_NAME")
    # A str subclass is read as its text: none of its methods (__radd__,
    # startswith, ...) runs.
    script_name = prefix + (str.__str__(old_script) if isinstance(old_script, str) else "")
    if type(old_script) is not str or old_script != script_name:
        orig.setdefault("SCRIPT_NAME", old_script)
        environ["SCRIPT_NAME"] = script_name
    if strip:
        old_path = environ.get("PATH_INFO")
        if isinstance(old_path, str):
            text = str.__str__(old_path)
            _, path_info = join_prefix(prefix, "", text, strip)
            if path_info is not text:  # the prefix was cut
                orig.setdefault("PATH_INFO", old_path)
                environ["PATH_INFO"] = path_info


def refuse_wrapped_twice(app: object, cls: type, name: str, record: str) -> None:
    """Raise :class:`ConfigError` when *app* is already a *cls* (*name*, whose
    audit record is *record*): the outer middleware rewrites the peer to the
    client, so the inner one would take the client for its TCP peer and
    overwrite the record. Only the application given is looked at."""
    if isinstance(app, cls):
        msg = (f"the application is already a {name} ({type(app).__name__}): a second one "
               f"would see the client, not the proxy, as its TCP peer, remove the headers the "
               f"first one trusted and replace {record} with its own; wrap the application "
               f"once, with one policy that lists every trusted proxy")
        raise ConfigError(msg, source=name)


class _CallSignature:
    """``__signature__`` of a middleware: for an instance, its ``__call__``'s
    (what :func:`inspect.signature` reports), with the compiled path too, whose
    ``__call__`` is a C slot that :mod:`inspect` cannot read; for the class,
    ``None``, so that its constructor's is read as usual."""

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return None
        import functools
        import inspect
        import types

        call: Any = type(instance).__call__
        if isinstance(call, types.WrapperDescriptorType):  # the compiled slot
            call = TrustedProxyMiddleware._call_python
        return inspect.signature(functools.partial(call, instance))


class TrustedProxyMiddleware(_Base):
    """WSGI middleware that believes forwarded headers only from trusted proxies.

    For each request it checks the TCP peer (``REMOTE_ADDR``) against the
    policy. From an untrusted peer every known forwarded header is removed and
    nothing else changes (but for the policy's own fixed ``script_name``,
    which applies to every request). From a trusted peer each trusted header is parsed
    strictly and, when valid, rewrites ``REMOTE_ADDR``, ``wsgi.url_scheme``
    (with ``HTTPS`` and ``REQUEST_SCHEME``), ``HTTP_HOST``, ``SERVER_NAME``,
    ``SERVER_PORT`` or ``SCRIPT_NAME``; every other forwarded header is
    removed. The original values are kept in ``environ["trustedproxy.orig"]``
    and the decision in ``environ["trustedproxy.decision"]``.

    Values of the wrong type (PEP 3333 makes every one a ``str``) never raise
    and are never trusted: a ``REMOTE_ADDR`` that is not a ``str`` is no peer
    (untrusted, whatever ``trust_unix_socket`` says; a missing one is empty, a
    Unix socket's); a known forwarded header that is not a ``str`` is never
    read (removed; a trusted one is ignored, see ``Decision.ignored``); a key
    the rewrite sets is replaced, never compared, when it holds another type
    (a str subclass too); a ``SCRIPT_NAME`` of another type reads as absent; a
    ``PATH_INFO`` of another type is left as it is. A ``str`` subclass is read
    as its text alone: none of its methods runs, and none is remembered in the
    engine's caches, which every later request reads.

    Args:
        app: the WSGI application to call.
        policy: a :class:`TrustPolicy`, or the path of a policy file in any form
            (YAML, mod_wsgi directives, mod_wsgi-express arguments; see
            :meth:`TrustPolicy.from_file`).

    Raises:
        ConfigError: if *policy* is a file that does not hold a valid policy, or
            if *app* is itself a :class:`TrustedProxyMiddleware` (wrap once).
        TypeError: if *policy* is neither a :class:`TrustPolicy` nor a path.
        RuntimeError: if ``__init__`` is called again on a middleware already
            set up (make a new middleware instead; ``app`` may be replaced).

    Example::

        app.wsgi_app = TrustedProxyMiddleware(app.wsgi_app, policy)   # Flask
        application = TrustedProxyMiddleware(application, "trust.yaml")
    """

    __signature__ = _CallSignature()

    def __init__(self, app: WSGIApplication,
                 policy: TrustPolicy | str | os.PathLike[str]) -> None:
        if "engine" in vars(self):
            # The compiled path's tables may be in use by a request in flight.
            raise RuntimeError("this TrustedProxyMiddleware is already set up; "
                               "make a new one for another app or policy")
        refuse_wrapped_twice(app, TrustedProxyMiddleware, "TrustedProxyMiddleware",
                             "trustedproxy.orig and trustedproxy.decision")
        policy = adapter_policy(policy)
        self.app = app
        self.policy = policy
        self.engine = policy.compile()
        # The engine's bounded cache of no-header decisions by peer, read
        # directly on the usual request (a miss asks engine.decide, which fills it).
        self._plain = self.engine._plain
        # The environ keys of every header the policy knows (custom ones included).
        self._env_to_name = {spec.environ_key: spec.key for spec in policy.headers.values()}
        self._env_keys = frozenset(self._env_to_name)
        self._key_order = {key: i for i, key in enumerate(self._env_to_name)}
        if SPEEDUPS:
            self._setup_speedups()

    def __reduce__(self) -> tuple[Any, ...]:
        """Copies and pickles (:mod:`copy`, :mod:`pickle`): a new middleware of
        the same class, set up for (a copy of) the same ``app`` and ``policy``,
        with every other attribute a subclass gave it; what the caches held is
        not copied (it changes no decision). The compiled path's tables are
        built anew, so this works with and without :data:`SPEEDUPS`."""
        return reduce_middleware(self, _DERIVED)

    def __setstate__(self, state: tuple[dict[str, Any], dict[str, Any]]) -> None:
        """Set up a copy made by :meth:`__reduce__` (see :func:`restore_middleware`)."""
        restore_middleware(self, TrustedProxyMiddleware.__init__, state)

    def _setup_speedups(self) -> None:
        """Hand the compiled path (``_speedups.Core``) the engine's tables and caches."""
        engine, policy = self.engine, self.policy
        specs = list(policy.headers.values())
        index = {spec.key: i for i, spec in enumerate(specs)}
        roles = {Kind.FOR_LIST: 1, Kind.FORWARDED: 3}  # else 2: a single value, via its cache
        rows = tuple((index[name], roles.get(kind, 2), target, source, cache)
                     for name, kind, target, source, _parse, cache in engine._trusted)
        keys = tuple(spec.environ_key for spec in specs)
        self._setup(keys=keys, names=tuple(spec.key for spec in specs),
                    rows=rows, trust=engine._cache, plain=engine._plain, matcher=engine._fast,
                    max_hops=policy.max_hops, strip_prefix=bool(policy.strip_prefix_from_path),
                    fixed_prefix=engine._fixed_prefix,
                    # hop_aligned and two headers of one environ key: Python only.
                    enabled=not policy.hop_aligned and len(set(keys)) == len(keys),
                    decision_type=Decision, hop_type=Hop)

    def _call_python(self, environ: WSGIEnvironment,
                     start_response: StartResponse) -> Iterable[bytes]:
        """Fix *environ* for this request, then call the wrapped application.

        The reference implementation of a request. With :data:`SPEEDUPS`,
        calls go to the compiled ``_speedups.Core.__call__``, which handles the
        usual requests itself and hands every other one to this method whole.
        """
        self._fix_python(environ)
        return self.app(environ, start_response)

    def _fix_python(self, environ: WSGIEnvironment) -> None:
        """Fix *environ* for this request (the reference): decide, apply the
        decision, and store the originals and the decision in the environ.
        Also what the compiled ``_decide`` falls back on."""
        # Iterates over the known keys, not over the environ (often larger).
        found = environ.keys() & self._env_keys
        peer = environ.get("REMOTE_ADDR")
        # A REMOTE_ADDR that is not a str (a server's mistake; None included)
        # is no usable peer: untrusted, whatever trust_unix_socket says. A
        # missing one is empty, as ASGI's client None: a Unix socket's.
        # A str subclass is read as its text (none of its methods runs).
        text = (peer if type(peer) is str else str.__str__(peer) if isinstance(peer, str)
                else "" if "REMOTE_ADDR" not in environ else None)
        if found:
            env_to_name = self._env_to_name
            # In table order, as the compiled path lists them (Decision.removed).
            headers = {env_to_name[key]: environ[key]
                       for key in sorted(found, key=self._key_order.__getitem__)}
            decision = (self.engine.decide(text, headers) if text is not None
                        else self.engine._untrusted("", headers))
            if not (decision.trusted or decision.prefix):
                # An untrusted peer: every forwarded header goes, nothing else
                # changes (what apply_decision does with it, minus its checks).
                orig = {"REMOTE_ADDR": peer}
                for key in found:
                    orig[key] = environ.pop(key)
                environ[ORIG_KEY] = orig
            else:
                environ[ORIG_KEY] = apply_decision(decision, environ)
            log_ignored(decision)
        else:
            # No forwarded header, the usual request: the engine hands back one
            # shared decision per peer, which changes nothing but the prefix.
            decision = (self._plain.get(text) or self.engine.decide(text, _NO_HEADERS)
                        if text is not None else self.engine._untrusted("", _NO_HEADERS))
            environ[ORIG_KEY] = (apply_decision(decision, environ) if decision.prefix
                                 else {"REMOTE_ADDR": peer})
        environ[DECISION_KEY] = decision


if not SPEEDUPS:
    TrustedProxyMiddleware.__call__ = TrustedProxyMiddleware._call_python  # type: ignore[method-assign,assignment]


class _PurePythonMiddleware(TrustedProxyMiddleware):
    """:class:`TrustedProxyMiddleware` that never takes the compiled path
    (the reference the compiled path is tested against)."""

    __call__ = TrustedProxyMiddleware._call_python
