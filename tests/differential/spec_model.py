"""SPEC.md written as a small, slow, obvious model: what *we* promise for one request.

This is an oracle independent of the ``trustedproxy`` package (it uses only
``ipaddress`` and ``re``). The deviation table states our expected result
with it; ``test_requests.py`` checks that every difference between this
model and the real mod_wsgi is named by a deviation.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from differential.cases import TrustConfig
from differential.environ import Outcome, env_key, observe_environ

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Groups of SPEC.md §2 (Forwarded is not configured by any differential config).
GROUPS: dict[str, str] = {
    "x-forwarded-for": "client", "x-real-ip": "client", "x-client-ip": "client",
    "x-forwarded-proto": "scheme", "x-forwarded-scheme": "scheme", "x-scheme": "scheme",
    "x-forwarded-https": "scheme", "x-forwarded-ssl": "scheme", "x-https": "scheme",
    "front-end-https": "scheme",
    "x-forwarded-host": "host", "x-host": "host",
    "x-forwarded-server": "server",
    "x-forwarded-port": "port",
    "x-forwarded-prefix": "prefix", "x-script-name": "prefix", "x-forwarded-script-name": "prefix",
    "forwarded": "client",
}
SCHEME_WORD_HEADERS = frozenset({"x-forwarded-proto", "x-forwarded-scheme", "x-scheme"})
#: mod_wsgi 6.1.1's registry (environ.c:458-475).
MOD_WSGI_KNOWN = frozenset(GROUPS) - {"x-forwarded-prefix", "front-end-https", "forwarded"}
OUR_ADDITIONS = frozenset({"x-forwarded-prefix", "front-end-https", "forwarded"})

_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


# --------------------------------------------------------------------------- values


def valid_port(text: str) -> bool:
    return bool(_PORT.fullmatch(text)) and 1 <= int(text) <= 65535


def parse_bare_ip(text: str) -> IPAddress | None:
    """A numeric dotted-quad IPv4 or an IPv6 address (any case, no zone id)."""
    if _IPV4.fullmatch(text):
        return ipaddress.IPv4Address(text)
    if ":" in text and "%" not in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return None


def parse_element(text: str) -> IPAddress | None:
    """An X-Forwarded-For element (SPEC.md §4): address, optional [brackets], optional :port."""
    match = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", text)
    if match:
        address = parse_bare_ip(match.group(1))
        if not isinstance(address, ipaddress.IPv6Address):
            return None
        port = match.group(2)
        return address if port is None or valid_port(port) else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        address = parse_bare_ip(host)
        return address if isinstance(address, ipaddress.IPv4Address) and valid_port(port) else None
    return parse_bare_ip(text)


def canonical(address: IPAddress) -> str:
    """Canonical text: inet_ntop's (``str()`` of an IPv4-mapped IPv6 address differs
    between Python versions)."""
    if isinstance(address, ipaddress.IPv6Address):
        return socket.inet_ntop(socket.AF_INET6, address.packed)
    return str(address)


def is_element_odd_form(text: str) -> bool:
    """Valid for us, but with a port, brackets or non-canonical spelling."""
    address = parse_element(text)
    return address is not None and canonical(address) != text


def networks(config: TrustConfig) -> list[IPNetwork]:
    return [ipaddress.ip_network(p, strict=False) for p in config.proxies]


def trusted(address: IPAddress, nets: Sequence[IPNetwork]) -> bool:
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(c.version == n.version and c in n for c in candidates for n in nets)


def valid_host_name(host: str) -> bool:
    if host.startswith("["):
        return host.endswith("]") and isinstance(parse_bare_ip(host[1:-1]), ipaddress.IPv6Address)
    if _IPV4.fullmatch(host):
        return True
    name = host[:-1] if host.endswith(".") else host
    if re.fullmatch(r"[0-9]+|0[xX][0-9A-Fa-f]*", name.split(".")[-1]):
        return False  # ends in a number (URLs read it as IPv4) but is not a dotted quad
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def parse_host(value: str) -> str | None:
    """``host[:port]`` (SPEC.md §5); returned verbatim when valid."""
    if "," in value:
        return None
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[: end + 1], value[end + 1 :]
        if rest and not (rest.startswith(":") and valid_port(rest[1:])):
            return None
    else:
        host, sep, port = value.partition(":")
        if sep and not valid_port(port):
            return None
    return value if valid_host_name(host) else None


def parse_server(value: str) -> str | None:
    if "," in value or not valid_host_name(value):
        return None
    return value


def parse_port(value: str) -> str | None:
    return value if valid_port(value) else None


def parse_scheme_word(value: str) -> str | None:
    return {"http": "http", "https": "https", "ws": "http", "wss": "https"}.get(value.lower())


def parse_scheme_bool(value: str) -> str | None:
    lowered = value.lower()
    if lowered in ("on", "true", "1"):
        return "https"
    if lowered in ("off", "false", "0"):
        return "http"
    return None


def _prefix_texts(value: str) -> list[str]:
    """What a header value's bytes (latin-1, as WSGI gives them) stand for:
    their UTF-8 text; when they are not UTF-8, both the latin-1 text and the
    UTF-8 text with U+FFFD for each bad byte."""
    try:
        data = value.encode("latin-1")
    except UnicodeEncodeError:
        return [value]
    try:
        return [data.decode("utf-8")]
    except UnicodeDecodeError:
        return [value, data.decode("utf-8", "replace")]


def _bad_prefix_char(ch: str) -> bool:
    """SPEC.md §5: no control characters or white space (any Unicode ones), no
    ``?`` or ``#``."""
    return (ch.isspace() or ch in "?#"
            or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp", "Zs"))


def parse_prefix(value: str) -> str | None:
    """A valid prefix, normalised (trailing ``/`` dropped, ``//`` collapsed), or None."""
    if value == "":
        return ""
    if not value.startswith("/") or "," in value:
        return None
    if any(_bad_prefix_char(ch) for text in _prefix_texts(value) for ch in text):
        return None
    decoded = (value.lower().replace("%2e", ".").replace("%2f", "/").replace("%5c", "/")
               .replace("%3b", ";"))
    if ".." in (segment.partition(";")[0] for segment in decoded.split("/")):
        return None  # '..', percent-encoded (%2e%2e, .%2e, %2e.), set off by %2f or %5c, '..;x'
    return re.sub(r"/+", "/", value).rstrip("/")


def parse_single_address(value: str) -> str | None:
    if "," in value:
        return None
    address = parse_element(value.strip())
    return None if address is None else canonical(address)


# --------------------------------------------------------------------------- X-Forwarded-For


@dataclass(frozen=True)
class Walk:
    """The SPEC.md §4 walk of one X-Forwarded-For value."""

    elements: tuple[str, ...]
    client: str | None  # canonical text; None: the header is invalid (ignored, removed)
    trimmed: str | None
    stop: int  # index where the walk stopped (client or invalid element); -1 if none
    stopped_on_invalid: bool
    client_index: int  # index of the client element; -1 if none

    def visited(self) -> tuple[str, ...]:
        """The elements the walk looked at (from the right down to where it stopped)."""
        return self.elements[max(self.stop, 0):]


def walk(raw: str, nets: Sequence[IPNetwork]) -> Walk:
    elements = tuple(e for e in (part.strip(" \t") for part in raw.split(",")) if e)
    if not elements:
        return Walk(elements, None, None, -1, False, -1)
    reached: int | None = None
    for i in range(len(elements) - 1, -1, -1):
        address = parse_element(elements[i])
        if address is None:
            if reached is None:
                return Walk(elements, None, None, i, True, -1)
            client = parse_element(elements[reached])
            assert client is not None
            return Walk(elements, canonical(client), ", ".join(elements[reached:]), i, True,
                        reached)
        if trusted(address, nets):
            reached = i
            continue
        return Walk(elements, canonical(address), ", ".join(elements[i:]), i, False, i)
    first = parse_element(elements[0])
    assert first is not None
    return Walk(elements, canonical(first), ", ".join(elements), 0, False, 0)


# --------------------------------------------------------------------------- the request


def peer_trusted(config: TrustConfig, peer: str) -> bool:
    address = parse_bare_ip(peer.partition("%")[0])
    return address is not None and trusted(address, networks(config))


def configured(config: TrustConfig) -> dict[str, str]:
    """Configured header (lower case) -> its group."""
    return {h.lower(): GROUPS[h.lower()] for h in config.headers}


def header_valid(name: str, raw: str, nets: Sequence[IPNetwork]) -> bool:
    """Whether a configured header's value is valid for us (SPEC.md §4-§5)."""
    if name == "x-forwarded-for":
        return walk(raw, nets).client is not None
    return PARSERS[name](raw) is not None


PARSERS: dict[str, Any] = {
    "x-real-ip": parse_single_address, "x-client-ip": parse_single_address,
    "x-forwarded-host": parse_host, "x-host": parse_host,
    "x-forwarded-server": parse_server, "x-forwarded-port": parse_port,
    "x-forwarded-prefix": parse_prefix, "x-script-name": parse_prefix,
    "x-forwarded-script-name": parse_prefix,
    **{h: parse_scheme_word for h in SCHEME_WORD_HEADERS},
    **{h: parse_scheme_bool for h in ("x-forwarded-https", "x-forwarded-ssl", "x-https",
                                      "front-end-https")},
}


def expected(config: TrustConfig, environ: Mapping[str, Any]) -> Outcome:
    """What SPEC.md promises the application sees for this request."""
    env = dict(environ)
    for key in list(env):
        if key.startswith("HTTP_") and key in _FORWARDED_ENV:
            del env[key]  # re-added below when trusted, valid and configured
    result = observe_environ(env)
    peer = str(environ["REMOTE_ADDR"])
    if not peer_trusted(config, peer):
        return result
    nets = networks(config)
    kept: set[str] = set()
    for name in (h.lower() for h in config.headers):
        key = env_key(name)
        raw = environ.get(key)
        if raw is None:
            continue
        group = GROUPS[name]
        if name == "x-forwarded-for":
            w = walk(raw, nets)
            if w.client is None:
                continue
            result["REMOTE_ADDR"] = w.client
            result["HTTP_X_FORWARDED_FOR"] = w.trimmed
        else:
            value = PARSERS[name](raw)
            if value is None:
                continue
            if group == "client":
                result["REMOTE_ADDR"] = value
            elif group == "scheme":
                result["wsgi.url_scheme"] = value
            elif group == "host":
                result["HTTP_HOST"] = value
            elif group == "server":
                result["SERVER_NAME"] = value
            elif group == "port":
                result["SERVER_PORT"] = value
            elif group == "prefix" and value:
                result["SCRIPT_NAME"] = str(env.get("SCRIPT_NAME", "")) + value
        kept.add(key)
    result["forwarded"] = frozenset(kept)
    return result


_FORWARDED_ENV = frozenset(env_key(h) for h in GROUPS)
