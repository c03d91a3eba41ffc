"""Changing a conversion's status by hand (GraphQL `setConversionStatus`).

Like a postback that updates a conversion: the change, an outbox row for the
rule engine and the live-feed announcement commit together.
"""

from __future__ import annotations

from datetime import datetime, timezone

from graphapi import rollups
from graphapi.conversions import INSERT_OUTBOX
from graphapi.db import Database
from graphapi.live import ConversionFeed
from graphapi.models import ConversionStatus


async def set_status(db: Database, feed: ConversionFeed, conversion_id: int, status: ConversionStatus) -> bool:
    """False when there is no such conversion; setting the same status changes nothing."""
    now = datetime.now(timezone.utc)
    lock = " FOR UPDATE" if db.postgres else ""  # SQLite's BEGIN IMMEDIATE already serializes
    async with db.write() as tx:
        found = await tx.fetch(f"SELECT status, payout, cost FROM conversion WHERE id = ?{lock}", [conversion_id])
        if not found:
            return False
        previous = found[0][0]
        if previous == status.value:
            return True
        await tx.execute(
            "UPDATE conversion SET status = ?, updated_at = ? WHERE id = ?", [status.value, now, conversion_id]
        )
        await tx.execute(INSERT_OUTBOX, [now, conversion_id, previous, status.value, None])
        await rollups.add_conversion_changes(tx, {conversion_id: found[0]})
        await feed.announce(tx, [conversion_id])
    feed.committed([conversion_id])
    return True
