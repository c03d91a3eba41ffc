"""Every database test runs twice: on SQLite and on PostgreSQL.

PostgreSQL is found at GRAPHAPI_TEST_POSTGRES (default: the local server, as
user postgres). When it cannot be reached the PostgreSQL half is skipped with
that reason, unless GRAPHAPI_TEST_REQUIRE_POSTGRES=1 (CI), where it fails.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from graphapi.app import create_app
from graphapi.db import migrate
from graphapi.models import Campaign, CostModel, Lander, Offer
from graphapi.settings import Settings

POSTGRES_ADMIN = os.environ.get(
    "GRAPHAPI_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("GRAPHAPI_TEST_REQUIRE_POSTGRES") == "1"
TABLES = (
    "outbox", "rule_event", "postback", "conversion", "click", "rule", "lander", "offer",
    "campaign", "api_key", "click_rollup", "conversion_rollup", "click_rollup_daily", "conversion_rollup_daily",
    "click_uncounted", "click_visitor_seen",
)  # fmt: skip


def _dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


async def _create_database(name: str) -> str | None:
    """Create a scratch database; the reason it could not be, or None."""
    import asyncpg

    try:
        admin = await asyncio.wait_for(asyncpg.connect(_dsn(POSTGRES_ADMIN)), 5)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN}: {exc!r}"
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return None


async def _drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(_dsn(POSTGRES_ADMIN))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _unreachable(reason: str) -> None:
    if REQUIRE_POSTGRES:
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def scratch_postgres() -> AsyncIterator[str]:
    """A new PostgreSQL database for one test, dropped after it."""
    name = f"graphapi_scratch_{uuid.uuid4().hex[:12]}"
    reason = await _create_database(name)
    if reason:
        _unreachable(reason)
    try:
        yield postgres_url(name)
    finally:
        await _drop_database(name)


def postgres_url(name: str) -> str:
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{name}"


def _run(coroutine):
    """Run a coroutine to the end in a thread of its own (a test's loop may be running)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """One migrated PostgreSQL database for the session; tests empty it first."""
    name = f"graphapi_test_{os.getpid()}"
    reason = _run(_create_database(name))
    if reason:
        _unreachable(reason)
    url = postgres_url(name)
    _run(migrate(url))
    yield url
    _run(_drop_database(name))


async def _empty(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_dsn(url))
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        # The daily rollups hold no day yet, as in a new database.
        await connection.execute("UPDATE rollup_days SET until = date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
        # And no round of rule checks has run.
        await connection.execute("UPDATE rule_check SET checked_at = NULL, previous_at = NULL")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'graphapi.sqlite3'}"
        await migrate(url)
        return url
    url = request.getfixturevalue("postgres_database")
    await _empty(url)
    return url


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, _env_file=None)


@pytest.fixture
async def app(settings):
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def services(app):
    return app.state.services


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


def http_client(app, peer: str = "203.0.113.7") -> httpx.AsyncClient:
    """A client of the ASGI app whose TCP peer is `peer` (not a trusted proxy by default)."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://tracker.test")


async def make_campaign(
    services,
    offers=(("https://offer.test/a", 100),),
    landers=(),
    **fields,
) -> Campaign:
    """A campaign with offers and landers given as (url, weight) pairs."""
    fields.setdefault("name", f"campaign {uuid.uuid4().hex[:6]}")
    fields.setdefault("cost_model", CostModel.NONE)
    fields.setdefault("cost_value", Decimal(0))
    campaign = await Campaign.create(**fields)
    for index, (url, weight) in enumerate(offers):
        await Offer.create(campaign=campaign, name=f"offer {index}", url=url, weight=weight)
    for index, (url, weight) in enumerate(landers):
        await Lander.create(campaign=campaign, name=f"lander {index}", url=url, weight=weight)
    await services.campaigns.changed(campaign.id)
    return campaign


@pytest.fixture
async def start_app(database_url):
    """`await start_app(**settings)`: an app with its lifespan running until the test ends."""
    from tests.conversions import running_app

    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides):
            return await stack.enter_async_context(running_app(database_url, **overrides))

        yield start
