"""The data model. Changes here need a migration: `tortoise makemigrations` (see README)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from graphapi.money import MoneyField


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class CostModel(StrEnum):
    NONE = "none"
    CPC = "cpc"
    CPM = "cpm"
    CPA = "cpa"
    REVSHARE = "revshare"


class DeviceType(StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    BOT = "bot"
    OTHER = "other"


class Route(StrEnum):
    # Where a click was sent.
    LANDER = "lander"
    OFFER = "offer"
    # Paused campaign, no active offer or blacklisted source: not in the figures.
    FALLBACK = "fallback"


class ConversionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class PostbackOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    UNKNOWN_CLICK = "unknown_click"


class RuleEventOutcome(StrEnum):
    APPLIED = "applied"
    SKIPPED = "skipped"
    FAILED = "failed"


class Campaign(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=255)
    status = fields.CharEnumField(CampaignStatus, default=CampaignStatus.ACTIVE, max_length=16)
    traffic_source = fields.CharField(max_length=255, null=True)
    cost_model = fields.CharEnumField(CostModel, default=CostModel.NONE, max_length=16)
    cost_value = MoneyField(default=0)
    currency = fields.CharField(max_length=3, default="USD")
    daily_budget = MoneyField(null=True)
    fallback_url = fields.TextField(null=True)
    source_whitelist = fields.JSONField(default=list)
    source_blacklist = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "campaign"


class Offer(Model):
    id = fields.IntField(primary_key=True)
    campaign = fields.ForeignKeyField("graphapi.Campaign", related_name="offers")
    name = fields.CharField(max_length=255)
    url = fields.TextField()
    weight = fields.IntField(default=100)
    payout = MoneyField(default=0)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "offer"


class Lander(Model):
    id = fields.IntField(primary_key=True)
    campaign = fields.ForeignKeyField("graphapi.Campaign", related_name="landers")
    name = fields.CharField(max_length=255)
    url = fields.TextField()
    weight = fields.IntField(default=100)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "lander"


# Model docstrings become table comments, which tortoise's SQLite migrations
# mangle: the notes on models are comments instead.


# One visit to a tracking link, written in batches by `graphapi.click_writer`.
class Click(Model):
    id = fields.BigIntField(primary_key=True)
    click_id = fields.CharField(max_length=32, unique=True)
    campaign = fields.ForeignKeyField("graphapi.Campaign", related_name="clicks")
    offer = fields.ForeignKeyField("graphapi.Offer", null=True, related_name="clicks")
    lander = fields.ForeignKeyField("graphapi.Lander", null=True, related_name="clicks")
    route = fields.CharEnumField(Route, max_length=16)
    created_at = fields.DatetimeField()
    lander_clicked_at = fields.DatetimeField(null=True)
    ip = fields.CharField(max_length=45, null=True)
    user_agent = fields.TextField(null=True)
    # A 64-bit hash of IP and user agent: "the same visitor" for uniqueness.
    visitor = fields.BigIntField()
    country = fields.CharField(max_length=2, null=True)
    device_type = fields.CharEnumField(DeviceType, max_length=16)
    os = fields.CharField(max_length=64, null=True)
    browser = fields.CharField(max_length=64, null=True)
    referrer = fields.TextField(null=True)
    source = fields.CharField(max_length=255, null=True)
    creative = fields.CharField(max_length=255, null=True)
    subid = fields.CharField(max_length=255, null=True)
    sub1 = fields.CharField(max_length=255, null=True)
    sub2 = fields.CharField(max_length=255, null=True)
    sub3 = fields.CharField(max_length=255, null=True)
    sub4 = fields.CharField(max_length=255, null=True)
    sub5 = fields.CharField(max_length=255, null=True)
    sub6 = fields.CharField(max_length=255, null=True)
    sub7 = fields.CharField(max_length=255, null=True)
    sub8 = fields.CharField(max_length=255, null=True)
    sub9 = fields.CharField(max_length=255, null=True)
    sub10 = fields.CharField(max_length=255, null=True)
    params = fields.JSONField(default=dict)
    # Some value was cut to fit; the visitor was redirected all the same.
    truncated = fields.BooleanField(default=False)
    is_unique = fields.BooleanField()
    is_bot = fields.BooleanField()
    cost = MoneyField(default=0)

    class Meta:
        table = "click"
        indexes = (
            Index(fields=("campaign_id", "created_at"), name="click_campaign_time"),
            # Partial on the database: WHERE route <> 'fallback' (migration 0011).
            Index(fields=("campaign_id", "visitor", "created_at"), name="click_visitor"),
        )


class Conversion(Model):
    id = fields.BigIntField(primary_key=True)
    click = fields.ForeignKeyField("graphapi.Click", related_name="conversions")
    campaign = fields.ForeignKeyField("graphapi.Campaign", related_name="conversions")
    # '' rather than NULL for "none", so the unique constraint holds.
    goal = fields.CharField(max_length=64, default="")
    txid = fields.CharField(max_length=128, default="")
    status = fields.CharEnumField(ConversionStatus, max_length=16)
    raw_status = fields.CharField(max_length=64, null=True)
    payout = MoneyField(default=0)
    currency = fields.CharField(max_length=3)
    original_payout = MoneyField(null=True)
    original_currency = fields.CharField(max_length=3, null=True)
    # Cost accrued by CPA / REVSHARE campaigns for this conversion.
    cost = MoneyField(default=0)
    params = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "conversion"
        unique_together = (("click_id", "goal", "txid"),)
        indexes = (Index(fields=("campaign_id", "created_at"), name="conversion_campaign_time"),)


# Every postback request, whatever its outcome.
class Postback(Model):
    id = fields.BigIntField(primary_key=True)
    received_at = fields.DatetimeField()
    outcome = fields.CharEnumField(PostbackOutcome, max_length=16)
    message = fields.TextField(null=True)
    click_id = fields.CharField(max_length=255, null=True)
    params = fields.JSONField(default=dict)
    remote_addr = fields.CharField(max_length=45, null=True)
    conversion = fields.ForeignKeyField(
        "graphapi.Conversion", null=True, related_name="postbacks", db_constraint=False
    )
    # The conversion's status once this postback was applied (what it set, or
    # already was for a duplicate); its own status moves on with later ones.
    status = fields.CharEnumField(ConversionStatus, max_length=16, null=True)

    class Meta:
        table = "postback"
        indexes = (Index(fields=("outcome", "id"), name="postback_outcome"),)


class Rule(Model):
    id = fields.IntField(primary_key=True)
    campaign = fields.ForeignKeyField("graphapi.Campaign", related_name="rules")
    plugin = fields.CharField(max_length=128)
    config = fields.JSONField(default=dict)
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "rule"


class RuleEvent(Model):
    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    plugin = fields.CharField(max_length=128)
    campaign = fields.ForeignKeyField("graphapi.Campaign", related_name="rule_events")
    conversion = fields.ForeignKeyField("graphapi.Conversion", null=True, related_name="rule_events")
    action = fields.CharField(max_length=64)
    detail = fields.JSONField(default=dict)
    outcome = fields.CharEnumField(RuleEventOutcome, max_length=16)
    message = fields.TextField(null=True)

    class Meta:
        table = "rule_event"
        indexes = (Index(fields=("campaign_id", "id"), name="rule_event_campaign"),)


class ApiKey(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=255)
    # SHA-256 of the key: the key itself is shown once and never stored.
    key_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


# Conversions waiting for the rule engine, written in the conversion's transaction.
class Outbox(Model):
    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField()
    conversion = fields.ForeignKeyField("graphapi.Conversion", related_name="outbox")
    # The conversion's status before this change, for `event.conversion.previous_status`.
    previous_status = fields.CharField(max_length=16, null=True)
    # The status this change brought: a conversion changed twice before its rules
    # ran still shows each plugin each step. NULL in rows older than the column.
    status = fields.CharField(max_length=16, null=True)
    processed_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    # Claimed by a rule engine until then; a crashed claimer's events run again after it.
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox"
        indexes = (
            Index(fields=("processed_at", "id"), name="outbox_pending"),
            Index(fields=("conversion_id", "processed_at"), name="outbox_conversion"),
        )


# Pre-aggregated figures per campaign, UTC hour and one dimension value, so that
# reports over millions of clicks read thousands of rows (graphapi/rollups.py).
# `dimension` '' holds the campaign-hour totals; a missing value is ''.
# On SQLite both tables are WITHOUT ROWID, keyed (dimension, hour, value,
# campaign_id), with no `id` column (migration 0007). Both databases have daily
# twins for past days, with no model (graphapi.rollups.DAILY, migrations 0008
# and 0009): write them with SQL only.
class ClickRollup(Model):
    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.IntField()
    hour = fields.DatetimeField()
    dimension = fields.CharField(max_length=16)
    value = fields.CharField(max_length=255)
    clicks = fields.BigIntField(default=0)
    unique_clicks = fields.BigIntField(default=0)
    bot_clicks = fields.BigIntField(default=0)
    lander_clicks = fields.BigIntField(default=0)
    lander_routed = fields.BigIntField(default=0)
    cost = fields.BigIntField(default=0)  # micro-units

    class Meta:
        table = "click_rollup"
        unique_together = (("campaign_id", "hour", "dimension", "value"),)
        indexes = (
            Index(fields=("dimension", "hour"), name="click_rollup_dimension"),
            # One campaign's figures over a period (graphapi.stats, on every conversion).
            Index(fields=("campaign_id", "dimension", "value", "hour"), name="click_rollup_campaign"),
        )


class ConversionRollup(Model):
    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.IntField()
    hour = fields.DatetimeField()
    dimension = fields.CharField(max_length=16)
    value = fields.CharField(max_length=255)
    approved = fields.BigIntField(default=0)
    pending = fields.BigIntField(default=0)
    rejected = fields.BigIntField(default=0)
    revenue = fields.BigIntField(default=0)  # micro-units, like the figures below
    pending_revenue = fields.BigIntField(default=0)
    cost = fields.BigIntField(default=0)

    class Meta:
        table = "conversion_rollup"
        unique_together = (("campaign_id", "hour", "dimension", "value"),)
        indexes = (
            Index(fields=("dimension", "hour"), name="conversion_rollup_dimension"),
            Index(fields=("campaign_id", "dimension", "value", "hour"), name="conversion_rollup_campaign"),
        )


class RollupMark(Model):
    """SQLite only: the last click id click_rollup has counted (see
    graphapi.rollups.catch_up); PostgreSQL queues the clicks to count in
    click_uncounted instead, and has no row here."""

    id = fields.IntField(primary_key=True)
    last_click_id = fields.BigIntField()

    class Meta:
        table = "rollup_mark"


# One row: when the last round of periodic rule checks began, and the round
# before it (graphapi.rule_checks); NULL before the first. Processes on one
# database elect one of them per round by moving it forward.
class RuleCheck(Model):
    id = fields.IntField(primary_key=True)
    checked_at = fields.DatetimeField(null=True)
    previous_at = fields.DatetimeField(null=True)

    class Meta:
        table = "rule_check"
