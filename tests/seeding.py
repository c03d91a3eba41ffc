"""Rows written straight through the driver, for tests and benchmarks that
need many clicks and conversions fast (the real paths have tests of their own)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from graphapi import rollups
from graphapi.conversions import INSERT_OUTBOX
from graphapi.db import Database
from graphapi.money import to_micros

CLICK_DEFAULTS: dict[str, Any] = {
    "offer_id": None, "lander_id": None, "route": "offer", "lander_clicked_at": None,
    "ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "visitor": 1, "country": None,
    "device_type": "desktop", "os": "Linux", "browser": "Firefox", "referrer": None,
    "source": None, "creative": None, "subid": None,
    **{f"sub{i}": None for i in range(1, 11)},
    "params": "{}", "truncated": False, "is_unique": True, "is_bot": False, "cost": 0,
}  # fmt: skip


async def insert_clicks(db: Database, campaign_id: int, rows: Iterable[dict[str, Any]]) -> list[int]:
    """Insert clicks (column values over CLICK_DEFAULTS); their ids, in order."""
    now = datetime.now(timezone.utc)
    click_ids = []
    values = []
    for row in rows:
        row = {**CLICK_DEFAULTS, "created_at": now, **row}
        if isinstance(row["cost"], Decimal):
            row["cost"] = to_micros(row["cost"])
        if isinstance(row["params"], dict):
            row["params"] = json.dumps(row["params"])
        click_id = secrets.token_urlsafe(16)
        click_ids.append(click_id)
        values.append({"click_id": click_id, "campaign_id": campaign_id, **row})
    if not values:
        return []
    columns = list(values[0])
    async with db.write() as tx:
        [(last_id,)] = await tx.fetch("SELECT COALESCE(MAX(id), 0) FROM click")
        await tx.executemany(
            f"INSERT INTO click ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [[row[c] for c in columns] for row in values],
        )
        await rollups.count_clicks_after(tx, last_id)
        found = []
        for start in range(0, len(click_ids), 1000):
            chunk = click_ids[start : start + 1000]
            found += await tx.fetch(
                f"SELECT id, click_id FROM click WHERE click_id IN ({', '.join('?' * len(chunk))})", chunk
            )
    by_click_id = {click_id: pk for pk, click_id in found}
    return [by_click_id[c] for c in click_ids]


async def insert_conversion(
    db: Database,
    click: int,
    *,
    status: str = "approved",
    payout: Decimal = Decimal("0"),
    goal: str = "",
    created_at: datetime | None = None,
    cost: Decimal = Decimal("0"),
    txid: str = "",
    outbox: bool = False,
    feed: Any = None,
) -> int:
    """A conversion of click `click` (its primary key), with an outbox row for the
    rule engine when `outbox`, announced on `feed` when given."""
    moment = created_at or datetime.now(timezone.utc)
    async with db.write() as tx:
        (campaign_id, currency), = await tx.fetch(
            "SELECT c.id, c.currency FROM click k JOIN campaign c ON c.id = k.campaign_id WHERE k.id = ?", [click]
        )
        await tx.execute(
            "INSERT INTO conversion (click_id, campaign_id, goal, txid, status, payout, currency, cost, "
            "params, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?)",
            [click, campaign_id, goal, txid, status, to_micros(payout), currency, to_micros(cost), moment, moment],
        )
        ((conversion_id,),) = await tx.fetch(
            "SELECT id FROM conversion WHERE click_id = ? AND goal = ? AND txid = ?", [click, goal, txid]
        )
        if outbox:
            await tx.execute(INSERT_OUTBOX, [moment, conversion_id, None, status, None])
        await rollups.add_conversion_changes(tx, {conversion_id: None})
        if feed is not None:
            await feed.announce(tx, [conversion_id])
    if feed is not None:
        feed.committed([conversion_id])
    return conversion_id
