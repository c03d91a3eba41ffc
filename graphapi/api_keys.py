"""API keys: shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Iterator
from datetime import datetime, timezone

from graphapi.db import Database
from graphapi.models import ApiKey

log = logging.getLogger(__name__)

PREFIX = "gapi_"
# How long an open WebSocket may go on after its key is revoked, by any process.
REVOCATION_CHECK_SECONDS = 1.0


def hash_key(key: str) -> str:
    # Keys are 256 random bits, so a plain hash is enough (no need for a slow KDF).
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(database_url: str, name: str) -> str:
    key = PREFIX + secrets.token_urlsafe(32)
    db = Database(database_url)
    await db.open()
    try:
        await ApiKey.create(name=name, key_hash=hash_key(key))
    finally:
        await db.close()
    return key


async def is_valid(key: str) -> bool:
    """Whether `key` is a key that exists and was not revoked (looked up each
    time, so a revocation holds at once in every process)."""
    return await ApiKey.filter(key_hash=hash_key(key), revoked_at=None).exists()


async def revoke_keys(database_url: str, name: str) -> int:
    """Revoke every live key named `name`; how many there were."""
    db = Database(database_url)
    await db.open()
    try:
        return await ApiKey.filter(name=name, revoked_at=None).update(revoked_at=datetime.now(timezone.utc))
    finally:
        await db.close()


class RevocationWatch:
    """Tells open WebSockets that their API key was revoked, by any process.

    An HTTP request looks its key up each time; a WebSocket lives on after its
    one check. The keys of the open sockets are looked up together, one query
    every REVOCATION_CHECK_SECONDS whatever their number, none while no socket
    is open."""

    def __init__(self) -> None:
        # Key hash -> an event for each open socket that uses the key.
        self._sockets: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="api-key-revocations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[asyncio.Event]:
        """An event set once `key` is found revoked, watched while the block runs."""
        key_hash = hash_key(key)
        revoked = asyncio.Event()
        self._sockets.setdefault(key_hash, set()).add(revoked)
        try:
            yield revoked
        finally:
            events = self._sockets.get(key_hash, set())
            events.discard(revoked)
            if not events:
                self._sockets.pop(key_hash, None)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(REVOCATION_CHECK_SECONDS)
            if not self._sockets:
                continue
            try:
                live = await ApiKey.filter(key_hash__in=list(self._sockets), revoked_at=None).values_list(
                    "key_hash", flat=True
                )
            except Exception:
                log.warning("API key revocation check failed", exc_info=True)
                continue
            for key_hash in self._sockets.keys() - set(live):
                for revoked in self._sockets[key_hash]:
                    revoked.set()
