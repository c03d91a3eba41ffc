"""`/graphql`: the strawberry schema over HTTP and WebSocket, behind API keys.

Every HTTP request needs `Authorization: Bearer <key>`, else 401 with no data;
the one exception is a browser's plain GET, which gets GraphiQL (whose own
requests then carry the key). A websocket authenticates with the same header,
or with `{"Authorization": "Bearer <key>"}` in its connection_init payload.
The check is a pure ASGI wrapper (BaseHTTPMiddleware would break the context
variables tortoise relies on). A POST body larger than MAX_BODY is refused
(413) before strawberry reads it, as /postback refuses one.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

import schema
from graphapi.api_keys import is_valid
from graphapi.conversions import Refused
from graphapi.hot_paths import json_answer
from graphapi.postbacks import read_body
from schema.context import Context, Loaders

_AUTHENTICATED = "graphapi.authenticated"
# Room for any query within the schema's token limit and for large variables
# (10,000 sources of 100 characters); a body of megabytes is not a request.
MAX_BODY = 1024 * 1024
_UNAUTHORIZED = json.dumps(
    {"errors": [{"message": "an API key is required: Authorization: Bearer <key>"}]}
).encode()


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, key = value.strip().partition(" ")
    return (key.strip() or None) if scheme.lower() == "bearer" else None


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _authorized(authorization: str | None) -> bool:
    key = _bearer(authorization)
    return key is not None and await is_valid(key)


class GraphQLApp(GraphQL):
    def __init__(self, services: Any) -> None:
        super().__init__(
            schema.schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,  # strawberry refuses mutations over GET
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            multipart_uploads_enabled=False,
        )
        self.services = services

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(services=self.services, request=request, response=response, loaders=Loaders(self.services))

    async def on_ws_connect(self, context: Context) -> UnsetType:
        if context.request.scope.get(_AUTHENTICATED):
            return UNSET
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = params.get("Authorization") or params.get("authorization")
        if not isinstance(authorization, str) or not await _authorized(authorization):
            raise ConnectionRejectionError()
        return UNSET


class GraphQLEndpoint:
    """The ASGI app at /graphql: API-key check, then strawberry."""

    def __init__(self, services: Any) -> None:
        self.graphql = GraphQLApp(services)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        authorization = _header(scope, b"authorization")
        if scope["type"] == "websocket":
            if authorization is not None:
                if not await _authorized(authorization):
                    await send({"type": "websocket.close", "code": 4401})
                    return
                scope = {**scope, _AUTHENTICATED: True}
        elif not _is_graphiql(scope) and not await _authorized(authorization):
            await send({
                "type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": _UNAUTHORIZED})
            return
        if scope["type"] == "http" and scope["method"] == "POST":
            try:
                body = await read_body(receive, Headers(scope=scope), MAX_BODY)
            except Refused as refusal:
                await json_answer(send, refusal.http_status, {"errors": [{"message": refusal.message}]})
                return
            receive = _replaying(body, receive)
        await self.graphql(scope, receive, send)


def _replaying(body: bytes, receive: Any) -> Any:
    """`receive`, giving first the whole `body` already read from it."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> dict:
        return pending.pop() if pending else await receive()

    return replay


def _is_graphiql(scope: dict) -> bool:
    """A browser asking for the page itself: GET, HTML, no query."""
    return (
        scope["method"] == "GET"
        and not scope.get("query_string")
        and "text/html" in (_header(scope, b"accept") or "")
    )
