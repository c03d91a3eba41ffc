"""Rule plugins and the rule events they recorded. (`Rule` itself is in campaign.py.)"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from graphapi import models
from schema.campaign import Campaign, load_campaign
from schema.click import in_campaign
from schema.conversion import Conversion, load_conversion
from schema.enums import RuleEventOutcome
from schema.paging import Connection, page


@strawberry.type
class RulePlugin:
    name: str
    description: str
    config_schema: JSON | None


@strawberry.type
class RuleEvent:
    id: strawberry.ID
    created_at: datetime
    plugin: str
    action: str
    detail: JSON
    outcome: RuleEventOutcome
    message: str | None
    campaign_id: strawberry.Private[int]
    conversion_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.RuleEvent) -> RuleEvent:
        return cls(
            id=strawberry.ID(str(row.id)), created_at=row.created_at, plugin=row.plugin,
            action=row.action, detail=row.detail, outcome=models.RuleEventOutcome(row.outcome),
            message=row.message, campaign_id=row.campaign_id, conversion_id=row.conversion_id,
        )  # fmt: skip

    @strawberry.field
    async def campaign(self, info: strawberry.Info) -> Campaign:
        return await load_campaign(info, self.campaign_id)

    @strawberry.field
    async def conversion(self, info: strawberry.Info) -> Conversion | None:
        return await load_conversion(info, self.conversion_id)


@strawberry.type
class RuleQuery:
    @strawberry.field
    def rule_plugins(self, info: strawberry.Info) -> list[RulePlugin]:
        plugins = info.context.services.plugins.rule_plugins()
        return [
            RulePlugin(name=name, description=plugin.description, config_schema=plugin.config_schema)
            for name, plugin in plugins.items()
        ]

    @strawberry.field
    async def rule_events(
        self, campaign_id: strawberry.ID | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[RuleEvent]:
        return await page(in_campaign(models.RuleEvent.all(), campaign_id), first, after, RuleEvent.of)
