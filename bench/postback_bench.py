"""Load /postback with wrk and compare graphapi with a route that records nothing.

    .venv/bin/pip install -e '.[bench]'   # and: apt-get install wrk
    .venv/bin/python bench/postback_bench.py [--seconds 15] [--connections 64] [--rounds 3]

The server runs pinned to core 0, wrk to core 1, and each graphapi run is
measured right after a run of the ceiling (a bare starlette route answering the
same kind of JSON), so every ratio comes from side-by-side figures.

The traffic is a partner network's: postbacks with the tracker's token for
20,000 clicks of several campaigns, each with a status drawn from pending,
approved and rejected and the click's own payout, so that a click's first
postback creates its conversion, a later one with another status updates it
(or is refused where the change is not allowed) and one with the same status
is a duplicate. Afterwards every conversion id a 200 named must be in the
database, no answer may be a 5xx, and every conversion must have the outbox
row that hands it to the rule engine.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.click_bench import (  # noqa: E402
    LUA_COMMON, arguments, bench_database_url, lua_list, measure, prepare_database, print_median, row, start_report,
)  # fmt: skip

CLICKS = 20_000
TOKEN = "bench-postback-token"

LUA = LUA_COMMON + r"""
local queries = {%(queries)s}
local statuses = {"pending", "approved", "approved", "rejected"}

function request()
  local path = queries[math.random(#queries)] .. "&status=" .. statuses[math.random(#statuses)]
  return wrk.format("GET", path)
end

function response(status, headers, body)
  local result = body:match('"result": *"(%%w+)"') or tostring(status)
  if status >= 500 then result = tostring(status) end
  counts[result] = (counts[result] or 0) + 1
  local id = status == 200 and body:match('"conversion_id": *(%%d+)')
  if id then ids[#ids + 1] = id end
end
"""


async def seed_clicks(url: str, campaign_ids: list[int]) -> list[str]:
    """Clicks for the partner to convert, written through the driver; their click ids."""
    from graphapi.db import Database
    from tests.seeding import insert_clicks

    rng = random.Random(3)
    db = Database(url)
    await db.open()
    try:
        rows = [{"source": f"site-{rng.randrange(50)}", "visitor": rng.getrandbits(62)} for _ in range(CLICKS)]
        share = CLICKS // len(campaign_ids)
        for n, campaign_id in enumerate(campaign_ids):
            await insert_clicks(db, campaign_id, rows[n * share : (n + 1) * share])
        return [click_id for (click_id,) in await db.fetch("SELECT click_id FROM click")]
    finally:
        await db.close()


async def check(url: str, received: set[int]) -> tuple[int, set[int], int]:
    """(conversions stored, ids received that are not stored, conversions without an outbox row)."""
    from graphapi.db import Database

    db = Database(url)
    await db.open()
    try:
        stored = {pk for (pk,) in await db.fetch("SELECT id FROM conversion")}
        ((orphans,),) = await db.fetch(
            "SELECT COUNT(*) FROM conversion v WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.conversion_id = v.id)"
        )
        return len(stored), received - stored, orphans
    finally:
        await db.close()


def main() -> None:
    args = arguments(__doc__)
    python = sys.executable
    workdir, base_env = start_report(args, f"{CLICKS} clicks")
    bare = [python, "-m", "uvicorn", "--no-access-log", "--app-dir", str(ROOT), "bench.bare_app:route_app", "--port"]
    failures = []
    for database in args.databases.split(","):
        url = bench_database_url(database, workdir)
        ratios = []
        for _ in range(args.rounds):
            campaign_ids = asyncio.run(prepare_database(url))
            click_ids = asyncio.run(seed_clicks(url, campaign_ids))
            rng = random.Random(5)
            queries = [f"/postback?click_id={c}&payout={rng.randrange(1, 5000) / 100}&token={TOKEN}" for c in click_ids]
            script = workdir / f"postback-{database}.lua"
            script.write_text(LUA % {"queries": lua_list(queries)})
            ceiling = measure(f"starlette route ({database})", bare, base_env, script, args, workdir)
            env = dict(base_env, GRAPHAPI_DATABASE_URL=url, GRAPHAPI_POSTBACK_TOKEN=TOKEN)
            command = [python, "-m", "graphapi.cli", "serve", "--port"]
            result = measure(f"graphapi /postback ({database})", command, env, script, args, workdir)
            print(row(ceiling, None))
            print(row(result, ceiling))
            ratios.append(result["rps"] / ceiling["rps"])
            received = {int(pk) for pk in result["ids_file"].read_text().split()}
            stored, missing, orphans = asyncio.run(check(url, received))
            print(f"  {database}: {stored} conversions stored; {len(received)} ids named in 200s, {len(missing)} "
                  f"of them missing; {orphans} conversions without an outbox row")  # fmt: skip
            errors = {key for key in result["statuses"] if key.isdigit() and int(key) >= 500}
            if missing or orphans or errors or result["errors"]:
                failures.append(database)
        print_median(database, ratios)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
