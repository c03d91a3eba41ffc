"""The `Stats` type: `graphapi.stats.Stats`, every figure, derived ones included."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from graphapi import stats as figures


def _derived(name: str):
    """A figure `graphapi.stats.Stats` derives, worked out only when a query
    asks for it: working out all seven (Decimal arithmetic) for every row
    made the bench's 248-row report, which asks for none, 5-7 % slower."""

    def resolve(root: Stats):
        return getattr(root.figures, name)

    return resolve


@strawberry.type(description="Every metric the tracker reports, for one slice of traffic.")
class Stats:
    clicks: int
    unique_clicks: int
    bot_clicks: int
    lander_clicks: int
    lander_ctr: float | None = strawberry.field(resolver=_derived("lander_ctr"))
    conversions: int
    pending_conversions: int
    rejected_conversions: int
    revenue: Decimal
    pending_revenue: Decimal
    cost: Decimal
    profit: Decimal = strawberry.field(resolver=_derived("profit"))
    roi: float | None = strawberry.field(resolver=_derived("roi"))
    cr: float | None = strawberry.field(resolver=_derived("cr"))
    epc: Decimal | None = strawberry.field(resolver=_derived("epc"))
    cpa: Decimal | None = strawberry.field(resolver=_derived("cpa"))
    cpc: Decimal | None = strawberry.field(resolver=_derived("cpc"))
    currency: str
    figures: strawberry.Private[figures.Stats]

    @classmethod
    def of(cls, stats: figures.Stats) -> Stats:
        return cls(
            clicks=stats.clicks, unique_clicks=stats.unique_clicks, bot_clicks=stats.bot_clicks,
            lander_clicks=stats.lander_clicks, conversions=stats.conversions,
            pending_conversions=stats.pending_conversions, rejected_conversions=stats.rejected_conversions,
            revenue=stats.revenue, pending_revenue=stats.pending_revenue, cost=stats.cost,
            currency=stats.currency, figures=stats,
        )  # fmt: skip
