"""A Starlette app for tests/test_frameworks.py: routes that answer with what
Starlette's request API reports (served directly and under uvicorn)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


def report(connection: Request | WebSocket) -> dict[str, Any]:
    """What Starlette's request API says of a request or websocket."""
    url = connection.url
    name = "item" if connection.scope["type"] == "http" else "ws"
    params = {"item_id": "7"} if name == "item" else {}
    return {
        "client": connection.client.host if connection.client else None,
        "scheme": url.scheme,
        "hostname": url.hostname,
        "port": url.port,
        "url": str(url),
        "url_for": str(connection.url_for(name, **params)),
        "product_url": str(connection.url_for("product", pid="7")),
        "root_path": connection.scope.get("root_path"),
        "path": connection.scope["path"],
        "params": dict(connection.path_params),
        "forwarded": sorted(n for n in connection.headers if n.startswith("x-forwarded")),
    }


async def item(request: Request) -> JSONResponse:
    return JSONResponse({"route": "item", **report(request)})


async def product(request: Request) -> JSONResponse:
    return JSONResponse({"route": "product", **report(request)})


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(report(websocket))
    await websocket.close()


async def home(request: Request) -> JSONResponse:
    return JSONResponse({"route": "home", **report(request)})


ROUTES = [Route("/", home, name="home"),
          Route("/items/{item_id}", item, name="item"),
          Route("/products/{pid}", product, name="product"),
          WebSocketRoute("/ws", socket, name="ws")]
