"""Campaign, Offer, Lander and Rule, and the campaign queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import strawberry
from strawberry.scalars import JSON

from graphapi import models
from schema.enums import CampaignStatus, CostModel
from schema.errors import PublicError
from schema.ids import parse_id
from schema.paging import Connection, page
from schema.stats import Stats


@strawberry.type
class Offer:
    id: strawberry.ID
    name: str
    url: str
    weight: int
    payout: Decimal
    active: bool

    @classmethod
    def of(cls, row: models.Offer) -> Offer:
        return cls(
            id=strawberry.ID(str(row.id)), name=row.name, url=row.url,
            weight=row.weight, payout=row.payout, active=row.active,
        )  # fmt: skip


@strawberry.type
class Lander:
    id: strawberry.ID
    name: str
    url: str
    weight: int
    active: bool

    @classmethod
    def of(cls, row: models.Lander) -> Lander:
        return cls(
            id=strawberry.ID(str(row.id)), name=row.name, url=row.url,
            weight=row.weight, active=row.active,
        )  # fmt: skip


@strawberry.type
class Rule:
    id: strawberry.ID
    plugin: str
    config: JSON
    enabled: bool

    @classmethod
    def of(cls, row: models.Rule) -> Rule:
        return cls(id=strawberry.ID(str(row.id)), plugin=row.plugin, config=row.config, enabled=row.enabled)


@strawberry.type
class Campaign:
    id: strawberry.ID
    name: str
    status: CampaignStatus
    traffic_source: str | None
    cost_model: CostModel
    cost_value: Decimal
    currency: str
    daily_budget: Decimal | None
    fallback_url: str | None
    source_whitelist: list[str]
    source_blacklist: list[str]
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.Campaign) -> Campaign:
        return cls(
            id=strawberry.ID(str(row.id)), pk=row.id, name=row.name,
            status=models.CampaignStatus(row.status), traffic_source=row.traffic_source,
            cost_model=models.CostModel(row.cost_model), cost_value=row.cost_value,
            currency=row.currency, daily_budget=row.daily_budget, fallback_url=row.fallback_url,
            source_whitelist=list(row.source_whitelist or ()),
            source_blacklist=list(row.source_blacklist or ()), created_at=row.created_at,
        )  # fmt: skip

    @strawberry.field(description="The link to buy traffic with.")
    def tracking_url(self, info: strawberry.Info) -> str:
        return f"{info.context.services.settings.public_url}/click?campaign_id={self.pk}"

    @strawberry.field(description="The URL template to give the affiliate network.")
    def postback_url(self, info: strawberry.Info) -> str:
        settings = info.context.services.settings
        url = f"{settings.public_url}/postback?click_id={{click_id}}&payout={{payout}}&status={{status}}"
        # The real token: the network must call this URL as it is, and every
        # API key holder administers the tracker anyway.
        if settings.postback_token:
            url += "&token=" + quote(settings.postback_token, safe="")
        return url

    @strawberry.field
    async def offers(self, info: strawberry.Info) -> list[Offer]:
        return [Offer.of(row) for row in await info.context.loaders.offers_of_campaign.load(self.pk)]

    @strawberry.field
    async def landers(self, info: strawberry.Info) -> list[Lander]:
        return [Lander.of(row) for row in await info.context.loaders.landers_of_campaign.load(self.pk)]

    @strawberry.field
    async def rules(self, info: strawberry.Info) -> list[Rule]:
        return [Rule.of(row) for row in await info.context.loaders.rules_of_campaign.load(self.pk)]

    @strawberry.field
    async def stats(
        self, info: strawberry.Info, since: datetime | None = None, until: datetime | None = None
    ) -> Stats:
        figures = await info.context.loaders.campaign_stats.load((self.pk, self.currency, since, until))
        return Stats.of(figures)


async def load_node(loader: Any, pk: int | None, node: Any) -> Any:
    """The GraphQL object of row `pk` through a request's DataLoader, or None."""
    row = await loader.load(pk) if pk is not None else None
    return node(row) if row is not None else None


async def named_campaign(campaign_id: strawberry.ID) -> models.Campaign:
    """The campaign an argument names; an explained error when it names none."""
    pk = parse_id(campaign_id, models.Campaign)
    campaign = await models.Campaign.get_or_none(id=pk) if pk is not None else None
    if campaign is None:
        raise PublicError(f"no campaign with id {campaign_id!r}")
    return campaign


async def load_campaign(info: Any, campaign_id: int | None) -> Campaign | None:
    return await load_node(info.context.loaders.campaign, campaign_id, Campaign.of)


async def load_offer(info: Any, offer_id: int | None) -> Offer | None:
    return await load_node(info.context.loaders.offer, offer_id, Offer.of)


async def load_lander(info: Any, lander_id: int | None) -> Lander | None:
    return await load_node(info.context.loaders.lander, lander_id, Lander.of)


@strawberry.type
class CampaignQuery:
    @strawberry.field
    async def campaign(self, info: strawberry.Info, id: strawberry.ID) -> Campaign | None:
        return await load_campaign(info, parse_id(id, models.Campaign))

    @strawberry.field
    async def campaigns(
        self,
        first: int | None = 50,
        after: str | None = None,
        status: CampaignStatus | None = None,
    ) -> Connection[Campaign]:
        rows = models.Campaign.all()
        if status is not None:
            rows = rows.filter(status=status)
        return await page(rows, first, after, Campaign.of)
