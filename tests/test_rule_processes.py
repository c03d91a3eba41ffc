"""The rule engine across real `graphapi serve` processes: events left by a
SIGKILL run after restart; with two processes each event runs once, and each
round of periodic checks runs once."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from pathlib import Path

import pytest

from graphapi.db import Database
from graphapi.live import CHANNEL
from graphapi.models import Campaign, Outbox, Rule
from tests.conversions import record_conversion
from tests.seeding import insert_clicks
from tests.serving import Server

ROOT = Path(__file__).resolve().parents[1]
RECORDER = "tests.plugin_samples.file_recorder"
CHECKER = "tests.plugin_samples.file_checker"


@pytest.fixture
async def db(database_url, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the servers import tests.plugin_samples
    database = Database(database_url)
    await database.open()
    yield database
    await database.close()


def recorded(path: Path) -> list[tuple[int, int]]:
    """(pid, conversion id) of every call the file_recorder plugin got."""
    if not path.exists():
        return []
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines()]


async def until(condition, timeout: float = 20.0) -> None:
    """Until `condition()` (sync or async) is true."""
    deadline = time.monotonic() + timeout
    while not ((await result) if inspect.isawaitable(result := condition()) else result):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def all_processed() -> bool:
    return not await Outbox.filter(processed_at=None).exists()


async def test_events_left_by_a_killed_server_run_after_restart(db, database_url, tmp_path):
    record = tmp_path / "calls.txt"
    campaign = await Campaign.create(name="restart")
    settings = {
        "plugins": RECORDER,
        "test_record": str(record),
        "rules_poll_seconds": "0.2",
        "rules_lease_seconds": "2",
    }

    first = Server(database_url, tmp_path, test_hang="1", rule_timeout_seconds="600", **settings)
    try:
        interrupted = await record_conversion(None, campaign, db=db)
        await until(lambda: [c for _, c in recorded(record)] == [interrupted.id])
    finally:
        first.kill()  # mid-rule: the event is claimed, not processed
    committed_while_down = await record_conversion(None, campaign, db=db)
    assert await Outbox.filter(processed_at=None).count() == 2

    with Server(database_url, tmp_path, **settings):
        await until(all_processed)
    calls = recorded(record)
    assert sorted(c for _, c in calls) == sorted([interrupted.id, interrupted.id, committed_while_down.id])
    assert {row.conversion_id: row.attempts for row in await Outbox.all()} == {
        interrupted.id: 2,
        committed_while_down.id: 1,
    }


async def test_two_processes_run_each_event_once(db, database_url, tmp_path):
    record = tmp_path / "calls.txt"
    campaign = await Campaign.create(name="two processes")
    settings = {"plugins": RECORDER, "test_record": str(record), "rules_poll_seconds": "0.1"}
    with Server(database_url, tmp_path, **settings), Server(database_url, tmp_path, **settings):
        conversions = []
        for _ in range(40):
            conversion = await record_conversion(None, campaign, db=db)
            conversions.append(conversion.id)
            if db.postgres:  # as the postback path does: both processes wake at once
                await db.fetch("SELECT pg_notify(?, ?)", (CHANNEL, f"test:{conversion.id}"))
        await until(all_processed)
    calls = recorded(record)
    assert sorted(c for _, c in calls) == sorted(conversions)  # each once, none twice
    if db.postgres:  # NOTIFY wakes both, and SKIP LOCKED shares the work out
        assert len(Counter(pid for pid, _ in calls)) == 2
    assert set(await Outbox.all().values_list("attempts", flat=True)) == {1}


async def test_two_processes_run_each_round_of_checks_once(db, database_url, tmp_path):
    """Each process tries a round every period; rounds come a period apart, where
    two processes checking on their own would make some gap at most half of it."""
    record = tmp_path / "checks.txt"
    campaign = await Campaign.create(name="checked")
    await Rule.create(campaign=campaign, plugin=CHECKER, config={})
    await insert_clicks(db, campaign.id, [{}])
    period = 2.0
    settings = {"plugins": CHECKER, "test_record": str(record), "rules_check_seconds": str(period)}
    with Server(database_url, tmp_path, **settings), Server(database_url, tmp_path, **settings):
        started = time.time()  # both processes are running

        def since_started() -> list[float]:
            return sorted(at for _, _, at in recorded_checks(record) if at > started)

        await until(lambda: len(since_started()) >= 3, timeout=30)
    assert {campaign_id for _, campaign_id, _ in recorded_checks(record)} == {campaign.id}
    times = since_started()
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert min(gaps) > 0.75 * period, gaps


def recorded_checks(path: Path) -> list[tuple[int, int, float]]:
    """(pid, campaign id, time) of every call the file_checker plugin got."""
    if not path.exists():
        return []
    return [(int(pid), int(campaign), float(at)) for pid, campaign, at in map(str.split, path.read_text().splitlines())]
