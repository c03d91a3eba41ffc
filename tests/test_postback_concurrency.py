"""The same postback sent many times at once yields exactly one conversion: in one
process (one batch), and across `graphapi serve` processes on one database."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import httpx

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
