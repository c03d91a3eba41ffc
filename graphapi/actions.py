"""What a `conversion_recorded` hook may return: a list of these.

graphapi applies each one (the rule engine, `graphapi.rule_engine`) and records
it as a rule event. Applying is idempotent: an action that would change nothing
(pausing a paused campaign, listing a listed source) is recorded as `SKIPPED`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from graphapi.money import MAX_AMOUNT

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class PauseCampaign:
    """Pause the event's campaign: its next clicks go to its fallback URL."""

    reason: str
    name: ClassVar[str] = "pause_campaign"


@dataclass(frozen=True)
class ChangeBudget:
    """Set the campaign's daily budget to `amount`, or change it by `percent`
    (20 = +20 %, -10 = -10 %), never above `maximum`. With `cooldown`, skipped
    when the same plugin changed this campaign's budget less than that long ago."""

    amount: Decimal | None = None
    percent: Decimal | None = None
    maximum: Decimal | None = None
    cooldown: timedelta | None = None
    name: ClassVar[str] = "change_budget"

    def __post_init__(self) -> None:
        if (self.amount is None) == (self.percent is None):
            raise ValueError("ChangeBudget takes exactly one of amount= or percent=")
        for attr in ("amount", "percent", "maximum"):
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, Decimal(str(value)))
        if self.amount is not None and self.amount < 0:
            raise ValueError("ChangeBudget amount must be >= 0")

    def new_budget(self, current: Decimal | None) -> Decimal | None:
        """The budget after this change; None when a percentage has no budget to scale."""
        if self.amount is not None:
            budget = self.amount
        elif current is None:
            return None
        else:
            budget = max(current * (1 + self.percent / 100), Decimal(0))
        if self.maximum is not None:
            budget = min(budget, self.maximum)
        # Raised again and again, a budget stops below what an amount may be.
        return min(budget, MAX_AMOUNT - _CENT).quantize(_CENT)


@dataclass(frozen=True)
class AddToWhitelist:
    """Put a traffic source on the campaign's whitelist."""

    source: str
    name: ClassVar[str] = "add_to_whitelist"


@dataclass(frozen=True)
class AddToBlacklist:
    """Put a traffic source on the campaign's blacklist: its clicks go to the fallback URL."""

    source: str
    name: ClassVar[str] = "add_to_blacklist"


@dataclass(frozen=True)
class SendWebhook:
    """Send an HTTP request: `POST` the JSON `payload` (default), or `GET` the URL.

    Delivered through `graphapi.webhooks` (public addresses only unless
    `GRAPHAPI_WEBHOOK_ALLOW_PRIVATE`, no redirects, timeouts, retries, signed).
    """

    url: str
    payload: Any = None
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    name: ClassVar[str] = "send_webhook"

    def __post_init__(self) -> None:
        if self.method not in ("GET", "POST"):
            raise ValueError(f"SendWebhook method must be GET or POST, got {self.method!r}")


Action = PauseCampaign | ChangeBudget | AddToWhitelist | AddToBlacklist | SendWebhook
ACTIONS = (PauseCampaign, ChangeBudget, AddToWhitelist, AddToBlacklist, SendWebhook)
