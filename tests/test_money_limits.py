"""Amounts near their limit, summed: anyone with a tracking link can send
clicks with a huge `cost`, and a partner can post huge payouts. Their sums stop
at 9 trillion of the currency (graphapi.money.LIMIT) rather than overflow, and
the figures of every campaign go on being counted and read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from graphapi.models import CostModel
from tests.conftest import make_campaign
from tests.gql import gql, new_api_key
from tests.postbacks import log_rows, new_click

HUGE = "999999999999.99"  # just below the most one amount may be
HELD = "9000000000000.00"
BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}

FIGURES = """query ($id: ID!) {
  campaign(id: $id) { stats { clicks conversions revenue cost currency } }
  report(groupBy: [CAMPAIGN]) { rows { campaign { id } stats { clicks revenue cost } } totals { clicks revenue cost } }
}"""


@pytest.fixture
async def key(services) -> str:
    return await new_api_key()


async def test_huge_click_costs_stop_at_the_limit_and_leave_other_campaigns_counted(client, services, key):
    huge = await make_campaign(services, cost_model=CostModel.CPC, cost_value=Decimal("0.10"))
    other = await make_campaign(services, cost_model=CostModel.CPC, cost_value=Decimal("0.10"))
    for _ in range(12):  # 12 trillion: past BIGINT's 9.2 trillion of micro-units
        assert (await client.get(f"/click?campaign_id={huge.id}&cost={HUGE}", headers=BROWSER)).status_code == 302
    assert (await client.get(f"/click?campaign_id={other.id}&cost=0.25", headers=BROWSER)).status_code == 302

    data = await gql(client, key, FIGURES, id=str(huge.id))
    assert data["campaign"]["stats"]["clicks"] == 12
    assert data["campaign"]["stats"]["cost"] == HELD
    by_campaign = {row["campaign"]["id"]: row["stats"] for row in data["report"]["rows"]}
    assert by_campaign[str(other.id)] == {"clicks": 1, "revenue": "0.00", "cost": "0.25"}
    assert by_campaign[str(huge.id)]["cost"] == HELD
    assert data["report"]["totals"]["clicks"] == 13
    # The click after them is counted too: the counting did not stop.
    assert (await client.get(f"/click?campaign_id={other.id}", headers=BROWSER)).status_code == 302
    data = await gql(client, key, FIGURES, id=str(other.id))
    assert data["campaign"]["stats"] == {
        "clicks": 2, "conversions": 0, "revenue": "0.00", "cost": "0.35", "currency": "USD"
    }  # fmt: skip


async def test_huge_payouts_are_recorded_and_their_sum_stops_at_the_limit(client, services, key):
    campaign = await make_campaign(services)
    clicks = [await new_click(client, campaign.id) for _ in range(12)]
    for click_id in clicks:
        response = await client.get(f"/postback?click_id={click_id}&payout={HUGE}")
        assert (response.status_code, response.json()["result"]) == (200, "created"), response.text
    assert [row[0] for row in await log_rows(services.db)] == ["created"] * 12

    stats = (await gql(client, key, FIGURES, id=str(campaign.id)))["campaign"]["stats"]
    assert (stats["conversions"], stats["revenue"]) == (12, HELD)
    # Taken back, the held total never goes below nothing.
    for click_id in clicks:
        response = await client.get(f"/postback?click_id={click_id}&payout={HUGE}&status=rejected")
        assert response.json()["result"] == "updated"
    stats = (await gql(client, key, FIGURES, id=str(campaign.id)))["campaign"]["stats"]
    assert (stats["conversions"], stats["revenue"]) == (0, "0.00")
    other = await make_campaign(services)
    response = await client.get(f"/postback?click_id={await new_click(client, other.id)}&payout=7.5")
    assert response.json()["result"] == "created"
    stats = (await gql(client, key, FIGURES, id=str(other.id)))["campaign"]["stats"]
    assert (stats["conversions"], stats["revenue"]) == (1, "7.50")


async def test_a_revenue_share_past_the_amount_limit_is_held_there(client, services, key):
    """1000 % of a payout near the limit: a cost no stored amount may be. It
    was refused by the database on every try (a 503 the partner would retry
    forever, and no log row); it is held just below the limit, as sums are."""
    campaign = await make_campaign(services, cost_model=CostModel.REVSHARE, cost_value=Decimal("1000"))
    click_id = await new_click(client, campaign.id)
    response = await client.get(f"/postback?click_id={click_id}&payout={HUGE}")
    assert (response.status_code, response.json()["result"]) == (200, "created"), response.text
    assert [row[0] for row in await log_rows(services.db)] == ["created"]
    stats = (await gql(client, key, FIGURES, id=str(campaign.id)))["campaign"]["stats"]
    assert (stats["conversions"], stats["revenue"], stats["cost"]) == (1, HUGE, "999999999999.999999")
    # Taken back whole when rejected.
    await client.get(f"/postback?click_id={click_id}&payout={HUGE}&status=rejected")
    stats = (await gql(client, key, FIGURES, id=str(campaign.id)))["campaign"]["stats"]
    assert (stats["revenue"], stats["cost"]) == ("0.00", "0.00")
