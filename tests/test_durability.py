"""A click whose 302 was received survives SIGKILL of the server mid-load."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx

from graphapi.db import Database
from graphapi.models import Campaign, Offer
from graphapi.stats import campaign_stats
from tests.serving import Server, kill_under_load

LOAD_SECONDS = 1.5
CONCURRENCY = 20


async def seed_campaign(database_url: str) -> int:
    db = Database(database_url)
    await db.open()
    try:
        campaign = await Campaign.create(name="durability")
        await Offer.create(campaign=campaign, name="o", url="https://offer.test/")
        return campaign.id
    finally:
        await db.close()


async def stored_click_ids(database_url: str) -> set[str]:
    db = Database(database_url)
    await db.open()
    try:
        return {row[0] for row in await db.fetch("SELECT click_id FROM click")}
    finally:
        await db.close()


async def counted_clicks(database_url: str, campaign_id: int) -> int:
    """The campaign's clicks, bots included, as the rollups count them."""
    db = Database(database_url)
    await db.open()
    try:
        stats = await campaign_stats(db, campaign_id, "USD")
        return stats.clicks + stats.bot_clicks
    finally:
        await db.close()


async def test_sigkill_loses_no_acknowledged_click(database_url, tmp_path):
    campaign_id = await seed_campaign(database_url)
    server = Server(database_url, tmp_path)
    acknowledged: list[str] = []
    deadline = time.monotonic() + LOAD_SECONDS + 10

    async def visitor(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            try:
                response = await client.get(f"/click?campaign_id={campaign_id}&subid={len(acknowledged)}")
            except httpx.HTTPError:
                return  # the server is gone
            assert response.status_code == 302
            acknowledged.append(parse_qs(urlsplit(response.headers["location"]).query)["click_id"][0])

    await kill_under_load(server, visitor, CONCURRENCY, LOAD_SECONDS)

    assert len(acknowledged) > 50, "too little load to mean anything"
    stored = await stored_click_ids(database_url)
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged clicks lost"
    # Clicks are counted into the rollups after they are committed: those the
    # killed server had not counted yet are counted now.
    assert await counted_clicks(database_url, campaign_id) == len(stored)
