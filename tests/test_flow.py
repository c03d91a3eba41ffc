"""The whole flow through HTTP, as the seed document tells it: a click, a
redirect with the click_id, the partner's postback, the conversion in the
figures, and the rules reacting."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from graphapi.models import Campaign, CampaignStatus, Conversion, CostModel, Outbox, Rule, RuleEvent
from graphapi.stats import campaign_stats
from tests.conftest import http_client, make_campaign
from tests.plugin_samples import recorder, reviewers, threshold_rule


async def click(client, campaign_id: int, **params) -> str:
    response = await client.get("/click", params={"campaign_id": campaign_id, **params})
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["location"]).query)["click_id"][0]


async def wait_for(condition, seconds: float = 10.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while not (result := await condition()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


async def test_losing_campaign_is_paused_by_roi_guard_and_traffic_goes_to_fallback(start_app):
    app = await start_app()
    services = app.state.services
    campaign = await make_campaign(
        services,
        cost_model=CostModel.CPC,
        cost_value=Decimal("0.50"),
        fallback_url="https://fallback.test/",
    )
    await Rule.create(campaign=campaign, plugin="roi_guard", config={"min_roi": -20, "min_cost": 5})
    async with http_client(app) as client:
        click_ids = [await click(client, campaign.id, subid=str(n)) for n in range(20)]  # 10.00 of cost
        response = await client.get(f"/postback?click_id={click_ids[0]}&payout=1.50&status=approved")
        assert response.json()["result"] == "created"

        event = await wait_for(lambda: RuleEvent.filter(campaign_id=campaign.id, plugin="roi_guard").first())
        assert event.action == "pause_campaign" and event.outcome == "applied"
        assert "ROI -85.0% is below -20%" in event.detail["reason"], event.detail
        assert (await Campaign.get(id=campaign.id)).status == CampaignStatus.PAUSED

        after = await client.get(f"/click?campaign_id={campaign.id}")
        assert urlsplit(after.headers["location"]).hostname == "fallback.test"


async def test_recorded_conversions_reach_plugins_once_with_their_figures(start_app):
    recorder.EVENTS.clear()
    app = await start_app(plugins=["tests.plugin_samples.recorder"])
    services = app.state.services
    campaign = await make_campaign(services)
    async with http_client(app) as client:
        click_id = await click(client, campaign.id, source="site-1", sub3="kw")
        for query in ("payout=7.50&status=pending", "payout=7.50&status=pending", "payout=7.50&status=approved"):
            await client.get(f"/postback?click_id={click_id}&{query}")
    async def both_seen() -> bool:
        return len(recorder.EVENTS) >= 2

    await wait_for(both_seen)
    await asyncio.sleep(0.5)  # nothing more arrives: the duplicate made no event
    assert [(e.conversion.status, e.conversion.previous_status) for e in recorder.EVENTS] == [
        ("pending", None),
        ("approved", "pending"),
    ]
    last = recorder.EVENTS[-1]
    assert last.click.click_id == click_id and last.click.source == "site-1" and last.click.sub3 == "kw"
    assert last.conversion.payout == Decimal("7.50")
    assert last.stats.conversions == 1 and last.stats.revenue == Decimal("7.50")


async def test_a_conversion_with_no_rule_to_run_is_handed_over_as_it_is_written(start_app):
    """With no rule enabled on its campaign (and no plugin that runs for every
    conversion), a conversion's outbox row is written processed, and no rule
    engine claims it; with a rule, it waits for an engine, which runs the rule."""
    threshold_rule.CALLS.clear()
    plugin = "tests.plugin_samples.threshold_rule"
    app = await start_app(plugins=[plugin])
    services = app.state.services
    await services.rules.stop()  # what the postback path wrote, before any engine ran
    ruled, bare, disabled = [await make_campaign(services) for _ in range(3)]
    rule = await Rule.create(campaign=ruled, plugin=plugin, config={"threshold": 1})
    await Rule.create(campaign=disabled, plugin=plugin, config={"threshold": 1}, enabled=False)
    async with http_client(app) as client:
        for campaign in (ruled, bare, disabled):
            click_id = await click(client, campaign.id)
            for status, result in (("pending", "created"), ("approved", "updated")):
                answer = await client.get(f"/postback?click_id={click_id}&payout=5&status={status}")
                assert answer.json()["result"] == result

    async def outbox_of(campaign: Campaign) -> list[bool]:
        [conversion] = await Conversion.filter(campaign_id=campaign.id)
        return [row.processed_at is None for row in await Outbox.filter(conversion_id=conversion.id).order_by("id")]

    assert [await outbox_of(c) for c in (ruled, bare, disabled)] == [[True, True], [False, False], [False, False]]
    assert await services.rules.run_pending() == 2
    [conversion] = await Conversion.filter(campaign_id=ruled.id)
    assert threshold_rule.CALLS == [(conversion.id, rule.id, {"threshold": 1})] * 2
    assert not await Outbox.filter(processed_at=None).exists()


async def test_a_plugin_registered_after_start_up_sees_every_conversion(start_app):
    recorder.EVENTS.clear()
    app = await start_app()
    services = app.state.services
    services.plugins.pm.register(recorder)
    campaign = await make_campaign(services)
    async with http_client(app) as client:
        click_id = await click(client, campaign.id)
        assert (await client.get(f"/postback?click_id={click_id}&payout=5")).json()["result"] == "created"

    async def seen() -> bool:
        return len(recorder.EVENTS) == 1

    await wait_for(seen)
    assert recorder.EVENTS[0].click.click_id == click_id


async def test_postback_controls_can_hold_a_conversion(start_app):
    app = await start_app()
    services = app.state.services
    services.plugins.pm.register(reviewers.HoldBigPayouts())
    campaign = await make_campaign(services)
    async with http_client(app) as client:
        big, small = await click(client, campaign.id), await click(client, campaign.id)
        assert (await client.get(f"/postback?click_id={big}&payout=150&status=approved")).json()["result"] == "created"
        assert (await client.get(f"/postback?click_id={small}&payout=15&status=approved")).json()["result"] == "created"
    statuses = {c.payout: c.status for c in await Conversion.filter(campaign_id=campaign.id)}
    assert statuses == {Decimal("150"): "pending", Decimal("15"): "approved"}
    stats = await campaign_stats(services.db, campaign.id, "USD")
    assert (stats.conversions, stats.pending_conversions, stats.revenue) == (1, 1, Decimal("15.00"))


async def test_each_change_reaches_plugins_with_its_own_status_even_when_rules_run_late(start_app):
    recorder.EVENTS.clear()
    app = await start_app(plugins=["tests.plugin_samples.recorder"])
    services = app.state.services
    campaign = await make_campaign(services)
    await services.rules.stop()  # as if the rule engine were down or far behind
    async with http_client(app) as client:
        click_id = await click(client, campaign.id)
        await client.get(f"/postback?click_id={click_id}&payout=5&status=pending")
        await client.get(f"/postback?click_id={click_id}&payout=5&status=approved")
    await services.rules.start()

    async def both_seen() -> bool:
        return len(recorder.EVENTS) >= 2

    await wait_for(both_seen)
    assert [(e.conversion.status, e.conversion.previous_status) for e in recorder.EVENTS] == [
        ("pending", None),
        ("approved", "pending"),
    ]
