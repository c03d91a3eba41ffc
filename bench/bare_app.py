"""The ceilings for bench/click_bench.py and bench/postback_bench.py: servers
that answer /click with the same kind of 302 graphapi sends, and /postback with
the same kind of JSON, and record nothing.

- `route_app`: a starlette app with ordinary routes (Request -> Response),
  the bar the performance targets are set against;
- `raw_app`: a plain ASGI callable, no router: the most any Python server on
  uvicorn can do here.
"""

from __future__ import annotations

import secrets

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def _location() -> str:
    return "https://offer.test/landing?click_id=" + secrets.token_urlsafe(16)


async def bare_click(request: Request) -> Response:
    return Response(
        status_code=302,
        headers={"location": _location(), "cache-control": "no-store, no-cache, max-age=0"},
    )


async def bare_postback(request: Request) -> Response:
    return JSONResponse({"result": "created", "conversion_id": 1, "status": request.query_params.get("status")})


route_app = Starlette(routes=[Route("/click", bare_click), Route("/postback", bare_postback)])


async def raw_app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 302,
            "headers": [
                (b"location", _location().encode()),
                (b"cache-control", b"no-store, no-cache, max-age=0"),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})
