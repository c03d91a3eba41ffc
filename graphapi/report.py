"""Reports: the figures of `graphapi.stats`, grouped by any list of dimensions,
computed in the database.

One GROUP BY query over clicks (by click time) and one over conversions (by
conversion time, with the dimensions of their click) return sums per group;
Python merges the two and converts currencies, which is bounded by the number
of groups, never by the number of rows.

Local days and hours: SQLite knows no IANA time zones, so the zone's UTC
offsets over the report's period are worked out in Python (zoneinfo) and
handed to SQL as a CASE on the row's time (a handful of branches: one per
daylight-saving change in the period). Both databases then bucket
`time + offset`. An hour is grouped with its offset too, so the hour that
repeats when clocks go back stays two hours, each reported as its UTC start.

Currencies: every group carries its campaign's currency; when a report spans
several, money is converted into the reporting currency per group before the
rows and the totals are summed, so rows always add up to the totals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graphapi import rollups
from graphapi.currency import Rates
from graphapi.db import Database
from graphapi.models import DeviceType
from graphapi.money import from_micros
from graphapi.stats import CLICK_SUMS, CONVERSION_SUMS, Stats, time_window

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
    **{d: (f"k.{d.value}", f"k.{d.value}") for d in Dimension if d not in TIME_DIMENSIONS},
    Dimension.CAMPAIGN: ("k.campaign_id", "v.campaign_id"),
    Dimension.OFFER: ("k.offer_id", "k.offer_id"),
    Dimension.LANDER: ("k.lander_id", "k.lander_id"),
    Dimension.GOAL: (None, "v.goal"),
}

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
    # OSError: a name too long for a file name, or a folder of zones ("America").
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ReportError(f"unknown time zone {name!r}: use an IANA name such as Europe/Kyiv") from None


# Offsets are worked out from EARLIEST to two days from now, whatever the
# period: no tracked traffic is older or newer (clocks aside), and outside that
# span the offset at its nearer end holds. A period that reaches the ends of
# the calendar (years 1 and 9999) then neither overflows once in local time
# nor walks thousands of years of daylight-saving changes.
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
_AHEAD = timedelta(days=2)
_STEP = timedelta(days=7)  # daylight-saving changes are months apart


def _offset(zone: ZoneInfo, epoch: int) -> int:
    moment = datetime.fromtimestamp(epoch, timezone.utc).astimezone(zone)
    return int(moment.utcoffset().total_seconds())


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> tuple[int, list[tuple[datetime, int]]]:
    """The zone's UTC offset (seconds) at `start`, and each change until `end`
    as (instant, new offset)."""
    lo, last = int(start.timestamp()), int(end.timestamp())
    first = current = _offset(zone, lo)
    changes = []
    while lo < last:
        hi = min(lo + int(_STEP.total_seconds()), last)
        if _offset(zone, hi) == current:
            lo = hi
            continue
        while hi - lo > 1:  # the first second of the new offset
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _offset(zone, mid) == current else (lo, mid)
        current = _offset(zone, hi)
        changes.append((datetime.fromtimestamp(hi, timezone.utc), current))
        lo = hi
    return first, changes


class _LocalTime:
    """SQL for a row's local day and hour, and their values back in Python."""

    def __init__(self, zone: ZoneInfo, since: datetime | None, until: datetime | None, postgres: bool) -> None:
        latest = datetime.now(timezone.utc) + _AHEAD
        start = min(max(since or EARLIEST, EARLIEST), latest)
        end = max(min(until or latest, latest), start)
        self.first, self.changes = offset_changes(zone, start, end)
        self.postgres = postgres

    def offset(self, column: str) -> str:
        if not self.changes:
            return str(self.first)
        # Latest first: most rows are recent. Literals are made from our own datetimes.
        literal = "TIMESTAMPTZ '{}'" if self.postgres else "'{}'"
        branches = " ".join(
            f"WHEN {column} >= {literal.format(at)} THEN {offset}" for at, offset in reversed(self.changes)
        )
        return f"(CASE {branches} ELSE {self.first} END)"

    def bucket(self, column: str, hour: bool) -> str:
        if self.postgres:
            # A date or a timestamp, not to_char()'s text: to_char() made the
            # click side of a 30-day report 94 ms where ::date made it 66 ms.
            local = f"(({column} AT TIME ZONE 'UTC') + {self.offset(column)} * INTERVAL '1 second')"
            return f"date_trunc('hour', {local})" if hour else f"{local}::date"
        if not hour and not self.changes and self.first == 0:
            # UTC days: times are stored as UTC text, so the day is its first
            # ten characters, with none of date()'s parsing per row.
            return f"substr({column}, 1, 10)"
        # date() and datetime() cost half what strftime() does per row.
        shifted = f"{column}, {self.offset(column)} || ' seconds'"
        return f"substr(datetime({shifted}), 1, 13)" if hour else f"date({shifted})"

    def columns(self, column: str, dimensions: Sequence[Dimension]) -> list[str]:
        selected = []
        if Dimension.DAY in dimensions:
            selected.append(self.bucket(column, hour=False))
        if Dimension.HOUR in dimensions:
            selected += [self.bucket(column, hour=True), self.offset(column)]
        return selected

    @staticmethod
    def values(dimensions: Sequence[Dimension], row: Sequence[Any]) -> dict[Dimension, Any]:
        """Buckets back as Python values: text from SQLite, a date or a
        timestamp from PostgreSQL."""
        found = {}
        if Dimension.DAY in dimensions:
            day, row = row[0], row[1:]
            found[Dimension.DAY] = day if isinstance(day, date) else date.fromisoformat(day)
        if Dimension.HOUR in dimensions:
            hour = row[0] if isinstance(row[0], datetime) else datetime.strptime(row[0], "%Y-%m-%d %H")
            found[Dimension.HOUR] = hour.replace(tzinfo=timezone.utc) - timedelta(seconds=int(row[1]))
        return found


async def _groups(
    db: Database,
    columns: Sequence[str],
    source: str,
    sums: str,
    where: str,
    params: list,
    one_currency: OneCurrency | None,
    per_hour: Iterable[str] | None = None,
) -> list[tuple]:
    """Sums per group of `columns` over `source` (aliased k or v), each row
    with its campaigns' currency after the columns. With `one_currency` the
    campaigns are not joined in, and the groups not split by currency (a
    30-day report's click side on SQLite took 126 rather than 188 ms).

    With `per_hour`, the figures of a rollup table `source`, and
    `one_currency`, its rows are first summed per hour and value over all
    campaigns, in the order SQLite keeps them (migration 0007), and only those
    sums are sorted into groups (30 days by country: 5,760 rows, not 57,680)."""
    alias = source.split()[1]
    if one_currency is None:
        source += f" JOIN campaign c ON c.id = {alias}.campaign_id"
        columns = [*columns, "c.currency"]
    else:
        # A campaign made since the currencies were read may have another.
        where += f" AND {alias}.campaign_id <= ?"
        params = [*params, one_currency.last_campaign_id]
        if per_hour is not None:
            sums_of = ", ".join(
                f"{rollups.figure_sums({name: f'{alias}.{name}'}, db.postgres)} AS {name}" for name in per_hour
            )
            source = (
                f"(SELECT {alias}.hour AS hour, {alias}.value AS value, {sums_of} FROM {source} "
                f"WHERE {where} GROUP BY {alias}.hour, {alias}.value) {alias}"
            )
            where = "1 = 1"
    # With no columns, no group at all when no row matches (not one of NULLs).
    group = f" GROUP BY {', '.join(str(i) for i in range(1, len(columns) + 1))}" if columns else " HAVING COUNT(*) > 0"
    rows = await db.fetch(
        f"SELECT {', '.join([*columns, sums])} FROM {source} WHERE {where}{group} LIMIT ?",
        [*params, MAX_GROUPS + 1],
        side_by_side=True,
    )
    if len(rows) > MAX_GROUPS:
        raise ReportError("the report has too many rows: group by fewer dimensions or a shorter period")
    if one_currency is not None:
        width = len(columns)
        rows = [(*row[:width], one_currency.currency, *row[width:]) for row in rows]
    return rows


@dataclass(frozen=True)
class OneCurrency:
    """The currency every campaign in a report's scope has, up to the last campaign then."""

    currency: str
    last_campaign_id: int


async def _one_currency(db: Database, campaign_ids: Sequence[int] | None) -> OneCurrency | None:
    scope, params = _scope(campaign_ids, "id")
    rows = await db.fetch(f"SELECT currency, MAX(id) FROM campaign WHERE 1 = 1{scope} GROUP BY currency", params)
    return OneCurrency(*rows[0]) if len(rows) == 1 else None


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
    rates: Rates | None = None,
    campaign_ids: Sequence[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    timezone_name: str = "UTC",
) -> Report:
    """Figures grouped by `group_by`; rows add up to `totals`.

    `currency` is the reporting currency: figures spanning campaigns of several
    currencies are converted into it with `rates`; figures of one currency stay
    in it.
    """
    dimensions = list(dict.fromkeys(group_by))
    zone = time_zone(timezone_name)
    plain = [d for d in dimensions if d not in TIME_DIMENSIONS]

    local = _LocalTime(zone, since, until, db.postgres)
    click_plain = [d for d in plain if _COLUMNS[d][0] is not None]
    rolled = _rollup_dimension(plain, local, since, until)
    one_currency = await _one_currency(db, campaign_ids)
    bounds = (local, campaign_ids, since, until, one_currency)
    if rolled is None:
        clicks, conversions = await _raw_groups(db, dimensions, plain, click_plain, *bounds)
        decode = _same
    else:
        clicks, conversions = await _rollup_groups(db, dimensions, plain, click_plain, *bounds, rolled)
        decode = _rollup_value
    click_columns = len(click_plain) + len(local.columns("k", dimensions))
    conversion_columns = len(plain) + len(local.columns("v", dimensions))

    currencies = {row[click_columns] for row in clicks} | {row[conversion_columns] for row in conversions}
    target = currencies.pop() if len(currencies) == 1 else currency
    convert = _converter(target, rates)

    folded: dict[tuple, list[int]] = {}

    def key_of(values: Sequence[Any], named: Sequence[Dimension]) -> tuple:
        found = {dimension: decode(dimension, value) for dimension, value in zip(named, values)}
        found.update(local.values(dimensions, values[len(named) :]))
        return tuple(found.get(dimension) for dimension in dimensions)

    for rows, width, offset, named in (
        (clicks, click_columns, 0, click_plain),
        (conversions, conversion_columns, _CLICK_FIGURES, plain),
    ):
        for row in rows:
            key = key_of(row[:width], named)
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


async def _raw_groups(db, dimensions, plain, click_plain, local, campaign_ids, since, until, one_currency):
    """Click and conversion groups from the raw tables."""
    click_columns = [_COLUMNS[d][0] for d in click_plain] + local.columns("k.created_at", dimensions)
    conversion_columns = [_COLUMNS[d][1] for d in plain] + local.columns("v.created_at", dimensions)
    scope, scope_params = _scope(campaign_ids, "k.campaign_id")
    window, window_params = time_window("k.created_at", since, until)
    clicks = _groups(
        db, click_columns, "click k", CLICK_SUMS[db.postgres] + ", SUM(CASE WHEN k.lander_id IS NULL THEN 0 ELSE 1 END)",
        f"k.route <> 'fallback'{scope}{window}", scope_params + window_params, one_currency,
    )  # fmt: skip
    scope, scope_params = _scope(campaign_ids, "v.campaign_id")
    window, window_params = time_window("v.created_at", since, until)
    # Conversions reach their click only for the click's dimensions.
    joined = any(column.startswith("k.") for column in conversion_columns)
    conversions = _groups(
        db, conversion_columns, "conversion v" + (" JOIN click k ON k.id = v.click_id" if joined else ""),
        CONVERSION_SUMS[db.postgres], f"1 = 1{scope}{window}", scope_params + window_params, one_currency,
    )  # fmt: skip
    # Two queries at once, on two connections.
    return await asyncio.gather(clicks, conversions)


# Report dimensions the rollups keep (graphapi/rollups.py), by their name there.
_ROLLED = {
    Dimension.COUNTRY: "country",
    Dimension.DEVICE_TYPE: "device_type",
    Dimension.OS: "os",
    Dimension.BROWSER: "browser",
    Dimension.OFFER: "offer",
    Dimension.LANDER: "lander",
    Dimension.GOAL: "goal",
    Dimension.SOURCE: "source",
}


def _rollup_dimension(plain, local: _LocalTime, since, until) -> str | None:
    """The rollup dimension that answers this report exactly, or None.

    Rollups hold UTC hours and one dimension besides the campaign: they answer
    reports over whole hours, in zones whose offsets are whole hours.
    """
    others = [d for d in plain if d is not Dimension.CAMPAIGN]
    if len(others) > 1 or any(d not in _ROLLED for d in others):
        return None
    if not rollups.on_the_hour(since, until):
        return None
    if any(offset % 3600 for offset in (local.first, *(offset for _, offset in local.changes))):
        return None
    return _ROLLED[others[0]] if others else ""


_ROLLUP_CLICK_SUMS = {postgres: sums + ", SUM(k.lander_routed)" for postgres, sums in rollups.CLICK_SUMS.items()}


def _daily(dimensions: Sequence[Dimension], local: _LocalTime, since, until) -> bool:
    """Whether the daily rollups answer this report: no hours, a period of
    whole UTC days, and days (if grouped by) in a zone at UTC throughout."""
    if Dimension.HOUR in dimensions:
        return False
    if not all(moment is None or moment.astimezone(timezone.utc).time() == time() for moment in (since, until)):
        return False
    return Dimension.DAY not in dimensions or (local.first == 0 and not local.changes)


async def _rollup_groups(
    db, dimensions, plain, click_plain, local, campaign_ids, since, until, one_currency, rolled
):
    """Click and conversion groups from the rollups (the same shape as `_raw_groups`)."""
    await rollups.catch_up(db)

    def column(alias: str, dimension: Dimension) -> str:
        return f"{alias}.campaign_id" if dimension is Dimension.CAMPAIGN else f"{alias}.value"

    click_columns = [column("k", d) for d in click_plain] + local.columns("k.hour", dimensions)
    conversion_columns = [column("v", d) for d in plain] + local.columns("v.hour", dimensions)
    # Clicks have no goal: a report by goal takes their campaign-hour totals.
    click_dimension = "" if rolled == "goal" else rolled
    # Summed per hour first on SQLite, unless the report splits campaigns
    # (on PostgreSQL the extra step made the 30-day report 5-30 % slower).
    per_hour = not db.postgres and Dimension.CAMPAIGN not in plain

    def part(daily: bool, since: datetime | None, until: datetime | None) -> list[Awaitable[list[tuple]]]:
        tables = {table: rollups.DAILY[table] if daily else table for table in ("click_rollup", "conversion_rollup")}
        scope, scope_params = _scope(campaign_ids, "k.campaign_id")
        window, window_params = time_window("k.hour", since, until)
        clicks = _groups(
            db, click_columns, f"{tables['click_rollup']} k", _ROLLUP_CLICK_SUMS[db.postgres],
            f"k.dimension = ?{scope}{window}", [click_dimension, *scope_params, *window_params], one_currency,
            rollups.CLICK_FIGURES if per_hour else None,
        )  # fmt: skip
        scope, scope_params = _scope(campaign_ids, "v.campaign_id")
        window, window_params = time_window("v.hour", since, until)
        conversions = _groups(
            db, conversion_columns, f"{tables['conversion_rollup']} v", rollups.CONVERSION_SUMS[db.postgres],
            f"v.dimension = ?{scope}{window}", [rolled, *scope_params, *window_params], one_currency,
            rollups.CONVERSION_FIGURES if per_hour else None,
        )  # fmt: skip
        return [clicks, conversions]

    if not _daily(dimensions, local, since, until):
        return await asyncio.gather(*part(False, since, until))
    # Past days from the daily rollups, the days they do not hold yet from the
    # hourly ones: the groups of both are added up like any others.
    boundary = await rollups.days_until(db)
    queries = []
    if since is None or since < boundary:
        queries += part(True, since, boundary if until is None or until > boundary else until)
    if until is None or until > boundary:
        queries += part(False, boundary if since is None or since < boundary else since, until)
    found = await asyncio.gather(*queries)
    return [row for rows in found[0::2] for row in rows], [row for rows in found[1::2] for row in rows]


def _same(dimension: Dimension, value: Any) -> Any:
    return value


def _rollup_value(dimension: Dimension, value: Any) -> Any:
    """A rollup keeps values as text, '' for none (the empty goal is a goal)."""
    if dimension in (Dimension.CAMPAIGN, Dimension.GOAL) or value is None:
        return value
    if value == "":
        return None
    return int(value) if dimension in (Dimension.OFFER, Dimension.LANDER) else value


def _python_value(dimension: Dimension, value: Any) -> Any:
    if value is not None and dimension is Dimension.DEVICE_TYPE:
        return DeviceType(value)
    return value


def _converter(target: str, rates: Rates | None):
    def convert(currency: str, micros: int) -> int:
        if currency == target or not micros:
            return micros
        amount = rates.convert(Decimal(micros), currency, target) if rates is not None else None
        if amount is None:
            raise ReportError(
                f"the report spans several currencies and there is no rate for {currency} "
                f"into {target}: set GRAPHAPI_CURRENCY_RATES"
            )
        return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

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
