"""Load /postback and check that every conversion was counted exactly once.

    .venv/bin/python bench/postback_bench.py [--seconds 15] [--connections 32] [--workers 1]

Each connection plays a partner: for a random click it sends a new conversion
(`pending`), then its approval, then a retry of the approval (a duplicate), so
a third of the postbacks create, a third update and a third change nothing.
The server is pinned to core 0 and the load generator to core 1. Afterwards the
database must hold one conversion per `created`, one outbox row per `created`
or `updated`, and one postback log row per answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.click_bench import bench_database_url, prepare_database, start, stop  # noqa: E402

CLICKS = 5_000


async def seed_clicks(url: str, campaign_id: int) -> list[str]:
    from graphapi.db import Database

    db = Database(url)
    await db.open()
    click_ids = [secrets.token_urlsafe(16) for _ in range(CLICKS)]
    try:
        async with db.write() as tx:
            await tx.executemany(
                "INSERT INTO click (click_id, campaign_id, route, created_at, visitor, device_type, "
                "params, truncated, is_unique, is_bot, cost) "
                "VALUES (?, ?, 'offer', ?, 0, 'desktop', '{}', FALSE, TRUE, FALSE, 0)",
                [(click_id, campaign_id, datetime.now(timezone.utc)) for click_id in click_ids],
            )
    finally:
        await db.close()
    return click_ids


async def load(port: int, click_ids: list[str], seconds: float, connections: int) -> tuple[Counter, list[float]]:
    results: Counter = Counter()
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections)

    async def partner(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            query = f"/postback?click_id={random.choice(click_ids)}&txid={secrets.token_hex(6)}&payout=4.20"
            for status in ("pending", "approved", "approved"):
                started = time.perf_counter()
                response = await client.get(f"{query}&status={status}")
                latencies.append(time.perf_counter() - started)
                results[response.json()["result"] if response.status_code < 500 else response.status_code] += 1

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
        await asyncio.gather(*(partner(client) for _ in range(connections)))
    return results, latencies


async def stored(url: str) -> tuple[int, int, int]:
    from graphapi.db import Database

    db = Database(url)
    await db.open()
    try:
        rows = await db.fetch(
            "SELECT (SELECT COUNT(*) FROM conversion), (SELECT COUNT(*) FROM outbox), "
            "(SELECT COUNT(*) FROM postback)"
        )
        return tuple(int(n) for n in rows[0])
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1 % (os.cpu_count() or 1)})

    workdir = Path(tempfile.mkdtemp(prefix="graphapi-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHAPI_")}
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores; "
          f"{args.connections} connections, {args.workers} worker(s), {args.seconds}s")  # fmt: skip
    failures = []
    for database in args.databases.split(","):
        url = bench_database_url(database, workdir)
        campaign_ids = asyncio.run(prepare_database(url))
        click_ids = asyncio.run(seed_clicks(url, campaign_ids[0]))
        port = 18000 + random.randrange(1000)
        env = dict(base_env, GRAPHAPI_DATABASE_URL=url)
        command = [sys.executable, "-m", "graphapi.cli", "serve", "--workers", str(args.workers), "--port", str(port)]
        process = start(command, env, port, workdir)
        try:
            results, latencies = asyncio.run(load(port, click_ids, args.seconds, args.connections))
        finally:
            stop(process)
        latencies.sort()
        answered = sum(results.values())
        conversions, outbox, logged = asyncio.run(stored(url))
        expected = (results["created"], results["created"] + results["updated"], answered)
        p50, p99 = latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000
        print(f"{database}: {answered / args.seconds:.0f} postbacks/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
              f"{dict(results)}")  # fmt: skip
        print(f"  stored: {conversions} conversions, {outbox} outbox rows, {logged} log rows; expected {expected}")
        if (conversions, outbox, logged) != expected or set(results) - {"created", "updated", "duplicate"}:
            failures.append(database)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
