"""The server's memory under sustained mixed load: RSS before, during and after.

    .venv/bin/python bench/memory_bench.py [--minutes 10] [--database sqlite|postgres]

wrk (pinned to core 1) sends the mix a tracker sees: clicks (with the user
agents, client IPs and campaigns of bench/click_bench.py), lander click-throughs
and postbacks for clicks it was given, with duplicates and status changes. The
server runs pinned to core 0; its resident memory (all its processes) is read
every 30 seconds. Flat memory means no cache or buffer grows without bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.click_bench import (  # noqa: E402
    bench_database_url,
    client_ips,
    click_paths,
    lua_list,
    prepare_database,
    require_setup,
    start,
    stop,
)
from bench.traffic import bot_user_agents, real_user_agents  # noqa: E402

MIX = r"""
local paths = {%(paths)s}
local uas = {%(uas)s}
local ips = {%(ips)s}
local seen = {}
local statuses = {"pending", "approved", "approved", "rejected"}
counts = {}

function request()
  local r = math.random()
  if #seen > 0 and r < 0.15 then
    local id = seen[math.random(#seen)]
    return wrk.format("GET", "/postback?click_id=" .. id .. "&payout=" .. math.random(1, 50) ..
      "&status=" .. statuses[math.random(#statuses)])
  elseif #seen > 0 and r < 0.2 then
    return wrk.format("GET", "/go?click_id=" .. seen[math.random(#seen)])
  end
  return wrk.format("GET", paths[math.random(#paths)], {
    ["User-Agent"] = uas[math.random(#uas)], ["X-Forwarded-For"] = ips[math.random(#ips)] })
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  local location = headers["location"]
  if location then
    local id = location:match("click_id=([%%w_%%-]+)")
    if id then
      if #seen < 5000 then seen[#seen + 1] = id else seen[math.random(#seen)] = id end
    end
  end
end
"""


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MiB."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.split()]
    total = 0
    for each in set(pids):
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    require_setup([args.database], sqlite_only="--database sqlite")

    workdir = Path(tempfile.mkdtemp(prefix="graphapi-memory-"))
    url = bench_database_url(args.database, workdir)
    campaign_ids = asyncio.run(prepare_database(url))
    script = workdir / "mix.lua"
    script.write_text(MIX % {
        "paths": lua_list(click_paths(campaign_ids, 20_000)),
        "uas": lua_list(real_user_agents(1000) + bot_user_agents() + [""]),
        "ips": lua_list(client_ips(10_000)),
    })  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHAPI_")}
    env["GRAPHAPI_DATABASE_URL"] = url
    port = 18500
    server = start([sys.executable, "-m", "graphapi.cli", "serve", "--port", str(port)], env, port, workdir)
    try:
        before = rss_mib(server.pid)
        print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.database}, {args.minutes} min")
        print(f"RSS before load: {before:.1f} MiB")
        seconds = int(args.minutes * 60)
        load = subprocess.Popen(
            ["taskset", "-c", "1", "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "-s", str(script),
             f"http://127.0.0.1:{port}/"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        samples = []
        began = time.monotonic()
        while load.poll() is None:
            time.sleep(min(30, max(1, seconds / 20)))
            samples.append((time.monotonic() - began, rss_mib(server.pid)))
            print(f"  {samples[-1][0]:6.0f}s  RSS {samples[-1][1]:.1f} MiB", flush=True)
        summary = load.stdout.read()
        requests = next((line for line in summary.splitlines() if "requests in" in line), "").strip()
        after = rss_mib(server.pid)
        first_half = max(rss for at, rss in samples if at <= seconds / 2) if samples else before
        print(f"wrk: {requests}")
        print(f"RSS after load: {after:.1f} MiB; peak in the first half {first_half:.1f} MiB, "
              f"peak overall {max(rss for _, rss in samples):.1f} MiB")  # fmt: skip
    finally:
        stop(server)


if __name__ == "__main__":
    main()
