"""Group commit: concurrent requests share one transaction.

A request hands its row to `GroupCommit.submit()` and waits. One task writes
whatever has queued up in a single transaction and then wakes every waiter, so
a response is only sent once its row is committed, and a busy server pays one
commit for many rows rather than one each. An idle server writes at once: no
timer delays a lone request.

With `in_flight` above 1, that many batches are written at once, each in its
own transaction (PostgreSQL: while one batch waits on the database, the next
is sent). Items that must apply in order share a `key`: an item whose key is
in a batch under way waits for a later batch, so one key's items are still
committed one batch after another, in the order they came.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from graphapi.db import Database, Transaction, retried

log = logging.getLogger(__name__)

Item = TypeVar("Item")
# Writes a batch inside an open transaction and returns one result per item.
WriteBatch = Callable[[Transaction, Sequence[Any]], Awaitable[Sequence[Any]]]

MAX_BATCH = 2_000


class GroupCommit(Generic[Item]):
    def __init__(
        self,
        database: Database,
        write_batch: WriteBatch,
        name: str,
        after_commit: Callable[[Sequence[Any]], None] | None = None,
        one_statement: bool = False,
        in_flight: int = 1,
        key: Callable[[Item], Hashable | None] = lambda item: None,
    ) -> None:
        self._db = database
        self._write_batch = write_batch
        self._name = name
        # Called with a committed batch's results, whether or not their
        # requests are still waiting (a client may have gone away).
        self._after_commit = after_commit
        # `write_batch` sends a single statement (see Database.write).
        self._one_statement = one_statement
        self._in_flight = in_flight
        self._key = key  # None: the item may go in any batch
        self._queue: list[tuple[Item, asyncio.Future]] = []
        # Batches being written, with the keys each holds.
        self._writing: dict[asyncio.Task, set[Hashable]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"group-commit-{self._name}")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def submit(self, item: Item) -> Any:
        """Returns once `item` is committed, with its result; raises if it could not be."""
        if self._closing or self._task is None or self._task.done():
            raise RuntimeError(f"{self._name} writer is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue and len(self._writing) < self._in_flight:
                batch = self._take()
                if not batch:
                    break  # every queued key is in a batch under way
                if self._in_flight == 1:  # one at a time: no task a batch
                    await self._commit(batch)
                    continue
                task = asyncio.create_task(self._commit(batch))
                self._writing[task] = {self._key(item) for item, _ in batch}
                task.add_done_callback(self._written)
            if self._closing and not self._queue and not self._writing:
                return

    def _take(self) -> list[tuple[Item, asyncio.Future]]:
        """The next batch: up to MAX_BATCH queued items, in order, but none whose
        key is in a batch under way (nor, so, any later item of that key)."""
        if not self._writing:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            return batch
        busy = set().union(*self._writing.values())
        busy.discard(None)
        batch, waiting = [], []
        for entry in self._queue:
            if len(batch) < MAX_BATCH and self._key(entry[0]) not in busy:
                batch.append(entry)
            else:
                waiting.append(entry)
        self._queue = waiting
        return batch

    def _written(self, task: asyncio.Task) -> None:
        del self._writing[task]
        self._wakeup.set()

    async def _commit(self, batch: list[tuple[Item, asyncio.Future]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except Exception:
            if len(batch) == 1:
                log.exception("%s: write failed", self._name)
                _settle(batch, error=True)
                return
            # One bad row must not fail its neighbours: retry them one by one.
            for one in batch:
                await self._commit([one])
            return
        _settle(batch, results=results)
        if self._after_commit is not None:
            try:
                self._after_commit(results)
            except Exception:
                log.exception("%s: after-commit hook failed", self._name)

    async def _write(self, items: list[Item]) -> Sequence[Any]:
        async def transaction() -> Sequence[Any]:
            async with self._db.write(self._one_statement) as tx:
                return await self._write_batch(tx, items)

        # A batch that lost a deadlock or serialization race is written again whole.
        return await retried(transaction, self._name)


def _settle(
    batch: list[tuple[Any, asyncio.Future]],
    results: Sequence[Any] | None = None,
    error: bool = False,
) -> None:
    for index, (_, future) in enumerate(batch):
        if future.done():  # the request was cancelled (client went away)
            continue
        if error:
            future.set_exception(WriteFailed())
        else:
            future.set_result(results[index])


class WriteFailed(Exception):
    """The row could not be committed (the database is down, or refused it)."""
