"""The per-request context: the app's services and the request's DataLoaders.

Loaders are built per request (per websocket event for subscriptions): a
process-wide loader would serve one client's cached rows to another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from graphapi import models
from graphapi.report import Dimension, report
from graphapi.stats import Stats
from schema.click import click_loader


def _by_id(model: type[Model]) -> DataLoader:
    async def load(ids: Sequence[int]) -> list[Any]:
        found = {row.id: row for row in await model.filter(id__in=ids)}
        return [found.get(pk) for pk in ids]

    return DataLoader(load)


def _children(model: type[Model], parent: str) -> DataLoader:
    async def load(ids: Sequence[int]) -> list[list[Any]]:
        grouped: dict[int, list[Any]] = defaultdict(list)
        for row in await model.filter(**{f"{parent}__in": ids}).order_by("id"):
            grouped[getattr(row, parent)].append(row)
        return [grouped[pk] for pk in ids]

    return DataLoader(load)


StatsKey = tuple[int, str, datetime | None, datetime | None]  # campaign, currency, since, until


class Loaders:
    def __init__(self, services: Any) -> None:
        self._services = services
        self.campaign = _by_id(models.Campaign)
        self.offer = _by_id(models.Offer)
        self.lander = _by_id(models.Lander)
        self.click = click_loader(services.db)
        self.conversion = _by_id(models.Conversion)
        self.offers_of_campaign = _children(models.Offer, "campaign_id")
        self.landers_of_campaign = _children(models.Lander, "campaign_id")
        self.rules_of_campaign = _children(models.Rule, "campaign_id")
        self.conversions_of_click = _children(models.Conversion, "click_id")
        self.campaign_stats = DataLoader(self._campaign_stats)

    async def _campaign_stats(self, keys: Sequence[StatsKey]) -> list[Stats]:
        """The figures of many campaigns: one report per currency and period."""
        batches: dict[tuple, list[int]] = defaultdict(list)
        for campaign_id, currency, since, until in keys:
            batches[(currency, since, until)].append(campaign_id)
        found: dict[StatsKey, Stats] = {}
        for (currency, since, until), ids in batches.items():
            result = await report(
                self._services.db, [Dimension.CAMPAIGN],
                currency=currency, campaign_ids=ids, since=since, until=until,
            )  # fmt: skip
            for row in result.rows:
                found[(row.values[Dimension.CAMPAIGN], currency, since, until)] = row.stats
        return [found.get(key) or Stats(currency=key[1]) for key in keys]


@dataclass
class Context:
    services: Any
    request: Any
    response: Any
    loaders: Loaders
    # Set by strawberry from a websocket's connection_init payload.
    connection_params: dict | None = field(default=None)
    # A websocket's API key, checked again by each of its operations.
    api_key: str | None = None
