"""The database: tortoise for the ORM side, and a thin raw-SQL path for hot writes.

The click and postback paths write through the driver (`Database.write`), in
batches, because per-row ORM calls cost 5-10x more; on SQLite those writes
have a connection of their own (`SqliteWriter`). Everything else uses
tortoise models.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

import aiosqlite
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext

from graphapi import pg_arrays

log = logging.getLogger(__name__)

T = TypeVar("T")

APP = "graphapi"
MIGRATIONS = "graphapi.migrations"
# Lock id for pg_advisory_lock while migrating: several processes may start at once.
_MIGRATION_LOCK = 0x6772617068617069

# sqlite3 binds an int, float, str or bytes as it is; any other value (None
# and bool too) goes through its adapter lookup, which for a type with no
# adapter ends in two failed attribute lookups. A click row holds about 12
# Nones and 2 bools: with these adapters (C callables, giving what sqlite3
# would bind anyway) its insert took 35 rather than 47 µs a row.
sqlite3.register_adapter(type(None), {}.get)  # None -> None
sqlite3.register_adapter(bool, int)


def tortoise_config(database_url: str) -> dict[str, Any]:
    connection = expand_db_url(database_url)
    name = "postgres"
    if connection["engine"] == "tortoise.backends.sqlite":
        connection["engine"] = "graphapi.sqlite_engine"
        name = "sqlite"
    else:
        connection["credentials"]["reset"] = _keep_session
    # tortoise caches SQL per connection name: naming the connection after its
    # dialect keeps one process able to use both (the tests do).
    return {
        "connections": {name: connection},
        "apps": {
            APP: {"models": ["graphapi.models"], "migrations": MIGRATIONS, "default_connection": name}
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def _keep_session(connection: Any) -> None:
    """What asyncpg's pool runs on a connection given back, after rolling back any
    transaction left open. Its default, `RESET ALL; UNLISTEN *; ...`, is one round
    trip more per statement outside a transaction; graphapi's pooled connections
    never change session state (LISTEN and the migration lock have connections of
    their own)."""


_PLACEHOLDER = re.compile(r"\?(?:::(\w+)\[\])?")


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    """`?` placeholders to asyncpg's `$1, $2, ...` (our SQL has no literal '?'),
    and the arrays among them (`?::bigint[]`: position, kind), which are sent
    as text (see graphapi.pg_arrays)."""
    arrays: list[tuple[int, str]] = []
    counter = itertools.count(1)

    def number(match: re.Match) -> str:
        n = next(counter)
        if match[1] is None:
            return f"${n}"
        arrays.append((n - 1, match[1]))
        return f"${n}::text::{match[1]}[]"

    return _PLACEHOLDER.sub(number, sql), tuple(arrays)


def _postgres(sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any]]:
    """A statement and its parameters as asyncpg takes them."""
    text, arrays = _numbered(sql)
    if arrays:
        params = list(params)
        for index, kind in arrays:
            params[index] = pg_arrays.literal(params[index], kind)
    return text, params


# PostgreSQL's "try the transaction again" errors: serialization failure, deadlock.
_TRANSIENT = {"40001", "40P01"}


def is_transient(error: BaseException) -> bool:
    """Whether a failed transaction may simply be run again."""
    return getattr(error, "sqlstate", None) in _TRANSIENT


# How many times a transaction that lost a deadlock or serialization race is run.
TRIES = 3


async def retried(transaction: Callable[[], Awaitable[T]], name: str) -> T:
    """`transaction()` (one whole write transaction), run again when it lost a
    deadlock or serialization race, up to TRIES times in all."""
    attempt = 1
    while True:
        try:
            return await transaction()
        except Exception as error:
            if attempt == TRIES or not is_transient(error):
                raise
            attempt += 1
            log.warning("%s: %s; writing it again", name, error)


class UtcText:
    """A time in microseconds since the epoch, as the text sqlite3's datetime
    adapter would make of it (`isoformat(" ")`, the form SQLite stores times
    in, which PostgreSQL reads too). The hot paths send their times as this
    text: the adapter, a Python call per value, was a fifth of a click's
    insert on SQLite. The date and time of day are worked out once a second."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second, self._text = -1, ""

    def __call__(self, micros: int) -> str:
        second, micro = divmod(micros, 1_000_000)
        if second != self._second:
            self._second = second
            self._text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._text}.{micro:06d}+00:00" if micro else f"{self._text}+00:00"


class Transaction:
    """Raw statements inside one write transaction; `?` placeholders on both databases."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self._connection = connection
        self._postgres = postgres

    @property
    def postgres(self) -> bool:
        return self._postgres

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self._postgres:
            text, params = _postgres(sql, params)
            await self._connection.execute(text, *params)
        else:
            await self._connection.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self._postgres:
            await self._connection.executemany(_numbered(sql)[0], [_postgres(sql, row)[1] for row in rows])
        else:
            await self._connection.executemany(sql, rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if self._postgres:
            text, params = _postgres(sql, params)
            return [tuple(r) for r in await self._connection.fetch(text, *params)]
        # One trip to aiosqlite's thread rather than three (execute, fetch, close).
        return [tuple(r) for r in await self._connection.execute_fetchall(sql, params)]


class _OneStatement:
    """An asyncpg connection that sends one statement: outside a transaction, a
    second one would commit apart from the first."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._sent = False

    def __getattr__(self, name: str) -> Any:
        if self._sent:
            raise RuntimeError("a one-statement write sent a second statement")
        self._sent = True
        return getattr(self._connection, name)


class _Synchronous:
    """A sqlite3 connection behind the awaitable calls Transaction makes."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._connection.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, rows)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._connection.execute(sql, params).fetchall()


class SqliteWriter:
    """The connection SQLite write transactions run on, called from the event
    loop's own thread.

    A transaction here is a few milliseconds of SQLite's C code; run through
    aiosqlite's thread, each of its statements is a trip to that thread and
    back, and under load each return waits its turn behind every request the
    loop has ready, so a batch of postbacks took 30 ms to write. Called
    directly, the statements never suspend. Waiting for the write lock does:
    SQLite's own busy handler would sleep with the whole event loop stopped,
    so the lock is asked for without waiting and asked again after an asyncio
    sleep. So does COMMIT, which runs in a thread because it waits on the disk.

    Checkpoints (copying the WAL back into the database file) would stop the
    loop too when a commit sets one off, so they run in a thread of their own
    (`_checkpoints`), and finish between this process's transactions: each
    then catches up with the whole WAL, which starts again from its beginning.
    A commit checkpoints by itself only if the WAL has grown past
    BACKSTOP_PAGES all the same (another process writing without a pause).
    """

    CHECKPOINT_EVERY = 0.25  # seconds
    BACKSTOP_PAGES = 16_000

    def __init__(self, path: str, pragmas: dict[str, Any], busy_timeout: float) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma, value in pragmas.items():
            self._connection.execute(f"PRAGMA {pragma}={value}")
        self._connection.execute("PRAGMA busy_timeout=0")
        self._connection.execute(f"PRAGMA wal_autocheckpoint={self.BACKSTOP_PAGES}")
        self._busy_timeout = busy_timeout
        self._lock = asyncio.Lock()
        self._checkpointer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._checkpointer.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._committer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
        self._written = False
        self._task = asyncio.create_task(self._checkpoints(), name="sqlite-checkpoints")

    async def _checkpoints(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.CHECKPOINT_EVERY)
            if not self._written:
                continue
            self._written = False
            try:
                # The bulk while transactions carry on, then what they added meanwhile.
                await loop.run_in_executor(self._thread, self._checkpoint)
                async with self._lock:
                    await loop.run_in_executor(self._thread, self._checkpoint)
            except sqlite3.Error:
                log.warning("SQLite checkpoint failed; the next one will try again", exc_info=True)

    def _checkpoint(self) -> None:
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            await self._begin()
            try:
                yield Transaction(_Synchronous(self._connection), False)
                await self._commit()
                self._written = True
            finally:
                # After an error; SQLite may have rolled back on its own already.
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")

    async def _commit(self) -> None:
        """COMMIT in a thread: its fsync would stop the loop. It runs to its end
        (holding the lock) even when the caller is cancelled meanwhile."""
        loop = asyncio.get_running_loop()
        committing = loop.run_in_executor(self._committer, self._connection.execute, "COMMIT")
        try:
            await asyncio.shield(committing)
        except asyncio.CancelledError:
            with contextlib.suppress(sqlite3.Error):
                await committing
            raise

    async def _begin(self) -> None:
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.001
        while True:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # or an extended BUSY code
                if not busy or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._thread.shutdown()  # a checkpoint under way ends before its connection closes
        self._committer.shutdown()
        self._checkpointer.close()
        self._connection.close()


class SqliteReaders:
    """Connections for reads sent side by side, each in its own aiosqlite thread:
    through tortoise's one connection, the two queries of a report took turns.
    sqlite3 lets go of the GIL while a query runs, and WAL lets readers run
    beside the writer. Other reads stay on tortoise's connection: back-to-back
    small queries measured faster there (1.3-1.7 against 2.4-3.0 ms for a
    rule's campaign figures, for reasons not found)."""

    COUNT = 2

    def __init__(self) -> None:
        self._free: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all: list[aiosqlite.Connection] = []

    async def open(self, path: str, busy_timeout: float) -> None:
        for _ in range(self.COUNT):
            connection = await aiosqlite.connect(path, isolation_level=None)
            self._all.append(connection)
            async with connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}"):
                pass
            self._free.put_nowait(connection)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        connection = await self._free.get()
        try:
            # Cancelled, a query still runs to its end in its thread, before the next.
            return list(await connection.execute_fetchall(sql, params))
        finally:
            self._free.put_nowait(connection)

    async def close(self) -> None:
        for connection in self._all:
            await connection.close()


class Database:
    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.postgres = not database_url.startswith("sqlite")
        self.context: TortoiseContext | None = None
        self._writer: SqliteWriter | None = None
        self._readers: SqliteReaders | None = None

    async def open(self) -> None:
        # Requests run in tasks that uvicorn starts, not in the lifespan's task,
        # so the context is made the process-wide fallback rather than a
        # context variable of this task.
        self.context = TortoiseContext()
        with self.context:
            await self.context.init(config=tortoise_config(self.url), _enable_global_fallback=True)
        # Connect now: at start-up an unreachable database should fail loudly, and
        # a lazy connect inside a background task that gets cancelled would leak it.
        await self.fetch("SELECT 1")
        if not self.postgres:
            from graphapi.sqlite_engine import PRAGMAS

            path = tortoise_config(self.url)["connections"]["sqlite"]["credentials"]["file_path"]
            self._writer = SqliteWriter(path, PRAGMAS, PRAGMAS["busy_timeout"] / 1000)
            self._readers = SqliteReaders()
            await self._readers.open(path, PRAGMAS["busy_timeout"] / 1000)

    async def close(self) -> None:
        if self._readers is not None:
            await self._readers.close()
            self._readers = None
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self.context is not None:
            await self.context.close_connections()
            self.context = None

    @property
    def client(self) -> Any:
        assert self.context is not None, "Database.open() first"
        return self.context.db()

    @asynccontextmanager
    async def write(self, one_statement: bool = False) -> AsyncIterator[Transaction]:
        """One write transaction through the driver.

        `one_statement`: on PostgreSQL the body sends a single statement, which
        then runs as its own transaction, without the BEGIN and COMMIT round
        trips (a second statement raises). SQLite's writer always begins one:
        it costs no round trip there."""
        if self._writer is not None:
            async with self._writer.transaction() as tx:
                yield tx
            return
        async with self.client.acquire_connection() as connection:
            if one_statement:
                yield Transaction(_OneStatement(connection), True)
                return
            async with connection.transaction():
                yield Transaction(connection, True)

    async def fetch(self, sql: str, params: Sequence[Any] = (), side_by_side: bool = False) -> list[tuple]:
        """`side_by_side`: a read that others are sent beside (a report's two
        queries); on SQLite it goes to a reader connection of its own."""
        if side_by_side and self._readers is not None:
            return await self._readers.fetch(sql, params)
        async with self.client.acquire_connection() as connection:
            return await Transaction(connection, self.postgres).fetch(sql, params)

    @property
    def dsn(self) -> str:
        """The PostgreSQL URL as asyncpg spells it."""
        return "postgresql://" + self.url.split("://", 1)[1]

    async def listen(
        self,
        channel: str,
        on_notice: Callable[[str], None],
        on_connect: Callable[[], None] = lambda: None,
    ) -> None:
        """PostgreSQL LISTEN on a connection of its own, until cancelled.

        Reconnects when the connection drops; `on_connect` runs each time the
        listener is (re)established, since notices sent meanwhile are lost.
        """
        import asyncpg

        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c: lost.set())
                await connection.add_listener(channel, lambda _c, _p, _ch, payload: on_notice(payload))
                on_connect()
                await lost.wait()
            except asyncio.CancelledError:
                if connection is not None:
                    await connection.close()
                raise
            except Exception:
                log.warning("LISTEN %s lost; reconnecting", channel, exc_info=True)
            await asyncio.sleep(1)

    async def ping(self) -> bool:
        try:
            await asyncio.wait_for(self.fetch("SELECT 1"), timeout=5)
        except Exception:
            return False
        return True


async def migrate(database_url: str, target: str | None = None) -> list[str]:
    """Apply pending migrations, up to `target` ("graphapi.0006_rollup_mark")
    if given; safe to run from several processes at once."""
    from tortoise.migrations.api.migrate import migrate as tortoise_migrate

    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(name)

    async def run() -> None:
        # tortoise's migrate() opens a global context of its own: keep it in
        # this task (tasks copy context) and close what it opened.
        from tortoise import Tortoise

        try:
            await tortoise_migrate(config=tortoise_config(database_url), target=target, progress=progress)
        finally:
            await Tortoise.close_connections()

    if database_url.startswith("sqlite"):
        await asyncio.create_task(run())
        return applied
    import asyncpg

    lock = await asyncpg.connect(Database(database_url).dsn)
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await asyncio.create_task(run())
    finally:
        await lock.close()
    return applied


# For tortoise's own command line (`tortoise makemigrations`), see pyproject.toml.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
