"""The one table of deliberate differences from mod_wsgi 6.1.1 (request handling).

Each entry names a difference SPEC.md makes on purpose, recognises the
requests it applies to, and lists the compared fields it may change; our
expected value for those fields is SPEC.md's result, computed by
:mod:`differential.spec_model`. For every other field of every request we must
equal the real mod_wsgi. README's "Differences from mod_wsgi" is this table.

Configuration differences (what each side accepts at load time) are in
``test_config.py``; they are not request cases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from differential import spec_model as spec
from differential.cases import Case, TrustConfig
from differential.environ import FORWARDED_KEYS, Outcome, env_key


@dataclass(frozen=True)
class Context:
    """One request of the differential: configuration, source, case and environ."""

    config: TrustConfig
    source: str
    case: Case
    environ: Mapping[str, Any]  # as mod_wsgi builds it before its proxy step

    @cached_property
    def trusted(self) -> bool:
        return spec.peer_trusted(self.config, self.source)

    @cached_property
    def nets(self) -> list[spec.IPNetwork]:
        return spec.networks(self.config)

    @cached_property
    def configured(self) -> dict[str, str]:
        return spec.configured(self.config)

    @cached_property
    def present(self) -> dict[str, str]:
        """Known forwarded headers present in the request: lower-case name -> value."""
        return {name: self.environ[env_key(name)] for name in spec.GROUPS
                if env_key(name) in self.environ}

    def present_configured(self) -> dict[str, str]:
        return {name: value for name, value in self.present.items() if name in self.configured}

    @cached_property
    def mod_wsgi_groups(self) -> frozenset[str]:
        """Groups mod_wsgi treats as configured (a configured name it knows)."""
        return frozenset(group for name, group in self.configured.items()
                         if name in spec.MOD_WSGI_KNOWN)

    @cached_property
    def xff_walk(self) -> spec.Walk | None:
        """Our walk, when X-Forwarded-For is trusted and present."""
        raw = self.present_configured().get("x-forwarded-for")
        if not self.trusted or raw is None:
            return None
        return spec.walk(raw, self.nets)

    @cached_property
    def expected(self) -> Outcome:
        """SPEC.md's result for this request."""
        return spec.expected(self.config, self.environ)


@dataclass(frozen=True)
class Deviation:
    id: str
    description: str
    fields: frozenset[str]
    recognises: Callable[[Context], bool]

    def expect(self, ctx: Context) -> Outcome | None:
        """Our expected values for this deviation's fields, or None if it does not apply."""
        if not self.recognises(ctx):
            return None
        return {field: ctx.expected[field] for field in self.fields}


def _f(*fields: str) -> frozenset[str]:
    return frozenset(fields)


def _untrusted_forwarded(ctx: Context) -> bool:
    return not ctx.trusted and bool(FORWARDED_KEYS.intersection(ctx.environ))


def _unconfigured_group(ctx: Context) -> bool:
    return ctx.trusted and any(
        name in spec.MOD_WSGI_KNOWN and spec.GROUPS[name] not in ctx.mod_wsgi_groups
        for name in ctx.present)


def _our_addition_present(ctx: Context) -> bool:
    return any(name in spec.OUR_ADDITIONS for name in ctx.present)


def _invalid_value(ctx: Context) -> bool:
    return ctx.trusted and any(
        name != "x-forwarded-for" and not spec.header_valid(name, value, ctx.nets)
        for name, value in ctx.present_configured().items())


def _xff_empty(ctx: Context) -> bool:
    return ctx.xff_walk is not None and not ctx.xff_walk.elements


def _xff_invalid_element(ctx: Context) -> bool:
    return ctx.xff_walk is not None and ctx.xff_walk.stopped_on_invalid


def _xff_odd_form(ctx: Context) -> bool:
    return ctx.xff_walk is not None and any(
        spec.is_element_odd_form(e) and ("[" in e or e.count(":") == 1)
        for e in ctx.xff_walk.visited())


def _non_canonical_client(ctx: Context) -> bool:
    if not ctx.trusted:
        return False
    w = ctx.xff_walk
    if w is not None and w.client_index >= 0 and w.elements[w.client_index] != w.client:
        return True
    return any(name in ("x-real-ip", "x-client-ip")
               and spec.parse_single_address(value) not in (None, value)
               for name, value in ctx.present_configured().items())


def _ws_scheme(ctx: Context) -> bool:
    return ctx.trusted and any(
        name in spec.SCHEME_WORD_HEADERS and value.lower() in ("ws", "wss")
        for name, value in ctx.present_configured().items())


def _prefix_normalised(ctx: Context) -> bool:
    if not ctx.trusted:
        return False
    for name, value in ctx.present_configured().items():
        if spec.GROUPS[name] == "prefix":
            normalised = spec.parse_prefix(value)
            if normalised is not None and normalised != value:
                return True
    return False


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "untrusted-peer-loses-every-forwarded-header",
        "From an untrusted peer every known forwarded header is removed; mod_wsgi removes "
        "only the groups of the configured headers and passes the others to the app.",
        _f("forwarded", "HTTP_X_FORWARDED_FOR"),
        _untrusted_forwarded,
    ),
    Deviation(
        "unconfigured-groups-removed",
        "From a trusted proxy, forwarded headers of groups with no trusted header are "
        "removed; mod_wsgi passes them through unchanged.",
        _f("forwarded", "HTTP_X_FORWARDED_FOR"),
        _unconfigured_group,
    ),
    Deviation(
        "more-known-headers",
        "X-Forwarded-Prefix, Front-End-Https and Forwarded are known headers: applied when "
        "trusted, removed otherwise; mod_wsgi ignores them and never removes them.",
        _f("forwarded", "SCRIPT_NAME", "wsgi.url_scheme", "HTTP_X_FORWARDED_FOR"),
        _our_addition_present,
    ),
    Deviation(
        "invalid-value-ignored",
        "A trusted header with an invalid value (a list in a single-valued header, a bad "
        "host, server, port, prefix, address or scheme word) is ignored and removed; "
        "mod_wsgi copies it verbatim into the environ, or keeps it while doing nothing.",
        _f("forwarded", "REMOTE_ADDR", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT",
           "SCRIPT_NAME", "wsgi.url_scheme"),
        _invalid_value,
    ),
    Deviation(
        "xff-without-addresses-removed",
        "An X-Forwarded-For with no non-empty element is invalid and removed; mod_wsgi "
        "keeps it unchanged.",
        _f("forwarded", "HTTP_X_FORWARDED_FOR"),
        _xff_empty,
    ),
    Deviation(
        "xff-invalid-element-stops-walk",
        "An X-Forwarded-For element that is not a strict numeric address (junk, a host name, "
        "octal, decimal or short IPv4, a zone id) stops the walk: the client is the last "
        "trusted hop reached, or the peer when it is the rightmost element (the header is "
        "then removed); mod_wsgi resolves it with getaddrinfo or puts it in REMOTE_ADDR.",
        _f("REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "forwarded"),
        _xff_invalid_element,
    ),
    Deviation(
        "xff-port-and-brackets-accepted",
        "An X-Forwarded-For element with a :port or [brackets] is a valid address for the "
        "walk; mod_wsgi cannot parse it, stops there and puts it verbatim in REMOTE_ADDR.",
        _f("REMOTE_ADDR", "HTTP_X_FORWARDED_FOR"),
        _xff_odd_form,
    ),
    Deviation(
        "client-address-canonical",
        "REMOTE_ADDR is the client's address alone in canonical text (no port, no brackets, "
        "lower-case compressed IPv6); mod_wsgi copies the header text verbatim.",
        _f("REMOTE_ADDR"),
        _non_canonical_client,
    ),
    Deviation(
        "websocket-scheme-words",
        "Scheme words ws and wss mean http and https; mod_wsgi ignores them.",
        _f("wsgi.url_scheme"),
        _ws_scheme,
    ),
    Deviation(
        "prefix-normalised",
        "A prefix loses its trailing '/' and repeated '/' collapse (so '/' means no prefix); "
        "mod_wsgi sets SCRIPT_NAME to the header verbatim.",
        _f("SCRIPT_NAME"),
        _prefix_normalised,
    ),
)

BY_ID: dict[str, Deviation] = {d.id: d for d in DEVIATIONS}
assert len(BY_ID) == len(DEVIATIONS), "deviation ids must be unique"


def explain(ctx: Context) -> dict[str, list[tuple[str, Any]]]:
    """field -> [(deviation id, our expected value)] for every deviation that applies."""
    found: dict[str, list[tuple[str, Any]]] = {}
    for deviation in DEVIATIONS:
        expectation = deviation.expect(ctx)
        if expectation is None:
            continue
        for field, value in expectation.items():
            found.setdefault(field, []).append((deviation.id, value))
    return found


def markdown_table() -> str:
    """The table as Markdown, for README's "Differences from mod_wsgi"."""
    rows = ["| id | difference | fields |", "|---|---|---|"]
    rows += [f"| `{d.id}` | {d.description} | {', '.join(sorted(d.fields))} |"
             for d in DEVIATIONS]
    return "\n".join(rows)


if __name__ == "__main__":  # python tests/differential/deviations.py (from tests/)
    print(markdown_table())
