"""The `Stats` type: `graphapi.stats.Stats`, every figure, derived ones included."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from graphapi import stats as figures


@strawberry.type(description="Every metric the tracker reports, for one slice of traffic.")
class Stats:
    clicks: int
    unique_clicks: int
    bot_clicks: int
    lander_clicks: int
    lander_ctr: float | None
    conversions: int
    pending_conversions: int
    rejected_conversions: int
    revenue: Decimal
    pending_revenue: Decimal
    cost: Decimal
    profit: Decimal
    roi: float | None
    cr: float | None
    epc: Decimal | None
    cpa: Decimal | None
    cpc: Decimal | None
    currency: str

    @classmethod
    def of(cls, stats: figures.Stats) -> Stats:
        return cls(**stats.as_dict())
