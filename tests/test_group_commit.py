"""Group commit's handling of a batch the database refused."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext

import asyncpg
import pytest

from graphapi.db import TRIES, _numbered, retried
from graphapi.group_commit import GroupCommit, WriteFailed
from tests.conftest import make_campaign


_COLUMNS = "status, traffic_source, cost_model, cost_value, currency, daily_budget, fallback_url, " \
    "source_whitelist, source_blacklist, created_at, updated_at"
# A copy of campaign `template` under another name: a row any database test can write.
_COPY = f"INSERT INTO campaign (name, {_COLUMNS}) SELECT ?, {_COLUMNS} FROM campaign WHERE id = ?"


async def _writer(services, template: int, refusals: list[Exception]) -> tuple[GroupCommit, list[int]]:
    """A GroupCommit that stores names as campaigns, refused with `refusals` first."""
    attempts = []

    async def write(tx, names):
        attempts.append(len(names))
        await tx.executemany(_COPY, [(name, template) for name in names])
        if refusals:
            raise refusals.pop(0)
        return names

    writer = GroupCommit(services.db, write, "test")
    writer.start()
    return writer, attempts


async def _stored(services) -> list[str]:
    return [row[0] for row in await services.db.fetch("SELECT name FROM campaign WHERE name LIKE 'n%' ORDER BY name")]


async def test_a_batch_that_lost_a_deadlock_is_written_again_whole(services):
    template = (await make_campaign(services)).id
    deadlock = asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
    writer, attempts = await _writer(services, template, [deadlock] * (TRIES - 1))
    results = await asyncio.gather(*(writer.submit(f"n{i}") for i in range(5)))
    await writer.stop()
    assert results == [f"n{i}" for i in range(5)]
    assert attempts == [5] * TRIES  # whole each time, not split up
    assert await _stored(services) == [f"n{i}" for i in range(5)]  # once each: the refused tries rolled back


async def test_a_batch_refused_for_good_fails_only_the_rows_that_cannot_be_written(services):
    template = (await make_campaign(services)).id
    writer, _ = await _writer(services, template, [ValueError("bad batch")] * 2)
    results = await asyncio.gather(*(writer.submit(f"n{i}") for i in range(3)), return_exceptions=True)
    await writer.stop()
    # The batch failed, then each row alone: the first (refused again) fails, the rest are written.
    assert isinstance(results[0], WriteFailed) and results[1:] == ["n1", "n2"]
    assert await _stored(services) == ["n1", "n2"]



async def test_a_one_statement_write_commits_and_refuses_a_second_statement(services):
    template = (await make_campaign(services)).id
    writer = GroupCommit(services.db, lambda tx, names: _copy(tx, names, template), "test", one_statement=True)
    writer.start()
    assert await writer.submit("n1") == "n1"
    await writer.stop()
    assert await _stored(services) == ["n1"]
    # On PostgreSQL it runs outside a transaction: a second statement would commit alone.
    refused = pytest.raises(RuntimeError, match="second statement") if services.db.postgres else nullcontext()
    with refused:
        async with services.db.write(one_statement=True) as tx:
            await tx.execute(_COPY, ("n2", template))
            await tx.execute(_COPY, ("n3", template))


async def _copy(tx, names, template):
    await tx.execute(_COPY, (names[0], template))
    return names


async def test_a_transaction_that_lost_a_real_deadlock_is_run_again(services):
    """`retried`, as group commits and PostgreSQL's click counts use it: a
    transaction PostgreSQL aborts to end a deadlock runs again, whole."""
    if not services.db.postgres:
        pytest.skip("SQLite writers take turns: no deadlock")
    first, second = await make_campaign(services), await make_campaign(services)
    touch = "UPDATE campaign SET name = name WHERE id = ?"
    attempts = []
    locked_first = asyncio.Event()

    async def transaction() -> str:
        attempts.append(1)
        async with services.db.write() as tx:
            await tx.execute(touch, (first.id,))
            locked_first.set()
            await tx.execute(touch, (second.id,))  # held by the other connection
        return "written"

    other = await asyncpg.connect(services.db.dsn)
    try:
        async with other.transaction():
            await other.execute(_numbered(touch)[0], second.id)
            writing = asyncio.create_task(retried(transaction, "test"))
            await locked_first.wait()
            await asyncio.sleep(0.1)  # the transaction waits for `second`
            # Now this one waits for `first`: PostgreSQL aborts the one that waited longer.
            await other.execute(_numbered(touch)[0], first.id)
        assert await writing == "written"
    finally:
        await other.close()
    assert len(attempts) == 2


async def test_batches_in_flight_together_never_share_a_key_and_keep_each_keys_order(services):
    """in_flight=2 (PostgreSQL's postbacks): two batches are written at once, but
    an item whose key is in a batch under way waits for a later one, so each
    key's items are committed in the order they were submitted."""
    template = (await make_campaign(services)).id
    writing: list[set[str]] = []  # the keys of each batch under way
    overlapped = []
    committed: dict[str, list[int]] = {}

    async def write(tx, items):
        keys = {key for key, _ in items}
        assert all(not keys & other for other in writing), "a key in two batches at once"
        writing.append(keys)
        overlapped.append(len(writing))
        try:
            await tx.executemany(_COPY, [(f"n{key}-{seq}", template) for key, seq in items])
            await asyncio.sleep(0.01)  # a batch waiting on the database
        finally:
            writing.remove(keys)
        for key, seq in items:
            committed.setdefault(key, []).append(seq)
        return [seq for _, seq in items]

    writer = GroupCommit(services.db, write, "test", in_flight=2, key=lambda item: item[0])
    writer.start()
    submitted = [(f"k{i % 40}", i) for i in range(400)]
    waiting = []
    for start in range(0, len(submitted), 10):  # in waves, as requests arrive
        waiting += [asyncio.create_task(writer.submit(item)) for item in submitted[start : start + 10]]
        await asyncio.sleep(0.003)
    results = await asyncio.gather(*waiting)
    await writer.stop()
    assert results == [seq for _, seq in submitted]
    assert committed == {f"k{k}": list(range(k, 400, 40)) for k in range(40)}
    # Batches did run at once (never more than two) where transactions can:
    # SQLite's writer takes them in turn.
    assert max(overlapped) == (2 if services.db.postgres else 1)
    assert len(await _stored(services)) == 400
