"""Reports read pre-aggregated rollups where they can: these must say exactly
what the raw tables say, after traffic through the real click, lander,
postback and status paths."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from graphapi.conversion_status import set_status
from graphapi.models import ConversionStatus
from graphapi.report import Dimension, report
from graphapi.stats import campaign_stats
from tests.conftest import http_client, make_campaign
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
    assert (await services.db.fetch("SELECT COUNT(*) FROM click_rollup"))[0][0] > 0
    # A period on whole hours is answered from the rollups; one a second off
    # them from the raw tables.
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=40)
    end = start + timedelta(days=41)
    for group_by in GROUPINGS:
        rolled = await report(services.db, group_by, currency="USD", since=start, until=end, timezone_name=zone)
        raw = await report(
            services.db, group_by, currency="USD", since=start, until=end + timedelta(seconds=1), timezone_name=zone
        )
        assert rolled == raw, group_by
        assert rolled.totals.clicks > 0 and rolled.totals.rejected_conversions >= 3


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
