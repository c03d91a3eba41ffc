"""Relay connections with keyset cursors.

A cursor is the row's primary key, base64-encoded so that clients treat it as
opaque. Pages are `WHERE id < cursor ORDER BY id DESC` (newest first), so rows
inserted while a client pages never shift, repeat or hide the rows it has yet
to see. `first` is capped at MAX_PAGE.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from tortoise.models import Model
from tortoise.queryset import QuerySet

from graphapi.db import Database
from schema.errors import PublicError
from schema.ids import parse_id

MAX_PAGE = 500
DEFAULT_PAGE = 50
_PREFIX = "cursor:"

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{pk}".encode()).decode()


def decode_cursor(cursor: str, model: type[Model]) -> int:
    """The key a cursor of `model`'s rows holds; a number no key of its table
    can be was never a cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    pk = parse_id(text.removeprefix(_PREFIX), model) if text.startswith(_PREFIX) else None
    if pk is None:
        raise PublicError("invalid cursor: pass an endCursor from a previous page")
    return pk


def _window(first: int | None, after: str | None, model: type[Model]) -> tuple[int, int | None]:
    """The page's size and the id its rows come before."""
    if first is None:
        first = DEFAULT_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise PublicError(f"first must be between 0 and {MAX_PAGE}")
    return first, decode_cursor(after, model) if after is not None else None


async def page(
    queryset: QuerySet,
    first: int | None,
    after: str | None,
    node: Callable[[object], T],
) -> Connection[T]:
    first, before = _window(first, after, queryset.model)
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    rows = await queryset.order_by("-id").limit(first + 1)
    return _connection([(row.id, row) for row in rows], first, after, node)


async def page_of_rows(
    db: Database,
    model: type[Model],
    select: str,
    conditions: list[tuple[str, Any]],
    first: int | None,
    after: str | None,
    node: Callable[[Sequence[Any]], T],
) -> Connection[T]:
    """`page` for rows read with SQL: `select` reads `model`'s table, its id
    first; `conditions` are (SQL with one `?`, its value), all of which must hold."""
    first, before = _window(first, after, model)
    if before is not None:
        conditions = [*conditions, ("id < ?", before)]
    where = " WHERE " + " AND ".join(sql for sql, _ in conditions) if conditions else ""
    rows = await db.fetch(
        f"{select}{where} ORDER BY id DESC LIMIT ?", [*(value for _, value in conditions), first + 1]
    )
    return _connection([(row[0], row) for row in rows], first, after, node)


def _connection(rows: list[tuple[int, Any]], first: int, after: str | None, node: Callable[[Any], T]) -> Connection[T]:
    """The page of `rows` (id, row), newest first, one more than `first` when there are more."""
    edges = [Edge(cursor=encode_cursor(pk), node=node(row)) for pk, row in rows[:first]]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
