"""Unit-test a plugin without a server or a database.

    from graphapi.testing import make_event, make_stats, run_conversion_recorded

    async def test_pauses_a_loser():
        event = make_event(stats=make_stats(cost="100", revenue="20"), config={"min_roi": -50})
        assert await run_conversion_recorded(my_plugin, event) == [PauseCampaign(reason=...)]

`make_check` and `run_campaign_checked` do the same for the periodic check.

The hook is called the way graphapi calls it (sync or async, keyword
arguments), and `rule_config_errors` checks a config against the plugin's schema
as `addRule` does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pluggy

from graphapi import hookspecs
from graphapi.events import CampaignCheck, CampaignInfo, ClickInfo, ConversionEvent, ConversionInfo, RulePluginInfo
from graphapi.models import CampaignStatus, ConversionStatus
from graphapi.money import from_micros, to_micros
from graphapi.plugins import config_errors
from graphapi.stats import Stats

MONEY = ("revenue", "pending_revenue", "cost")


def make_stats(currency: str = "USD", **figures: Any) -> Stats:
    """A `Stats`; amounts may be given as str, int or Decimal (shown as graphapi shows them: `100.00`)."""
    for name in MONEY:
        if name in figures:
            figures[name] = from_micros(to_micros(Decimal(str(figures[name]))))
    return Stats(currency=currency, **figures)


def make_event(
    *,
    status: str = "approved",
    previous_status: str | None = None,
    payout: str | Decimal = "10.00",
    goal: str = "",
    txid: str = "",
    conversion_id: int = 1,
    click: dict[str, Any] | None = None,
    campaign: dict[str, Any] | None = None,
    stats: Stats | None = None,
    today: Stats | None = None,
    source_stats: Stats | None = None,
    config: dict[str, Any] | None = None,
    rule_id: int | None = None,
) -> ConversionEvent:
    """A `ConversionEvent` with sensible defaults for everything not given."""
    info = _campaign(campaign)
    currency = info.currency
    return ConversionEvent(
        conversion=ConversionInfo(
            id=conversion_id,
            goal=goal,
            txid=txid,
            status=ConversionStatus(status),
            previous_status=ConversionStatus(previous_status) if previous_status else None,
            payout=Decimal(str(payout)),
            currency=currency,
        ),
        click=ClickInfo(**{"click_id": "test-click", **(click or {})}),
        campaign=info,
        stats=stats or make_stats(currency),
        today=today or make_stats(currency),
        source_stats=source_stats,
        config=config,
        rule_id=rule_id,
    )


def make_check(
    *,
    campaign: dict[str, Any] | None = None,
    stats: Stats | None = None,
    today: Stats | None = None,
    sources: dict[str, Stats] | None = None,
    config: dict[str, Any] | None = None,
    rule_id: int | None = None,
) -> CampaignCheck:
    """A `CampaignCheck` (the event of `campaign_checked`), defaults as in `make_event`."""
    info = _campaign(campaign)
    return CampaignCheck(
        campaign=info,
        stats=stats or make_stats(info.currency),
        today=today or make_stats(info.currency),
        sources=sources or {},
        config=config,
        rule_id=rule_id,
    )


def _campaign(fields: dict[str, Any] | None) -> CampaignInfo:
    values = {"id": 1, "name": "test campaign", **(fields or {})}
    values["status"] = CampaignStatus(values.get("status", "active"))
    if values.get("daily_budget") is not None:
        values["daily_budget"] = Decimal(str(values["daily_budget"]))
    for name in ("source_whitelist", "source_blacklist"):
        values[name] = tuple(values.get(name, ()))
    return CampaignInfo(**values)


def _implementation(plugin: object, hook: str) -> pluggy.HookImpl:
    pm = pluggy.PluginManager("graphapi")
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    pm.check_pending()
    impls = getattr(pm.hook, hook).get_hookimpls()
    if not impls:
        raise LookupError(f"{plugin!r} does not implement {hook}")
    return impls[0]


async def _call(plugin: object, hook: str, **kwargs: Any) -> Any:
    impl = _implementation(plugin, hook)
    result = impl.function(**{name: kwargs[name] for name in impl.argnames})
    if hasattr(result, "__await__"):
        result = await result
    return result


async def run_conversion_recorded(plugin: object, event: ConversionEvent) -> Any:
    """What the plugin's `conversion_recorded` returns for `event`."""
    return await _call(plugin, "conversion_recorded", event=event)


async def run_campaign_checked(plugin: object, event: CampaignCheck) -> Any:
    """What the plugin's `campaign_checked` returns for `event`."""
    return await _call(plugin, "campaign_checked", event=event)


async def run_conversion_received(plugin: object, event: Any) -> Any:
    """What the plugin's `conversion_received` returns for `event`."""
    return await _call(plugin, "conversion_received", event=event)


def rule_config_errors(plugin: object, config: Any) -> list[tuple[list[str], str]]:
    """What `addRule` would say of this config for this rule plugin ([] when valid)."""
    info = _implementation(plugin, "rule_plugin_info").function()
    if not isinstance(info, RulePluginInfo):
        raise TypeError(f"rule_plugin_info returned {info!r}, not a RulePluginInfo")
    return config_errors(info, config)
