"""The ceilings for bench/click_bench.py: servers that answer /click with the
same kind of 302 graphapi sends and record nothing.

- `route_app`: a starlette app with an ordinary route (Request -> Response),
  the bar the performance targets are set against;
- `raw_app`: a plain ASGI callable, no router: the most any Python server on
  uvicorn can do here.
"""

from __future__ import annotations

import secrets

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def _location() -> str:
    return "https://offer.test/landing?click_id=" + secrets.token_urlsafe(16)


async def bare_click(request: Request) -> Response:
    return Response(
        status_code=302,
        headers={"location": _location(), "cache-control": "no-store, no-cache, max-age=0"},
    )


route_app = Starlette(routes=[Route("/click", bare_click)])


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
