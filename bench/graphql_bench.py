"""Time a 500-click GraphQL page and `report(groupBy: [DAY, COUNTRY])` over 30
days, next to a plain SQL GROUP BY over the raw clicks table.

    python bench/graphql_bench.py --database-url postgres://postgres@127.0.0.1:5432/bench \
        --clicks 10000000 --conversions 100000

Seeds through the driver (skip with --no-seed on an already seeded database),
then queries through the ASGI app with an API key, as a dashboard would.
Do not run it on a shared machine at full size.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphapi.app import create_app  # noqa: E402
from graphapi.db import migrate  # noqa: E402
from graphapi.settings import Settings  # noqa: E402
from tests.conftest import http_client, make_campaign  # noqa: E402
from tests.gql import gql, new_api_key  # noqa: E402
from tests.seeding import insert_clicks, insert_conversion  # noqa: E402

BATCH = 10_000
DAYS = 30
COUNTRIES = ["US", "DE", "UA", "GB", "FR", "BR", "IN", None]
DEVICES = ["desktop", "mobile", "tablet"]
PAGE = "{ clicks(first: 500) { edges { cursor node { clickId createdAt country deviceType subid cost } } } }"
REPORT = """query($since: DateTime) { report(groupBy: [DAY, COUNTRY], since: $since) {
    rows { day country stats { clicks conversions revenue cost } } totals { clicks revenue } } }"""


async def seed(services, clicks: int, conversions: int) -> None:
    campaigns = [await make_campaign(services, offers=(("https://offer.test/", 1),)) for _ in range(10)]
    start = datetime.now(timezone.utc) - timedelta(days=DAYS)
    span = DAYS * 86400
    click_ids: list[int] = []
    began = time.perf_counter()
    for done in range(0, clicks, BATCH):
        campaign = campaigns[(done // BATCH) % len(campaigns)]
        rows = [
            {
                "created_at": start + timedelta(seconds=random.randrange(span)),
                "country": random.choice(COUNTRIES), "device_type": random.choice(DEVICES),
                "subid": f"s{random.randrange(1000)}", "cost": random.randrange(0, 50_000),
            }
            for _ in range(min(BATCH, clicks - done))
        ]  # fmt: skip
        ids = await insert_clicks(services.db, campaign.id, rows)
        if len(click_ids) < conversions:
            click_ids += ids[: conversions - len(click_ids)]
    print(f"seeded {clicks} clicks in {time.perf_counter() - began:.1f}s")
    for click in click_ids:
        await insert_conversion(services.db, click, payout=Decimal(random.randrange(1, 5000)) / 100)
    print(f"seeded {len(click_ids)} conversions")


async def timed(label: str, runs: int, call) -> None:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    print(f"{label:<40} median {statistics.median(times):8.1f} ms   min {min(times):8.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite://bench.sqlite3")
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--conversions", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-seed", action="store_true")
    args = parser.parse_args()

    await migrate(args.database_url)
    app = create_app(Settings(database_url=args.database_url, _env_file=None))
    async with app.router.lifespan_context(app), http_client(app) as client:
        services = app.state.services
        if not args.no_seed:
            await seed(services, args.clicks, args.conversions)
        key = await new_api_key(f"bench-{time.time_ns()}")
        since = (datetime.now(timezone.utc) - timedelta(days=DAYS)).isoformat()
        await timed("GraphQL clicks(first: 500)", args.runs, lambda: gql(client, key, PAGE))
        await timed("GraphQL report [DAY, COUNTRY] 30 days", args.runs, lambda: gql(client, key, REPORT, since=since))
        day = "date(created_at)" if not services.db.postgres else "date_trunc('day', created_at)"
        plain = f"SELECT {day}, country, COUNT(*), SUM(cost) FROM click WHERE created_at >= ? GROUP BY 1, 2"
        await timed("plain SQL GROUP BY over click", args.runs,
                    lambda: services.db.fetch(plain, [datetime.fromisoformat(since)]))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
