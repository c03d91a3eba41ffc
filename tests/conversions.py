"""Conversions for rule tests, written as the postback path writes them: the
conversion and its outbox row in one transaction, then announced on the feed."""

from __future__ import annotations

import asyncio
import random
import contextlib
import time
import uuid
from decimal import Decimal

from graphapi.app import create_app
from graphapi.conversion_status import set_status
from graphapi.db import Database
from graphapi.models import Click, Conversion, ConversionStatus, Outbox, RuleEvent
from graphapi.settings import Settings
from tests.seeding import insert_clicks, insert_conversion


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
    db: Database | None = None,
) -> Conversion:
    """A new conversion (on a new click costing `cost`, unless `click` is given),
    with its outbox row; `db` when there are no `services` (another process's engine)."""
    database = db or services.db
    if click is None:
        [click_pk] = await insert_clicks(database, campaign.id, [{
            "device_type": "mobile", "country": "DE", "source": source, "subid": "sub-abc",
            "visitor": random.getrandbits(63), "cost": Decimal(cost),
        }])  # fmt: skip
    else:
        click_pk = click.id
    conversion_id = await insert_conversion(
        database, click_pk, status=status, payout=Decimal(payout), txid=uuid.uuid4().hex, outbox=True,
        feed=services.feed if services is not None else None,
    )  # fmt: skip
    return await Conversion.get(id=conversion_id)


async def change_status(services, conversion: Conversion, status: str) -> None:
    await set_status(services.db, services.feed, conversion.id, ConversionStatus(status))


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
