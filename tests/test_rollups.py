"""Reports read pre-aggregated rollups where they can: these must say exactly
what the raw tables say, after traffic through the real click, lander,
postback and status paths."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import pytest

from graphapi import rollups
from graphapi.clicks import write_click_throughs
from graphapi.conversion_status import set_status
from graphapi.db import Database, SqliteWriter, _numbered, migrate
from graphapi.live import ConversionFeed
from graphapi.models import Campaign, ConversionStatus, CostModel, Lander, Offer
from graphapi.report import Dimension, Report, report
from graphapi.sqlite_engine import PRAGMAS
from graphapi.stats import campaign_stats
from tests.conftest import http_client, make_campaign, scratch_postgres
from tests.seeding import insert_clicks, insert_conversion
from tests.test_stats import BOT, HUMAN

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
SOURCES = ["", "facebook", "tiktok", "push-network"]
COUNTRIES = ["77.88.8.8", "8.8.8.8", "1.1.1.1", "91.198.174.192", "203.0.113.1"]

GROUPINGS = [
    [], [Dimension.DAY], [Dimension.HOUR], [Dimension.CAMPAIGN], [Dimension.COUNTRY],
    [Dimension.DEVICE_TYPE], [Dimension.OS], [Dimension.BROWSER], [Dimension.OFFER], [Dimension.LANDER],
    [Dimension.GOAL], [Dimension.SOURCE], [Dimension.DAY, Dimension.COUNTRY], [Dimension.CAMPAIGN, Dimension.OFFER],
    [Dimension.HOUR, Dimension.GOAL], [Dimension.DAY, Dimension.SOURCE],
]  # fmt: skip


async def traffic(app, services) -> list[int]:
    rng = random.Random(5)
    with_landers = await make_campaign(
        services,
        offers=(("https://a.test/", 2), ("https://b.test/", 1)),
        landers=(("https://lander.test/", 1),),
    )
    direct = await make_campaign(services, offers=(("https://c.test/", 1), ("https://d.test/", 1)))
    click_ids = []
    for n in range(60):
        campaign = rng.choice([with_landers, direct])
        async with http_client(app, peer="127.0.0.1") as client:
            response = await client.get(
                "/click",
                params={"campaign_id": campaign.id, "cost": "0.05", "source": rng.choice(SOURCES)},
                headers={"user-agent": rng.choice([HUMAN, IPHONE, BOT, ""]), "x-forwarded-for": rng.choice(COUNTRIES)},
            )
            location = response.headers["location"]
            click_id = location.split("click_id=")[1].split("&")[0]
            click_ids.append(click_id)
            if rng.random() < 0.3:  # SQLite: some clicks are counted before their click-through, some after
                await rollups.catch_up(services.db)
            if campaign is with_landers and rng.random() < 0.7:
                await client.get(f"/go?click_id={click_id}")
                if rng.random() < 0.3:
                    await client.get(f"/go?click_id={click_id}")  # a repeat counts once
    async with http_client(app) as client:
        for click_id in rng.sample(click_ids, 25):
            status = rng.choice(["approved", "pending", "rejected"])
            goal = rng.choice(["", "lead", "deposit"])
            await client.get(f"/postback?click_id={click_id}&payout={rng.randint(1, 30)}&status={status}&goal={goal}")
            if status == "pending" and rng.random() < 0.5:
                await client.get(f"/postback?click_id={click_id}&payout=9.99&status=approved&goal={goal}")
    # Other hours and days, as a writer that seeds through the driver adds them.
    for days, hours in ((1, 3), (2, 22), (31, 0)):
        moment = datetime.now(timezone.utc) - timedelta(days=days, hours=hours)
        [pk] = await insert_clicks(services.db, direct.id, [{"created_at": moment, "country": "UA", "cost": 70000}])
        conversion = await insert_conversion(services.db, pk, payout=Decimal(5), created_at=moment + timedelta(minutes=20))
        await set_status(services.db, services.feed, conversion, ConversionStatus.REJECTED)
        if days == 2:  # a postback changes it again: counted under the hour it was created in
            [(click_id,)] = await services.db.fetch("SELECT click_id FROM click WHERE id = ?", [pk])
            async with http_client(app) as client:
                response = await client.get(f"/postback?click_id={click_id}&payout=6&status=approved")
            assert response.json()["result"] == "updated"
    return [with_landers.id, direct.id]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Kyiv"])
async def test_rollups_answer_exactly_as_the_raw_tables(app, services, zone):
    await traffic(app, services)
    # SQLite: today is added up into the daily rollups, as it will be at
    # midnight; what comes after adds to its hours and to its day.
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    await rollups.roll_days(services.db, until=midnight + timedelta(days=1))
    await traffic(app, services)
    # A period on whole hours is answered from the rollups (on whole UTC days,
    # from SQLite's daily ones); one a second off them from the raw tables.
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    for start, end in ((hour - timedelta(days=40), hour + timedelta(days=1)),
                       (hour.replace(hour=0) - timedelta(days=40), hour.replace(hour=0) + timedelta(days=2))):  # fmt: skip
        for group_by in GROUPINGS:
            rolled = await report(services.db, group_by, currency="USD", since=start, until=end, timezone_name=zone)
            raw = await report(
                services.db, group_by, currency="USD", since=start, until=end + timedelta(seconds=1),
                timezone_name=zone,
            )  # fmt: skip
            assert rolled == raw, (group_by, start)
            assert rolled.totals.clicks > 0 and rolled.totals.rejected_conversions >= 3
    assert (await services.db.fetch("SELECT COUNT(*) FROM click_rollup"))[0][0] > 0


async def test_campaign_figures_from_the_rollups_are_those_of_the_raw_tables(app, services):
    """What rules are given on every conversion: all time, today, one source."""
    campaign_ids = await traffic(app, services)
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    second = timedelta(seconds=1)
    for campaign_id in campaign_ids:
        # On the hour: from the rollups; a second off it: from the raw tables.
        for since, off in ((datetime(2000, 1, 1, tzinfo=timezone.utc), second), (midnight, -second)):
            for source in (None, *SOURCES[1:], "never-seen"):
                rolled = await campaign_stats(services.db, campaign_id, "USD", since=since, source=source)
                raw = await campaign_stats(services.db, campaign_id, "USD", since=since + off, source=source)
                assert rolled == raw, (campaign_id, since, source)
        assert rolled.clicks == 0 and (await campaign_stats(services.db, campaign_id, "USD")).clicks > 0


async def test_a_count_overtaken_by_a_click_through_is_not_added_twice(database_url):
    """SQLite sums new clicks outside the write lock. A click-through that counts
    them first (here from another connection, as another process would) moves
    the mark: the stale sums are dropped and the count is done again."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL sums the clicks it counts in the statement that adds them")
    counter = Database(database_url)
    await counter.open()
    # Another process's writer on the same file.
    other = SqliteWriter(database_url.removeprefix("sqlite://"), PRAGMAS, busy_timeout=5)
    try:
        campaign = await Campaign.create(name="c", cost_model=CostModel.NONE, cost_value=Decimal(0))
        offer = await Offer.create(campaign=campaign, name="o", url="https://o.test/", weight=1)
        lander = await Lander.create(campaign=campaign, name="l", url="https://l.test/", weight=1)
        pks = await insert_clicks(counter, campaign.id, [{"route": "lander", "lander_id": lander.id}] * 3)
        async with other.transaction() as tx:  # holds SQLite's write lock
            counting = asyncio.create_task(rollups.catch_up(counter))
            await asyncio.sleep(0.5)  # it has summed the three clicks, and waits for the lock
            assert not counting.done()
            assert await write_click_throughs(tx, [(pks[0], offer.id, datetime.now(timezone.utc))]) == [offer.id]
        await counting
        start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        end = start + timedelta(hours=3)
        rolled = await report(counter, [Dimension.OFFER], currency="USD", since=start, until=end)
        raw = await report(counter, [Dimension.OFFER], currency="USD", since=start, until=end + timedelta(seconds=1))
        assert rolled == raw
        assert (rolled.totals.clicks, rolled.totals.lander_clicks) == (3, 1)
    finally:
        await other.close()
        await counter.close()


@contextlib.asynccontextmanager
async def _counting_elsewhere(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """PostgreSQL: another process's count of the queued clicks, not committed
    until the block ends; its connection."""
    other = await asyncpg.connect(db.dsn)
    try:
        async with other.transaction():
            [(last,)] = await other.fetch("SELECT MAX(id) FROM click_uncounted")
            await other.execute(_numbered(rollups._COUNT_QUEUE)[0], last, 100)
            yield other
    finally:
        await other.close()


async def test_a_read_waits_for_a_count_under_way(app, services):
    """PostgreSQL: a count under way (here another process's) holds its
    clicks' queue rows; a read's own count waits for it, so that the read
    still counts every click committed before it."""
    if not services.db.postgres:
        pytest.skip("SQLite counts from a mark, under its one write lock")
    await services.rollup_keeper.stop()  # this test counts, not the server
    campaign = await make_campaign(services)
    async with http_client(app) as client:
        for _ in range(3):
            response = await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": HUMAN})
            assert response.status_code == 302
    async with _counting_elsewhere(services.db):
        reading = asyncio.create_task(campaign_stats(services.db, campaign.id, "USD"))
        await asyncio.sleep(0.5)
        assert not reading.done()
    assert (await reading).clicks == 3


async def test_reads_side_by_side_wait_for_a_count_on_one_connection(app, services):
    """PostgreSQL: while a count elsewhere holds clicks' rows, reads of one
    process that must count them too wait on one pooled connection, not one
    each: the click path needs the others."""
    if not services.db.postgres:
        pytest.skip("SQLite counts on its one writer connection")
    await services.rollup_keeper.stop()  # this test counts, not the server
    campaign = await make_campaign(services)
    async with http_client(app) as client:
        assert (await client.get(f"/click?campaign_id={campaign.id}")).status_code == 302
    waiting = (
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%click_uncounted%'"
    )
    async with _counting_elsewhere(services.db) as other:
        reads = [asyncio.create_task(campaign_stats(services.db, campaign.id, "USD")) for _ in range(4)]
        await asyncio.sleep(0.5)
        assert await other.fetchval(waiting) == 1
    stats = await asyncio.gather(*reads)
    assert [s.clicks + s.bot_clicks for s in stats] == [1] * 4


async def test_new_clicks_are_counted_without_being_asked(app, services):
    """Between reads, the server counts new clicks into the rollups on its own,
    so that a read seldom has many to count."""
    campaign = await make_campaign(services)
    async with http_client(app) as client:
        assert (await client.get(f"/click?campaign_id={campaign.id}")).status_code == 302
    counted = "SELECT COALESCE(SUM(clicks + bot_clicks), 0) FROM click_rollup WHERE dimension = ''"
    for _ in range(50):  # 5 s at most
        if (await services.db.fetch(counted))[0][0] == 1:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the click was not counted")



def _stored_day(db: Database, day: datetime) -> datetime | str:
    """A day as rollup_days.until holds it."""
    return day if db.postgres else rollups.day_of(day)


async def _set_until(db: Database, day: datetime) -> None:
    async with db.write() as tx:
        await tx.execute("UPDATE rollup_days SET until = ?", [_stored_day(db, day)])


async def test_a_day_is_added_up_once_it_has_passed(app, services):
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    assert await rollups.days_until(services.db) == today
    await _set_until(services.db, today - timedelta(days=1))  # as if the server had been stopped since yesterday
    for _ in range(50):  # 5 s at most
        await asyncio.sleep(0.1)
        if await rollups.days_until(services.db) == today:
            return
    pytest.fail("yesterday was not added up")


async def _days_match_hours(db: Database, since: datetime, until: datetime) -> Report:
    """A report over whole days (from the daily rollups) says what the raw tables say."""
    rolled = await report(db, [Dimension.DAY, Dimension.COUNTRY], currency="USD", since=since, until=until)
    raw = await report(
        db, [Dimension.DAY, Dimension.COUNTRY], currency="USD", since=since, until=until + timedelta(seconds=1)
    )
    assert rolled == raw
    return rolled


async def test_a_day_is_added_up_with_a_write_to_it_under_way(database_url):
    """A change to yesterday's figures, while yesterday is not added up yet,
    goes to its hours only; the roll of yesterday waits for it (on PostgreSQL it
    gives up after a while and the next round tries again), so it counts it."""
    db = Database(database_url)
    await db.open()
    try:
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        yesterday = today - timedelta(days=1)
        await _set_until(db, yesterday)
        campaign = await Campaign.create(name="c", cost_model=CostModel.NONE, cost_value=Decimal(0))
        [click] = await insert_clicks(db, campaign.id, [{"created_at": yesterday + timedelta(hours=5), "country": "DE"}])
        conversion = await insert_conversion(
            db, click, status="pending", payout=Decimal(4), created_at=yesterday + timedelta(hours=6)
        )
        lock = " FOR UPDATE" if db.postgres else ""
        async with db.write() as tx:  # what set_status does, held open
            [before] = await tx.fetch(f"SELECT status, payout, cost FROM conversion WHERE id = ?{lock}", [conversion])
            await tx.execute("UPDATE conversion SET status = 'approved' WHERE id = ?", [conversion])
            await rollups.add_conversion_changes(tx, {conversion: before})
            rolling = asyncio.create_task(rollups.roll_days(db))
            await asyncio.sleep(0.5)
            assert await rollups.days_until(db) == yesterday  # not added up without it
        await rolling
        await rollups.roll_days(db)
        assert await rollups.days_until(db) == today
        found = await _days_match_hours(db, yesterday, today)
        assert (found.totals.clicks, found.totals.conversions, found.totals.revenue) == (1, 1, Decimal(4))
    finally:
        await db.close()


async def test_late_changes_while_a_day_is_added_up_are_all_counted(database_url):
    """Status changes to yesterday's conversions, on several connections at
    once, while yesterday is added up: each lands in its day exactly once."""
    db = Database(database_url)
    await db.open()
    try:
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        yesterday = today - timedelta(days=1)
        campaign = await Campaign.create(name="c", cost_model=CostModel.NONE, cost_value=Decimal(0))
        moments = [yesterday + timedelta(hours=hour) for hour in range(0, 24, 2)]
        clicks = await insert_clicks(db, campaign.id, [{"created_at": moment, "country": "UA"} for moment in moments])
        conversions = [
            await insert_conversion(db, click, status="pending", payout=Decimal(1), created_at=moment)
            for click, moment in zip(clicks, moments)
        ]
        feed = ConversionFeed(db)
        rng = random.Random(3)
        for round_ in range(6):
            await _set_until(db, yesterday)  # yesterday is to be added up again
            status = [ConversionStatus.APPROVED, ConversionStatus.REJECTED][round_ % 2]
            changes = [set_status(db, feed, conversion, status) for conversion in conversions]
            changes.insert(rng.randrange(len(changes) + 1), rollups.roll_days(db))
            await asyncio.gather(*changes)
            await rollups.roll_days(db)  # if PostgreSQL's roll gave up, waiting for the writers
            assert await rollups.days_until(db) == today
            found = await _days_match_hours(db, yesterday, today)
            expected = len(conversions) if status is ConversionStatus.APPROVED else 0
            assert (found.totals.clicks, found.totals.conversions) == (len(clicks), expected)
    finally:
        await db.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_an_upgraded_database_keeps_its_rollups(tmp_path, kind):
    """Migrations 0007 and 0008 store SQLite's rollups in report order and add
    up past days, as 0009 does on PostgreSQL (and 0010 queues its clicks to
    count): what the rollups held before is what reports read after, by hour
    and by day, and clicks counted later add to both."""
    async with contextlib.AsyncExitStack() as stack:
        if kind == "sqlite":
            url, before = f"sqlite://{tmp_path / 'old.sqlite3'}", "graphapi.0006_rollup_mark"
            upgrade = ["0007_sqlite_rollups_in_report_order", "0008_sqlite_daily_rollups", "0009_postgres_daily_rollups",
                       "0010_postgres_click_queue", "0011_unique_clicks_skip_fallbacks", "0012_rule_check",
                       "0013_postback_status", "0014_fallback_clicks_not_unique",
                       "0015_postgres_click_visitor_seen"]  # fmt: skip
        else:
            url, before = await stack.enter_async_context(scratch_postgres()), "graphapi.0008_sqlite_daily_rollups"
            upgrade = ["0009_postgres_daily_rollups", "0010_postgres_click_queue", "0011_unique_clicks_skip_fallbacks",
                       "0012_rule_check", "0013_postback_status", "0014_fallback_clicks_not_unique",
                       "0015_postgres_click_visitor_seen"]
        await migrate(url, target=before)
        hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
        await _write_old_rollups(url, hour)
        assert await migrate(url) == upgrade
        await _reads_as_before(url, hour)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_an_upgraded_database_marks_its_fallback_clicks_not_unique(tmp_path, kind):
    """Migration 0014: fallback clicks stored as unique before it are not."""
    async with contextlib.AsyncExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite://{tmp_path / 'old.sqlite3'}"
        else:
            url = await stack.enter_async_context(scratch_postgres())
        await migrate(url, target="graphapi.0013_postback_status")
        await _write_old_rollups(url, datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0))
        db = Database(url)
        await db.open()
        stack.push_async_callback(db.close)
        await insert_clicks(db, 1, [{"route": "fallback", "is_unique": True}, {"route": "offer", "is_unique": True}])
        assert (await migrate(url))[0] == "0014_fallback_clicks_not_unique"
        rows = await db.fetch("SELECT route, is_unique FROM click ORDER BY id")
        assert [(route, bool(unique)) for route, unique in rows] == [("fallback", False), ("offer", True)]


async def _write_old_rollups(url: str, hour: datetime) -> None:
    """A campaign, and its figures of one hour in the rollups of a database
    not yet upgraded."""
    stored = hour.isoformat(sep=" ")  # SQLite's times are text
    statements = [(
        "INSERT INTO campaign (name, status, cost_model, cost_value, currency, source_whitelist, "
        "source_blacklist, created_at, updated_at) VALUES ('c', 'active', 'none', 0, 'USD', '[]', '[]', ?, ?)",
        (stored, stored),
    )]  # fmt: skip
    for dimension, value, clicks in (("", "", 7), ("country", "DE", 4), ("country", "", 3)):
        statements += [(
            "INSERT INTO click_rollup (campaign_id, hour, dimension, value, clicks, unique_clicks, bot_clicks, "
            "lander_clicks, lander_routed, cost) VALUES (1, ?, ?, ?, ?, ?, 0, 0, 0, ?)",
            (stored, dimension, value, clicks, clicks, clicks * 50_000),
        ), (
            "INSERT INTO conversion_rollup (campaign_id, hour, dimension, value, approved, pending, rejected, "
            "revenue, pending_revenue, cost) VALUES (1, ?, ?, ?, 1, 0, 0, ?, 0, 0)",
            (stored, dimension, value, clicks * 1_000_000),
        )]  # fmt: skip
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as old:
            for sql, params in statements:
                old.execute(sql, params)
        return
    db = Database(url)  # the models are as they were at 0008
    await db.open()
    try:
        async with db.write() as tx:
            for sql, params in statements:
                await tx.execute(sql, [hour if param == stored else param for param in params])
    finally:
        await db.close()


async def _reads_as_before(url: str, hour: datetime) -> None:
    db = Database(url)
    await db.open()
    try:

        async def by(dimension: Dimension, since: datetime, until: datetime) -> list[tuple]:
            found = await report(db, [dimension], currency="USD", since=since, until=until)
            return [(row.values[dimension], row.stats.clicks, row.stats.revenue) for row in found.rows]

        day = hour.replace(hour=0)
        days = (day, day + timedelta(days=3))  # whole UTC days: the past one from the daily rollups
        assert await by(Dimension.COUNTRY, hour, hour + timedelta(hours=1)) == [
            ("DE", 4, Decimal(4)), (None, 3, Decimal(3))
        ]  # fmt: skip
        assert await by(Dimension.COUNTRY, *days) == [("DE", 4, Decimal(4)), (None, 3, Decimal(3))]
        assert await by(Dimension.DAY, *days) == [(day.date(), 7, Decimal(7))]
        # Counted after the migration, into a day already added up.
        await insert_clicks(db, 1, [{"country": "DE", "created_at": hour}] * 2 + [{"country": "DE"}])
        assert await by(Dimension.COUNTRY, hour, hour + timedelta(hours=1)) == [
            ("DE", 6, Decimal(4)), (None, 3, Decimal(3))
        ]  # fmt: skip
        assert await by(Dimension.COUNTRY, *days) == [("DE", 7, Decimal(4)), (None, 3, Decimal(3))]
        assert (await by(Dimension.DAY, *days))[0] == (day.date(), 9, Decimal(7))
    finally:
        await db.close()


async def test_old_visitor_rows_of_click_batches_are_pruned(client, services, monkeypatch):
    """PostgreSQL's click_visitor_seen matters only while batches are in flight:
    rows older than ten minutes go, the rest stay (graphapi.clicks)."""
    if not services.db.postgres:
        pytest.skip("SQLite's click batches take turns: no such rows")
    monkeypatch.setattr(rollups, "PRUNE_EVERY", 0)
    async with services.db.write() as tx:
        await tx.execute(
            "INSERT INTO click_visitor_seen (campaign_id, visitor, seen_at) VALUES "
            "(1, 1, now() - interval '11 minutes'), (1, 2, now() - interval '9 minutes'), (2, 1, now())"
        )
    for _ in range(40):
        await asyncio.sleep(0.1)
        left = await services.db.fetch("SELECT campaign_id, visitor FROM click_visitor_seen ORDER BY 1, 2")
        if len(left) < 3:
            break
    assert left == [(1, 2), (2, 1)]
