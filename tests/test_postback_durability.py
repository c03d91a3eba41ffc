"""A postback whose 2xx was received survives SIGKILL of the server mid-load, and
no conversion is ever committed without its hand-over (outbox) row."""

from __future__ import annotations

import itertools
import time

import httpx

from graphapi.db import Database
from tests.postbacks import new_click
from tests.serving import Server, kill_under_load
from tests.test_durability import seed_campaign

LOAD_SECONDS = 1.5
CONCURRENCY = 20


async def test_sigkill_loses_no_acknowledged_postback(database_url, tmp_path):
    campaign_id = await seed_campaign(database_url)
    # (conversion_id, result) of every 2xx received.
    acknowledged: list[tuple[int, str]] = []
    deadline = time.monotonic() + LOAD_SECONDS + 10
    txids = itertools.count()

    async def partner(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            txid = next(txids)
            for status in ("pending", "approved"):
                try:
                    response = await client.get(
                        f"/postback?click_id={click_id}&txid={txid}&status={status}&payout=1.25"
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                assert response.status_code == 200, response.text
                acknowledged.append((response.json()["conversion_id"], response.json()["result"]))

    with Server(database_url, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            click_id = await new_click(client, campaign_id)
        await kill_under_load(server, partner, CONCURRENCY, LOAD_SECONDS)

    assert len(acknowledged) > 50, "too little load to mean anything"
    assert {result for _, result in acknowledged} == {"created", "updated"}
    db = Database(database_url)
    await db.open()
    try:
        conversions = dict(await db.fetch("SELECT id, status FROM conversion"))
        handed_over = set(await db.fetch("SELECT conversion_id, previous_status FROM outbox"))
        logged = set(await db.fetch("SELECT conversion_id, outcome FROM postback"))
    finally:
        await db.close()

    lost = [(cid, result) for cid, result in acknowledged if (cid, result) not in logged]
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged postbacks not in the log"
    missing = {cid for cid, _ in acknowledged} - set(conversions)
    assert not missing, f"{len(missing)} acknowledged conversions lost"
    assert all(conversions[cid] == "approved" for cid, result in acknowledged if result == "updated")
    # Committed, acknowledged or not: each conversion has its creation's hand-over,
    # and an approved one also the hand-over of its update.
    for conversion_id, status in conversions.items():
        assert (conversion_id, None) in handed_over, conversion_id
        assert (status == "approved") == ((conversion_id, "pending") in handed_over), conversion_id
