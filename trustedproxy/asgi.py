"""The ASGI adapter: the only module that reads or writes an ASGI scope.

It applies the same engine, and gives a :class:`~trustedproxy.Decision` the
same meaning, as the WSGI adapter (:mod:`trustedproxy.wsgi`):

==========================  =====================================================
WSGI environ                ASGI scope
==========================  =====================================================
``REMOTE_ADDR``             ``scope["client"]``: ``(Decision.client, 0)``
``wsgi.url_scheme``         ``scope["scheme"]``: ``http``/``https``, or ``ws``/``wss``
                            for a ``websocket`` scope
``HTTP_HOST``               the ``host`` header in ``scope["headers"]``
``SERVER_NAME``             ``scope["server"][0]``
``SERVER_PORT``             ``scope["server"][1]`` (an ``int``)
``SCRIPT_NAME``             ``scope["root_path"]`` (and ``scope["path"]``, see below)
``HTTP_X_FORWARDED_FOR``    the ``x-forwarded-for`` header, trimmed
``HTTP_FORWARDED``          the ``forwarded`` header, trimmed
removed ``HTTP_*``          the header's entries are dropped from ``scope["headers"]``
``trustedproxy.orig``       ``scope["extensions"]["trustedproxy"]["orig"]``
``trustedproxy.decision``   ``scope["extensions"]["trustedproxy"]["decision"]``
==========================  =====================================================

The client's port is not known (forwarded headers carry an address; a port in
``X-Forwarded-For`` is the client's claim), so a rewritten client has port
``0``, as uvicorn's own proxy middleware does.

``path`` and ``root_path``: the ASGI spec has ``path`` hold the whole path,
``root_path`` included (uvicorn builds it so since 0.26; Starlette's routing
strips ``root_path`` from ``path``). The adapter keeps that form: the part of
``path`` after ``root_path`` is the route (``PATH_INFO``); the prefix goes in
front of ``root_path``; ``path`` becomes the new ``root_path`` followed by the
route. So a proxy that strips its prefix (``/app/x`` sent on as ``/x`` with
``X-Forwarded-Prefix: /app``) gives ``root_path="/app"``, ``path="/app/x"``;
with ``strip_prefix_from_path`` a proxy that passes ``/app/x`` through gives the
same. ``raw_path``, when present, gets the same (percent-encoded) prefix.

The caller's scope is never changed: the application gets a new scope dict,
with new ``headers``, ``extensions`` lists and dicts. ``lifespan`` scopes (and
any other type but ``http`` and ``websocket``) are passed on untouched.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote

from .engine import Decision
from .headers import HEADERS
from .policy import TrustPolicy, adapter_policy
from .values import join_prefix

__all__ = [
    "EXTENSION_KEY",
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "TrustedProxyMiddleware",
    "apply_decision",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Key in ``scope["extensions"]`` of ``{"orig": {...}, "decision": Decision}``.
#: ``orig`` maps every scope key the middleware changed to its value before
#: (``None``: the key was absent); ``client`` (the TCP peer) is always in it,
#: and ``headers`` (the original list) whenever a header was changed or removed.
EXTENSION_KEY = "trustedproxy"

logger = logging.getLogger("trustedproxy")

# Header names as ASGI carries them (lower-case bytes) → the engine's names.
_KNOWN = {spec.key.encode("latin-1"): spec.key for spec in HEADERS.values()}
_NAME_BYTES = {name: raw for raw, name in _KNOWN.items()}
_NONE: frozenset[bytes] = frozenset()
_WS_SCHEMES = {"http": "ws", "https": "wss"}
# Characters left as they are when the prefix is written into raw_path: the
# path characters of RFC 3986 (pchar and "/"); everything else is %-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _found_headers(headers: Iterable[Iterable[bytes]],
                   known: Mapping[bytes, str] = _KNOWN) -> dict[str, str]:
    """The known forwarded headers present, by engine name; repeated fields
    are joined with ``", "`` in the order received (RFC 9110 §5.3)."""
    found: dict[str, str] = {}
    for name, value in headers:
        key = known.get(name) or known.get(name.lower())
        if key is not None:
            text = value.decode("latin-1")
            found[key] = f"{found[key]}, {text}" if key in found else text
    return found


def apply_decision(decision: Decision, scope: Scope) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply *decision* to a copy of *scope* (an ``http`` or ``websocket`` scope).

    Returns:
        ``(new scope, orig)``: the scope for the application, and a dict of
        every scope key changed, with its original value (``None`` when the
        key was absent). ``client`` is always in *orig*. *scope* itself is
        left as it was.
    """
    new: dict[str, Any] = dict(scope)
    orig: dict[str, Any] = {"client": scope.get("client")}
    changes: list[tuple[str, object]] = []  # (scope key, new value), applied at the end

    # Headers: drop the removed ones, replace the rewritten ones (one field
    # each, where the first one stood; host is added when it was missing).
    replace: dict[bytes, str] = {}
    if decision.host is not None:
        replace[b"host"] = decision.host
    if decision.forwarded_for is not None:
        replace[b"x-forwarded-for"] = decision.forwarded_for
    if decision.forwarded is not None:
        replace[b"forwarded"] = decision.forwarded
    drop = {_NAME_BYTES[name] for name in decision.removed} if decision.removed else _NONE
    if drop or replace:
        headers = scope.get("headers") or []
        rewritten: list[tuple[bytes, bytes]] = []
        done: set[bytes] = set()
        changed = False
        for pair in headers:
            name, value = pair
            lower = name.lower()
            if lower in drop:
                changed = True
            elif lower in replace:
                if lower not in done:
                    done.add(lower)
                    encoded = replace[lower].encode("latin-1")
                    changed = changed or encoded != value or name != lower
                    rewritten.append((lower, encoded))
                else:
                    changed = True  # a second field of a replaced header
            else:
                rewritten.append(pair)
        for lower in replace.keys() - done:
            rewritten.append((lower, replace[lower].encode("latin-1")))
            changed = True
        if changed:
            orig["headers"] = scope.get("headers")
            new["headers"] = rewritten

    if decision.client is not None:
        changes.append(("client", (decision.client, 0)))
    if decision.scheme is not None:
        scheme = (_WS_SCHEMES[decision.scheme] if scope.get("type") == "websocket"
                  else decision.scheme)
        changes.append(("scheme", scheme))
    if decision.server is not None or decision.port is not None:
        old_server = scope.get("server")
        if old_server is not None or decision.server is not None:
            host, port = old_server if old_server is not None else (decision.server, None)
            if decision.server is not None:
                host = decision.server
            if decision.port is not None:
                port = int(decision.port)
            changes.append(("server", (host, port)))
    if decision.prefix:
        root = scope.get("root_path") or ""
        path = scope.get("path") or ""
        # A server that leaves root_path out of path: all of path is the route.
        inside = bool(root) and (path == root or path.startswith(root + "/"))
        route = path[len(root):] if inside else path
        root_path, route = join_prefix(decision.prefix, root, route, decision.strip_prefix)
        new_path = root_path + route
        changes.append(("root_path", root_path))
        if new_path != path:
            changes.append(("path", new_path))
            raw = scope.get("raw_path")
            if raw is not None:
                if new_path.endswith(path):
                    added = new_path[:len(new_path) - len(path)]
                    raw = quote(added, safe=_PATH_SAFE).encode("ascii") + raw
                else:
                    raw = quote(new_path, safe=_PATH_SAFE).encode("ascii")
                changes.append(("raw_path", raw))
    for key, value in changes:
        old = scope.get(key)
        if old != value:
            orig[key] = old
            new[key] = value
    return new, orig


class TrustedProxyMiddleware:
    """ASGI 3 middleware that believes forwarded headers only from trusted proxies.

    The same policy and engine as the WSGI
    :class:`trustedproxy.TrustedProxyMiddleware`, applied to ``http`` and
    ``websocket`` scopes (see the module docstring for what each field of the
    decision rewrites). From an untrusted peer every known forwarded header is
    removed from ``scope["headers"]`` and nothing else changes. The original
    values and the decision are kept in
    ``scope["extensions"]["trustedproxy"]``. ``lifespan`` scopes pass through
    untouched.

    Args:
        app: the ASGI 3 application to call.
        policy: a :class:`TrustPolicy`, or the path of a YAML policy file.

    Raises:
        ConfigError: if *policy* is a file that does not hold a valid policy.

    Example::

        from trustedproxy.asgi import TrustedProxyMiddleware

        app = TrustedProxyMiddleware(app, "trust.yaml")
    """

    def __init__(self, app: ASGIApp, policy: TrustPolicy | str | os.PathLike[str]) -> None:
        policy = adapter_policy(policy)
        self.app = app
        self.policy = policy
        self.engine = policy.compile()
        # Every header the policy knows, custom ones included, by ASGI name.
        self._known = {spec.key.encode("latin-1"): spec.key for spec in policy.headers.values()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Fix a copy of *scope* for this connection, then call the application."""
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = client[0] if client else ""
        found = _found_headers(scope.get("headers") or (), self._known)
        decision = self.engine.decide(peer or "", found)
        if found or decision.prefix:
            new, orig = apply_decision(decision, scope)
        else:
            new, orig = dict(scope), {"client": client}
        if decision.ignored and logger.isEnabledFor(logging.DEBUG):
            for item in decision.ignored:
                logger.debug("peer %s: ignored %s: %r (%s)", decision.peer, item.header,
                             item.value, item.reason)
        extensions = dict(scope.get("extensions") or {})
        extensions[EXTENSION_KEY] = {"orig": orig, "decision": decision}
        new["extensions"] = extensions
        await self.app(new, receive, send)
