"""The Conversion type and the conversion queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.scalars import JSON

from graphapi import models
from schema.campaign import Campaign, load_campaign, load_node
from schema.click import Click, in_campaign, time_filtered
from schema.enums import ConversionStatus
from schema.ids import parse_id
from schema.paging import Connection, page


@strawberry.type
class Conversion:
    id: strawberry.ID
    goal: str
    txid: str | None
    status: ConversionStatus
    raw_status: str | None
    payout: Decimal
    currency: str
    original_payout: Decimal | None
    original_currency: str | None
    params: JSON
    created_at: datetime
    updated_at: datetime
    click_pk: strawberry.Private[int]
    campaign_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.Conversion) -> Conversion:
        return cls(
            id=strawberry.ID(str(row.id)), click_pk=row.click_id, campaign_id=row.campaign_id,
            goal=row.goal, txid=row.txid or None, status=models.ConversionStatus(row.status),
            raw_status=row.raw_status, payout=row.payout, currency=row.currency,
            original_payout=row.original_payout, original_currency=row.original_currency,
            params=row.params, created_at=row.created_at, updated_at=row.updated_at,
        )  # fmt: skip

    @strawberry.field
    async def click(self, info: strawberry.Info) -> Click:
        return await info.context.loaders.click.load(self.click_pk)

    @strawberry.field
    async def campaign(self, info: strawberry.Info) -> Campaign:
        return await load_campaign(info, self.campaign_id)


async def load_conversion(info: strawberry.Info, conversion_id: int | None) -> Conversion | None:
    return await load_node(info.context.loaders.conversion, conversion_id, Conversion.of)


@strawberry.type
class ConversionQuery:
    @strawberry.field
    async def conversion(self, info: strawberry.Info, id: strawberry.ID) -> Conversion | None:
        return await load_conversion(info, parse_id(id, models.Conversion))

    @strawberry.field
    async def conversions(
        self,
        campaign_id: strawberry.ID | None = None,
        status: ConversionStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Conversion]:
        rows = time_filtered(in_campaign(models.Conversion.all(), campaign_id), since, until)
        if status is not None:
            rows = rows.filter(status=status)
        return await page(rows, first, after, Conversion.of)
