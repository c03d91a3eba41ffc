"""The Click type and the click queries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from graphapi import models
from graphapi.db import Database
from graphapi.money import from_micros
from graphapi.rollups import as_datetime
from schema.campaign import Campaign, Lander, Offer, load_campaign, load_lander, load_offer
from schema.enums import DeviceType
from schema.ids import parse_id
from schema.paging import Connection, page_of_rows

if TYPE_CHECKING:
    from schema.conversion import Conversion

SUBS = ("subid",) + tuple(f"sub{i}" for i in range(1, 11))
# Clicks are read with SQL, not through the ORM: building tortoise models cost
# a 500-click page more than everything else it does (bench/graphql_bench.py).
_COLUMNS = (
    "id", "campaign_id", "offer_id", "lander_id", "click_id", "created_at", "ip", "user_agent", "country",
    "device_type", "os", "browser", "referrer", "source", "creative", *SUBS, "params", "is_unique", "is_bot",
    "cost", "truncated",
)  # fmt: skip
SELECT_CLICKS = f"SELECT {', '.join(_COLUMNS)} FROM click"
# Click's field for each column.
_FIELDS = tuple({"id": "pk", "params": "stored_params"}.get(column, column) for column in _COLUMNS)


@strawberry.type
class Traffic:
    """What a click tells of its route, visitor and source; also the dimensions of report rows."""

    offer_id: strawberry.Private[int | None]
    lander_id: strawberry.Private[int | None]
    country: str | None
    os: str | None
    browser: str | None
    source: str | None
    creative: str | None
    subid: str | None
    sub1: str | None
    sub2: str | None
    sub3: str | None
    sub4: str | None
    sub5: str | None
    sub6: str | None
    sub7: str | None
    sub8: str | None
    sub9: str | None
    sub10: str | None

    @strawberry.field
    async def offer(self, info: strawberry.Info) -> Offer | None:
        return await load_offer(info, self.offer_id)

    @strawberry.field
    async def lander(self, info: strawberry.Info) -> Lander | None:
        return await load_lander(info, self.lander_id)


@strawberry.type
class Click(Traffic):
    click_id: str
    created_at: datetime
    ip: str | None
    user_agent: str | None
    device_type: DeviceType
    referrer: str | None
    # Parsed only when asked for: a page of clicks seldom does.
    params: JSON = strawberry.field(resolver=lambda root: json.loads(root.stored_params))
    is_unique: bool
    is_bot: bool
    cost: Decimal
    truncated: bool = strawberry.field(description="a value was over-long and was cut to fit")
    pk: strawberry.Private[int]
    campaign_id: strawberry.Private[int]
    stored_params: strawberry.Private[str]  # JSON text, as either database gives it

    @classmethod
    def of(cls, row: Sequence[Any]) -> Click:
        """From a row of SELECT_CLICKS, as either database gives it."""
        values = dict(zip(_FIELDS, row, strict=True))
        values["created_at"] = as_datetime(values["created_at"])
        values["device_type"] = models.DeviceType(values["device_type"])
        values["is_unique"] = bool(values["is_unique"])
        values["is_bot"] = bool(values["is_bot"])
        values["cost"] = from_micros(values["cost"])
        values["truncated"] = bool(values["truncated"])
        # Every field set at once, without the generated __init__'s 29
        # keyword arguments: a 500-click page builds 500 of these.
        click = cls.__new__(cls)
        click.__dict__ = values
        return click

    @strawberry.field
    async def campaign(self, info: strawberry.Info) -> Campaign:
        return await load_campaign(info, self.campaign_id)

    @strawberry.field
    async def conversions(
        self, info: strawberry.Info
    ) -> list[Annotated["Conversion", strawberry.lazy("schema.conversion")]]:
        from schema.conversion import Conversion

        rows = await info.context.loaders.conversions_of_click.load(self.pk)
        return [Conversion.of(row) for row in rows]


def time_filtered(rows, since: datetime | None, until: datetime | None, column: str = "created_at"):
    if since is not None:
        rows = rows.filter(**{f"{column}__gte": since})
    if until is not None:
        rows = rows.filter(**{f"{column}__lt": until})
    return rows


def in_campaign(rows, campaign_id: strawberry.ID | None):
    """Rows of one campaign when an ID is given (none at all for an ID that names nothing)."""
    if campaign_id is None:
        return rows
    pk = parse_id(campaign_id, models.Campaign)
    return rows.filter(campaign_id__in=[pk] if pk is not None else [])


@strawberry.type
class ClickQuery:
    @strawberry.field
    async def click(self, info: strawberry.Info, click_id: str) -> Click | None:
        if "\x00" in click_id:
            return None  # no click id holds a NUL, and PostgreSQL cannot even compare one
        rows = await info.context.services.db.fetch(f"{SELECT_CLICKS} WHERE click_id = ?", [click_id])
        return Click.of(rows[0]) if rows else None

    @strawberry.field
    async def clicks(
        self,
        info: strawberry.Info,
        campaign_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Click]:
        conditions: list[tuple[str, Any]] = []
        if campaign_id is not None:
            conditions.append(("campaign_id = ?", parse_id(campaign_id, models.Campaign) or 0))  # no campaign has id 0
        if since is not None:
            conditions.append(("created_at >= ?", since))
        if until is not None:
            conditions.append(("created_at < ?", until))
        db = info.context.services.db
        return await page_of_rows(db, models.Click, SELECT_CLICKS, conditions, first, after, Click.of)


def click_loader(db: Database) -> DataLoader:
    """Clicks by id, read with SELECT_CLICKS."""

    async def load(ids: Sequence[int]) -> list[Click | None]:
        rows = await db.fetch(f"{SELECT_CLICKS} WHERE id IN ({', '.join('?' * len(ids))})", ids)
        found = {row[0]: Click.of(row) for row in rows}
        return [found.get(pk) for pk in ids]

    return DataLoader(load)
