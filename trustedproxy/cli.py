"""The ``trustedproxy`` command line: ``main(argv) -> int``.

Exit codes: 0 fine, 1 problems found, 2 usage or configuration error. Errors
are printed as one line each, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, TrustedProxyError
from .policy import TrustPolicy
from .wsgi import DECISION_KEY, ORIG_KEY, TrustedProxyMiddleware

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


def _environ_view(environ: WSGIEnvironment) -> dict[str, Any]:
    decision = environ.get(DECISION_KEY)
    return {
        "environ": {k: environ[k] for k in sorted(environ)
                    if isinstance(environ[k], str) and (k in _SHOWN or k.startswith("HTTP_"))},
        "original": environ.get(ORIG_KEY, {}),
        "decision": None if decision is None else {
            "peer": decision.peer,
            "trusted": decision.trusted,
            "kept": list(decision.kept),
            "removed": list(decision.removed),
            "ignored": [{"header": i.header, "value": i.value, "reason": i.reason}
                        for i in decision.ignored],
            "chain": [[h.element, h.verdict] for h in decision.chain],
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

    policy = TrustPolicy.from_yaml(args.config) if args.config else DEMO_POLICY
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trustedproxy",
        description="Believe forwarded headers only from the proxies you trust.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo", help="serve a small app that shows what the middleware does",
        description="Serve a small app that shows, as JSON, the environ it receives after "
                    "the middleware, the original values and the decision.",
        epilog="example: trustedproxy demo --port 8000",
    )
    demo.add_argument("--config", metavar="FILE", help="a YAML policy file "
                      "(default: trust loopback; X-Forwarded-For, -Proto, -Host, -Port, -Prefix)")
    demo.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default %(default)s)")
    demo.add_argument("--port", type=int, default=8000,
                      help="port to listen on (default %(default)s)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv* (default ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"trustedproxy: error: {problem}", file=sys.stderr)
        return 2
    except TrustedProxyError as exc:
        print(f"trustedproxy: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"trustedproxy: error: {exc}", file=sys.stderr)
        return 2
    return result
