"""The media buyer's dashboard: static files served at `/`, beside `/graphql`.

The page is plain ES modules with its one library (uPlot) vendored under
`static/vendor`, so nothing is built at install and nothing is fetched from
another origin; the Content-Security-Policy makes the browser hold the page to
that. `static/vendor/graphiql` holds the files of strawberry's GraphiQL page
at `/graphql` (npm's, unchanged, at the paths strawberry's CDN has them).
"""

from __future__ import annotations

from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        b"style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; "
        b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Revalidate on every load (a cheap 304), so an upgrade is never half old.
    (b"cache-control", b"no-cache"),
]


class Dashboard:
    """StaticFiles for the dashboard, with the page's security headers."""

    def __init__(self) -> None:
        self.files = StaticFiles(packages=[("graphapi.dashboard", "static")], html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a websocket to a path that is not /graphql
            await send({"type": "websocket.close", "code": 4404})
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *_HEADERS]}
            await send(message)

        await self.files(scope, receive, send_with_headers)
