"""The hot paths' plain ASGI plumbing: query strings parsed and answers sent
without Request or Response objects, and the wrapper that serves an endpoint
outside starlette's middleware."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any
from urllib.parse import unquote

log = logging.getLogger(__name__)

Headers = Sequence[tuple[bytes, bytes]]

# json.dumps given options builds an encoder each call: a microsecond of a
# postback's time, twice.
_ANSWER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_PARAMS = json.JSONEncoder(ensure_ascii=False)


def _unquote(text: str) -> str:
    text = unquote(text.replace("+", " "), errors="replace")
    return text.replace("\x00", "") if "\x00" in text else text


def query_pairs(text: str) -> Iterator[tuple[str, str]]:
    """The (name, value) pairs of a query string or form, blank values kept and
    NULs dropped: what parse_qsl gives, at a fraction of its cost, since most
    parts need no unquoting."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            if "%" in part or "+" in part:
                name, value = _unquote(name), _unquote(value)
            yield name, value


async def answer(send, status: int, body: bytes, content_type: bytes, headers: Headers = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def plain(send, status: int, text: str, headers: Headers = ()) -> None:
    await answer(send, status, text.encode(), b"text/plain; charset=utf-8", headers)


async def json_answer(send, status: int, content: dict[str, Any], headers: Headers = ()) -> None:
    body = _ANSWER.encode(content).encode()
    await answer(send, status, body, b"application/json", headers)


def params_json(params: dict[str, Any]) -> str:
    """A request's parameters as a JSON column holds them (most have none)."""
    return _PARAMS.encode(params) if params else "{}"


def hot_path(
    endpoint: Callable, methods: tuple[str, ...], unavailable: Callable[[Callable], Awaitable[None]]
) -> Callable:
    """An endpoint served outside starlette's middleware: `methods` only, and
    any unexpected error logged and answered by `unavailable` (a 503), never a
    500 or a stack trace."""
    allow = ", ".join(methods).encode()
    use = " or ".join(method for method in methods if method != "HEAD")

    async def app(scope, receive, send) -> None:
        if scope["method"] not in methods:
            await plain(send, 405, f"Method not allowed: use {use}.", [(b"allow", allow)])
            return
        try:
            await endpoint(scope, receive, send)
        except Exception:
            log.exception("%s failed", scope["path"])
            # Refused by the server when the response had already started.
            with contextlib.suppress(Exception):
                await unavailable(send)

    return app
