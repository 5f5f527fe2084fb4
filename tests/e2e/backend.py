"""The back-end application of the end-to-end scenarios, and how to serve it.

A Flask app that reports what it saw (as JSON) is served by gunicorn or
waitress, once wrapped in ``TrustedProxyMiddleware`` loaded from a YAML policy
file (``application``) and once bare (``plain``), to show the bug the
middleware fixes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from realservers import ManagedServer, start_gunicorn, start_waitress

BACKEND_KINDS = ("gunicorn", "waitress")

#: The start of an ASGI test app's source: what :data:`ASGI_ECHO_APP` imports.
ASGI_ECHO_IMPORTS = """\
import json

from trustedproxy.asgi import EXTENSION_KEY
"""

#: An ASGI app, ``inner``, that answers an http request (and a websocket, with
#: one message) with what it saw of the scope as JSON (``view``), and runs a
#: lifespan. The servers' tests append their own wrapping of it.
ASGI_ECHO_APP = """

def view(scope):
    ext = scope.get("extensions", {}).get(EXTENSION_KEY)
    return {
        "type": scope["type"], "client": scope["client"], "scheme": scope["scheme"],
        "server": scope["server"], "root_path": scope["root_path"], "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "trusted": ext["decision"].trusted if ext else None,
        "orig_client": ext["orig"]["client"] if ext else None,
    }


async def inner(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        body = json.dumps(view(scope)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(view(scope))})
        await send({"type": "websocket.close", "code": 1000})
"""

APP_SOURCE = '''\
from pathlib import Path

from flask import Flask, jsonify, redirect, request, url_for

from trustedproxy import TrustedProxyMiddleware

HERE = Path(__file__).resolve().parent


def create_app(policy_file):
    app = Flask("e2e_" + ("wrapped" if policy_file else "plain"),
                static_folder=str(HERE / "static"), root_path=str(HERE))

    def report():
        env = request.environ
        orig = env.get("trustedproxy.orig") or {}
        return jsonify(
            remote_addr=request.remote_addr,
            url=request.url,
            host_url=request.host_url,
            is_secure=request.is_secure,
            script_root=request.script_root,
            static=url_for("static", filename="app.css"),
            external=url_for("hello", _external=True),
            environ={k: v for k, v in env.items() if isinstance(v, str)},
            orig_peer=orig.get("REMOTE_ADDR"),
        )

    @app.route("/hello")
    def hello():
        return report()

    @app.route("/go")
    def go():
        return redirect(url_for("hello"))

    @app.route("/", defaults={"rest": ""})
    @app.route("/<path:rest>")
    def anything(rest):
        return report()

    if policy_file:
        app.wsgi_app = TrustedProxyMiddleware(app.wsgi_app, policy_file)
    return app


application = create_app(str(HERE / "policy.yaml"))
plain = create_app(None)
'''


def start_backend(kind: str, policy_yaml: str, *, attr: str = "application") -> ManagedServer:
    """Serve the Flask app with *kind* (gunicorn or waitress) on 127.0.0.1."""
    files = {
        "e2e_app.py": APP_SOURCE,
        "policy.yaml": policy_yaml,
        "static/app.css": "body { color: black; }\n",
    }
    start: Any = {"gunicorn": start_gunicorn, "waitress": start_waitress}[kind]
    server: ManagedServer = start(files, f"e2e_app:{attr}", name=f"{kind}-{attr}")
    return server


EXAMPLES = Path(__file__).resolve().parent.parent.parent / "config-examples"


def example(name: str) -> str:
    """The text of ``config-examples/NAME.yaml``: the policy a deployment like the
    scenario's would use, exactly as the project ships it."""
    return (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")


def policy(proxies: list[str], headers: list[str]) -> str:
    """A YAML policy (keys ``trusted_proxies`` and ``trusted_headers``)."""
    lines = ["trusted_proxies:"]
    lines += [f"  - {p!r}" if ":" in p else f"  - {p}" for p in proxies]
    lines.append("trusted_headers:")
    lines += [f"  - {h}" for h in headers]
    return "\n".join(lines) + "\n"
