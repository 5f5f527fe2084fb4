"""Write a :class:`~trustedproxy.TrustPolicy` as YAML, mod_wsgi directives or
mod_wsgi-express arguments; each reads back to an equal policy.

mod_wsgi has no directive for ``script_name``, ``strip_prefix_from_path`` or
``trust_unix_socket``: the directive form writes them as
``# trustedproxy: NAME VALUE`` comment lines, which Apache ignores (a comment
above them says so) and trustedproxy reads. A command line has no comments,
so the express form refuses a policy that sets them.

A policy that trusts its headers from Unix-socket peers only (no trusted
proxies) is refused by both mod_wsgi forms: the headers directive or option
alone would make mod_wsgi trust every client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from ..errors import ConfigError, Problem
from ..headers import HEADERS
from ..policy import DEFAULT_MAX_HOPS
from .directives import HEADERS_DIRECTIVE, PROXIES

if TYPE_CHECKING:
    from ..policy import TrustPolicy

__all__ = ["to_directives", "to_express_args", "to_yaml"]

# mod_wsgi rejects a /0 mask; two halves say the same and it accepts them.
_HALVES = {"0.0.0.0/0": ("0.0.0.0/1", "128.0.0.0/1"), "::/0": ("::/1", "8000::/1")}


def _mod_wsgi_proxies(policy: TrustPolicy) -> list[str]:
    out: list[str] = []
    for cidr in policy.trusted_proxies:
        out.extend(_HALVES.get(cidr, (cidr,)))
    return out


def _options(policy: TrustPolicy) -> list[tuple[str, str]]:
    options = []
    if policy.script_name:
        options.append(("script_name", policy.script_name))
    if policy.strip_prefix_from_path:
        options.append(("strip_prefix_from_path", "on"))
    if policy.trust_unix_socket:
        options.append(("trust_unix_socket", "on"))
    if policy.max_hops != DEFAULT_MAX_HOPS:
        options.append(("max_hops", str(policy.max_hops)))
    if policy.hop_aligned:
        options.append(("hop_aligned", "on"))
    return options


def _no_custom_headers(policy: TrustPolicy, form: str) -> None:
    """Refuse, loudly, a form that cannot carry custom headers."""
    if policy.custom_headers:
        raise ConfigError([Problem("custom_headers", name,
                                   f"{form} cannot register custom header {name!r}: keep this "
                                   "policy as YAML (or Python)")
                           for name in policy.custom_headers])


def _unix_socket_only(policy: TrustPolicy, headers_option: str, proxies_option: str) -> str:
    """Why a policy that trusts its headers from Unix-socket peers only cannot
    be written in a mod_wsgi form, or ``""`` when it does not.

    mod_wsgi has no way to say "Unix-socket peers only", and its headers
    directive (option) without a proxies one trusts every client
    (``mod_wsgi-reference.md`` §3.1), so writing the headers alone would turn
    a safe policy into one that believes any client.
    """
    if not policy.trusted_headers or policy.trusted_proxies:
        return ""
    return (f"this policy trusts {', '.join(policy.trusted_headers)} from Unix-socket peers "
            "only (trust_unix_socket=True, trusted_proxies empty), which mod_wsgi cannot "
            f"express: {headers_option} without {proxies_option} makes mod_wsgi believe "
            "these headers from every client. Add your proxies' addresses to "
            "trusted_proxies (e.g. '127.0.0.1' for a front end on the same host), or keep "
            "this policy as YAML or Python")


def to_yaml(policy: TrustPolicy) -> str:
    """Return the policy as a YAML document that :func:`load_yaml` reads back."""
    data: dict[str, object] = {
        "trusted_proxies": list(policy.trusted_proxies),
        "trusted_headers": list(policy.trusted_headers),
    }
    if policy.script_name:
        data["script_name"] = policy.script_name
    if policy.strip_prefix_from_path:
        data["strip_prefix_from_path"] = True
    if policy.trust_unix_socket:
        data["trust_unix_socket"] = True
    if policy.max_hops != DEFAULT_MAX_HOPS:
        data["max_hops"] = policy.max_hops
    if policy.hop_aligned:
        data["hop_aligned"] = True
    if policy.custom_headers:
        data["custom_headers"] = policy.custom_headers
    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    return text


def to_directives(policy: TrustPolicy) -> str:
    """Return the policy as ``WSGITrustedProxies`` / ``WSGITrustedProxyHeaders`` lines.

    Options mod_wsgi cannot express are written as ``# trustedproxy:`` comment
    lines, headers mod_wsgi does not know are named in a comment; both are
    read back by :func:`~trustedproxy.loaders.directives.load_directives`.

    Raises:
        ConfigError: if the policy registers custom headers, or trusts its
            headers from Unix-socket peers only (no trusted proxies): Apache
            would read the headers directive alone as "trust every client".
    """
    _no_custom_headers(policy, "directive strings")
    unix_only = _unix_socket_only(policy, HEADERS_DIRECTIVE, PROXIES)
    if unix_only:
        raise ConfigError(f"cannot write as mod_wsgi directives: {unix_only}",
                          source="trusted_proxies")
    lines: list[str] = []
    proxies = _mod_wsgi_proxies(policy)
    if proxies:
        lines.append(f"{PROXIES} {' '.join(proxies)}")
    if policy.trusted_headers:
        lines.append(f"{HEADERS_DIRECTIVE} {' '.join(policy.trusted_headers)}")
        unknown = [h for h in policy.trusted_headers if not HEADERS[h.lower()].in_mod_wsgi]
        if unknown:
            lines.append(f"# mod_wsgi itself ignores {', '.join(unknown)}; "
                         "trustedproxy's middleware reads "
                         + ("them" if len(unknown) > 1 else "it"))
    options = _options(policy)
    if options:
        lines.append("# mod_wsgi has no directive for the following; Apache ignores these "
                     "lines and trustedproxy reads them:")
        lines += [f"# trustedproxy: {name} {value}" for name, value in options]
    return "".join(line + "\n" for line in lines)


def to_express_args(policy: TrustPolicy) -> list[str]:
    """Return the policy as mod_wsgi-express arguments.

    Raises:
        ConfigError: if the policy sets an option mod_wsgi-express cannot
            express (``script_name``, ``strip_prefix_from_path``,
            ``trust_unix_socket``, ``max_hops``, ``hop_aligned``, custom headers).
    """
    _no_custom_headers(policy, "mod_wsgi-express arguments")
    options = _options(policy)
    if options:
        unix_only = _unix_socket_only(policy, "--trust-proxy-header", "--trust-proxy")
        raise ConfigError([
            Problem(name, value, f"mod_wsgi-express has no option for {name}, and {unix_only}"
                    if name == "trust_unix_socket" and unix_only else
                    f"mod_wsgi-express has no option for {name}: keep this policy as YAML "
                    "or as directives (which carry it in a '# trustedproxy:' comment line)")
            for name, value in options])
    args: list[str] = []
    for cidr in _mod_wsgi_proxies(policy):
        args += ["--trust-proxy", cidr]
    for header in policy.trusted_headers:
        args += ["--trust-proxy-header", header]
    return args
