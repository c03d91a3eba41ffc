"""createCampaign, updateCampaign, addOffer, updateOffer, addLander, updateLander.

Every change is followed by `campaigns.changed()`, so the click path (in this
process and, on PostgreSQL, in every other) sees it at once.
"""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry import UNSET
from tortoise.transactions import in_transaction

from graphapi import models
from schema.campaign import Campaign, Lander, Offer
from schema.enums import CampaignStatus, CostModel
from schema.ids import parse_id
from schema.mutations import collect, optional
from schema.validation import Errors, UserError

OFFER_CHECKS = {
    "name": Errors.name, "url": Errors.url, "weight": Errors.weight,
    "payout": Errors.amount, "active": Errors.not_null,
}  # fmt: skip
LANDER_CHECKS = {"name": Errors.name, "url": Errors.url, "weight": Errors.weight, "active": Errors.not_null}
CAMPAIGN_CHECKS = {
    "name": Errors.name, "status": Errors.not_null, "traffic_source": Errors.text,
    "cost_model": Errors.not_null, "cost_value": Errors.amount, "currency": Errors.currency,
    "daily_budget": optional(Errors.amount), "fallback_url": optional(Errors.url),
    "source_whitelist": Errors.sources, "source_blacklist": Errors.sources,
}  # fmt: skip


@strawberry.input
class OfferInput:
    name: str
    url: str
    weight: int | None = 100
    payout: Decimal | None = Decimal("0")


@strawberry.input
class LanderInput:
    name: str
    url: str
    weight: int | None = 100


@strawberry.input
class CreateCampaignInput:
    name: str
    offers: list[OfferInput]
    traffic_source: str | None = None
    cost_model: CostModel | None = models.CostModel.NONE
    cost_value: Decimal | None = Decimal("0")
    currency: str | None = "USD"
    daily_budget: Decimal | None = None
    fallback_url: str | None = None
    landers: list[LanderInput] | None = strawberry.field(default_factory=list)


@strawberry.input
class UpdateCampaignInput:
    id: strawberry.ID
    name: str | None = UNSET
    status: CampaignStatus | None = UNSET
    traffic_source: str | None = UNSET
    cost_model: CostModel | None = UNSET
    cost_value: Decimal | None = UNSET
    daily_budget: Decimal | None = UNSET
    fallback_url: str | None = UNSET
    source_whitelist: list[str] | None = UNSET
    source_blacklist: list[str] | None = UNSET


@strawberry.input
class UpdateOfferInput:
    id: strawberry.ID
    name: str | None = UNSET
    url: str | None = UNSET
    weight: int | None = UNSET
    payout: Decimal | None = UNSET
    active: bool | None = UNSET


@strawberry.input
class UpdateLanderInput:
    id: strawberry.ID
    name: str | None = UNSET
    url: str | None = UNSET
    weight: int | None = UNSET
    active: bool | None = UNSET


@strawberry.type
class CampaignPayload:
    campaign: Campaign | None
    user_errors: list[UserError]


@strawberry.type
class OfferPayload:
    offer: Offer | None
    user_errors: list[UserError]


@strawberry.type
class LanderPayload:
    lander: Lander | None
    user_errors: list[UserError]


async def _add(
    info: strawberry.Info, model: type, campaign_id: strawberry.ID, data, checks: dict
) -> tuple[object | None, Errors]:
    """Add an offer or a lander to a campaign."""
    errors = Errors()
    pk = parse_id(campaign_id, models.Campaign)
    if pk is None or not await models.Campaign.exists(id=pk):
        errors.add(["campaignId"], "no campaign with this id")
    fields = collect(errors, ["input"], data, checks)
    if errors:
        return None, errors
    row = await model.create(campaign_id=pk, **fields)
    await info.context.services.campaigns.changed(pk)
    return await model.get(id=row.id), errors


async def _update(
    info: strawberry.Info, model: type, data, checks: dict
) -> tuple[object | None, Errors]:
    """Apply the given fields of an Update*Input to the row it names."""
    errors = Errors()
    pk = parse_id(data.id, model)
    row = await model.get_or_none(id=pk) if pk is not None else None
    if row is None:
        errors.add(["input", "id"], "no such id")
    changes = collect(errors, ["input"], data, checks)
    if errors:
        return None, errors
    if changes:
        await model.filter(id=pk).update(**changes)
        await info.context.services.campaigns.changed(getattr(row, "campaign_id", pk))
    return await model.get(id=pk), errors


def _children(errors: Errors, path: list, items, checks: dict) -> list[dict]:
    return [collect(errors, [*path, index], item, checks) for index, item in enumerate(items)]


@strawberry.type
class CampaignMutation:
    @strawberry.mutation
    async def create_campaign(self, info: strawberry.Info, input: CreateCampaignInput) -> CampaignPayload:
        errors = Errors()
        if isinstance(input.currency, str):
            input.currency = input.currency.strip().upper()
        fields = collect(errors, ["input"], input, CAMPAIGN_CHECKS)
        offers = _children(errors, ["input", "offers"], input.offers, OFFER_CHECKS)
        landers = _children(errors, ["input", "landers"], input.landers or [], LANDER_CHECKS)
        if errors:
            return CampaignPayload(campaign=None, user_errors=errors)
        async with in_transaction() as connection:
            campaign = await models.Campaign.create(**fields, using_db=connection)
            for offer in offers:
                await models.Offer.create(campaign_id=campaign.id, **offer, using_db=connection)
            for lander in landers:
                await models.Lander.create(campaign_id=campaign.id, **lander, using_db=connection)
        await info.context.services.campaigns.changed(campaign.id)
        return CampaignPayload(campaign=Campaign.of(await models.Campaign.get(id=campaign.id)), user_errors=[])

    @strawberry.mutation
    async def update_campaign(self, info: strawberry.Info, input: UpdateCampaignInput) -> CampaignPayload:
        row, errors = await _update(info, models.Campaign, input, CAMPAIGN_CHECKS)
        return CampaignPayload(campaign=row and Campaign.of(row), user_errors=errors)

    @strawberry.mutation
    async def add_offer(self, info: strawberry.Info, campaign_id: strawberry.ID, input: OfferInput) -> OfferPayload:
        row, errors = await _add(info, models.Offer, campaign_id, input, OFFER_CHECKS)
        return OfferPayload(offer=row and Offer.of(row), user_errors=errors)

    @strawberry.mutation
    async def update_offer(self, info: strawberry.Info, input: UpdateOfferInput) -> OfferPayload:
        row, errors = await _update(info, models.Offer, input, OFFER_CHECKS)
        return OfferPayload(offer=row and Offer.of(row), user_errors=errors)

    @strawberry.mutation
    async def add_lander(
        self, info: strawberry.Info, campaign_id: strawberry.ID, input: LanderInput
    ) -> LanderPayload:
        row, errors = await _add(info, models.Lander, campaign_id, input, LANDER_CHECKS)
        return LanderPayload(lander=row and Lander.of(row), user_errors=errors)

    @strawberry.mutation
    async def update_lander(self, info: strawberry.Info, input: UpdateLanderInput) -> LanderPayload:
        row, errors = await _update(info, models.Lander, input, LANDER_CHECKS)
        return LanderPayload(lander=row and Lander.of(row), user_errors=errors)
