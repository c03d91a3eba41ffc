"""Campaign figures from clicks, computed in the database."""

from __future__ import annotations

from decimal import Decimal

from graphapi.models import CampaignStatus, Campaign, CostModel
from graphapi.stats import campaign_stats
from tests.conftest import make_campaign

BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


async def test_click_figures(client, services):
    campaign = await make_campaign(
        services,
        cost_model=CostModel.CPC,
        cost_value=Decimal("0.10"),
        landers=(("https://lander.test/", 1),),
        fallback_url="https://fallback.test/",
    )
    first = await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": HUMAN})
    await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": HUMAN})
    await client.get(f"/click?campaign_id={campaign.id}&cost=0.015", headers={"user-agent": BOT})
    click_id = first.headers["set-cookie"].split("graphapi_click=")[1].split(";")[0]
    await client.get(f"/go?click_id={click_id}")
    await Campaign.filter(id=campaign.id).update(status=CampaignStatus.PAUSED)
    await services.campaigns.changed(campaign.id)
    await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": HUMAN})

    stats = await campaign_stats(services.db, campaign.id, "USD")
    assert (stats.clicks, stats.unique_clicks, stats.bot_clicks, stats.lander_clicks) == (2, 1, 1, 1)
    assert stats.cost == Decimal("0.215")
    assert stats.lander_ctr == 50.0
    assert stats.cr == 0.0 and stats.roi == -100.0
    assert stats.cpc == Decimal("0.1075") and stats.epc == Decimal("0.00") and stats.cpa is None
    assert stats.as_dict()["profit"] == Decimal("-0.215")
