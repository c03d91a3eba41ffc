"""Time a 500-click GraphQL page and `report(groupBy: [DAY, COUNTRY])` over 30
days, next to a plain SQL GROUP BY over the raw clicks table; and the campaign
figures the rule engine reads for every conversion (all time and today, from
the rollups), next to the same figures summed from the raw tables.

    python bench/graphql_bench.py --database-url postgres://postgres@127.0.0.1:5432/bench \
        --clicks 10000000 --conversions 100000

Makes its campaigns through the GraphQL API and seeds the clicks through the
driver (skip with --no-seed on an already seeded database), then queries
through the ASGI app with an API key, as a dashboard would. Needs only the
bench extra (`pip install -e '.[bench]'`).
Do not run it on a shared machine at full size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphapi import rollups  # noqa: E402
from graphapi.app import create_app  # noqa: E402
from graphapi.db import migrate  # noqa: E402
from graphapi.settings import Settings  # noqa: E402
from graphapi.stats import campaign_stats  # noqa: E402
from tests.gql import gql, new_api_key  # noqa: E402

BATCH = 10_000
DAYS = 30
COUNTRIES = ["US", "DE", "UA", "GB", "FR", "BR", "IN", None]
DEVICES = ["desktop", "mobile", "tablet"]
PAGE = "{ clicks(first: 500) { edges { cursor node { clickId createdAt country deviceType subid cost } } } }"
CAMPAIGN = """mutation($name: String!) { createCampaign(input: {
    name: $name, offers: [{name: "offer", url: "https://offer.test/"}] }) { campaign { id } } }"""
REPORT = """query($since: DateTime) { report(groupBy: [DAY, COUNTRY], since: $since) {
    rows { day country stats { clicks conversions revenue cost } } totals { clicks revenue } } }"""


def _series(count: int, postgres: bool) -> str:
    """A table of n = 1..count, made by the database itself."""
    if postgres:
        return f"generate_series(1, {count}) AS s(n)"
    return f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) SELECT n FROM s) s"


async def seed(services, client: httpx.AsyncClient, key: str, clicks: int, conversions: int) -> None:
    """Clicks spread over the last 30 days and 10 campaigns, generated inside the
    database (10 million take minutes, not hours), then the rollups counted once."""
    db = services.db
    made = [await gql(client, key, CAMPAIGN, name=f"bench {n}") for n in range(10)]
    first = min(int(data["createCampaign"]["campaign"]["id"]) for data in made)
    postgres = db.postgres
    start = datetime.now(timezone.utc) - timedelta(days=DAYS)
    random_int = "floor(random() * {n})" if postgres else "abs(random() % {n})"
    offset = random_int.format(n=DAYS * 86400)
    created = f"?::timestamptz + {offset} * interval '1 second'" if postgres else (
        f"strftime('%Y-%m-%d %H:%M:%S+00:00', ?, '+' || {offset} || ' seconds')"
    )
    countries = "(ARRAY['US','DE','UA','GB','FR','BR','IN',NULL])[1 + {r}]" if postgres else (
        "(CASE {r} WHEN 0 THEN 'US' WHEN 1 THEN 'DE' WHEN 2 THEN 'UA' WHEN 3 THEN 'GB' WHEN 4 THEN 'FR' "
        "WHEN 5 THEN 'BR' WHEN 6 THEN 'IN' END)"
    )
    devices = "(ARRAY['desktop','mobile','tablet'])[1 + {r}]" if postgres else (
        "(CASE {r} WHEN 0 THEN 'desktop' WHEN 1 THEN 'mobile' ELSE 'tablet' END)"
    )
    began = time.perf_counter()
    chunk = 1_000_000
    for done in range(0, clicks, chunk):
        count = min(chunk, clicks - done)
        async with db.write() as tx:
            await tx.execute(
                "INSERT INTO click (click_id, campaign_id, route, created_at, visitor, device_type, country, "
                "subid, params, truncated, is_unique, is_bot, cost) "
                f"SELECT 'b{done}_' || s.n, {first} + {random_int.format(n=10)}, 'offer', {created}, s.n, "
                f"{devices.format(r=random_int.format(n=3))}, {countries.format(r=random_int.format(n=8))}, "
                f"'s' || {random_int.format(n=1000)}, '{{}}', false, true, false, {random_int.format(n=50000)} "
                f"FROM {_series(count, postgres)}",
                [start],
            )
        print(f"  {done + count} clicks, {time.perf_counter() - began:.0f}s", flush=True)
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO conversion (click_id, campaign_id, goal, txid, status, payout, currency, cost, params, "
            "created_at, updated_at) SELECT id, campaign_id, '', '', 'approved', "
            f"{random_int.format(n=50_000_000)}, 'USD', 0, '{{}}', created_at, created_at "
            f"FROM click ORDER BY id LIMIT {conversions}",
        )
        for statement in rollups.rebuild(postgres):
            await tx.execute(statement)
    if postgres:
        await db.fetch("ANALYZE")
    print(f"seeded {clicks} clicks and {conversions} conversions in {time.perf_counter() - began:.0f}s")


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
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tracker.test")
    async with app.router.lifespan_context(app), client:
        services = app.state.services
        key = await new_api_key(f"bench-{time.time_ns()}")
        if not args.no_seed:
            await seed(services, client, key, args.clicks, args.conversions)
        # A dashboard asks for whole days: the rollups answer those.
        midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        since = (midnight - timedelta(days=DAYS)).isoformat()
        await timed("GraphQL clicks(first: 500)", args.runs, lambda: gql(client, key, PAGE))
        await timed("GraphQL report [DAY, COUNTRY] 30 days", args.runs, lambda: gql(client, key, REPORT, since=since))
        day = "date(created_at)" if not services.db.postgres else "date_trunc('day', created_at)"
        plain = f"SELECT {day}, country, COUNT(*), SUM(cost) FROM click WHERE created_at >= ? GROUP BY 1, 2"
        await timed("plain SQL GROUP BY over click", args.runs,
                    lambda: services.db.fetch(plain, [datetime.fromisoformat(since)]))  # fmt: skip

        ((campaign_id,),) = await services.db.fetch("SELECT MIN(campaign_id) FROM click")
        epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)

        async def rule_figures(off: timedelta) -> None:
            # Off the hour by `off`: read from the raw tables instead of the rollups.
            for since in (epoch, midnight):
                await campaign_stats(services.db, campaign_id, "USD", since=since + off)

        await timed("rule figures per conversion (rollups)", args.runs, lambda: rule_figures(timedelta(0)))
        await timed("rule figures per conversion (raw tables)", args.runs, lambda: rule_figures(timedelta(seconds=1)))


if __name__ == "__main__":
    asyncio.run(main())
