"""Helpers for the postback tests."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qs, urlsplit

from graphapi.app import create_app
from graphapi.db import Database
from graphapi.settings import Settings


async def new_click(client, campaign_id: int) -> str:
    """A click on the campaign's tracking link; its click_id."""
    response = await client.get(f"/click?campaign_id={campaign_id}")
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["location"]).query)["click_id"][0]


async def log_rows(db: Database) -> list[tuple]:
    """The postback log, oldest first: (outcome, message, click_id, params, remote_addr, conversion_id)."""
    return await db.fetch(
        "SELECT outcome, message, click_id, params, remote_addr, conversion_id FROM postback ORDER BY id"
    )


@contextlib.asynccontextmanager
async def running_app(database_url: str, **settings):
    """The app with settings of the test's own, lifespan running."""
    app = create_app(Settings(database_url=database_url, _env_file=None, **settings))
    async with app.router.lifespan_context(app):
        yield app
