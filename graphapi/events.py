"""What plugins are given: the conversion, its click, its campaign and figures
(or, in a periodic check, the campaign and its figures alone).

Plain frozen dataclasses, so a plugin author can build them in a unit test
(`graphapi.testing` does) and no plugin can reach the database through them.
Statuses are `StrEnum`s: `event.conversion.status == "approved"` holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from graphapi.clicks import SUBS
from graphapi.models import Campaign, CampaignStatus, Click, ConversionStatus, DeviceType
from graphapi.stats import Stats


@dataclass(frozen=True)
class ConversionInfo:
    id: int | None  # None in `conversion_received`: not recorded yet
    goal: str  # '' for none
    txid: str  # '' for none
    status: ConversionStatus
    previous_status: ConversionStatus | None  # None for a new conversion
    payout: Decimal
    currency: str


@dataclass(frozen=True)
class ClickInfo:
    click_id: str
    country: str | None = None
    device_type: DeviceType = DeviceType.OTHER
    source: str | None = None
    creative: str | None = None
    subid: str | None = None
    sub1: str | None = None
    sub2: str | None = None
    sub3: str | None = None
    sub4: str | None = None
    sub5: str | None = None
    sub6: str | None = None
    sub7: str | None = None
    sub8: str | None = None
    sub9: str | None = None
    sub10: str | None = None


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    name: str
    status: CampaignStatus = CampaignStatus.ACTIVE
    daily_budget: Decimal | None = None
    currency: str = "USD"
    traffic_source: str | None = None
    source_whitelist: tuple[str, ...] = ()
    source_blacklist: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConversionEvent:
    """The argument of `conversion_recorded`."""

    conversion: ConversionInfo
    click: ClickInfo
    campaign: CampaignInfo
    # The campaign's figures (GraphQL `Stats`, snake_case), in its currency.
    stats: Stats
    today: Stats  # the same since midnight UTC
    # The campaign's figures for the click's traffic source (None without a source).
    source_stats: Stats | None = None
    # A rule plugin's rule: its config (validated against the plugin's schema) and id.
    config: dict[str, Any] | None = None
    rule_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data (amounts as strings), e.g. for a webhook."""
        return json.loads(json.dumps({
            "conversion": asdict(self.conversion),
            "click": asdict(self.click),
            "campaign": asdict(self.campaign),
            "stats": self.stats.as_dict(),
            "today": self.today.as_dict(),
            "source_stats": self.source_stats.as_dict() if self.source_stats else None,
        }, default=str))  # fmt: skip


@dataclass(frozen=True)
class CampaignCheck:
    """The argument of `campaign_checked`: no conversion, no click."""

    campaign: CampaignInfo
    stats: Stats  # as in ConversionEvent
    today: Stats
    # By traffic source: the figures since the campaign began of each source
    # that had clicks or conversions since the previous check.
    sources: Mapping[str, Stats] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    rule_id: int | None = None


@dataclass(frozen=True)
class ReceivedConversion:
    """The argument of `conversion_received`."""

    conversion: ConversionInfo
    click: ClickInfo
    campaign: CampaignInfo
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RulePluginInfo:
    """What `rule_plugin_info` returns (GraphQL `RulePlugin`)."""

    description: str
    config_schema: dict[str, Any] | None = None


def click_info(click: Click) -> ClickInfo:
    return ClickInfo(
        click_id=click.click_id,
        country=click.country,
        device_type=DeviceType(click.device_type),
        source=click.source,
        creative=click.creative,
        **{name: getattr(click, name) for name in SUBS},
    )


def campaign_info(campaign: Campaign) -> CampaignInfo:
    return CampaignInfo(
        id=campaign.id,
        name=campaign.name,
        status=CampaignStatus(campaign.status),
        daily_budget=campaign.daily_budget,
        currency=campaign.currency,
        traffic_source=campaign.traffic_source,
        source_whitelist=tuple(campaign.source_whitelist or ()),
        source_blacklist=tuple(campaign.source_blacklist or ()),
    )
