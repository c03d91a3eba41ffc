"""Load /click with wrk and compare graphapi with servers that record nothing.

    .venv/bin/pip install -e '.[bench]'   # and: apt-get install wrk
    .venv/bin/python bench/click_bench.py [--seconds 15] [--connections 64] [--rounds 3]

The server runs pinned to core 0, wrk to core 1. Each graphapi run is measured
right after a run of the ceiling (a bare starlette route returning the same
302), so every ratio comes from side-by-side figures. Afterwards every 302
that wrk received is looked up in the database: a click id missing there is a
lost click and is reported.

The traffic looks real, or caches would flatter graphapi: 1,000+ real-world
user agents from fake-useragent's data (bots and empty ones among them), 10,000
client IPs sent through X-Forwarded-For from loopback (a trusted proxy),
several campaigns with landers and weighted offers, and sub values that vary.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.traffic import bot_user_agents, real_user_agents  # noqa: E402

POSTGRES_ADMIN = os.environ.get("GRAPHAPI_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_DB = "graphapi_bench"

# The parts of a wrk script every benchmark shares: `counts` (by HTTP status or
# result) and `ids` (what the responses named) are gathered from every thread,
# the ids written to $BENCH_IDS and the figures printed as one RESULT line.
LUA_COMMON = r"""
local threads = {}
counts = {}
ids = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) %% 100000)
end

function done(summary, latency, requests)
  local totals, all = {}, {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("counts")) do totals[tostring(key)] = (totals[tostring(key)] or 0) + n end
    for _, id in ipairs(thread:get("ids")) do all[#all + 1] = id end
  end
  local file = io.open(os.getenv("BENCH_IDS"), "w")
  file:write(table.concat(all, "\n"))
  file:close()
  local parts = {}
  for key, n in pairs(totals) do parts[#parts + 1] = string.format('"%%s": %%d', key, n) end
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"errors": %%d, "statuses": {%%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", ")))
end
"""

LUA = LUA_COMMON + r"""
local paths = {%(paths)s}
local uas = {%(uas)s}
local ips = {%(ips)s}

function request()
  return wrk.format("GET", paths[math.random(#paths)], {
    ["User-Agent"] = uas[math.random(#uas)],
    ["X-Forwarded-For"] = ips[math.random(#ips)],
  })
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  local location = headers["location"] or headers["Location"]
  if location then
    local id = location:match("click_id=([%%w_%%-]+)")
    if id then ids[#ids + 1] = id end
  end
end
"""


def lua_list(values: list[str]) -> str:
    return ",".join(json.dumps(v) for v in values)


def client_ips(count: int) -> list[str]:
    rng = random.Random(7)
    ips: set[str] = set()
    while len(ips) < count:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global:
            ips.add(str(address))
    return sorted(ips)


def click_paths(campaign_ids: list[int], count: int) -> list[str]:
    rng = random.Random(11)
    sources = [f"site-{n}" for n in range(200)]
    paths = []
    for _ in range(count):
        query = f"/click?campaign_id={rng.choice(campaign_ids)}&subid={secrets.token_hex(6)}"
        query += f"&source={rng.choice(sources)}&creative=cr{rng.randrange(20)}&sub1=kw{rng.randrange(50)}"
        if rng.random() < 0.3:
            query += f"&sub2=p{rng.randrange(1000)}&cost=0.0{rng.randrange(1, 99):02d}"
        if rng.random() < 0.2:
            query += f"&gclid={secrets.token_urlsafe(12)}"
        paths.append(query)
    return paths


def bench_database_url(database: str, workdir: Path) -> str:
    """The URL of the bench database: "sqlite" (in workdir) or "postgres"."""
    if database == "sqlite":
        return f"sqlite://{workdir / 'bench.sqlite3'}"
    return POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql", "postgres") + f"/{BENCH_DB}"


async def prepare_database(url: str) -> list[int]:
    """A fresh, migrated database with several campaigns; their ids."""
    from decimal import Decimal

    from graphapi.db import Database, migrate
    from graphapi.models import Campaign, CostModel, Lander, Offer

    if url.startswith("postgres"):
        import asyncpg

        admin = await asyncpg.connect(POSTGRES_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
        await admin.close()
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite://") + suffix).unlink(missing_ok=True)
    await migrate(url)
    db = Database(url)
    await db.open()
    ids = []
    try:
        for n in range(6):
            campaign = await Campaign.create(
                name=f"bench {n}", cost_model=CostModel.CPC, cost_value=Decimal("0.05")
            )
            for k in range(3):
                await Offer.create(
                    campaign=campaign, name=f"o{k}", weight=(k + 1) * 10,
                    url=f"https://offer{k}.test/land?sub={{subid}}&src={{source}}&geo={{country}}",
                )  # fmt: skip
            if n % 2 == 0:
                for k in range(2):
                    await Lander.create(campaign=campaign, name=f"l{k}", url=f"https://lander{k}.test/?click_id={{click_id}}")
            ids.append(campaign.id)
    finally:
        await db.close()
    return ids


async def stored_click_ids(url: str) -> set[str]:
    from graphapi.db import Database

    db = Database(url)
    await db.open()
    try:
        return {row[0] for row in await db.fetch("SELECT click_id FROM click")}
    finally:
        await db.close()


async def analyze(url: str) -> None:
    import asyncpg

    from graphapi.db import Database

    connection = await asyncpg.connect(Database(url).dsn)
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def start(command: list[str], env: dict[str, str], port: int, workdir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["taskset", "-c", "0", *command],
        env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=open(workdir / f"server-{port}.log", "wb"),
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/click", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start: {(workdir / f'server-{port}.log').read_text()}")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(30)


def wrk(port: int, script: Path, seconds: float, connections: int, ids_file: Path) -> dict:
    env = dict(os.environ, BENCH_IDS=str(ids_file))
    output = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(script),
         f"http://127.0.0.1:{port}/"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if output.returncode:
        raise RuntimeError(f"wrk failed: {output.stderr}{output.stdout}")
    output = output.stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def measure(name, command, env, script, args, workdir) -> dict:
    port = 18000 + random.randrange(1000)
    ids_file = workdir / ("".join(ch if ch.isalnum() else "-" for ch in name) + ".ids")
    process = start(command + [str(port)], env, port, workdir)
    try:
        wrk(port, script, args.warmup, args.connections, workdir / "warmup.ids")
        url = env.get("GRAPHAPI_DATABASE_URL", "")
        if url.startswith("postgres"):
            # Statistics, as a running tracker's tables have (autovacuum
            # analyzes them within a minute of their first rows): planned
            # for the empty tables of a database made seconds before, the
            # run measured seq scans of tables it had filled meanwhile.
            asyncio.run(analyze(url))
        result = wrk(port, script, args.seconds, args.connections, ids_file)
    finally:
        stop(process)
    result["name"] = name
    result["ids_file"] = ids_file
    return result


def row(result: dict, ceiling: dict | None) -> str:
    ratio = f"{result['rps'] / ceiling['rps']:.2f}x" if ceiling else "1.00x"
    statuses = ",".join(f"{k}:{v}" for k, v in sorted(result["statuses"].items()))
    return (
        f"{result['name']:<28} {result['rps']:>9.0f} {result['p50_us'] / 1000:>8.2f} "
        f"{result['p99_us'] / 1000:>8.2f} {ratio:>7}  errors={result['errors']} {statuses}"
    )


def require_setup(databases: list[str], sqlite_only: str = "--databases sqlite") -> None:
    """Stop at once, saying what to install or start, rather than with a
    traceback once the first server is up."""
    if "postgres" in databases:
        import asyncpg

        async def answers() -> None:
            connection = await asyncio.wait_for(asyncpg.connect(POSTGRES_ADMIN), 5)
            await connection.close()

        try:
            asyncio.run(answers())
        except Exception as error:  # noqa: BLE001 - any failure means "cannot use it"
            sys.exit(f"PostgreSQL does not answer at {POSTGRES_ADMIN} ({error}); set GRAPHAPI_BENCH_POSTGRES "
                     f"to one that does, or leave PostgreSQL out ({sqlite_only})")  # fmt: skip
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"{' and '.join(missing)} not found: apt-get install wrk util-linux")


def arguments(doc: str) -> argparse.Namespace:
    """The options every wrk benchmark takes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="pairs of runs (the ceiling, then graphapi, on a new database) per database; "
        "the median ratio is printed: on a shared machine one pair can be off by a fifth",
    )  # fmt: skip
    args = parser.parse_args()
    require_setup(args.databases.split(","))
    return args


def print_median(database: str, ratios: list[float]) -> None:
    if len(ratios) > 1:
        shown = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        print(f"  {database}: median ratio {statistics.median(ratios):.2f}x of {len(ratios)} rounds ({shown})")


def start_report(args: argparse.Namespace, traffic: str) -> tuple[Path, dict[str, str]]:
    """Print the run's header; a work folder, and an environment with no GRAPHAPI_ settings."""
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores; "
          f"{traffic}, {args.connections} connections, {args.seconds}s runs")  # fmt: skip
    print(f"{'server':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7}")
    workdir = Path(tempfile.mkdtemp(prefix="graphapi-bench-"))
    return workdir, {k: v for k, v in os.environ.items() if not k.startswith("GRAPHAPI_")}


def main() -> None:
    args = arguments(__doc__)
    python = sys.executable
    uas = real_user_agents(1000) + bot_user_agents() + [""]
    ips = client_ips(10_000)
    workdir, base_env = start_report(args, f"{len(uas)} user agents, {len(ips)} client IPs")

    bare = [python, "-m", "uvicorn", "--no-access-log", "--app-dir", str(ROOT)]
    raw_script = workdir / "raw.lua"
    raw_script.write_text(LUA % {"paths": lua_list(click_paths([1], 1000)), "uas": lua_list(uas), "ips": lua_list(ips)})
    raw = measure("raw ASGI 302 (no router)", bare + ["bench.bare_app:raw_app", "--port"], base_env, raw_script, args, workdir)
    print(row(raw, None))
    failures = []
    for database in args.databases.split(","):
        url = bench_database_url(database, workdir)
        ratios = []
        for _ in range(args.rounds):
            campaign_ids = asyncio.run(prepare_database(url))
            script = workdir / f"{database}.lua"
            script.write_text(
                LUA % {"paths": lua_list(click_paths(campaign_ids, 20_000)), "uas": lua_list(uas), "ips": lua_list(ips)}
            )
            ceiling = measure(f"starlette route 302 ({database})", bare + ["bench.bare_app:route_app", "--port"],
                              base_env, script, args, workdir)  # fmt: skip
            env = dict(base_env, GRAPHAPI_DATABASE_URL=url)
            result = measure(f"graphapi /click ({database})", [python, "-m", "graphapi.cli", "serve", "--port"],
                             env, script, args, workdir)  # fmt: skip
            print(row(ceiling, None))
            print(row(result, ceiling) + f"  ({result['rps'] / raw['rps']:.2f}x raw)")
            ratios.append(result["rps"] / ceiling["rps"])
            received = set(result["ids_file"].read_text().split())
            missing = received - asyncio.run(stored_click_ids(url))
            print(f"  {database}: {len(received)} click ids received in 302s, {len(missing)} missing from the database")
            if missing:
                failures.append(database)
        print_median(database, ratios)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
