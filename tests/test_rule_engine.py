"""The rule engine: every conversion change reaches every plugin once, after
commit, whatever the other plugins do; actions are applied and recorded."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from graphapi.actions import AddToBlacklist, AddToWhitelist, ChangeBudget, PauseCampaign, SendWebhook
from graphapi.models import Campaign, Outbox, Rule, RuleEvent
from tests.conftest import http_client, make_campaign
from tests.conversions import change_status, record_conversion, rule_events, wait_processed
from tests.plugin_samples import actor, async_recorder, recorder, threshold_rule

S = "tests.plugin_samples."


@pytest.fixture(autouse=True)
def _fresh_samples():
    for events in (recorder.EVENTS, async_recorder.EVENTS, threshold_rule.CALLS):
        events.clear()
    actor.RETURN.clear()


async def test_hook_conversion_recorded(start_app):
    """Sync and async implementations each see every change once, with the full event."""
    app = await start_app(plugins=[S + "recorder", S + "async_recorder"])
    services = app.state.services
    campaign = await make_campaign(services, daily_budget=Decimal("50"))
    first = await record_conversion(
        services, campaign, status="pending", payout="7.50", cost="2.5", source="site-1"
    )
    await wait_processed()
    await change_status(services, first, "approved")
    await wait_processed()

    for events in (recorder.EVENTS, async_recorder.EVENTS):
        assert [(e.conversion.id, e.conversion.status, e.conversion.previous_status) for e in events] == [
            (first.id, "pending", None),
            (first.id, "approved", "pending"),
        ]
    event = recorder.EVENTS[1]
    assert event.conversion.payout == Decimal("7.50") and event.conversion.currency == "USD"
    assert (event.click.source, event.click.country, event.click.device_type, event.click.subid) == (
        "site-1", "DE", "mobile", "sub-abc",
    )  # fmt: skip
    assert (event.campaign.id, event.campaign.status, event.campaign.daily_budget) == (
        campaign.id,
        "active",
        Decimal("50"),
    )
    assert (event.stats.conversions, event.stats.revenue, event.stats.cost) == (
        1,
        Decimal("7.50"),
        Decimal("2.50"),
    )
    assert event.stats.roi == 200.0 and event.today.conversions == 1
    assert event.source_stats.cost == Decimal("2.50")
    assert event.config is None


async def test_failing_plugins_are_recorded_and_the_others_still_run(start_app):
    samples = ["raiser", "sleeper", "blocker", "garbage", "recorder"]
    app = await start_app(plugins=[S + name for name in samples], rule_timeout_seconds=2)
    services = app.state.services
    campaign = await make_campaign(services)
    small = await record_conversion(services, campaign, payout="5")
    big = await record_conversion(services, campaign, payout="500")
    while not await Outbox.filter(attempts=1).exists():  # the rules are running
        await asyncio.sleep(0.01)
    started = time.monotonic()
    # The request path does not wait for the rules: clicks answer while plugins hang.
    async with http_client(app) as client:
        response = await client.get(f"/click?campaign_id={campaign.id}")
    assert response.status_code == 302 and time.monotonic() - started < 1
    await wait_processed()

    assert sorted(e.conversion.id for e in recorder.EVENTS) == [small.id, big.id]
    for conversion, garbage in (
        (small, ("invalid_action", "failed")),
        (big, ("conversion_recorded", "failed")),
    ):
        events = await RuleEvent.filter(conversion_id=conversion.id).order_by("plugin", "id")
        outcomes = {(e.plugin.removeprefix(S), e.action, str(e.outcome)) for e in events}
        assert {("raiser", "conversion_recorded", "failed"), ("sleeper", "conversion_recorded", "failed"),
                ("blocker", "conversion_recorded", "failed"), ("garbage", *garbage)} <= outcomes  # fmt: skip
        messages = {e.plugin.removeprefix(S): e.message for e in events if e.outcome == "failed"}
        assert messages["raiser"] == "raised RuntimeError: plugin bug"
        assert messages["sleeper"] == messages["blocker"] == "timed out after 2 s"
    big_garbage = await RuleEvent.get(conversion_id=big.id, plugin=S + "garbage")
    assert big_garbage.message == "returned 42, not None or a list of actions"
    # The good item of a half-garbage list is still applied.
    assert await rule_events(conversion_id=small.id, plugin=S + "garbage", action="add_to_whitelist") == [
        (S + "garbage", "add_to_whitelist", "applied")
    ]
    assert (await Campaign.get(id=campaign.id)).source_whitelist == ["from-garbage"]


async def test_actions_are_applied_once_and_idempotently(start_app):
    app = await start_app(plugins=[S + "actor"], fallback_url="https://fallback.test/")
    services = app.state.services
    campaign = await make_campaign(services, daily_budget=Decimal("100"))
    actor.RETURN[:] = [
        ChangeBudget(percent=10),
        AddToWhitelist(source="good"),
        AddToBlacklist(source="bad"),
        PauseCampaign(reason="enough"),
    ]
    await record_conversion(services, campaign)
    await wait_processed()
    # The click path sees the change at once: paused, so the fallback.
    async with http_client(app) as client:
        response = await client.get(f"/click?campaign_id={campaign.id}")
    assert response.headers["location"].startswith("https://fallback.test/")

    await record_conversion(services, campaign)
    await wait_processed()

    stored = await Campaign.get(id=campaign.id)
    assert stored.status == "paused"
    assert stored.daily_budget == Decimal("121.00")  # +10 % per conversion, exactly once each
    assert (stored.source_whitelist, stored.source_blacklist) == (["good"], ["bad"])
    assert [outcome for _, _, outcome in await rule_events()] == ["applied"] * 5 + ["skipped"] * 3
    pause = await RuleEvent.filter(action="pause_campaign").order_by("id").first()
    assert pause.detail == {"reason": "enough"}
    budget = await RuleEvent.filter(action="change_budget").order_by("id").first()
    assert budget.detail == {"from": "100.00", "to": "110.00"}


async def test_a_blacklisted_source_goes_to_the_fallback(start_app):
    app = await start_app(plugins=[S + "actor"])
    services = app.state.services
    campaign = await make_campaign(services, fallback_url="https://fallback.test/")
    actor.RETURN[:] = [AddToBlacklist(source="bad")]
    await record_conversion(services, campaign, source="bad")
    await wait_processed()
    async with http_client(app) as client:
        bad = await client.get(f"/click?campaign_id={campaign.id}&source=bad")
        good = await client.get(f"/click?campaign_id={campaign.id}&source=good")
    assert bad.headers["location"].startswith("https://fallback.test/")
    assert good.headers["location"].startswith("https://offer.test/")


async def test_budget_cooldown_and_maximum(start_app):
    app = await start_app(plugins=[S + "actor"])
    services = app.state.services
    campaign = await make_campaign(services, daily_budget=Decimal("100"))
    actor.RETURN[:] = [ChangeBudget(percent=50, maximum=Decimal("120"), cooldown=timedelta(hours=1))]
    for _ in range(2):
        await record_conversion(services, campaign)
        await wait_processed()
    assert (await Campaign.get(id=campaign.id)).daily_budget == Decimal("120.00")
    events = await RuleEvent.filter(action="change_budget").order_by("id")
    assert [str(e.outcome) for e in events] == ["applied", "skipped"]
    assert "less than 1 h ago" in events[1].message


async def test_rule_plugins_run_once_per_enabled_rule_with_its_config(start_app):
    app = await start_app(plugins=[S + "threshold_rule"])
    services = app.state.services
    campaign = await make_campaign(services)
    other = await make_campaign(services)
    first = await Rule.create(campaign=campaign, plugin=S + "threshold_rule", config={"threshold": 1})
    second = await Rule.create(campaign=campaign, plugin=S + "threshold_rule", config={"threshold": 2})
    await Rule.create(campaign=campaign, plugin=S + "threshold_rule", config={"threshold": 3}, enabled=False)
    await Rule.create(campaign=other, plugin=S + "threshold_rule", config={"threshold": 4})
    await Rule.create(campaign=campaign, plugin="uninstalled_rule", config={})
    conversion = await record_conversion(services, campaign)
    await wait_processed()
    assert sorted(threshold_rule.CALLS) == [
        (conversion.id, first.id, {"threshold": 1}),
        (conversion.id, second.id, {"threshold": 2}),
    ]
    missing = await RuleEvent.get(plugin="uninstalled_rule")
    assert (missing.outcome, missing.message) == ("failed", "rule plugin 'uninstalled_rule' is not loaded")


async def test_an_event_claimed_by_a_dead_engine_runs_when_its_lease_ends(start_app):
    app = await start_app(plugins=[S + "recorder"], rules_poll_seconds=0.1)
    services = app.state.services
    campaign = await make_campaign(services)
    await services.rules.stop()  # this engine stands for one that dies holding the row
    conversion = await record_conversion(services, campaign)
    lease_end = datetime.now(timezone.utc) + timedelta(seconds=1)
    await Outbox.filter(conversion_id=conversion.id).update(attempts=1, lease_until=lease_end)
    await services.rules.start()
    assert await services.rules.run_pending() == 0  # leased to the "dead" engine
    await wait_processed()
    assert datetime.now(timezone.utc) >= lease_end
    assert [e.conversion.id for e in recorder.EVENTS] == [conversion.id]
    assert (await Outbox.get(conversion_id=conversion.id)).attempts == 2


async def test_a_claimer_that_lost_its_lease_commits_nothing(start_app):
    app = await start_app(plugins=[S + "actor"])
    services = app.state.services
    campaign = await make_campaign(services)
    await services.rules.stop()
    await record_conversion(services, campaign)
    actor.RETURN[:] = [PauseCampaign(reason="late")]
    [claim] = await services.rules._claim()
    # Its lease ran out and another engine claimed the row again meanwhile.
    await Outbox.filter(id=claim.outbox_id).update(attempts=claim.attempts + 1)
    await services.rules.process([claim])
    assert (await Campaign.get(id=campaign.id)).status == "active"
    assert await RuleEvent.all().count() == 0
    assert (await Outbox.get(id=claim.outbox_id)).processed_at is None


async def test_stopping_releases_the_events_in_progress(start_app):
    app = await start_app(plugins=[S + "sleeper"], rule_timeout_seconds=30)
    services = app.state.services
    campaign = await make_campaign(services)
    await record_conversion(services, campaign)
    while not await Outbox.filter(attempts=1).exists():
        await asyncio.sleep(0.02)
    assert (await Outbox.get()).lease_until is not None
    await services.rules.stop()
    row = await Outbox.get()
    assert (row.processed_at, row.lease_until) == (None, None)


async def test_send_webhook_refused_target_is_a_failed_event(start_app):
    app = await start_app(plugins=[S + "actor"])
    services = app.state.services
    campaign = await make_campaign(services)
    actor.RETURN[:] = [SendWebhook(url="http://127.0.0.1:9/hook", payload={"a": 1})]
    await record_conversion(services, campaign)
    await wait_processed()
    event = await RuleEvent.get(action="send_webhook")
    assert event.outcome == "failed" and event.message.startswith(
        "refused: '127.0.0.1' resolves to 127.0.0.1"
    )
    assert event.detail["attempts"] == 0


async def test_an_event_that_keeps_dying_is_given_up(start_app):
    app = await start_app(plugins=[S + "recorder"])
    services = app.state.services
    campaign = await make_campaign(services)
    await services.rules.stop()
    conversion = await record_conversion(services, campaign)
    await Outbox.filter(conversion_id=conversion.id).update(attempts=5)  # five claimers died on it
    assert await services.rules.run_pending() == 1
    assert recorder.EVENTS == []
    event = await RuleEvent.get(conversion_id=conversion.id)
    assert (event.plugin, event.outcome, event.message) == (
        "graphapi",
        "failed",
        "given up after 5 attempts that did not finish",
    )


async def test_actions_holding_nonsense_fail_alone(start_app):
    app = await start_app(plugins=[S + "actor"], webhook_allow_private=True)
    services = app.state.services
    campaign = await make_campaign(services)
    actor.RETURN[:] = [
        SendWebhook(url=12345, payload={"x": 1}),
        SendWebhook(url="http://127.0.0.1:9/", headers={"x-bad": "line\r\nbreak"}),
        AddToBlacklist(source=["not", "a", "string"]),
        PauseCampaign(reason={"an": object()}),
    ]
    await record_conversion(services, campaign)
    await wait_processed()
    events = await RuleEvent.all().order_by("id")
    assert [(e.action, str(e.outcome)) for e in events] == [
        ("send_webhook", "failed"),
        ("send_webhook", "failed"),
        ("add_to_blacklist", "failed"),
        ("pause_campaign", "applied"),
    ]
    assert events[2].message == "the source must be a non-empty string"
    assert events[0].message.startswith("cannot send: ")
    assert events[3].detail["reason"]["an"].startswith("<object object")


async def test_an_event_no_plugin_listens_to_is_marked_processed(start_app):
    app = await start_app(plugins=[])
    services = app.state.services
    campaign = await make_campaign(services)
    conversion = await record_conversion(services, campaign)
    await change_status(services, conversion, "rejected")
    await wait_processed()
    assert await Outbox.filter(conversion_id=conversion.id).count() == 2
    assert await rule_events() == []


async def test_a_batch_runs_the_rules_it_has_and_marks_the_rest_handled(start_app):
    """One claimed batch holds conversions of a campaign with a rule and of one
    without, and rows claimed before (more attempts): each is handled once."""
    app = await start_app(plugins=[S + "threshold_rule"])
    services = app.state.services
    ruled, bare = await make_campaign(services), await make_campaign(services)
    rule = await Rule.create(campaign=ruled, plugin=S + "threshold_rule", config={"threshold": 1})
    await services.rules.stop()
    conversions = [await record_conversion(services, campaign) for campaign in (ruled, bare, bare, ruled)]
    await Outbox.filter(conversion_id=conversions[2].id).update(attempts=2)  # a claimer died on it once
    assert await services.rules.run_pending() == 4
    assert sorted(threshold_rule.CALLS) == sorted((c.id, rule.id, {"threshold": 1}) for c in conversions[::3])
    assert await Outbox.filter(processed_at=None).count() == 0
    assert sorted(row.attempts for row in await Outbox.all()) == [1, 1, 1, 3]
