"""Helpers for GraphQL tests: an API key, and queries over HTTP to the app."""

from __future__ import annotations

from typing import Any

import httpx

from graphapi.api_keys import PREFIX, hash_key
from graphapi.models import ApiKey


async def new_api_key(name: str = "test") -> str:
    key = PREFIX + name + "-secret-key"
    await ApiKey.create(name=name, key_hash=hash_key(key))
    return key


async def gql(client: httpx.AsyncClient, key: str, query: str, **variables: Any) -> dict:
    """POST a query; its `data`, after asserting there were no errors."""
    body = await gql_raw(client, key, query, **variables)
    assert "errors" not in body, body
    return body["data"]


async def gql_raw(client: httpx.AsyncClient, key: str, query: str, **variables: Any) -> dict:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()
