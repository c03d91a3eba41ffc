"""Several graphapi processes on one database: no lost click, no "database is
locked", and campaign changes reach every process."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx

from graphapi.db import Database
from graphapi.models import Campaign, CampaignStatus
from graphapi.routing import CampaignCache
from tests.serving import Server
from tests.test_durability import seed_campaign, stored_click_ids


async def test_two_servers_with_two_workers_each_share_one_database(database_url, tmp_path):
    campaign_id = await seed_campaign(database_url)
    servers = [Server(database_url, tmp_path, workers=2) for _ in range(2)]
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.get(f"{servers[n % 2].url}/click?campaign_id={campaign_id}&subid={n}")
                    for n in range(400)
                )
            )
    finally:
        for server in servers:
            server.stop()
    assert [r.status_code for r in responses] == [302] * 400
    click_ids = {urlsplit(r.headers["location"]).query.split("click_id=")[1] for r in responses}
    assert click_ids == await stored_click_ids(database_url)
    for server in servers:
        assert "database is locked" not in server.output()


async def test_campaign_change_reaches_another_process(database_url, tmp_path):
    campaign_id = await seed_campaign(database_url)
    await _set_fallback(database_url, campaign_id)
    with Server(database_url, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            first = await client.get(f"/click?campaign_id={campaign_id}")
            assert urlsplit(first.headers["location"]).hostname == "offer.test"

            db = Database(database_url)
            await db.open()
            try:
                await Campaign.filter(id=campaign_id).update(status=CampaignStatus.PAUSED)
                await CampaignCache(db).changed(campaign_id)
            finally:
                await db.close()

            # PostgreSQL: the NOTIFY arrives at once; SQLite: the next poll, within a second.
            deadline = asyncio.get_running_loop().time() + (0.5 if "postgres" in database_url else 2)
            while True:
                response = await client.get(f"/click?campaign_id={campaign_id}")
                if urlsplit(response.headers["location"]).hostname == "fallback.test":
                    break
                assert asyncio.get_running_loop().time() < deadline, "change never reached the server"
                await asyncio.sleep(0.05)


async def _set_fallback(database_url: str, campaign_id: int) -> None:
    db = Database(database_url)
    await db.open()
    try:
        await Campaign.filter(id=campaign_id).update(fallback_url="https://fallback.test/")
    finally:
        await db.close()
