"""SQLite write transactions run on the event loop's thread (graphapi.db.SqliteWriter):
waiting for the lock must not stop the loop, a failed transaction must leave
the connection usable, and checkpoints must keep the WAL from growing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

import pytest

from graphapi.db import Database, SqliteWriter, migrate


@pytest.fixture
async def database(tmp_path):
    url = f"sqlite://{tmp_path / 'writer.sqlite3'}"
    await migrate(url)
    db = Database(url)
    await db.open()
    yield db
    await db.close()


def _path(db: Database) -> str:
    return db.url[len("sqlite://") :]


async def _names(db: Database) -> list[str]:
    return [name for (name,) in await db.fetch("SELECT name FROM api_key ORDER BY name")]


_INSERT = "INSERT INTO api_key (name, key_hash, created_at) VALUES (?, ?, ?)"


async def test_waiting_for_another_process_lock_leaves_the_event_loop_running(database):
    other = sqlite3.connect(_path(database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write():
        async with database.write() as tx:
            await tx.execute(_INSERT, ("waited", "h1", "2026-01-01 00:00:00"))

    ticking = asyncio.create_task(tick())
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.5)
    assert not writing.done()
    assert ticks >= 20, "the loop stopped while the write waited for the lock"
    other.execute("COMMIT")
    await asyncio.wait_for(writing, 5)
    ticking.cancel()
    other.close()
    assert await _names(database) == ["waited"]


async def test_a_lock_held_past_the_busy_timeout_fails_the_write(tmp_path):
    path = tmp_path / "busy.sqlite3"
    await migrate(f"sqlite://{path}")
    writer = SqliteWriter(str(path), {"journal_mode": "WAL"}, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        async with writer.transaction():
            pass
    assert 0.2 <= time.monotonic() - started < 2
    other.execute("ROLLBACK")
    async with writer.transaction() as tx:  # and the lock can be had again
        await tx.execute(_INSERT, ("after", "h2", "2026-01-01 00:00:00"))
    other.close()
    await writer.close()


async def test_a_failed_transaction_is_rolled_back_and_the_next_one_commits(database):
    with pytest.raises(sqlite3.IntegrityError):
        async with database.write() as tx:
            await tx.execute(_INSERT, ("kept-out", "h1", "2026-01-01 00:00:00"))
            await tx.execute(_INSERT, ("duplicate hash", "h1", "2026-01-01 00:00:00"))
    with pytest.raises(RuntimeError):
        async with database.write() as tx:
            await tx.execute(_INSERT, ("also-out", "h2", "2026-01-01 00:00:00"))
            raise RuntimeError("the caller changed its mind")
    async with database.write() as tx:
        await tx.execute(_INSERT, ("committed", "h3", "2026-01-01 00:00:00"))
    assert await _names(database) == ["committed"]


async def test_checkpoints_keep_the_wal_small_under_steady_writes(database):
    """Without them the WAL would grow to BACKSTOP_PAGES (64 MB) before any
    commit checkpointed it; writes here add about 20 MB in all."""
    wal = _path(database) + "-wal"
    payload = os.urandom(1500).hex()  # 3 KB: about a page per row
    largest = 0
    deadline = time.monotonic() + 3
    n = 0
    while time.monotonic() < deadline:
        async with database.write() as tx:
            await tx.executemany(
                _INSERT, [(f"{n}-{i}-{payload}", f"{n}-{i}", "2026-01-01 00:00:00") for i in range(40)]
            )
        n += 1
        largest = max(largest, os.path.getsize(wal))
        await asyncio.sleep(0.005)
    written = n * 40 * 3000
    assert written > 20e6, f"only {written / 1e6:.0f} MB written: the test proves nothing"
    assert largest < written / 3, f"the WAL reached {largest / 1e6:.1f} MB of {written / 1e6:.0f} MB written"


async def test_a_write_cancelled_while_it_commits_is_committed_and_the_writer_goes_on(database):
    async def write(*names):
        async with database.write() as tx:
            await tx.executemany(_INSERT, [(name, name, "2026-01-01 00:00:00") for name in names])

    # Big enough that its COMMIT (in a thread) is still writing when the cancel comes.
    task = asyncio.create_task(write(*(f"cancelled-{n:05}" for n in range(50_000))))
    await asyncio.sleep(0)  # the write runs until its COMMIT, the first thing it waits for
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await write("next")
    names = await _names(database)
    assert (len(names), names[-1]) == (50_001, "next")
