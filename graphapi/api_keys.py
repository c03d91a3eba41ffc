"""API keys: shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

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
