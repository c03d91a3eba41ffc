"""`conversionRecorded`: conversions as they are committed, by any process
(graphapi.live.ConversionFeed: LISTEN/NOTIFY on PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graphapi import models
from schema.campaign import named_campaign
from schema.context import Loaders
from schema.conversion import Conversion


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def conversion_recorded(
        self, info: strawberry.Info, campaign_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Conversion, None]:
        context = info.context
        # As `report` does: an ID that names no campaign is a mistake, not a quiet stream.
        wanted = (await named_campaign(campaign_id)).id if campaign_id is not None else None
        async with context.services.feed.subscribe() as queue:
            while True:
                row = await models.Conversion.get_or_none(id=await queue.get())
                if row is None or (wanted is not None and row.campaign_id != wanted):
                    continue
                # Fresh loaders per event: the connection lives long, its rows change.
                context.loaders = Loaders(context.services)
                yield Conversion.of(row)
