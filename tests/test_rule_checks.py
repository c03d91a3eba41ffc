"""Periodic rule checks: rule plugins judge campaigns between conversions (what
clicks cost), with failures recorded. Once across processes: in
test_rule_processes.py."""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from graphapi.models import Campaign, CampaignStatus, Conversion, CostModel, Rule, RuleEvent
from tests.conftest import http_client, make_campaign
from tests.conversions import rule_events
from tests.plugin_samples import checker
from tests.seeding import insert_clicks
from tests.test_click import CHROME

CHECKER = "tests.plugin_samples.checker"
# Fast rounds, so a test waits a fraction of a second for one.
FAST = 0.1


@pytest.fixture(autouse=True)
def _fresh_samples():
    checker.EVENTS.clear()


async def until(condition, timeout: float = 10.0) -> None:
    """Until `condition()` (sync or async) is true."""
    deadline = time.monotonic() + timeout
    while not ((await result) if inspect.isawaitable(result := condition()) else result):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def paused(campaign: Campaign) -> bool:
    return (await Campaign.get(id=campaign.id)).status == CampaignStatus.PAUSED


async def clicks(app, campaign: Campaign, *queries: str) -> None:
    """One click per query, at once (a round may come between clicks made one by one)."""
    async with http_client(app) as client:
        client.headers["user-agent"] = CHROME  # not a bot: its click counts in the figures
        responses = await asyncio.gather(*(client.get(f"/click?campaign_id={campaign.id}{q}") for q in queries))
    assert all(r.headers["location"].startswith("https://offer.test/a") for r in responses)


async def test_hook_campaign_checked(start_app):
    """Each enabled rule of each active campaign that had traffic, with the
    campaign's figures, today's and each source's; no conversion needed."""
    app = await start_app(plugins=[CHECKER], rules_check_seconds=FAST)
    services = app.state.services
    campaign = await make_campaign(
        services, cost_model=CostModel.CPC, cost_value=Decimal("0.50"), daily_budget=Decimal("50")
    )
    rule = await Rule.create(campaign=campaign, plugin=CHECKER, config={})
    await Rule.create(campaign=campaign, plugin=CHECKER, config={"then": "pause"}, enabled=False)
    quiet = await make_campaign(services)  # no traffic: nothing to judge
    await Rule.create(campaign=quiet, plugin=CHECKER, config={})
    stopped = await make_campaign(services)
    await Rule.create(campaign=stopped, plugin=CHECKER, config={})
    await clicks(app, stopped, "")
    await Campaign.filter(id=stopped.id).update(status=CampaignStatus.PAUSED)
    checker.EVENTS.clear()

    await clicks(app, campaign, "&source=s1&cost=3", "&source=s1&cost=2", "&source=s2", "")
    await until(lambda: any(e.stats.clicks == 4 for e in checker.EVENTS))

    assert {e.campaign.id for e in checker.EVENTS} == {campaign.id}
    event = next(e for e in checker.EVENTS if e.stats.clicks == 4)
    assert (event.campaign.id, event.campaign.status, event.campaign.daily_budget) == (
        campaign.id, "active", Decimal("50"),
    )  # fmt: skip
    assert (event.stats.cost, event.stats.conversions, event.stats.roi) == (Decimal("6.00"), 0, -100.0)
    assert (event.today.clicks, event.today.cost) == (4, Decimal("6.00"))
    assert {source: (s.clicks, s.cost) for source, s in event.sources.items()} == {
        "s1": (2, Decimal("5.00")), "s2": (1, Decimal("0.50")),
    }  # fmt: skip
    assert (event.config, event.rule_id) == ({}, rule.id)
    assert await RuleEvent.all().count() == 0  # the hook returned None


async def test_budget_cap_pauses_a_campaign_its_clicks_took_over_budget(start_app):
    app = await start_app(rules_check_seconds=FAST)
    services = app.state.services
    campaign = await make_campaign(
        services, cost_model=CostModel.CPC, cost_value=Decimal("0.10"), daily_budget=Decimal("5"),
        fallback_url="https://fallback.test/spent",
    )  # fmt: skip
    rule = await Rule.create(campaign=campaign, plugin="budget_cap", config={})

    await clicks(app, campaign, *["&cost=3"] * 4)
    await until(lambda: paused(campaign))

    async with http_client(app) as client:
        response = await client.get(f"/click?campaign_id={campaign.id}")
    assert response.headers["location"].startswith("https://fallback.test/spent")
    [event] = await RuleEvent.filter(plugin="budget_cap")
    assert (event.action, event.outcome, event.conversion_id) == ("pause_campaign", "applied", None)
    assert event.detail["rule_id"] == rule.id
    assert re.fullmatch(r"today's cost (6|9|12)\.00 reached the daily budget 5\.00", event.detail["reason"])
    assert not await Conversion.exists()


async def test_roi_guard_pauses_a_campaign_that_spends_without_converting(start_app):
    app = await start_app(rules_check_seconds=FAST)
    services = app.state.services
    campaign = await make_campaign(services, cost_model=CostModel.CPC, cost_value=Decimal("3"))
    await Rule.create(campaign=campaign, plugin="roi_guard", config={"min_roi": -50, "min_cost": 5})

    await clicks(app, campaign, "")
    await asyncio.sleep(5 * FAST)
    assert not await paused(campaign)  # 3.00 spent: too early to judge
    await clicks(app, campaign, "")
    await until(lambda: paused(campaign))

    assert [e.detail["reason"] for e in await RuleEvent.filter(plugin="roi_guard")] == [
        "ROI -100.0% is below -50% after 6.00 USD of cost"
    ]


async def test_auto_lists_blacklists_a_source_that_spends_without_converting(start_app):
    app = await start_app(rules_check_seconds=FAST)
    services = app.state.services
    campaign = await make_campaign(services, fallback_url="https://fallback.test/listed",
                                   cost_model=CostModel.CPC, cost_value=Decimal("3"))  # fmt: skip
    await Rule.create(campaign=campaign, plugin="auto_lists", config={"blacklist_min_cost": 10})

    await clicks(app, campaign, *["&source=wasteful"] * 4, "&source=cheap")
    await until(lambda: Campaign.filter(id=campaign.id, source_blacklist=["wasteful"]).exists())

    assert await rule_events() == [("auto_lists", "add_to_blacklist", "applied")]
    async with http_client(app) as client:
        wasteful = await client.get(f"/click?campaign_id={campaign.id}&source=wasteful")
        cheap = await client.get(f"/click?campaign_id={campaign.id}&source=cheap")
    assert wasteful.headers["location"].startswith("https://fallback.test/listed")
    assert cheap.headers["location"].startswith("https://offer.test/a")
    assert (await Campaign.get(id=campaign.id)).status == CampaignStatus.ACTIVE


async def test_failing_checks_are_recorded_and_the_others_still_apply(start_app):
    app = await start_app(plugins=[CHECKER], rules_check_seconds=FAST)
    services = app.state.services
    campaign = await make_campaign(services)
    for then in ("raise", "garbage", "pause"):
        await Rule.create(campaign=campaign, plugin=CHECKER, config={"then": then})

    await clicks(app, campaign, "")
    await until(lambda: paused(campaign))

    events = await RuleEvent.filter(campaign_id=campaign.id).order_by("id")
    assert sorted((e.action, str(e.outcome), e.message, e.conversion_id) for e in events) == [
        ("campaign_checked", "failed", "raised RuntimeError: check bug", None),
        ("campaign_checked", "failed", "returned 42, not None or a list of actions", None),
        ("pause_campaign", "applied", None, None),
    ]


async def test_a_round_skips_campaigns_with_no_traffic_since_the_round_before(start_app):
    app = await start_app(plugins=[CHECKER], rules_check_seconds=3600)
    services = app.state.services
    old, new = await make_campaign(services), await make_campaign(services)
    for campaign in (old, new):
        await Rule.create(campaign=campaign, plugin=CHECKER, config={})
    three_hours_ago = datetime.now(timezone.utc) - timedelta(hours=3)
    await insert_clicks(services.db, old.id, [{"created_at": three_hours_ago}])
    await clicks(app, new, "")

    async def a_round_after(previous: datetime | None) -> set[int]:
        checker.EVENTS.clear()
        async with services.db.write() as tx:
            await tx.execute("UPDATE rule_check SET checked_at = ?", (previous,))
        assert await services.rule_checks.run_round()
        return {e.campaign.id for e in checker.EVENTS}

    assert await a_round_after(None) == {old.id, new.id}  # the first round looks at all traffic
    assert await a_round_after(datetime.now(timezone.utc) - timedelta(hours=1, minutes=5)) == {new.id}
    assert await services.rule_checks.run_round() is False  # one ran within the period
