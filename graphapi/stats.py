"""A campaign's figures, computed in the database (GROUP BY / SUM), never by
loading rows into Python.

Clicks count by click time, conversions by conversion time. Fallback clicks
(paused campaign, blacklisted source, ...) are not in the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone
from decimal import Decimal

from graphapi import rollups
from graphapi.db import Database
from graphapi.money import from_micros, to_micros

# Columns are qualified (k = click, v = conversion) so that reports can join;
# by database, as money is summed.
CLICK_SUMS = {
    postgres: rollups.figure_sums({name: rollups.CLICK_FIGURES[name] for name in rollups.SUMMED_CLICKS}, postgres)
    for postgres in (False, True)
}
CONVERSION_SUMS = {postgres: rollups.figure_sums(rollups.CONVERSION_FIGURES, postgres) for postgres in (False, True)}


@dataclass(frozen=True)
class Stats:
    """Every metric the tracker reports, for one slice of traffic (GraphQL `Stats`)."""

    currency: str
    clicks: int = 0
    unique_clicks: int = 0
    bot_clicks: int = 0
    lander_clicks: int = 0
    conversions: int = 0
    pending_conversions: int = 0
    rejected_conversions: int = 0
    revenue: Decimal = Decimal("0.00")
    pending_revenue: Decimal = Decimal("0.00")
    # Click cost plus the cost CPA / REVSHARE campaigns accrue on approved conversions.
    cost: Decimal = Decimal("0.00")
    has_landers: bool = False

    @property
    def profit(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def roi(self) -> float | None:
        return float(self.profit / self.cost * 100) if self.cost else None

    @property
    def cr(self) -> float | None:
        return self.conversions / self.clicks * 100 if self.clicks else None

    @property
    def epc(self) -> Decimal | None:
        return _money(self.revenue / self.clicks) if self.clicks else None

    @property
    def cpa(self) -> Decimal | None:
        return _money(self.cost / self.conversions) if self.conversions else None

    @property
    def cpc(self) -> Decimal | None:
        return _money(self.cost / self.clicks) if self.clicks else None

    @property
    def lander_ctr(self) -> float | None:
        if not self.clicks or not self.has_landers:
            return None
        return self.lander_clicks / self.clicks * 100

    def as_dict(self) -> dict:
        """Every figure, snake_case, derived ones included (for plugins' `event.stats`)."""
        names = [f.name for f in fields(self) if f.name != "has_landers"]
        names += ["profit", "roi", "cr", "epc", "cpa", "cpc", "lander_ctr"]
        return {name: getattr(self, name) for name in names}


def _money(value: Decimal) -> Decimal:
    """Rounded to the micro-unit, printed like stored money ("7.50", "0.1075")."""
    return from_micros(to_micros(value))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def utc_midnight() -> datetime:
    """The start of today (UTC), from which `today`'s figures count."""
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def time_window(column: str, since: datetime | None, until: datetime | None) -> tuple[str, list]:
    sql, params = "", []
    if since is not None:
        sql += f" AND {column} >= ?"
        params.append(_utc(since))
    if until is not None:
        sql += f" AND {column} < ?"
        params.append(_utc(until))
    return sql, params


async def campaign_stats(
    db: Database,
    campaign_id: int,
    currency: str,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str | None = None,
) -> Stats:
    """The campaign's figures; with `source`, those of its traffic from that source."""
    if rollups.on_the_hour(since, until):
        clicks, conversions = await _rolled_up(db, campaign_id, since, until, source)
    else:
        clicks, conversions = await _counted(db, campaign_id, since, until, source)
    has_landers = bool(await db.fetch("SELECT 1 FROM lander WHERE campaign_id = ? LIMIT 1", [campaign_id]))
    return Stats(
        currency=currency,
        clicks=int(clicks[0] or 0),
        unique_clicks=int(clicks[1] or 0),
        bot_clicks=int(clicks[2] or 0),
        lander_clicks=int(clicks[3] or 0),
        conversions=int(conversions[0] or 0),
        pending_conversions=int(conversions[1] or 0),
        rejected_conversions=int(conversions[2] or 0),
        revenue=from_micros(conversions[3]),
        pending_revenue=from_micros(conversions[4]),
        cost=from_micros((clicks[4] or 0) + (conversions[5] or 0)),
        has_landers=has_landers,
    )


async def _rolled_up(db, campaign_id, since, until, source) -> tuple[tuple, tuple]:
    """Sums of the rollups (a campaign's whole-hour figures: what rules read on
    every conversion, so they cost hours, not clicks)."""
    await rollups.catch_up(db)
    where = "campaign_id = ? AND dimension = ? AND value = ?"
    params = [campaign_id, *(("source", source) if source is not None else ("", ""))]
    window, window_params = time_window("hour", since, until)
    params += window_params
    clicks = await db.fetch(f"SELECT {rollups.CLICK_SUMS[db.postgres]} FROM click_rollup k WHERE {where}{window}", params)
    conversions = await db.fetch(f"SELECT {rollups.CONVERSION_SUMS[db.postgres]} FROM conversion_rollup v WHERE {where}{window}", params)
    return clicks[0], conversions[0]


async def _counted(db, campaign_id, since, until, source) -> tuple[tuple, tuple]:
    """Sums of the raw clicks and conversions."""
    window, window_params = time_window("k.created_at", since, until)
    click_filter, conversion_filter, source_params = "", "", []
    if source is not None:
        click_filter = " AND k.source = ?"
        conversion_filter = " AND v.click_id IN (SELECT id FROM click WHERE campaign_id = ? AND source = ?)"
        source_params = [source]
    clicks = (
        await db.fetch(
            f"SELECT {CLICK_SUMS[db.postgres]} FROM click k "
            f"WHERE k.campaign_id = ? AND k.route <> 'fallback'{click_filter}{window}",
            [campaign_id, *source_params, *window_params],
        )
    )[0]
    window, window_params = time_window("v.created_at", since, until)
    conversions = (
        await db.fetch(
            f"SELECT {CONVERSION_SUMS[db.postgres]} FROM conversion v WHERE v.campaign_id = ?{conversion_filter}{window}",
            [campaign_id, *([campaign_id, source] if source is not None else []), *window_params],
        )
    )[0]
    return clicks, conversions
