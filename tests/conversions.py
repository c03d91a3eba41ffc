"""Conversions for rule tests, written as the postback path writes them: the
conversion and its outbox row in one transaction, then announced on the feed."""

from __future__ import annotations

import asyncio
import random
import contextlib
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from tortoise.transactions import in_transaction

from graphapi.app import create_app
from graphapi.models import Click, Conversion, DeviceType, Outbox, Route, RuleEvent
from graphapi.settings import Settings


def rule_settings(database_url: str, **overrides) -> Settings:
    """Settings with short rule timeouts, so failure tests are fast."""
    values = {"rule_timeout_seconds": 0.5, "rules_poll_seconds": 0.2, **overrides}
    return Settings(database_url=database_url, _env_file=None, **values)


@contextlib.asynccontextmanager
async def running_app(database_url: str, **overrides):
    app = create_app(rule_settings(database_url, **overrides))
    async with app.router.lifespan_context(app):
        yield app


async def record_conversion(
    services,
    campaign,
    *,
    status: str = "approved",
    payout: str = "10.00",
    cost: str = "0",
    source: str | None = None,
    click: Click | None = None,
) -> Conversion:
    """A new conversion (on a new click costing `cost`, unless `click` is given)."""
    now = datetime.now(timezone.utc)
    async with in_transaction() as conn:
        if click is None:
            click = await Click.create(
                using_db=conn, click_id=uuid.uuid4().hex, campaign_id=campaign.id, route=Route.OFFER,
                created_at=now, visitor=random.getrandbits(63), device_type=DeviceType.MOBILE, country="DE",
                source=source, subid="sub-abc", is_unique=True, is_bot=False, cost=Decimal(cost),
            )  # fmt: skip
        conversion = await Conversion.create(
            using_db=conn, click=click, campaign_id=campaign.id, txid=uuid.uuid4().hex, status=status,
            payout=Decimal(payout), currency=campaign.currency, created_at=now, updated_at=now,
        )  # fmt: skip
        await Outbox.create(using_db=conn, conversion=conversion, previous_status=None, created_at=now)
    if services is not None:
        services.feed.committed([conversion.id])
    return conversion


async def change_status(services, conversion: Conversion, status: str) -> None:
    now = datetime.now(timezone.utc)
    previous = conversion.status
    async with in_transaction() as conn:
        await Conversion.filter(id=conversion.id).using_db(conn).update(status=status, updated_at=now)
        await Outbox.create(
            using_db=conn, conversion_id=conversion.id, previous_status=previous, created_at=now
        )
    services.feed.committed([conversion.id])


async def wait_processed(timeout: float = 10.0) -> None:
    """Until every outbox row is processed."""
    deadline = time.monotonic() + timeout
    while await Outbox.filter(processed_at=None).exists():
        assert time.monotonic() < deadline, "the rule engine did not process the outbox in time"
        await asyncio.sleep(0.05)


async def rule_events(**filters) -> list[tuple[str, str, str]]:
    """(plugin, action, outcome) of the recorded rule events, oldest first."""
    events = await RuleEvent.filter(**filters).order_by("id")
    return [(e.plugin, e.action, str(e.outcome)) for e in events]
