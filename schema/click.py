"""The Click type and the click queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from graphapi import models
from schema.campaign import Campaign, Lander, Offer, load_campaign, load_lander, load_offer
from schema.enums import DeviceType
from schema.ids import parse_id
from schema.paging import Connection, page

if TYPE_CHECKING:
    from schema.conversion import Conversion

SUBS = ("subid",) + tuple(f"sub{i}" for i in range(1, 11))


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
    params: JSON
    is_unique: bool
    is_bot: bool
    cost: Decimal
    pk: strawberry.Private[int]
    campaign_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.Click) -> Click:
        return cls(
            pk=row.id, campaign_id=row.campaign_id, offer_id=row.offer_id, lander_id=row.lander_id,
            click_id=row.click_id, created_at=row.created_at, ip=row.ip, user_agent=row.user_agent,
            country=row.country, device_type=models.DeviceType(row.device_type), os=row.os,
            browser=row.browser, referrer=row.referrer, source=row.source, creative=row.creative,
            **{name: getattr(row, name) for name in SUBS},
            params=row.params, is_unique=row.is_unique, is_bot=row.is_bot, cost=row.cost,
        )  # fmt: skip

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
    pk = parse_id(campaign_id)
    return rows.filter(campaign_id__in=[pk] if pk is not None else [])


@strawberry.type
class ClickQuery:
    @strawberry.field
    async def click(self, click_id: str) -> Click | None:
        row = await models.Click.get_or_none(click_id=click_id)
        return Click.of(row) if row is not None else None

    @strawberry.field
    async def clicks(
        self,
        campaign_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Click]:
        rows = time_filtered(in_campaign(models.Click.all(), campaign_id), since, until)
        return await page(rows, first, after, Click.of)
