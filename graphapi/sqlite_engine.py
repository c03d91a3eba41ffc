"""tortoise's SQLite client, made safe for several processes on one file.

Write transactions start with BEGIN IMMEDIATE: a deferred BEGIN that later
writes fails at once with "database is locked" when another process wrote in
between, whatever the busy timeout; an immediate one waits its turn instead.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError

PRAGMAS = {
    "journal_mode": "WAL",
    "busy_timeout": 30_000,
    # FULL: a commit is on disk before the response leaves, even on power loss.
    "synchronous": "FULL",
    "foreign_keys": "ON",
}


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class GraphapiSqliteClient(SqliteClient):
    def __init__(self, file_path: str, **kwargs) -> None:
        for pragma, value in PRAGMAS.items():
            kwargs.setdefault(pragma, value)
        super().__init__(file_path, **kwargs)

    def _in_transaction(self):
        from tortoise.backends.sqlite.client import SqliteTransactionContext

        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = GraphapiSqliteClient
