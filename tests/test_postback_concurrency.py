"""The same postback sent many times at once yields exactly one conversion: in one
process (one batch), and across `graphapi serve` processes on one database."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import httpx
import pytest

from graphapi.db import Database
from graphapi.models import Campaign, Offer
from tests.conftest import make_campaign
from tests.postbacks import new_click
from tests.serving import Server

COPIES = 50


async def counts(db: Database) -> tuple[int, int, int]:
    """Conversions, outbox rows and postback log rows."""
    rows = await db.fetch(
        "SELECT (SELECT COUNT(*) FROM conversion), (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM postback)"
    )
    return tuple(int(n) for n in rows[0])


async def send_all(clients: list[httpx.AsyncClient], url: str) -> Counter:
    responses = await asyncio.gather(*(clients[n % len(clients)].get(url) for n in range(COPIES)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["conversion_id"] for r in responses}) == 1
    return Counter(r.json()["result"] for r in responses)


async def test_identical_postbacks_at_once_one_process(client, services):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    results = await send_all([client], f"/postback?click_id={click_id}&payout=7.50&txid=T1")
    assert results == {"created": 1, "duplicate": COPIES - 1}
    assert await counts(services.db) == (1, 1, COPIES)


async def test_identical_postbacks_across_server_processes(database_url, tmp_path):
    """Two `graphapi serve` (two workers each on PostgreSQL) on one database."""
    workers = 2 if database_url.startswith("postgres") else 1
    db = Database(database_url)
    await db.open()
    try:
        campaign = await Campaign.create(name="race")
        await Offer.create(campaign=campaign, name="o", url="https://offer.test/")
        async with contextlib.AsyncExitStack() as stack:
            servers = [stack.enter_context(Server(database_url, tmp_path, workers=workers)) for _ in range(2)]
            clients = [
                await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=30))
                for server in servers
            ]
            click_id = await new_click(clients[0], campaign.id)
            created = await send_all(clients, f"/postback?click_id={click_id}&payout=3&status=pending")
            updated = await send_all(clients, f"/postback?click_id={click_id}&payout=3&status=approved")
        assert created == {"created": 1, "duplicate": COPIES - 1}
        assert updated == {"updated": 1, "duplicate": COPIES - 1}
        assert await counts(db) == (1, 2, 2 * COPIES)
    finally:
        await db.close()


async def test_many_conversions_and_their_changes_sent_at_once(client, services):
    """Batches holding several keys, each with its create, its changes and its
    duplicates: every key ends as if its postbacks had come one at a time."""
    campaign = await make_campaign(services)
    clicks = [await new_click(client, campaign.id) for _ in range(20)]
    urls = [
        url
        for click_id in clicks
        for url in (
            f"/postback?click_id={click_id}&payout=1&status=pending",
            f"/postback?click_id={click_id}&payout=2&status=approved",
            f"/postback?click_id={click_id}&payout=2&status=approved",
            f"/postback?click_id={click_id}&payout=5&status=approved&txid=second",
        )
    ]
    responses = await asyncio.gather(*(client.get(url) for url in urls))
    assert {r.status_code for r in responses} == {200}
    results = Counter(r.json()["result"] for r in responses)
    assert results["created"] == 2 * len(clicks)
    rows = await services.db.fetch(
        "SELECT k.click_id, v.txid, v.status, v.payout FROM conversion v JOIN click k ON k.id = v.click_id"
    )
    assert sorted(rows) == sorted(
        row for click_id in clicks for row in ((click_id, "", "approved", 2_000_000), (click_id, "second", "approved", 5_000_000))
    )
    by_id = {}
    for response in responses:
        by_id.setdefault(response.json()["conversion_id"], set()).add(response.json()["result"])
    assert len(by_id) == 2 * len(clicks) and all("created" in outcomes for outcomes in by_id.values())
    conversions, outbox, log = await counts(services.db)
    assert (conversions, outbox, log) == (2 * len(clicks), results["created"] + results["updated"], len(urls))
    rollup = await services.db.fetch(
        "SELECT SUM(approved), SUM(revenue) FROM conversion_rollup WHERE dimension = '' AND campaign_id = ?",
        [campaign.id],
    )
    assert tuple(map(int, rollup[0])) == (2 * len(clicks), 7_000_000 * len(clicks))


async def test_a_later_postback_waits_for_the_batch_that_holds_its_conversion(client, services):
    """On PostgreSQL two postback batches are written at once. A postback whose
    conversion is in a batch under way must wait for that batch, or it could
    overtake it: here the batch holding "rejected" for a conversion is held up
    on another conversion's lock, and the later "approved" for it must not be
    applied first (it would then be rejected, in the wrong order)."""
    if not services.db.postgres:
        pytest.skip("SQLite writes one postback batch at a time")
    import asyncpg

    campaign = await make_campaign(services)
    clicks = [await new_click(client, campaign.id) for _ in range(4)]  # in id order: keys lock in that order
    ids = []
    for click_id in clicks:
        response = await client.get(f"/postback?click_id={click_id}&payout=1&status=pending")
        ids.append(response.json()["conversion_id"])
    first, second, third, held = clicks

    async def locker(conversion_id: int) -> asyncpg.Connection:
        connection = await asyncpg.connect(services.db.dsn)
        await connection.execute("BEGIN")
        await connection.execute("SELECT 1 FROM conversion WHERE id = $1 FOR UPDATE", conversion_id)
        return connection

    watcher = await asyncpg.connect(services.db.dsn)

    async def until_waiting(count: int) -> None:
        """Until `count` of the app's transactions wait on a row lock."""
        for _ in range(500):
            waiting = await watcher.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting == count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{waiting} transactions wait on a lock, not {count}")

    def send(click_id: str, status: str) -> asyncio.Task:
        return asyncio.create_task(client.get(f"/postback?click_id={click_id}&payout=1&status={status}"))

    lock_first, lock_second, lock_third = await locker(ids[0]), await locker(ids[1]), await locker(ids[2])
    try:
        blocked_second = send(second, "approved")  # a batch held on the second conversion's lock
        await until_waiting(1)
        blocked_third = send(third, "approved")  # and one on the third's: both batches under way
        await until_waiting(2)
        blocker = send(first, "approved")  # these two queue up, and go in one batch
        rejected = send(held, "rejected")
        await asyncio.sleep(0.1)
        await lock_third.execute("ROLLBACK")
        await blocked_third
        await until_waiting(2)  # the batch of both waits on the first conversion's lock
        await lock_second.execute("ROLLBACK")
        await blocked_second
        await until_waiting(1)
        approved = send(held, "approved")  # a batch is free to take it, but its conversion is held
        await asyncio.sleep(0.5)
        assert not approved.done()
    finally:
        for connection in (lock_first, lock_second, lock_third):
            if not connection.is_closed():
                await connection.close()
        await watcher.close()
    answers = [(await task).json() for task in (blocker, rejected, approved)]
    assert [(answer["result"], answer["status"]) for answer in answers] == [
        ("updated", "approved"), ("updated", "rejected"), ("updated", "approved")
    ]
    rows = await services.db.fetch("SELECT status FROM conversion WHERE id = ?", [ids[3]])
    assert rows == [("approved",)]
