"""The `report` query: figures grouped by dimensions (see graphapi.report)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from graphapi.currency import Rates
from graphapi.report import Dimension, ReportError, report
from graphapi.report import ReportRow as Row
from schema.campaign import Campaign, load_campaign, named_campaign
from schema.click import SUBS, Traffic
from schema.enums import DeviceType, ReportDimension
from schema.errors import PublicError
from schema.stats import Stats

# Fields named as the dimensions they hold (`Dimension.value`).
_PLAIN_FIELDS = ("day", "hour", "country", "device_type", "os", "browser", "source", "creative", "goal", *SUBS)


@strawberry.type
class ReportRow(Traffic):
    day: date | None
    hour: datetime | None
    device_type: DeviceType | None
    goal: str | None
    stats: Stats
    campaign_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: Row) -> ReportRow:
        values = {dimension.value: value for dimension, value in row.values.items()}
        plain = {name: values.get(name) for name in _PLAIN_FIELDS}
        return cls(
            **plain, stats=Stats.of(row.stats), campaign_id=values.get("campaign"),
            offer_id=values.get("offer"), lander_id=values.get("lander"),
        )  # fmt: skip

    @strawberry.field
    async def campaign(self, info: strawberry.Info) -> Campaign | None:
        return await load_campaign(info, self.campaign_id)


@strawberry.type
class Report:
    rows: list[ReportRow]
    totals: Stats


@strawberry.type
class ReportQuery:
    @strawberry.field
    async def report(
        self,
        info: strawberry.Info,
        group_by: list[ReportDimension],
        campaign_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        timezone: str | None = "UTC",
    ) -> Report:
        settings = info.context.services.settings
        currency, campaign_ids = settings.currency, None
        if campaign_id is not None:
            campaign = await named_campaign(campaign_id)
            currency, campaign_ids = campaign.currency, [campaign.id]
        try:
            result = await report(
                info.context.services.db, [Dimension(d) for d in group_by],
                currency=currency, rates=Rates(settings.currency, settings.currency_rates), campaign_ids=campaign_ids,
                since=since, until=until, timezone_name="UTC" if timezone is None else timezone,
            )  # fmt: skip
        except ReportError as exc:
            raise PublicError(str(exc)) from None
        return Report(rows=[ReportRow.of(row) for row in result.rows], totals=Stats.of(result.totals))
