"""The live feed of committed conversions, across processes.

The postback path announces each created or updated conversion; the GraphQL
subscription and the rule engine listen. In this process the announcement is
delivered as soon as the transaction commits; on PostgreSQL it also goes out
as a NOTIFY sent inside the transaction, which PostgreSQL delivers to every
other process only if and when the transaction commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

from graphapi.db import Database, Transaction

CHANNEL = "graphapi_conversion"
# PostgreSQL: announce a batch's conversions in one statement (each is a round trip).
NOTIFY = "SELECT pg_notify(?, p) FROM unnest(?::text[]) AS p"
# A subscriber that falls this far behind loses the oldest announcements
# rather than growing without bound.
QUEUE_SIZE = 10_000


class ConversionFeed:
    def __init__(self, database: Database) -> None:
        self._db = database
        # Tells our own NOTIFYs apart: they were already delivered locally.
        self._origin = uuid.uuid4().hex
        self._queues: set[asyncio.Queue[int]] = set()
        self._listen_task: asyncio.Task | None = None

    async def start(self) -> None:
        if self._db.postgres:
            self._listen_task = asyncio.create_task(
                self._db.listen(CHANNEL, self._on_notice), name="conversion-feed"
            )

    async def stop(self) -> None:
        if self._listen_task is not None:
            self._listen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen_task

    async def announce(self, tx: Transaction, conversion_ids: Iterable[int]) -> None:
        """Inside the write transaction: tell other processes, on commit."""
        ids = list(conversion_ids)
        if self._db.postgres and ids:
            await tx.execute(NOTIFY, self.notify_params(ids))

    def notify_params(self, conversion_ids: Iterable[int]) -> list[Any]:
        """NOTIFY's parameters for these conversions."""
        return [CHANNEL, [f"{self._origin}:{conversion_id}" for conversion_id in conversion_ids]]

    def committed(self, conversion_ids: Iterable[int]) -> None:
        """After the commit: tell this process's subscribers."""
        for conversion_id in conversion_ids:
            self._deliver(conversion_id)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[int]]:
        """A queue of conversion ids committed from now on, by any process."""
        queue: asyncio.Queue[int] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def _deliver(self, conversion_id: int) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(conversion_id)

    def _on_notice(self, payload: str) -> None:
        origin, _, conversion_id = payload.partition(":")
        if origin != self._origin and conversion_id.isdigit():
            self._deliver(int(conversion_id))
