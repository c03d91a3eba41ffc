"""`/graphql`: the strawberry schema over HTTP and WebSocket, behind API keys.

Every HTTP request needs `Authorization: Bearer <key>`, else 401 with no data;
the one exception is a browser's plain GET, which gets GraphiQL (whose own
requests then carry the key). A websocket authenticates with the same header,
or with `{"Authorization": "Bearer <key>"}` in its connection_init payload;
each operation it starts checks the key again, and a revoked key closes it.
The check is a pure ASGI wrapper (BaseHTTPMiddleware would break the context
variables tortoise relies on). A POST body larger than MAX_BODY is refused
(413) before strawberry reads it, as /postback refuses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage
from strawberry.types.unset import UnsetType

import schema
from graphapi.api_keys import is_valid
from graphapi.conversions import Refused
from graphapi.hot_paths import json_answer
from graphapi.postbacks import read_body
from schema.context import Context, Loaders

log = logging.getLogger(__name__)

# A websocket's key, checked in its upgrade request.
_API_KEY = "graphapi.api_key"
# Room for any query within the schema's token limit and for large variables
# (10,000 sources of 100 characters); a body of megabytes is not a request.
MAX_BODY = 1024 * 1024
# Where strawberry's GraphiQL page takes its files from, and where the dashboard
# serves the same files (graphapi/dashboard/static/vendor/graphiql).
CDN = "https://unpkg.com/"
VENDORED = "/vendor/graphiql/"
UNAVAILABLE = "The tracker cannot answer right now (its database is unreachable); please try again in a moment."
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


async def _valid_key(authorization: str | None) -> str | None:
    """The bearer key of an Authorization value, when it is a valid key."""
    key = _bearer(authorization)
    return key if key is not None and await is_valid(key) else None


class KeyCheckedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws held to its API key for as long as the socket
    lives: each operation checks the key again, as each HTTP request does, and
    once the key is revoked (by any process) the socket's operations end and
    it is closed with 4403, within api_keys.REVOCATION_CHECK_SECONDS."""

    _guard: asyncio.Task | None = None
    _refused = False

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._guard is None:
            self._guard = asyncio.create_task(self._close_when_revoked(), name="graphql-ws-key")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Before acknowledgement strawberry refuses the operation itself.
        if self.connection_acknowledged and not await is_valid(self.context.api_key):
            await self._refuse()
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._guard
        await super().shutdown()

    async def _close_when_revoked(self) -> None:
        with self.context.services.api_keys.watch(self.context.api_key) as revoked:
            await revoked.wait()
        await self._refuse()

    async def _refuse(self) -> None:
        # Once only: the guard and an operation may both find the key revoked.
        if self._refused:
            return
        self._refused = True
        # Operations first, so no subscription sends on a closed socket.
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(code=4403, reason="API key revoked")


class GraphQLApp(GraphQL):
    graphql_transport_ws_handler_class = KeyCheckedTransportWS

    def __init__(self, services: Any) -> None:
        super().__init__(
            schema.schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,  # strawberry refuses mutations over GET
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            multipart_uploads_enabled=False,
        )
        self.services = services

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # strawberry answers a request it cannot run (bad JSON, a mutation over
        # GET, a batch) in plain text; clients of a JSON API read JSON.
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            response = JSONResponse({"errors": [{"message": error.reason}]}, status_code=error.status_code)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return json.loads(data)
        except RecursionError:
            # Not JSON strawberry can take: answered as any unreadable JSON is
            # (400 over HTTP, 4400 on a websocket), not as a crash.
            raise json.JSONDecodeError("nested too deeply", data if isinstance(data, str) else "", 0) from None

    @functools.cached_property
    def graphql_ide_html(self) -> str:
        # strawberry's GraphiQL page loads its scripts from a CDN; the same
        # files are vendored with the dashboard, so it works with no internet
        # (their integrity hashes still hold: the files are byte for byte npm's).
        return super().graphql_ide_html.replace(CDN, VENDORED)

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(services=self.services, request=request, response=response, loaders=Loaders(self.services))

    async def on_ws_connect(self, context: Context) -> UnsetType:
        key = context.request.scope.get(_API_KEY)
        if key is None:
            params = context.connection_params if isinstance(context.connection_params, dict) else {}
            authorization = params.get("Authorization") or params.get("authorization")
            key = await _valid_key(authorization) if isinstance(authorization, str) else None
            if key is None:
                raise ConnectionRejectionError()
        context.api_key = key
        return UNSET


class GraphQLEndpoint:
    """The ASGI app at /graphql: API-key check, then strawberry."""

    def __init__(self, services: Any) -> None:
        self.graphql = GraphQLApp(services)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        authorization = _header(scope, b"authorization")
        websocket = scope["type"] == "websocket"
        try:
            if websocket and authorization is not None:
                key = await _valid_key(authorization)
                if key is None:
                    await send({"type": "websocket.close", "code": 4401})
                    return
                scope = {**scope, _API_KEY: key}
            elif not websocket and not _is_graphiql(scope) and await _valid_key(authorization) is None:
                await send({
                    "type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                })  # fmt: skip
                await send({"type": "http.response.body", "body": _UNAUTHORIZED})
                return
        except Exception:  # the database is down: the key cannot be checked
            log.exception("/graphql: the API key could not be checked")
            if websocket:
                await send({"type": "websocket.close", "code": 1013})  # try again later
            else:
                await json_answer(send, 503, {"errors": [{"message": UNAVAILABLE}]}, [(b"retry-after", b"1")])
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
    """A browser asking for the page itself: GET, HTML, no `query` (the page
    keeps what is typed in its own parameters, `q`, `variables`, `headers`)."""
    return (
        scope["method"] == "GET"
        and "text/html" in (_header(scope, b"accept") or "")
        and "query" not in parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    )
