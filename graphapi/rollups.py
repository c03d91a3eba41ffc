"""Pre-aggregated figures that reports read instead of millions of rows.

Per campaign, UTC hour and the value of one dimension (`dimension` '' holds the
campaign-hour's totals):

- clicks: counted after they are committed, in large batches (`catch_up`:
  every half second, and before anything reads click_rollup), so a read
  counts every click committed before it. Counted as each small batch was
  written, they cost a sixth of SQLite's click path (bound by the server's
  one core), and on PostgreSQL, where the click path waits for each batch's
  statement, that statement took 4.6 ms for 31 clicks rather than 3.4.
  SQLite writers take turns, so click ids are committed in order and one
  mark (rollup_mark) tells what is counted; PostgreSQL processes commit ids
  out of order, so the statement writing clicks also queues their ids in
  click_uncounted, and counting takes them out (`queued`);
- a lander click-through moves its click (counted first, if it is not yet)
  from offer '' to the offer it chose;
- a conversion created or changed takes its old figures away (if it had
  any) and adds its new ones, under the conversion's hour and its click's
  dimension values, in the same transaction; the writer holds the
  conversion's row locked meanwhile.

A report uses them when it groups by time, campaign and at most one of these
dimensions, over whole hours of a zone whose offsets are whole hours
(`graphapi/report.py`), and so do the campaign figures rules are given
(`graphapi/stats.py`); anything else reads the raw tables.

Past UTC days are also kept per day (DAILY, below), so a report over whole
days reads a 24th of the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import operator
import time
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from graphapi.db import Database, Transaction, retried
from graphapi.money import added_micros, held, sum_of_micros

log = logging.getLogger(__name__)

# Rollup dimension -> the SQL for a click's (k) or conversion's (v) value of it.
VALUES = {
    "": "''",
    "country": "COALESCE(k.country, '')",
    "device_type": "k.device_type",
    "os": "COALESCE(k.os, '')",
    "browser": "COALESCE(k.browser, '')",
    "offer": "COALESCE(CAST(k.offer_id AS TEXT), '')",
    "lander": "COALESCE(CAST(k.lander_id AS TEXT), '')",
    "source": "COALESCE(k.source, '')",
}
CLICK_DIMENSIONS = tuple(VALUES)
CONVERSION_DIMENSIONS = (*VALUES, "goal")
_CONVERSION_VALUES = {**VALUES, "goal": "v.goal"}

CLICK_FIGURES = {
    "clicks": "CASE WHEN k.is_bot THEN 0 ELSE 1 END",
    "unique_clicks": "CASE WHEN k.is_bot OR NOT k.is_unique THEN 0 ELSE 1 END",
    "bot_clicks": "CASE WHEN k.is_bot THEN 1 ELSE 0 END",
    "lander_clicks": "CASE WHEN k.is_bot OR k.lander_clicked_at IS NULL THEN 0 ELSE 1 END",
    "lander_routed": "CASE WHEN k.lander_id IS NULL THEN 0 ELSE 1 END",
    "cost": "k.cost",
}
CONVERSION_FIGURES = {
    "approved": "CASE WHEN v.status = 'approved' THEN 1 ELSE 0 END",
    "pending": "CASE WHEN v.status = 'pending' THEN 1 ELSE 0 END",
    "rejected": "CASE WHEN v.status = 'rejected' THEN 1 ELSE 0 END",
    "revenue": "CASE WHEN v.status = 'approved' THEN v.payout ELSE 0 END",
    "pending_revenue": "CASE WHEN v.status = 'pending' THEN v.payout ELSE 0 END",
    "cost": "CASE WHEN v.status = 'approved' THEN v.cost ELSE 0 END",
}


# The figures in micro-units: their sums are held within money.LIMIT.
MONEY = frozenset({"cost", "revenue", "pending_revenue"})


def figure_sums(figures: dict[str, str], postgres: bool) -> str:
    """SQL summing `figures` (name -> SQL), money held within its limit."""
    return ", ".join(sum_of_micros(sql, postgres) if name in MONEY else f"SUM({sql})" for name, sql in figures.items())


# The figures summed over rollup rows (aliased k and v), by database, in the
# order of graphapi.stats' CLICK_SUMS and CONVERSION_SUMS over the raw tables.
SUMMED_CLICKS = ("clicks", "unique_clicks", "bot_clicks", "lander_clicks", "cost")
CLICK_SUMS = {postgres: figure_sums({name: f"k.{name}" for name in SUMMED_CLICKS}, postgres) for postgres in (False, True)}
CONVERSION_SUMS = {
    postgres: figure_sums({name: f"v.{name}" for name in CONVERSION_FIGURES}, postgres) for postgres in (False, True)
}


def on_the_hour(*moments: datetime | None) -> bool:
    """Whether a period with these bounds (None: open) is made of whole UTC hours,
    as the rollups count."""
    return all(
        moment is None or moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) == moment
        for moment in moments
    )


def hour_of(column: str, postgres: bool, unit: str = "hour") -> str:
    """SQL for the UTC hour (or `unit` 'day') a time falls in, stored as the
    `hour` column is."""
    if postgres:
        return f"date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    if unit == "day":
        return f"substr({column}, 1, 10) || ' 00:00:00+00:00'"
    return f"substr({column}, 1, 13) || ':00:00+00:00'"  # times are stored as ISO text in UTC


def _dimensions(names: Iterable[str], values: dict[str, str]) -> tuple[str, str]:
    """A table of the dimension names (d.name), and SQL for a row's value of each."""
    names = list(names)
    table = " UNION ALL ".join(f"SELECT '{name}' AS name" for name in names)
    value = "CASE d.name " + " ".join(f"WHEN '{name}' THEN {values[name]}" for name in names) + " END"
    return table, value


def _into(table: str, figures: dict[str, str]) -> str:
    return f"INSERT INTO {table} (campaign_id, hour, dimension, value, {', '.join(figures)}) "


def _adding(table: str, figures: dict[str, str]) -> str:
    """The ON CONFLICT clause that adds a row's figures to those already there."""
    added = ", ".join(
        f"{name} = {added_micros(f'{table}.{name}', f'excluded.{name}')}"
        if name in MONEY
        else f"{name} = {table}.{name} + excluded.{name}"
        for name in figures
    )
    return f"ON CONFLICT (campaign_id, hour, dimension, value) DO UPDATE SET {added}"


def _upsert(table: str, figures: dict[str, str]) -> str:
    return f"{_into(table, figures)}VALUES ({', '.join('?' * (4 + len(figures)))}) {_adding(table, figures)}"


def add_clicks(source: str, where: str, postgres: bool, daily: bool = False) -> str:
    """SQL adding the figures of the clicks `source` (aliased k) holds to the
    rollup; `daily`: those of days before `rollup_days.until` to the daily one."""
    table = DAILY["click_rollup"] if daily else "click_rollup"
    names, value = _dimensions(CLICK_DIMENSIONS, VALUES)
    unit = "hour"
    if daily:
        unit, where = "day", where + f" AND k.created_at < ({_UNTIL})"
    # Rows in key order (byte order for text, as Python sorts): see _in_key_order.
    text_order = ' COLLATE "C"' if postgres else ""
    return (
        f"{_into(table, CLICK_FIGURES)}SELECT k.campaign_id, {hour_of('k.created_at', postgres, unit)}, d.name, "
        f"{value}, {figure_sums(CLICK_FIGURES, postgres)} FROM {source} CROSS JOIN ({names}) d WHERE k.route <> 'fallback'{where} "
        f"GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, d.name{text_order}, {value}{text_order} "
        f"{_adding(table, CLICK_FIGURES)}"
    )


def queued(insert: str, before: str = "") -> str:
    """PostgreSQL: the statement `insert` (clicks, RETURNING id) that also
    queues its clicks for counting; `before`: common table expressions it reads
    (each ending in ', ')."""
    return f"WITH {before}k AS ({insert}) INSERT INTO click_uncounted (id) SELECT id FROM k"


def _count_queued(which: str) -> str:
    """PostgreSQL: one statement that takes the queued clicks `which` selects
    out of the queue and counts them.

    `which` locks its queue rows in id order (as every counter does), so a
    count waits for one under way on the same clicks, and then finds them
    gone. The daily rows wait for the hourly ones (they read what the hourly
    insert returns): every writer adds to hours before days, and to rows in
    key order (see _in_key_order), so two never wait for each other's rows.
    """
    hourly = add_clicks("k", "", True)
    return (
        f"WITH q AS (DELETE FROM click_uncounted WHERE id IN ({which}) RETURNING id), "
        f"k AS (SELECT click.* FROM click JOIN q ON click.id = q.id), rollup AS ({hourly} RETURNING 1) "
        + add_clicks("k", " AND (SELECT COUNT(*) FROM rollup) > 0", True, daily=True)
    )


# The figures of past UTC days are kept per day as well (migrations 0008 and
# 0009), so a report over whole days reads a 24th of the rows; a daily row's
# `hour` is its day's first. `rollup_days.until` is the first day they do not
# hold yet: a write to an hour before it adds to that hour's day as well, and
# once a day has passed its hours are added up into it (`roll_days`, run by
# RollupKeeper). Today's writes, nearly all of them, touch the hours only.
#
# A writer reads `until` after (or in the statement of) its hourly writes, and
# the roll runs alone: SQLite has one writer at a time; on PostgreSQL the roll
# locks rollup_days against every reader first, so a writer's statement that
# reads it either ends before the roll begins (the roll then sees its hours)
# or starts after it ends (and sees the new `until`: a statement's snapshot
# is taken once its locks are held).
DAILY = {"click_rollup": "click_rollup_daily", "conversion_rollup": "conversion_rollup_daily"}
_UNTIL = "SELECT until FROM rollup_days"
# PostgreSQL: how long the roll waits for the writers before it, holding up
# those after it meanwhile; when it runs out, the next round tries again.
ROLL_LOCK_WAIT = "200ms"
_LOCK_NOT_AVAILABLE = "55P03"
_UPSERT_CLICKS = (_upsert("click_rollup", CLICK_FIGURES), _upsert(DAILY["click_rollup"], CLICK_FIGURES))
_UPSERT_CONVERSIONS = (
    _upsert("conversion_rollup", CONVERSION_FIGURES),
    _upsert(DAILY["conversion_rollup"], CONVERSION_FIGURES),
)
Sums = dict[tuple, list[int]]


def _add(sums: Sums, key: tuple, figures: Sequence[int]) -> None:
    total = sums.get(key)
    sums[key] = list(figures) if total is None else list(map(operator.add, total, figures))


def _in_key_order(sums: Sums) -> list[tuple]:
    # In key order, as every statement adding to a rollup takes its rows'
    # locks: two processes adding to the same rows then queue, never deadlock.
    # Each sum held as the SQL holds the rows it adds to (money.LIMIT).
    return [(*key, *map(held, sums[key])) for key in sorted(sums)]


def day_of(hour: datetime | str) -> str:
    """The UTC day of an hour (a datetime, or text as SQLite stores it), as
    SQLite's daily rollups store it."""
    text = hour if isinstance(hour, str) else hour.astimezone(timezone.utc).isoformat(sep=" ")
    return text[:10] + " 00:00:00+00:00"


def _day(hour: datetime | str, postgres: bool) -> datetime | str:
    """The UTC day of an hour, as `until` and the daily rollups hold it."""
    if postgres:
        return as_datetime(hour).astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day_of(hour)


@functools.lru_cache(maxsize=256)
def _sqlite_hour(hour: datetime | str) -> str:
    """An hour as SQLite stores it: what sqlite3's datetime adapter writes, which
    costs 1.4 µs a value (a batch's rows share a few hours)."""
    return hour if isinstance(hour, str) else hour.isoformat(" ")


async def _add_sums(tx: Transaction, upserts: tuple[str, str], sums: Sums) -> None:
    hourly, daily = upserts
    rows = _in_key_order(sums)
    if not tx.postgres:
        rows = [(campaign_id, _sqlite_hour(hour), *rest) for campaign_id, hour, *rest in rows]
    await tx.executemany(hourly, rows)
    # Read after the hours are written: see DAILY.
    until = as_datetime((await tx.fetch(_UNTIL))[0][0])
    days: Sums = {}
    for (campaign_id, hour, dimension, value), figures in sums.items():
        if as_datetime(hour) < until:  # a late change to a day already added up
            _add(days, (campaign_id, _day(hour, tx.postgres), dimension, value), figures)
    if days:
        await tx.executemany(daily, _in_key_order(days))


async def days_until(db: Database) -> datetime:
    """The first UTC day the daily rollups do not hold."""
    return as_datetime((await db.fetch(_UNTIL))[0][0])


async def roll_days(db: Database, until: datetime | None = None) -> None:
    """Add up the hours of the days that have passed since the last roll (of
    those before `until`, for tests) into the daily rollups."""
    today = _day(until or datetime.now(timezone.utc), db.postgres)
    if (await db.fetch(_UNTIL))[0][0] >= today:
        return
    try:
        async with db.write() as tx:
            if tx.postgres:  # see DAILY
                await tx.execute(f"SET LOCAL lock_timeout = '{ROLL_LOCK_WAIT}'")
                await tx.execute("LOCK TABLE rollup_days IN ACCESS EXCLUSIVE MODE")
            if (await tx.fetch(_UNTIL))[0][0] >= today:
                return  # another process did
            for statement in _days_from_hours(f"({_UNTIL})", "?", tx.postgres):
                await tx.execute(statement, (today,))
            await tx.execute("UPDATE rollup_days SET until = ?", (today,))
    except Exception as error:
        if getattr(error, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        log.info("the day's rollups wait for busy writers; the next round will try again")



async def _upsert_clicks(tx: Transaction, sums: Sums) -> None:
    await _add_sums(tx, _UPSERT_CLICKS, sums)


def _click_figures(is_bot: bool, is_unique: bool, lander: str, cost: int, lander_clicks: int = 0) -> tuple:
    """One click's CLICK_FIGURES, worked out here rather than by SQL (on SQLite
    that costs a fraction of aggregating the rows again); tests/test_rollups.py
    holds the two to the same answers."""
    return (0 if is_bot else 1, 1 if is_unique and not is_bot else 0, 1 if is_bot else 0,
            lander_clicks, 1 if lander else 0, cost)  # fmt: skip


# SQL for a click's (k) value of each dimension, in VALUES order.
CLICK_VALUES = ", ".join(VALUES.values())
# SQLite: the last click id counted.
_MARK = "SELECT last_click_id FROM rollup_mark"


async def add_click_throughs(tx: Transaction, click_ids: list[int]) -> None:
    """Clicks just sent from their lander to an offer: one more lander click in
    every dimension, and under `offer` they move from '' to the chosen offer."""
    if not click_ids:
        return
    rows = await tx.fetch(
        f"SELECT k.campaign_id, k.created_at, k.is_bot, k.is_unique, k.cost, {CLICK_VALUES} FROM click k "
        f"WHERE k.route <> 'fallback' AND k.id IN ({', '.join('?' * len(click_ids))})",
        click_ids,
    )
    sums: Sums = {}
    for campaign_id, created_at, is_bot, is_unique, cost, *dimension_values in rows:
        hour = _hour_start(as_datetime(created_at))
        values = dict(zip(VALUES, dimension_values, strict=True))
        lander_click = 0 if is_bot else 1
        for dimension, value in values.items():
            if dimension != "offer":
                _add(sums, (campaign_id, hour, dimension, value), (0, 0, 0, lander_click, 0, 0))
        until_now = _click_figures(is_bot, is_unique, values["lander"], cost)
        _add(sums, (campaign_id, hour, "offer", ""), [-amount for amount in until_now])
        moved = _click_figures(is_bot, is_unique, values["lander"], cost, lander_click)
        _add(sums, (campaign_id, hour, "offer", values["offer"]), moved)
    await _upsert_clicks(tx, sums)


async def count_clicks_after(tx: Transaction, last_id: int) -> None:
    """Count the clicks above `last_id` that the writer added through the driver
    (tests' seeding): on PostgreSQL; SQLite counts them with the rest."""
    if tx.postgres:
        for daily in (False, True):  # hours first: see _count_queued
            await tx.execute(add_clicks("click k", " AND k.id > ?", True, daily), (last_id,))


_PROGRESS = f"SELECT ({_MARK}), (SELECT COALESCE(MAX(id), 0) FROM click)"
_NEW_CLICKS = (
    f"SELECT k.campaign_id, {hour_of('k.created_at', False)}, k.is_bot, k.is_unique, k.cost, "
    f"k.lander_clicked_at IS NOT NULL, {CLICK_VALUES} FROM click k "
    "WHERE k.id > ? AND k.id <= ? AND k.route <> 'fallback'"
)
_LANDER = list(VALUES).index("lander")
# Clicks counted per transaction (about 0.1 s of work), and summed between
# two turns of the event loop (about 2 ms).
COUNT_AT_ONCE = 20_000
SUM_AT_ONCE = 400


_COUNT_QUEUE = _count_queued("SELECT id FROM click_uncounted WHERE id <= ? ORDER BY id LIMIT ? FOR UPDATE")
_COUNT_THESE = _count_queued("SELECT id FROM click_uncounted WHERE id = ANY(?::bigint[]) ORDER BY id FOR UPDATE")
_LAST_QUEUED = "SELECT MAX(id) FROM click_uncounted"


async def catch_up(db: Database) -> None:
    """Count the clicks committed since the last count.

    Nothing changes a click's row before it is counted but a click-through,
    which counts it first (`count_before_click_through`).

    SQLite: the clicks are read and summed outside the write lock, so the
    click path goes on meanwhile; only adding the sums holds it. A
    click-through that counted clicks meanwhile has moved the mark: the sums
    are then dropped and the count goes on from there."""
    if db.postgres:
        await _count_queue(db)
        return
    [(mark, last)] = await db.fetch(_PROGRESS)
    # Up to the clicks committed by now: under load, more keep coming.
    while mark < last:
        until = min(last, mark + COUNT_AT_ONCE)
        rows = await db.fetch(_NEW_CLICKS, (mark, until), side_by_side=True)
        sums = await _click_sums(rows)
        async with db.write() as tx:
            now = (await tx.fetch(_MARK))[0][0]
            if now == mark:
                await _add_counted(tx, sums, until)
                now = until
        mark = now


# PostgreSQL: one count at a time in a process. Counts of the same clicks
# wait for each other's rows, each holding one of the pool's few connections
# meanwhile: reads side by side would take them all from the click path.
_counting: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _count_queue(db: Database) -> None:
    """PostgreSQL: count the clicks queued by now, COUNT_AT_ONCE a statement.

    A click-through adds to the rollups in two statements (it counts its
    click first), so it and a count can deadlock: the loser runs again."""
    async with _counting.setdefault(db, asyncio.Lock()):
        [(last,)] = await db.fetch(_LAST_QUEUED)

        async def count() -> None:
            async with db.write(one_statement=True) as tx:
                await tx.execute(_COUNT_QUEUE, (last, COUNT_AT_ONCE))

        while last is not None:
            await retried(count, "counting clicks")
            [(last,)] = await db.fetch(f"{_LAST_QUEUED} WHERE id <= ?", (last,))


async def count_before_click_through(tx: Transaction, click_ids: list[int]) -> None:
    """Count any of these clicks not counted yet (on SQLite with every click
    before them), in their click-through's transaction before it changes them."""
    if tx.postgres:
        await tx.execute(_COUNT_THESE, (click_ids,))
        return
    [(mark, last)] = await tx.fetch(_PROGRESS)
    if max(click_ids) > mark:
        await _add_counted(tx, await _click_sums(await tx.fetch(_NEW_CLICKS, (mark, last))), last)


async def _click_sums(rows: list[tuple]) -> Sums:
    sums: Sums = {}
    for start in range(0, len(rows), SUM_AT_ONCE):
        for campaign_id, hour, is_bot, is_unique, click_cost, lander_clicked, *values in rows[start : start + SUM_AT_ONCE]:
            lander_click = 1 if lander_clicked and not is_bot else 0
            figures = _click_figures(is_bot, is_unique, values[_LANDER], click_cost, lander_click)
            clicks, unique, bots, lander_clicks, routed, cost = figures
            for dimension, value in zip(VALUES, values, strict=True):
                key = (campaign_id, hour, dimension, value)
                total = sums.get(key)
                if total is None:
                    sums[key] = list(figures)
                else:  # what _add does, unrolled: half the cost of counting a click
                    total[0] += clicks
                    total[1] += unique
                    total[2] += bots
                    total[3] += lander_clicks
                    total[4] += routed
                    total[5] += cost
        await asyncio.sleep(0)  # requests get their turn
    return sums


async def _add_counted(tx: Transaction, sums: Sums, until: int) -> None:
    await _upsert_clicks(tx, sums)
    await tx.execute("UPDATE rollup_mark SET last_click_id = ?", (until,))


# PostgreSQL: click_visitor_seen rows matter only while a batch that wrote one
# may be in flight (graphapi.clicks); older ones are answered by the clicks.
_PRUNE_SEEN = "DELETE FROM click_visitor_seen WHERE seen_at < now() - interval '10 minutes'"
PRUNE_EVERY = 60  # seconds


class RollupKeeper:
    """Every half second: `catch_up`, so reads find little to count; and
    `roll_days` once a day has passed. On PostgreSQL, every minute, the
    click batches' old visitor rows go."""

    EVERY = 0.5  # seconds

    def __init__(self, db: Database) -> None:
        self._db = db
        self._task: asyncio.Task | None = None
        self._pruned = time.monotonic()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rollup-keeper")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.EVERY)
            try:
                await catch_up(self._db)
                await roll_days(self._db)
                if self._db.postgres and time.monotonic() - self._pruned > PRUNE_EVERY:
                    async with self._db.write(one_statement=True) as tx:
                        await tx.execute(_PRUNE_SEEN)
                    self._pruned = time.monotonic()
            except Exception:
                log.warning("keeping the rollups up failed; the next round will try again", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _conversion_counts(where: str, postgres: bool) -> str:
    names, value = _dimensions(CONVERSION_DIMENSIONS, _CONVERSION_VALUES)
    return (
        f"{_into('conversion_rollup', CONVERSION_FIGURES)}SELECT v.campaign_id, {hour_of('v.created_at', postgres)}, d.name, {value}, "
        f"{figure_sums(CONVERSION_FIGURES, postgres)} "
        f"FROM conversion v JOIN click k ON k.id = v.click_id CROSS JOIN ({names}) d "
        f"WHERE {where} GROUP BY 1, 2, 3, 4"
    )


def _count_all(postgres: bool) -> list[str]:
    return [
        "DELETE FROM click_rollup",
        add_clicks("click k", "", postgres),
        "DELETE FROM conversion_rollup",
        _conversion_counts("1 = 1", postgres),
    ]


# SQLite: every click is counted.
_ALL_COUNTED = "UPDATE rollup_mark SET last_click_id = (SELECT COALESCE(MAX(id), 0) FROM click)"


def ordered_table(name: str, figures: Iterable[str], postgres: bool = False) -> str:
    """A rollup table keyed (dimension, hour, value, campaign_id), the order
    reports read it in: on SQLite WITHOUT ROWID, so its rows are kept in that
    order (migrations 0007 to 0009)."""
    return (
        f'CREATE TABLE "{name}" ("campaign_id" INT NOT NULL, "hour" TIMESTAMP{"TZ" if postgres else ""} NOT NULL, '
        '"dimension" VARCHAR(16) NOT NULL, "value" VARCHAR(255) NOT NULL, '
        + "".join(f'"{figure}" BIGINT NOT NULL, ' for figure in figures)
        + 'PRIMARY KEY ("dimension", "hour", "value", "campaign_id"))'
        + ("" if postgres else " WITHOUT ROWID")
    )


def days_from_hours(hourly: str, figures: Iterable[str], start: str, end: str, postgres: bool) -> list[str]:
    """SQL making the daily rows of `hourly`'s hours from `start` to `end`
    (SQL expressions for UTC midnights) again from those hours."""
    daily = DAILY[hourly]
    figures = list(figures)
    within = f"hour >= {start} AND hour < {end}"
    return [
        f"DELETE FROM {daily} WHERE {within}",
        f"INSERT INTO {daily} (campaign_id, hour, dimension, value, {', '.join(figures)}) "
        f"SELECT campaign_id, {hour_of('hour', postgres, 'day')}, dimension, value, "
        f"{figure_sums({name: name for name in figures}, postgres)} FROM {hourly} WHERE {within} GROUP BY 1, 2, 3, 4",
    ]


def _days_from_hours(start: str, end: str, postgres: bool) -> list[str]:
    return [
        *days_from_hours("click_rollup", CLICK_FIGURES, start, end, postgres),
        *days_from_hours("conversion_rollup", CONVERSION_FIGURES, start, end, postgres),
    ]


# Before any day, as `hour` is stored.
BEGINNING = {False: "''", True: "'-infinity'::timestamptz"}


def rebuild(postgres: bool) -> list[str]:
    """SQL counting every click and conversion again (no parameters)."""
    marked = ["DELETE FROM click_uncounted"] if postgres else [_ALL_COUNTED]
    return [*_count_all(postgres), *marked, *_days_from_hours(BEGINNING[postgres], f"({_UNTIL})", postgres)]


def migrating_postgres(schema_editor) -> bool:
    return "sqlite" not in type(schema_editor.client).__module__


async def count_all_in_migration(apps, schema_editor) -> None:
    """A migration's RunPython: count every existing click and conversion again
    (when rollups are added, or gain a dimension), before rollup_mark existed."""
    for statement in _count_all(migrating_postgres(schema_editor)):
        await schema_editor.client.execute_script(statement)


async def mark_counted_in_migration(apps, schema_editor) -> None:
    """A migration's RunPython: on SQLite, rollup_mark's one row, at the last
    click (the migrations before counted them all)."""
    if not migrating_postgres(schema_editor):
        await schema_editor.client.execute_script(
            "INSERT INTO rollup_mark (id, last_click_id) SELECT 1, COALESCE(MAX(id), 0) FROM click"
        )


def as_datetime(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value  # SQLite: ISO text


def _hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


# A conversion as it is now, with its click's value of each dimension.
_CONVERSION_NOW = (
    f"SELECT v.id, v.campaign_id, v.created_at, v.status, v.payout, v.cost, v.goal, {CLICK_VALUES} "
    "FROM conversion v JOIN click k ON k.id = v.click_id WHERE v.id IN "
)
# A conversion's state as far as the rollups count it: (status, payout, cost).
State = tuple[str, int, int]


def _conversion_figures(state: State | None) -> tuple[int, ...]:
    """CONVERSION_FIGURES of one conversion (tests/test_rollups.py holds the two to the same answers)."""
    if state is None:
        return (0,) * len(CONVERSION_FIGURES)
    status, payout, cost = state
    approved, pending = status == "approved", status == "pending"
    return (int(approved), int(pending), int(status == "rejected"),
            payout if approved else 0, payout if pending else 0, cost if approved else 0)  # fmt: skip


def count_conversion(
    sums: Sums, campaign_id: int, created_at: datetime, values: Sequence[str], goal: str,
    before: State | None, now: State,
) -> None:
    """Add to `sums` the change in one conversion's figures, from `before` (None:
    it is new) to `now`, under its hour and its click's `values` (in VALUES order)."""
    delta = [a - b for a, b in zip(_conversion_figures(now), _conversion_figures(before), strict=True)]
    if not any(delta):
        return
    hour = _hour_start(created_at)
    for dimension, value in (*zip(VALUES, values, strict=True), ("goal", goal)):
        _add(sums, (campaign_id, hour, dimension, value), delta)


def conversion_rows(sums: Sums) -> list[tuple]:
    """Rows to add to conversion_rollup, in key order, as for clicks."""
    return _in_key_order(sums)


async def add_conversion_sums(tx: Transaction, sums: Sums) -> None:
    await _add_sums(tx, _UPSERT_CONVERSIONS, sums)


# PostgreSQL: WITH queries adding conversion_rows, as arrays, to the rollups,
# for a statement that does more; days wait for hours, as in _count_queued.
_ROWS = ("campaign_id", "hour", "dimension", "value", *CONVERSION_FIGURES)
ADD_CONVERSION_ROWS_POSTGRES = (
    "rollup_rows AS (SELECT * FROM unnest(?::int[], ?::timestamptz[], ?::text[], ?::text[], "
    + ", ".join(["?::bigint[]"] * len(CONVERSION_FIGURES))
    + f") AS r({', '.join(_ROWS)})), "
    + f"rollup AS ({_into('conversion_rollup', CONVERSION_FIGURES)}SELECT * FROM rollup_rows "
    + f"{_adding('conversion_rollup', CONVERSION_FIGURES)} RETURNING 1), "
    + f"rollup_daily AS ({_into(DAILY['conversion_rollup'], CONVERSION_FIGURES)}"
    + f"SELECT campaign_id, {hour_of('hour', True, 'day')}, dimension, value, "
    + figure_sums({name: name for name in CONVERSION_FIGURES}, True)
    + f" FROM rollup_rows WHERE hour < ({_UNTIL}) AND (SELECT COUNT(*) FROM rollup) > 0 "
    + 'GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, dimension COLLATE "C", value COLLATE "C" '
    + f"{_adding(DAILY['conversion_rollup'], CONVERSION_FIGURES)})"
)


async def add_conversion_changes(tx: Transaction, before: dict[int, State | None]) -> None:
    """Count conversions this transaction created or changed: `before` holds
    each one's state before it (None: created). The rows must be locked (or
    new), so no other writer changes them between that state and this count."""
    if not before:
        return
    ids = sorted(before)
    rows = await tx.fetch(_CONVERSION_NOW + f"({', '.join('?' * len(ids))})", ids)
    sums: Sums = {}
    for pk, campaign_id, created_at, status, payout, cost, goal, *values in rows:
        count_conversion(sums, campaign_id, as_datetime(created_at), values, goal, before[pk], (status, payout, cost))
    await add_conversion_sums(tx, sums)
