"""The database: tortoise for the ORM side, and a thin raw-SQL path for hot writes.

The click and postback paths write through the driver (`Database.write`), in
batches, because per-row ORM calls cost 5-10x more. Everything else uses
tortoise models.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext

log = logging.getLogger(__name__)

APP = "graphapi"
MIGRATIONS = "graphapi.migrations"
# Lock id for pg_advisory_lock while migrating: several processes may start at once.
_MIGRATION_LOCK = 0x6772617068617069


def tortoise_config(database_url: str) -> dict[str, Any]:
    connection = expand_db_url(database_url)
    name = "postgres"
    if connection["engine"] == "tortoise.backends.sqlite":
        connection["engine"] = "graphapi.sqlite_engine"
        name = "sqlite"
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


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """`?` placeholders to asyncpg's `$1, $2, ...` (our SQL has no literal '?')."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


# PostgreSQL's "try the transaction again" errors: serialization failure, deadlock.
_TRANSIENT = {"40001", "40P01"}


def is_transient(error: BaseException) -> bool:
    """Whether a failed transaction may simply be run again."""
    return getattr(error, "sqlstate", None) in _TRANSIENT


class Transaction:
    """Raw statements inside one write transaction; `?` placeholders on both databases."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self._connection = connection
        self._postgres = postgres

    @property
    def postgres(self) -> bool:
        return self._postgres

    async def execute_native(self, sql: str, params: Sequence[Any]) -> None:
        """A statement in the database's own placeholder style (`$1` on PostgreSQL)."""
        if self._postgres:
            await self._connection.execute(sql, *params)
        else:
            await self._connection.execute(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self._postgres:
            await self._connection.execute(_numbered(sql), *params)
        else:
            await self._connection.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self._postgres:
            await self._connection.executemany(_numbered(sql), rows)
        else:
            await self._connection.executemany(sql, rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if self._postgres:
            return [tuple(r) for r in await self._connection.fetch(_numbered(sql), *params)]
        cursor = await self._connection.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return [tuple(r) for r in rows]


class Database:
    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.postgres = not database_url.startswith("sqlite")
        self.context: TortoiseContext | None = None

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

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close_connections()
            self.context = None

    @property
    def client(self) -> Any:
        assert self.context is not None, "Database.open() first"
        return self.context.db()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """One write transaction through the driver."""
        async with self.client.acquire_connection() as connection:
            if self.postgres:
                async with connection.transaction():
                    yield Transaction(connection, True)
                return
            await connection.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(connection, False)
            except BaseException:
                await connection.rollback()
                raise
            else:
                await connection.commit()

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
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


async def migrate(database_url: str) -> list[str]:
    """Apply pending migrations; safe to run from several processes at once."""
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
            await tortoise_migrate(config=tortoise_config(database_url), progress=progress)
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
