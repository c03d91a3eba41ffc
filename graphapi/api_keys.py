"""API keys: shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

from graphapi.db import Database
from graphapi.models import ApiKey

PREFIX = "gapi_"


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
