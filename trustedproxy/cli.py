"""The ``trustedproxy`` command line: ``main(argv) -> int``.

Exit codes: 0 fine, 1 problems found, 2 usage or configuration error, 141
stdout closed before the output was written (``| head -1``: 128 + SIGPIPE, as
the shell reports for a command SIGPIPE ends). Errors are printed as one line
each, never as a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import netaddr

from .addresses import is_socket_peer, parse_element, parse_peer
from .engine import Decision
from .errors import ConfigError, Problem, TrustedProxyError
from .forwarded import MAX_GAP, element_node, parse_forwarded
from .headers import Kind
from .loaders.files import FORMATS, load_file
from .policy import TrustPolicy
from .wsgi import DECISION_KEY, ORIG_KEY, TrustedProxyMiddleware, apply_decision

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["DEMO_POLICY", "demo_app", "main"]

#: The demo's built-in policy: trust loopback, believe the common header set.
DEMO_POLICY = TrustPolicy(
    trusted_proxies=["127.0.0.0/8", "::1"],
    trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                     "X-Forwarded-Port", "X-Forwarded-Prefix"],
)

_SHOWN = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTPS", "HTTP_HOST", "SERVER_NAME",
          "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO")


def _as_text(native: str) -> str:
    """A WSGI string shown as text: its bytes read as UTF-8, and each byte that
    is not UTF-8 shown as ``\\xNN`` (so ``/caf\\xff`` for the bytes
    ``/caf``, 0xFF). A string that is not latin-1 (never one a server makes) is
    shown with its lone surrogates escaped."""
    if native.isascii():
        return native
    try:
        raw = native.encode("latin-1")
    except UnicodeEncodeError:
        return _printable(native)
    return raw.decode("utf-8", "backslashreplace")


def _printable(text: str) -> str:
    """*text* safe to print whatever the terminal's error handler: a byte that
    a command-line argument could not decode (a lone surrogate, PEP 383) is
    shown as ``\\xNN``, any other lone surrogate as ``\\udNNN``."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _environ_view(environ: WSGIEnvironment) -> dict[str, Any]:
    """What the demo app answers: values as text, as ``explain`` shows them."""
    decision = environ.get(DECISION_KEY)
    return {
        "environ": _shown(environ),
        "original": {k: _as_text(v) if isinstance(v, str) else v
                     for k, v in environ.get(ORIG_KEY, {}).items()},
        "decision": None if decision is None else {
            "peer": decision.peer,
            "trusted": decision.trusted,
            "kept": list(decision.kept),
            "removed": list(decision.removed),
            "ignored": _ignored_view(decision),
            "chain": [[_as_text(h.element), h.verdict] for h in decision.chain],
        },
    }


def _inner_demo_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps(_environ_view(environ), indent=2).encode() + b"\n"
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def demo_app(policy: TrustPolicy = DEMO_POLICY) -> WSGIApplication:
    """The demo application: shows, as JSON, the environ it gets after the
    middleware, the original values and the decision."""
    return TrustedProxyMiddleware(_inner_demo_app, policy)


def _demo(args: argparse.Namespace) -> int:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    policy = TrustPolicy.from_file(args.config) if args.config else DEMO_POLICY
    for warning in policy.warnings():
        print(f"warning: {warning}", file=sys.stderr)

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *items: Any) -> None:
            pass

    server = make_server(args.host, args.port, demo_app(policy), handler_class=QuietHandler)
    port = server.server_port
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}/some/path"
    print(f"trustedproxy demo on {url}")
    print(f"policy: {policy!r}\n")
    print("Try:")
    print(f"  curl -s {url}")
    print("  curl -s -H 'X-Forwarded-For: 203.0.113.7' -H 'X-Forwarded-Proto: https' "
          f"-H 'X-Forwarded-Host: www.example.com' -H 'X-Forwarded-Prefix: /myapp' {url}")
    print("  curl -s -H 'X-Forwarded-For: 203.0.113.7, junk' -H 'X-Forwarded-Port: 99999' "
          f"-H 'X-Real-IP: 6.6.6.6' {url}")
    print("\nYour curl connects from loopback, which the built-in policy trusts, so the "
          "headers above are believed.\nTo see forged headers stripped from an untrusted "
          "peer, give a policy that does not trust loopback:\n"
          "  trustedproxy demo --config config-examples/demo-untrusted.yaml\n")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# --------------------------------------------------------------------------- loading


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS,
                        help="the file's form (default: from its extension, else its content); "
                             "a file with nothing of that form that looks like another form "
                             "is an error")
    parser.add_argument("--block", metavar="BLOCK",
                        help="in a directive file whose blocks disagree, the block to use, "
                             "e.g. 'Location /api' or 'VirtualHost *:443'")


def _located(problem: Problem, path: str) -> str:
    return problem.source or path


# --------------------------------------------------------------------------- check


#: WSGI/ASGI servers and what to check in their own settings: what they do
#: with a header name holding '_' (measured by tests/test_smuggling.py; see
#: SECURITY.md; uvicorn's WSGI bridge by tests/test_cli.py; Granian by
#: tests/e2e/test_granian.py), and waitress's
#: own header clearing. ``None``: nothing; they drop or keep such names apart,
#: so a client cannot smuggle X_Forwarded_For in as X-Forwarded-For.
SERVERS: dict[str, str | None] = {
    "gunicorn": None,
    "waitress": ("waitress removes X-Forwarded-For, -Host, -Proto, -Port, -By and Forwarded "
                 "from every peer it does not trust itself before the application sees them, "
                 "so the middleware never gets them: run it with "
                 "--no-clear-untrusted-proxy-headers (clear_untrusted_proxy_headers=False) "
                 "and without its own trusted_proxy"),
    "mod_wsgi": None,
    "hypercorn": None,  # keeps '_' names apart (tests/e2e/test_hypercorn.py); ASGI
    "granian-wsgi": ("Granian's WSGI interface (--interface wsgi) files header names with '_' "
                     "under the CGI key of the '-' name, and of two spellings the one whose "
                     "first line comes later replaces the other: a client's 'X_Forwarded_For' "
                     "(or 'X_Forwarded_Proto') line that a front-end passes on after its own "
                     "X-Forwarded-For (-Proto) replaces it in HTTP_X_FORWARDED_FOR "
                     "(HTTP_X_FORWARDED_PROTO), so the client chooses REMOTE_ADDR (the scheme); "
                     "Caddy's reverse_proxy passes such lines on so, and nginx with "
                     "underscores_in_headers on; make the front-end drop header names with '_' "
                     "(nginx does by default), or serve an ASGI app with --interface asgi and "
                     "trustedproxy.asgi.TrustedProxyMiddleware (check with --server granian)"),
    "granian": None,  # --interface asgi keeps '_' names apart (tests/e2e/test_granian.py); NOTES
    "uvicorn": None,  # serving an ASGI app; see NOTES
    "uvicorn-wsgi": ("uvicorn --interface wsgi (its own WSGI bridge, as a2wsgi's) merges header "
                     "names with '_' as uWSGI does: a client's 'X_Forwarded_For' line is joined "
                     "to HTTP_X_FORWARDED_FOR before the WSGI middleware sees it, so a trusted "
                     "proxy that passes it through lets the client add to the list; serve the "
                     "WSGI app as ASGI instead, with trustedproxy.asgi.TrustedProxyMiddleware "
                     "around the bridge (it removes such names before the bridge merges them), "
                     "or make the front-end drop such headers (nginx does by default: "
                     "underscores_in_headers off)"),
    "uwsgi": ("uWSGI keeps header names with '_': a client's 'X_Forwarded_For' line is "
              "merged into HTTP_X_FORWARDED_FOR in line order, so a front-end that passes it "
              "on after its own X-Forwarded-For (Caddy's reverse_proxy does, and nginx with "
              "underscores_in_headers on) lets the client choose REMOTE_ADDR; make the "
              "front-end drop header names with '_' (nginx does by default). uWSGI also sets "
              "wsgi.url_scheme from any client's X-Forwarded-Proto or X-Forwarded-Ssl, which "
              "the middleware leaves as it is for an untrusted peer: let only the front-end "
              "reach uWSGI, and have it set X-Forwarded-Proto and remove X-Forwarded-Ssl"),
    "other": ("check that your server drops header names with '_' or keeps them apart from "
              "'-' names (gunicorn, waitress, mod_wsgi, hypercorn, and uvicorn and Granian "
              "serving ASGI do; uWSGI, Granian's WSGI interface and uvicorn --interface wsgi "
              "do not): see SECURITY.md"),
}

#: What ``check --server uwsgi`` says of a policy that trusts Unix-socket peers
#: but not 0.0.0.0 (tests/e2e/test_unix_socket.py).
UWSGI_UNIX_SOCKET = ("uWSGI reports a peer on a Unix socket as REMOTE_ADDR 0.0.0.0, an IP "
                     "address, which trust_unix_socket does not cover: add 0.0.0.0 to "
                     "trusted_proxies (no TCP peer has that address)")

#: What ``check --server`` says about a server that needs nothing, but that a
#: related setup does: printed as a note, which ``--strict`` does not count.
NOTES: dict[str, str] = {
    "uvicorn": ("an ASGI app needs nothing; for a WSGI app served with --interface wsgi, "
                "check with --server uvicorn-wsgi"),
    "granian": ("an ASGI app (--interface asgi) needs nothing; for a WSGI app served with "
                "--interface wsgi, check with --server granian-wsgi"),
}


def _networks(count: int) -> str:
    """``1 trusted network``, ``2 trusted networks``: as ``check`` and ``explain`` say it."""
    return f"{count} trusted network{'s' * (count != 1)}"


def _check(args: argparse.Namespace) -> int:
    worst = 0
    server_note = SERVERS.get(args.server) if args.server else None
    for path in args.files:
        try:
            policy = load_file(path, format=args.format, block=args.block)
        except ConfigError as exc:
            for problem in exc.problems:
                print(_printable(f"{_located(problem, path)}: error: {problem.message}"))
            worst = 2
            continue
        warnings = [f"{_located(w, path)}: warning: {w.message}" for w in policy.warnings()]
        if server_note and policy.trusted_headers:
            warnings.append(f"{path}: warning: --server {args.server}: {server_note}")
        if (args.server == "uwsgi" and policy.trust_unix_socket
                and not policy.compile().is_trusted("0.0.0.0")):
            warnings.append(f"{path}: warning: --server uwsgi: {UWSGI_UNIX_SOCKET}")
        for line in warnings:
            print(_printable(line))
        if args.server in NOTES and policy.trusted_headers:
            print(_printable(f"{path}: note: --server {args.server}: {NOTES[args.server]}"))
        if warnings and args.strict:
            worst = max(worst, 1)
        headers = ", ".join(policy.trusted_headers) or "none"
        print(f"{_printable(path)}: ok: {_networks(len(policy.trusted_proxies))}; "
              f"headers: {headers}" + (f"; {len(warnings)} warning{'s' * (len(warnings) != 1)}"
                                       if warnings else ""))
    return worst


# --------------------------------------------------------------------------- explain

# Which environ keys each decision field writes (Decision.sources names the field).
_FIELD_KEYS = {
    "client": ("REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED"),
    "scheme": ("wsgi.url_scheme", "HTTPS", "REQUEST_SCHEME"),
    "host": ("HTTP_HOST",),
    "server": ("SERVER_NAME",),
    "port": ("SERVER_PORT",),
    "prefix": ("SCRIPT_NAME", "PATH_INFO"),
}
_HEADER_LINE = re.compile(r"([A-Za-z0-9!#$%&'*+.^_`|~-]+):[ \t]*(.*)")


def _network(policy: TrustPolicy, address: str) -> str | None:
    """The trusted network that holds *address* (netaddr: this is not the request path)."""
    try:
        ip = netaddr.IPAddress(address.partition("%")[0])
    except (netaddr.AddrFormatError, ValueError):
        return None
    if ip.version == 6 and ip.is_ipv4_mapped():
        ip = ip.ipv4()
    for cidr in policy.trusted_proxies:
        network = netaddr.IPNetwork(cidr)
        if network.version == ip.version and ip in network:
            return cidr
    return None


def _native(text: str, what: str) -> str:
    """*text* as a server puts request bytes in the environ (PEP 3333): its
    UTF-8 bytes, read as latin-1.

    A lone surrogate U+DC80-U+DCFF stands for a byte that is not UTF-8, as
    Python decodes a command-line argument (PEP 383): it becomes that byte
    again, so ``--path $'/caf\\xff'`` gives the path the bytes ``/caf``, 0xFF.

    Raises:
        ConfigError: for any other lone surrogate, which stands for no byte.
    """
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("latin-1")
    except UnicodeEncodeError as exc:
        msg = (f"{what} {text!r}: {text[exc.start]!r} at position {exc.start} is a lone "
               "surrogate, neither text nor a byte")
        raise ConfigError(msg, source="command line", value=text) from None


def _request_environ(peer: str, headers: Sequence[str], path: str) -> dict[str, Any]:
    path, _, query = _native(path, "--path").partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path or "/",
        "QUERY_STRING": query, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
        "REMOTE_ADDR": peer,
    }
    seen: set[str] = set()
    for line in headers:
        match = _HEADER_LINE.fullmatch(line.strip())
        if not match:
            msg = f"-H {line!r}: expected 'Name: value', e.g. -H 'X-Forwarded-For: 203.0.113.7'"
            raise ConfigError(msg, source="command line", value=line)
        name, value = match.groups()
        value = _native(value, "-H")  # as a server gives it: the bytes, as latin-1
        key = "HTTP_" + name.upper().replace("-", "_")
        if key in seen:
            environ[key] += ", " + value  # repeated lines merge, as servers do
        else:
            environ[key] = value
            seen.add(key)
    return environ


def _forwarded_for(element: str) -> str:
    """The address in a Forwarded element's ``for=`` (its text as the walk
    shows it), or ``""``."""
    parsed = parse_forwarded(element, max_elements=1)
    node = element_node(parsed[-1]) if parsed else None
    return node.address if node else ""


def _shown(environ: dict[str, Any]) -> dict[str, str]:
    """The environ's keys worth showing, values as text (WSGI strings' bytes read as UTF-8)."""
    return {k: _as_text(environ[k]) for k in sorted(environ)
            if isinstance(environ[k], str) and (k in _SHOWN or k.startswith(("HTTP_", "REQUEST_",
                                                                              "QUERY_")))}


def _ignored_view(decision: Decision) -> list[dict[str, str]]:
    """The decision's ignored values, as text, for ``demo`` and ``explain``."""
    return [{"header": i.header, "value": _as_text(i.value),
             "reason": _as_text(i.reason)} for i in decision.ignored]


def explain(policy: TrustPolicy, peer: str, headers: Sequence[str] = (),
            path: str = "/") -> dict[str, Any]:
    """Work out what a request would get from *policy*, as a JSON-ready dict.

    Args:
        policy: the policy.
        peer: the TCP peer address.
        headers: request header lines, ``"Name: value"``.
        path: the request path (with an optional query string).

    The peer, path and header values are text, put into the environ as a
    server would (their UTF-8 bytes, as latin-1; a lone surrogate
    U+DC80-U+DCFF, as Python decodes a command-line argument, as the byte it
    stands for); values are shown as text again, a byte that is not UTF-8 as
    ``\\xNN``.

    ``walked`` names the header whose walk ``chain`` shows (``X-Forwarded-For``
    or ``Forwarded``). An element the walk did not read because of the policy's
    ``max_hops`` has the verdict ``unexamined``, in either header.

    Raises:
        ConfigError: for a header line that is not ``Name: value``, or a lone
            surrogate that stands for no byte.
    """
    peer = _native(peer, "--peer")
    environ = _request_environ(peer, headers, path)
    before = _shown(environ)
    table = policy.headers  # the built-in headers and the policy's custom ones
    found = {spec.key: environ[spec.environ_key] for spec in table.values()
             if spec.environ_key in environ}
    decision: Decision = policy.compile().decide(peer, found)
    apply_decision(decision, environ)
    after = _shown(environ)
    trusted_names = {h.lower() for h in policy.trusted_headers}
    walked = next((table[n].name for n in found if n in trusted_names and
                   table[n].kind in (Kind.FOR_LIST, Kind.FORWARDED)), None)
    chain = []
    for hop in decision.chain:
        network = None
        if hop.verdict in ("trusted", "client"):
            address = (_forwarded_for(hop.element) if walked == "Forwarded" else
                       (parse_element(hop.element) or (0, ""))[1])
            network = _network(policy, address) if address else None
        chain.append({"element": _as_text(hop.element), "verdict": hop.verdict,
                      "network": network})
    set_ = []
    for field, header in decision.sources:
        for key in _FIELD_KEYS[field]:
            if (key == "HTTP_X_FORWARDED_FOR" and header != "X-Forwarded-For") or (
                    key == "HTTP_FORWARDED" and header != "Forwarded"):
                continue
            if before.get(key) != after.get(key) or key == _FIELD_KEYS[field][0]:
                set_.append({"key": key, "value": after.get(key), "header": header})
    if decision.prefix and not any(f == "prefix" for f, _ in decision.sources):
        set_.append({"key": "SCRIPT_NAME", "value": after.get("SCRIPT_NAME"),
                     "header": "script_name (the policy's fixed prefix)"})
    ignored_names = {i.header.lower() for i in decision.ignored}
    removed = []
    for name in decision.removed:
        spec = table[name]
        if not decision.trusted:
            reason = "the peer is not a trusted proxy"
        elif name in ignored_names:
            reason = "its value is invalid (see ignored)"
        elif name in trusted_names:
            reason = "not used"
        else:
            reason = "not a trusted header"
        removed.append({"header": spec.name, "value": _as_text(found[name]),
                        "reason": reason})
    return {
        "peer": _as_text(peer),
        "trusted": decision.trusted,
        "network": _network(policy, peer) if decision.trusted else None,
        "walked": walked if chain else None,
        "chain": chain,
        "set": set_,
        "ignored": _ignored_view(decision),
        "kept": [table[n].name for n in decision.kept],
        "removed": removed,
        "environ": {"before": before, "after": after},
    }


def _malformed_address(peer: str) -> bool:
    """Whether *peer* is neither an IP address nor a Unix-socket peer."""
    return parse_peer(peer) is None and not is_socket_peer(peer)


def _explain_text(result: dict[str, Any], policy: TrustPolicy, path: str) -> list[str]:
    out = [f"policy:  {_printable(path)}: {_networks(len(policy.trusted_proxies))}; "
           f"headers: {', '.join(policy.trusted_headers) or 'none'}"]
    peer = result["peer"] or "(empty)"
    if result["trusted"]:
        where = f"in {result['network']}" if result["network"] else "trust_unix_socket"
        out.append(f"peer:    {peer} is a trusted proxy ({where})")
    else:
        why = (" (a malformed address: trust_unix_socket does not cover it)"
               if policy.trust_unix_socket and _malformed_address(result["peer"] or "") else "")
        out.append(f"peer:    {peer} is NOT a trusted proxy{why}: every forwarded header "
                   "is removed")
    if result["chain"]:
        out += ["", f"{result['walked']}, walked from the right:"]
        out += _walk_lines(result["chain"], policy.max_hops)
    key_width = max((len(s["key"]) for s in result["set"]), default=0)
    value_width = max((len(_text(s["value"])) for s in result["set"]), default=0)
    sections: list[tuple[str, list[str]]] = [
        ("set:", [f"  {s['key']:<{key_width}}  {_text(s['value']):<{value_width}}  "
                  f"from {s['header']}" for s in result["set"]]),
        ("ignored:", [f"  {i['header']}: {i['value']!r}: {i['reason']}"
                      for i in result["ignored"]]),
        ("removed:", [f"  {r['header']}: {r['value']!r}: {r['reason']}"
                      for r in result["removed"]]),
    ]
    for title, lines in sections:
        if lines:
            out += ["", title, *lines]
    before, after = result["environ"]["before"], result["environ"]["after"]
    keys = sorted(set(before) | set(after))
    width = max(len(k) for k in keys)
    out += ["", "environ:", f"  {'key':<{width}}  before -> after"]
    for key in keys:
        old, new = before.get(key), after.get(key)
        if old == new:
            out.append(f"  {key:<{width}}  {_text(old)}")
        else:
            out.append(f"  {key:<{width}}  {_text(old, '(absent)')} -> "
                       f"{_text(new, '(removed)')}")
    return out


def _walk_lines(chain: list[dict[str, Any]], max_hops: int) -> list[str]:
    """The walk, one line per element, rightmost first, each with its verdict."""
    verdicts = [hop["verdict"] for hop in chain]
    if "invalid" in verdicts:  # a trusted client is the hop that reported the junk
        trusted_client = "client: the last trusted hop before an invalid element"
    elif "unexamined" in verdicts:
        trusted_client = (f"client: the walk stops after max_hops ({max_hops}) trusted "
                          "proxies, so the leftmost element read"
                          if verdicts.count("trusted") >= max_hops else
                          "client: the rest of the header was not read, so the leftmost "
                          "element read")
    else:
        trusted_client = "client: every element is a trusted proxy, so the leftmost"
    # Read: max_hops + 1 elements (the walk's bound), or fewer when a long run
    # of empty elements (more than forwarded.MAX_GAP characters) ended the read.
    read = sum(v != "unexamined" for v in verdicts)
    unread = (f"not read: beyond max_hops ({max_hops})" if read > max_hops else
              f"not read: beyond {MAX_GAP} characters of empty elements")
    labels = {"trusted": "trusted proxy", "client": "client: the walk stops here",
              "invalid": "not an address: the walk stops here",
              "unvisited": "not looked at", "unexamined": unread}
    width = max(len(hop["element"]) for hop in chain)
    lines = []
    for i, hop in reversed(list(enumerate(chain, 1))):
        verdict = labels.get(hop["verdict"], hop["verdict"])
        if hop["verdict"] == "client" and hop["network"]:
            verdict = trusted_client
        note = f" (in {hop['network']})" if hop["network"] else ""
        lines.append(f"  {i:>2}. {hop['element']:<{width}}  {verdict}{note}")
    return lines


def _text(value: object, absent: str = "(absent)") -> str:
    if value is None:
        return absent
    return str(value) if value != "" else "''"


def _argument(arg: str) -> str:
    """A command-line argument as :func:`explain` takes it: the argument's bytes
    read as UTF-8, a byte that is not UTF-8 as a lone surrogate (PEP 383), so
    that :func:`_native` gives the bytes typed whatever the locale's encoding.
    """
    try:
        return os.fsencode(arg).decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # not from sys.argv: _native says what is wrong with it
        return arg


def _emit(text: str, *, utf8: bool = False) -> None:
    """Write *text* to stdout a line at a time; *utf8*: as UTF-8 bytes,
    whatever the terminal's encoding (``convert``: policy files are read as
    UTF-8, so its output must load back as it was written, not with
    characters the terminal's encoding lacks escaped).

    With unbuffered output (``python -u``, ``PYTHONUNBUFFERED``), a write
    that the reader's close cuts short is taken as done: the rest is dropped
    without an error, so one large write into ``| head -1`` could end with
    status 0. A line at a time, the next line's write fails, and
    :func:`main` ends the command as for any closed stdout. No stdout at all
    (``>&-``: ``sys.stdout`` is ``None``) is a closed stdout too.
    """
    stdout = sys.stdout
    if stdout is None:
        raise BrokenPipeError(9, "stdout is closed")
    raw = getattr(stdout, "buffer", None) if utf8 else None
    if raw is not None:
        stdout.flush()
        for line in text.splitlines(keepends=True):
            raw.write(line.encode("utf-8", "surrogateescape"))
        raw.flush()
        return
    for line in text.splitlines(keepends=True):
        stdout.write(line)


def _explain(args: argparse.Namespace) -> int:
    policy = load_file(args.file, format=args.format, block=args.block)
    result = explain(policy, _argument(args.peer), [_argument(h) for h in args.header],
                     _argument(args.path))
    if args.json:
        result = {"policy": _printable(args.file), **result,
                  "warnings": [_printable(str(w)) for w in policy.warnings()]}
        _emit(json.dumps(result, indent=2) + "\n")
    else:
        _emit("\n".join(_explain_text(result, policy, args.file)) + "\n")
    return 0


# --------------------------------------------------------------------------- convert


def _convert(args: argparse.Namespace) -> int:
    policy = load_file(args.file, format=args.format, block=args.block)
    if args.to == "yaml":
        _emit(policy.to_yaml(), utf8=True)
    elif args.to == "directives":
        _emit(policy.to_directives(), utf8=True)
    else:
        _emit(shlex.join(policy.to_express_args()) + "\n", utf8=True)
    return 0


class _Formatter(argparse.HelpFormatter):
    """Wraps the description, keeps the example lines of the epilog as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def version_text() -> str:
    """``trustedproxy --version``: the version, and which request path is in use.

    pip shows the warning of a failed compile only with ``-v``, so this is where
    a user finds out that the C speedups were not built.
    """
    import platform

    from . import __version__, _compiled

    if _compiled.speedups is not None:
        path = "compiled (trustedproxy._speedups)"
    elif _compiled.NOT_USED:
        path = f"pure Python ({_compiled.NOT_USED})"
    else:
        path = ("pure Python: the C speedups are not built (reinstall with a C compiler "
                "and Python headers; TRUSTEDPROXY_REQUIRE_SPEEDUPS=1 makes a failed "
                "compile an error)")
    return (f"trustedproxy {__version__} on {platform.python_implementation()} "
            f"{platform.python_version()}\nrequest path: {path}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trustedproxy",
        description="Believe forwarded headers only from the proxies you trust.",
        epilog="exit status: 0 fine, 1 warnings (check --strict), 2 usage or configuration "
               "error,\n141 stdout closed before the output was written (| head)",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version keeps its lines
    )
    parser.add_argument("--version", action="version", version=version_text(),
                        help="show the version and whether the C speedups are in use")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo", help="serve a small app that shows what the middleware does",
        description="Serve a small app that shows, as JSON, the environ it receives after "
                    "the middleware, the original values and the decision.",
        epilog="example: trustedproxy demo --port 8000",
    )
    demo.add_argument("--config", metavar="FILE", help="a policy file: YAML, mod_wsgi "
                      "directives or mod_wsgi-express arguments, told from its name or content "
                      "(default: trust loopback; X-Forwarded-For, -Proto, -Host, -Port, -Prefix)")
    demo.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default %(default)s)")
    demo.add_argument("--port", type=int, default=8000,
                      help="port to listen on (default %(default)s)")
    demo.set_defaults(func=_demo)

    formatter = _Formatter
    check = commands.add_parser(
        "check", help="check policy files and print their warnings and errors",
        description="Load each policy file (YAML, mod_wsgi directives or mod_wsgi-express "
                    "arguments) and print every warning and error as 'file:line: warning: message' "
                    "or 'file:line: error: message', then 'file: ok: ...' for a file that loads. "
                    "Exit status: 0 clean, 1 warnings (with --strict), 2 errors, 141 stdout "
                    "closed early (| head).",
        epilog="examples:\n  trustedproxy check trust.yaml\n"
               "  trustedproxy check --strict trust.yaml /etc/apache2/sites-enabled/app.conf\n"
               "  trustedproxy check --server uwsgi trust.yaml",
        formatter_class=formatter,
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="policy files")
    check.add_argument("--strict", action="store_true",
                       help="exit with status 1 when there are warnings")
    check.add_argument("--server", choices=sorted(SERVERS), metavar="SERVER",
                       help="the WSGI/ASGI server behind the policy; warns when it keeps header "
                            "names with '_' (uvicorn-wsgi: uvicorn --interface wsgi; granian-wsgi: "
                            "its --interface wsgi, granian: its --interface asgi), or removes "
                            "forwarded headers itself (choices: %(choices)s)")
    _add_load_options(check)
    check.set_defaults(func=_check)

    explain_ = commands.add_parser(
        "explain", help="show what a request would get from a policy",
        description="Show the decision a request would get: whether the peer is trusted and "
                    "by which network, the X-Forwarded-For (or Forwarded) walk hop by hop, "
                    "which header set which environ key, what was ignored and why, what was "
                    "removed, and the environ before and after. The path and header values go "
                    "into the environ as a server puts them: their bytes, read as latin-1; a "
                    "byte that is not UTF-8 is shown as \\xNN.",
        epilog="example:\n  trustedproxy explain trust.yaml --peer 10.0.0.5 \\\n"
               "      -H 'X-Forwarded-For: 203.0.113.7, 10.0.0.7' "
               "-H 'X-Forwarded-Proto: https' --path /myapp/page",
        formatter_class=formatter,
    )
    explain_.add_argument("file", metavar="FILE", help="a policy file")
    explain_.add_argument("--peer", required=True, metavar="ADDR",
                          help="the TCP peer address (REMOTE_ADDR as the server sets it)")
    explain_.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                          help="a request header (repeatable)")
    explain_.add_argument("--path", default="/", help="the request path (default %(default)s)")
    explain_.add_argument("--json", action="store_true", help="print JSON for tools")
    _add_load_options(explain_)
    explain_.set_defaults(func=_explain)

    convert = commands.add_parser(
        "convert", help="write a policy in another form",
        description="Write a policy file as YAML, mod_wsgi directives or mod_wsgi-express "
                    "arguments. Options mod_wsgi has no directive for are written as "
                    "'# trustedproxy:' comment lines; mod_wsgi-express cannot carry them, "
                    "directives cannot register custom headers, and neither can say "
                    "'trust headers from Unix-socket peers only' (no trusted proxies): "
                    "converting such a policy to a form that cannot carry it is an error "
                    "(exit status 2).",
        epilog="examples:\n  trustedproxy convert trust.yaml --to directives\n"
               "  trustedproxy convert vhost.conf --block 'Location /api' --to yaml",
        formatter_class=formatter,
    )
    convert.add_argument("file", metavar="FILE", help="a policy file")
    convert.add_argument("--to", required=True, choices=FORMATS, help="the form to write")
    _add_load_options(convert)
    convert.set_defaults(func=_convert)
    return parser


#: The exit status when stdout is closed before the output is written
#: (``trustedproxy explain ... | head -1``): 128 + SIGPIPE, what the shell
#: reports for a command that SIGPIPE ends, as it would end a C program.
STDOUT_CLOSED = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv* (default ``sys.argv[1:]``); return the exit code.

    A stdout closed by its reader (``| head -1``) ends the command quietly,
    with status :data:`STDOUT_CLOSED`: no message, no traceback. As Python's
    documentation advises for SIGPIPE, stdout is then pointed at
    :data:`os.devnull`, so that flushing it at exit cannot fail again.
    """
    try:
        code = _main(argv)
        if sys.stdout is not None:
            sys.stdout.flush()  # short output waits in the buffer: fail here, not at exit
    except BrokenPipeError:
        _stdout_to_devnull()
        return STDOUT_CLOSED
    return code


def _stdout_to_devnull(stream: Any = None) -> None:
    """Point the stdout (or *stream*'s) file descriptor at os.devnull (when it has one)."""
    try:
        fd = (stream or sys.stdout).fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test, or already closed
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _main(argv: Sequence[str] | None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # Whatever the terminal's encoding (ASCII, latin-1, a Windows code page), a
        # character it cannot show is escaped, never a UnicodeEncodeError.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            _error(f"trustedproxy: error: {problem}")
        return 2
    except TrustedProxyError as exc:
        _error(f"trustedproxy: error: {exc}")
        return 2
    except BrokenPipeError:
        raise  # stdout closed by its reader: main() ends quietly
    except OSError as exc:
        _error(f"trustedproxy: error: {exc}")
        return 2
    return result


def _error(line: str) -> None:
    """Print an error line on stderr. When stderr is closed (its reader gone,
    or no stderr at all) the line is lost, but the exit status still says
    what happened: a failed write here is not the closed stdout of status
    :data:`STDOUT_CLOSED`."""
    stderr = sys.stderr
    if stderr is None:
        return
    try:
        print(_printable(line), file=stderr, flush=True)
    except OSError:
        _stdout_to_devnull(stderr)  # so that flushing it at exit cannot fail again
