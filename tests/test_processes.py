"""Several graphapi processes on one database: no lost click, no "database is
locked", and campaign changes reach every process."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx

from graphapi.db import Database
from graphapi.models import Campaign, CampaignStatus, Lander, Offer
from graphapi.report import report
from graphapi.routing import CampaignCache
from tests.serving import Server
from tests.test_durability import seed_campaign, stored_click_ids
from tests.test_rollups import COUNTRIES, GROUPINGS, IPHONE
from tests.test_stats import BOT, HUMAN


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
    assert [r.status_code for r in responses] == [302] * 400, "\n".join(s.output() for s in servers)
    click_ids = {urlsplit(r.headers["location"]).query.split("click_id=")[1] for r in responses}
    assert click_ids == await stored_click_ids(database_url)
    for server in servers:
        assert "database is locked" not in server.output()


async def test_a_visitor_clicking_through_several_processes_at_once_is_unique_once(database_url, tmp_path):
    """One visitor's clicks at once through four processes: their batches commit
    side by side, and only the first click counts as unique."""
    campaign_id = await seed_campaign(database_url)
    servers = [Server(database_url, tmp_path, workers=2, trusted_proxies="127.0.0.1/32") for _ in range(2)]
    visitors = [f"198.51.100.{n}" for n in range(1, 9)]
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for ip in visitors:
                responses = await asyncio.gather(*(
                    client.get(f"{servers[n % 2].url}/click?campaign_id={campaign_id}",
                               headers={"user-agent": HUMAN, "x-forwarded-for": ip})
                    for n in range(40)
                ))  # fmt: skip
                assert {r.status_code for r in responses} == {302}, "\n".join(s.output() for s in servers)
    finally:
        for server in servers:
            server.stop()
    db = Database(database_url)
    await db.open()
    try:
        rows = await db.fetch("SELECT ip, is_unique FROM click WHERE campaign_id = ?", (campaign_id,))
    finally:
        await db.close()
    unique = {ip: sum(bool(is_unique) for address, is_unique in rows if address == ip) for ip in visitors}
    assert len(rows) == 40 * len(visitors) and unique == {ip: 1 for ip in visitors}, unique


async def test_rollups_stay_exact_with_several_processes_writing_them(database_url, tmp_path):
    """Four processes adding varied clicks and click-throughs to the same rollup
    rows at once: none is refused (no deadlock), and the rollups still say what
    the raw tables say."""
    db = Database(database_url)
    await db.open()
    try:
        campaign = await Campaign.create(name="shared rollups")
        for name in ("a", "b"):
            await Offer.create(campaign=campaign, name=name, url=f"https://{name}.test/")
        await Lander.create(campaign=campaign, name="lander", url="https://lander.test/")
    finally:
        await db.close()
    servers = [Server(database_url, tmp_path, workers=2, trusted_proxies="127.0.0.1/32") for _ in range(2)]
    rng = random.Random(7)

    async def visit(client: httpx.AsyncClient, n: int) -> list[int]:
        server = servers[n % 2].url
        headers = {"user-agent": rng.choice([HUMAN, IPHONE, BOT, ""]), "x-forwarded-for": rng.choice(COUNTRIES)}
        click = await client.get(f"{server}/click?campaign_id={campaign.id}&subid={n}", headers=headers)
        if click.status_code != 302 or n % 3 == 0:
            return [click.status_code]
        click_id = click.headers["location"].split("click_id=")[1].split("&")[0]
        # The click-through from the other server, as a load balancer may send it.
        through = await client.get(f"{servers[(n + 1) % 2].url}/go?click_id={click_id}")
        return [click.status_code, through.status_code]

    try:
        async with httpx.AsyncClient(timeout=30) as client:
            statuses = await asyncio.gather(*(visit(client, n) for n in range(400)))
    finally:
        for server in servers:
            server.stop()
    assert {code for pair in statuses for code in pair} == {302}, "\n".join(s.output() for s in servers)

    db = Database(database_url)
    await db.open()
    try:
        start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        end = start + timedelta(hours=3)
        for group_by in GROUPINGS:
            rolled = await report(db, group_by, currency="USD", since=start, until=end)
            raw = await report(db, group_by, currency="USD", since=start, until=end + timedelta(seconds=1))
            assert rolled == raw, group_by
        assert rolled.totals.clicks + rolled.totals.bot_clicks == 400 and rolled.totals.lander_clicks > 0
    finally:
        await db.close()


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
