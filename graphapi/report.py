"""Reports: the figures of `graphapi.stats`, grouped by any list of dimensions,
computed in the database.

One GROUP BY query over clicks (by click time) and one over conversions (by
conversion time, with the dimensions of their click) return sums per group.
Python then folds those groups into the rows asked for, which is aggregating
aggregates: bounded by the number of groups, never by the number of rows.

Two things are folded rather than grouped in SQL:
- Local days and hours. SQLite knows no IANA time zones, so both databases
  group by the UTC 15-minute slot (every real UTC offset is a multiple of 15
  minutes) and the slots are mapped to local days or hours with zoneinfo.
  Daylight-saving changes come out right, as each slot is an instant.
- Currencies. Every group carries its campaign's currency; when a report spans
  several, money is converted into the reporting currency per group, before
  the rows and the totals are summed, so rows always add up to the totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graphapi.db import Database
from graphapi.models import DeviceType
from graphapi.money import from_micros
from graphapi.stats import CLICK_SUMS, CONVERSION_SUMS, Stats, time_window

SLOT_SECONDS = 15 * 60
# More groups than this from one query: the report is refused (narrow it down)
# rather than holding the server's memory.
MAX_GROUPS = 200_000


class Dimension(StrEnum):
    DAY = "day"
    HOUR = "hour"
    CAMPAIGN = "campaign"
    OFFER = "offer"
    LANDER = "lander"
    COUNTRY = "country"
    DEVICE_TYPE = "device_type"
    OS = "os"
    BROWSER = "browser"
    SOURCE = "source"
    CREATIVE = "creative"
    SUBID = "subid"
    SUB1 = "sub1"
    SUB2 = "sub2"
    SUB3 = "sub3"
    SUB4 = "sub4"
    SUB5 = "sub5"
    SUB6 = "sub6"
    SUB7 = "sub7"
    SUB8 = "sub8"
    SUB9 = "sub9"
    SUB10 = "sub10"
    GOAL = "goal"


TIME_DIMENSIONS = (Dimension.DAY, Dimension.HOUR)
# The column of each non-time dimension on clicks (k) and on conversions (v,
# joined to their click). Clicks have no goal: their rows carry goal null.
_COLUMNS: dict[Dimension, tuple[str | None, str]] = {
    Dimension.CAMPAIGN: ("k.campaign_id", "v.campaign_id"),
    Dimension.OFFER: ("k.offer_id", "k.offer_id"),
    Dimension.LANDER: ("k.lander_id", "k.lander_id"),
    Dimension.GOAL: (None, "v.goal"),
}
for _dimension in Dimension:
    if _dimension not in TIME_DIMENSIONS and _dimension not in _COLUMNS:
        _COLUMNS[_dimension] = (f"k.{_dimension.value}", f"k.{_dimension.value}")

# Sums per group, in this order (money in micro-units).
_CLICK_FIGURES = 6  # clicks, unique, bots, lander clicks, cost, clicks sent to a lander
_CONVERSION_FIGURES = 6  # approved, pending, rejected, revenue, pending revenue, cost
_MONEY = {4, 9, 10, 11}  # indexes of money in the combined figures


class ReportError(ValueError):
    """The report cannot be made as asked; the message says why (shown to users)."""


@dataclass(frozen=True)
class ReportRow:
    values: dict[Dimension, Any]
    stats: Stats


@dataclass(frozen=True)
class Report:
    rows: list[ReportRow]
    totals: Stats


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"unknown time zone {name!r}: use an IANA name such as Europe/Kyiv") from None


def _slot_sql(column: str, postgres: bool) -> str:
    if postgres:
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / {SLOT_SECONDS}) AS BIGINT)"
    return f"CAST(strftime('%s', {column}) AS INTEGER) / {SLOT_SECONDS}"


async def _groups(
    db: Database,
    columns: Sequence[str],
    source: str,
    sums: str,
    where: str,
    params: list,
) -> list[tuple]:
    selected = [*columns, "c.currency"]
    ordinals = ", ".join(str(i) for i in range(1, len(selected) + 1))
    rows = await db.fetch(
        f"SELECT {', '.join(selected)}, {sums} FROM {source} WHERE {where} GROUP BY {ordinals} LIMIT ?",
        [*params, MAX_GROUPS + 1],
    )
    if len(rows) > MAX_GROUPS:
        raise ReportError("the report has too many rows: group by fewer dimensions or a shorter period")
    return rows


def _scope(campaign_ids: Sequence[int] | None, column: str) -> tuple[str, list]:
    if campaign_ids is None:
        return "", []
    if not campaign_ids:
        return " AND 1 = 0", []
    return f" AND {column} IN ({', '.join('?' * len(campaign_ids))})", list(campaign_ids)


async def report(
    db: Database,
    group_by: Iterable[Dimension],
    *,
    currency: str,
    rates: Mapping[str, Decimal] | None = None,
    campaign_ids: Sequence[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    timezone_name: str = "UTC",
) -> Report:
    """Figures grouped by `group_by`; rows add up to `totals`.

    `currency` is the reporting currency: figures spanning campaigns of several
    currencies are converted into it with `rates` (one unit of a currency in
    the reporting currency); figures of one currency stay in it.
    """
    dimensions = list(dict.fromkeys(group_by))
    zone = time_zone(timezone_name)
    plain = [d for d in dimensions if d not in TIME_DIMENSIONS]
    timed = any(d in TIME_DIMENSIONS for d in dimensions)

    click_columns = [_COLUMNS[d][0] for d in plain if _COLUMNS[d][0] is not None]
    conversion_columns = [_COLUMNS[d][1] for d in plain]
    if timed:
        click_columns.append(_slot_sql("k.created_at", db.postgres))
        conversion_columns.append(_slot_sql("v.created_at", db.postgres))

    scope, scope_params = _scope(campaign_ids, "k.campaign_id")
    window, window_params = time_window("k.created_at", since, until)
    clicks = await _groups(
        db, click_columns,
        "click k JOIN campaign c ON c.id = k.campaign_id",
        CLICK_SUMS + ", SUM(CASE WHEN k.lander_id IS NULL THEN 0 ELSE 1 END)",
        f"k.route <> 'fallback'{scope}{window}", scope_params + window_params,
    )  # fmt: skip
    scope, scope_params = _scope(campaign_ids, "v.campaign_id")
    window, window_params = time_window("v.created_at", since, until)
    conversions = await _groups(
        db, conversion_columns,
        "conversion v JOIN click k ON k.id = v.click_id JOIN campaign c ON c.id = v.campaign_id",
        CONVERSION_SUMS, f"1 = 1{scope}{window}", scope_params + window_params,
    )  # fmt: skip

    currencies = {row[len(click_columns)] for row in clicks} | {
        row[len(conversion_columns)] for row in conversions
    }
    target = currencies.pop() if len(currencies) == 1 else currency
    convert = _converter(target, rates or {})

    folded: dict[tuple, list[int]] = {}
    has_goal = Dimension.GOAL in dimensions

    def key_of(values: Sequence[Any], goal_present: bool) -> tuple:
        found = dict(zip([d for d in plain if goal_present or d is not Dimension.GOAL], values))
        slot = values[-1] if timed else None
        key = []
        for dimension in dimensions:
            if dimension is Dimension.DAY:
                key.append(_local(slot, zone).date())
            elif dimension is Dimension.HOUR:
                local = _local(slot, zone)
                key.append(local.replace(minute=0).astimezone(timezone.utc))
            else:
                key.append(found.get(dimension))
        return tuple(key)

    for rows, width, offset, goal_present in (
        (clicks, len(click_columns), 0, False),
        (conversions, len(conversion_columns), _CLICK_FIGURES, has_goal),
    ):
        for row in rows:
            key = key_of(row[:width], goal_present)
            sums = folded.setdefault(key, [0] * (_CLICK_FIGURES + _CONVERSION_FIGURES))
            group_currency = row[width]
            for index, value in enumerate(row[width + 1 :], start=offset):
                amount = int(value or 0)
                if index in _MONEY:
                    amount = convert(group_currency, amount)
                sums[index] += amount

    total = [0] * (_CLICK_FIGURES + _CONVERSION_FIGURES)
    rows_out = []
    for key in sorted(folded, key=lambda k: tuple((v is None, v if v is not None else 0) for v in k)):
        sums = folded[key]
        total = [a + b for a, b in zip(total, sums)]
        values = {d: _python_value(d, v) for d, v in zip(dimensions, key)}
        rows_out.append(ReportRow(values=values, stats=_stats(target, sums)))
    return Report(rows=rows_out, totals=_stats(target, total))


def _local(slot: int, zone: ZoneInfo) -> datetime:
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=int(slot) * SLOT_SECONDS)
    return moment.astimezone(zone)


def _python_value(dimension: Dimension, value: Any) -> Any:
    if value is not None and dimension is Dimension.DEVICE_TYPE:
        return DeviceType(value)
    return value


def _converter(target: str, rates: Mapping[str, Decimal]):
    def convert(currency: str, micros: int) -> int:
        if currency == target or not micros:
            return micros
        if currency not in rates:
            raise ReportError(
                f"the report spans several currencies and there is no rate for {currency} "
                f"into {target}: set GRAPHAPI_CURRENCY_RATES"
            )
        return int((micros * rates[currency]).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    return convert


def _stats(currency: str, sums: Sequence[int]) -> Stats:
    return Stats(
        currency=currency,
        clicks=sums[0],
        unique_clicks=sums[1],
        bot_clicks=sums[2],
        lander_clicks=sums[3],
        cost=from_micros(sums[4] + sums[11]),
        has_landers=sums[5] > 0,
        conversions=sums[6],
        pending_conversions=sums[7],
        rejected_conversions=sums[8],
        revenue=from_micros(sums[9]),
        pending_revenue=from_micros(sums[10]),
    )
