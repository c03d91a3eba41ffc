"""`conversionRecorded` over graphql-transport-ws, from this process and from
another process on the same PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from graphapi.api_keys import REVOCATION_CHECK_SECONDS
from graphapi.models import ApiKey, Campaign
from tests.conftest import make_campaign
from tests.gql import new_api_key
from tests.seeding import insert_clicks, insert_conversion
from tests.serving import Server, free_port
from tests.test_cli import graphapi

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBE = "subscription($c: ID) { conversionRecorded(campaignId: $c) { id payout status campaign { id } click { clickId } } }"
# Another process commits a conversion and announces it, as the postback path does.
OTHER_PROCESS = """
import asyncio, sys, time
from decimal import Decimal
from graphapi.db import Database
from graphapi.live import ConversionFeed
from tests.seeding import insert_conversion

async def main(url, click):
    db = Database(url)
    await db.open()
    try:
        conversion = await insert_conversion(db, click, payout=Decimal("4.20"), feed=ConversionFeed(db))
        print(conversion, time.time(), flush=True)
    finally:
        await db.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


@contextlib.asynccontextmanager
async def serving(app):
    """The app (lifespan already running) on a real socket, in this event loop."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def subscribed(url: str, services, init: dict | None = None, headers: dict | None = None, campaign=None):
    async with connect(url, subprotocols=["graphql-transport-ws"], additional_headers=headers, proxy=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": init or {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "connection_ack"}
        subscribers = len(services.feed._queues)
        variables = {"c": str(campaign.id)} if campaign is not None else {}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": variables}}))
        deadline = time.monotonic() + 5
        while len(services.feed._queues) == subscribers and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        yield ws


async def next_conversion(ws) -> dict:
    message = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
    assert message["type"] == "next", message
    return message["payload"]["data"]["conversionRecorded"]


async def test_subscriber_receives_a_conversion_of_this_process_within_a_second(app, services):
    key = await new_api_key()
    campaign = await make_campaign(services)
    other = await make_campaign(services)
    clicks = await insert_clicks(services.db, campaign.id, [{}, {}])
    (other_click,) = await insert_clicks(services.db, other.id, [{}])
    async with serving(app) as url, subscribed(url, services, {"Authorization": f"Bearer {key}"}, campaign=campaign) as ws:
        await insert_conversion(services.db, other_click, feed=services.feed)  # another campaign: filtered out
        conversion = await insert_conversion(services.db, clicks[0], payout=Decimal("7.50"), feed=services.feed)
        got = await next_conversion(ws)
        assert got["id"] == str(conversion) and got["payout"] == "7.50" and got["status"] == "APPROVED"
        assert got["campaign"] == {"id": str(campaign.id)}
        second = await insert_conversion(services.db, clicks[1], feed=services.feed)
        assert (await next_conversion(ws))["id"] == str(second)


async def test_key_in_the_upgrade_request_header(app, services):
    key = await new_api_key()
    campaign = await make_campaign(services)
    (click,) = await insert_clicks(services.db, campaign.id, [{}])
    async with serving(app) as url, subscribed(url, services, headers={"Authorization": f"Bearer {key}"}) as ws:
        conversion = await insert_conversion(services.db, click, feed=services.feed)
        assert (await next_conversion(ws))["id"] == str(conversion)


async def test_websocket_without_a_valid_key_is_refused(app, services):
    await new_api_key()
    async with serving(app) as url:
        for payload in ({}, {"Authorization": "Bearer wrong"}, {"authorization": 5}):
            async with connect(url, subprotocols=["graphql-transport-ws"], proxy=None) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd.code == 4403
        with pytest.raises(InvalidStatus):
            async with connect(url, subprotocols=["graphql-transport-ws"], proxy=None,
                               additional_headers={"Authorization": "Bearer wrong"}):  # fmt: skip
                pass


async def test_a_campaign_id_that_names_no_campaign_is_an_error(app, services):
    """As `report(campaignId:)` says, not a stream that ends (or waits) in silence."""
    key = await new_api_key()
    async with serving(app) as url, connect(url, subprotocols=["graphql-transport-ws"], proxy=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "connection_ack"}
        for n, campaign_id in enumerate(("zzz", "999", "2147483648")):
            payload = {"query": SUBSCRIBE, "variables": {"c": campaign_id}}
            await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
            error = {"data": None, "errors": [{"message": f"no campaign with id {campaign_id!r}"}]}
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"id": str(n), "type": "next", "payload": error}
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"id": str(n), "type": "complete"}


async def close_code(ws, timeout: float) -> int:
    """How the server closed the socket, within `timeout` (nothing else may come first)."""
    with pytest.raises(ConnectionClosed) as closed:
        message = await asyncio.wait_for(ws.recv(), timeout)
        pytest.fail(f"sent before closing: {message}")
    return closed.value.rcvd.code


async def test_revoking_the_key_ends_live_subscriptions_within_a_second(app, services, database_url):
    """`graphapi revoke-api-key`, another process: the subscriptions opened
    with the key end and the socket is closed with 4403, whichever way the key came."""
    key = await new_api_key()
    campaign = await make_campaign(services)
    clicks = await insert_clicks(services.db, campaign.id, [{}, {}])
    listening = len(services.feed._queues)  # the rule engine
    async with (
        serving(app) as url,
        subscribed(url, services, {"Authorization": f"Bearer {key}"}) as by_init,
        subscribed(url, services, headers={"Authorization": f"Bearer {key}"}) as by_header,
    ):
        conversion = await insert_conversion(services.db, clicks[0], feed=services.feed)
        for ws in (by_init, by_header):
            assert (await next_conversion(ws))["id"] == str(conversion)
        revoked = await asyncio.to_thread(graphapi, "revoke-api-key", "test", cwd=ROOT, database_url=database_url)
        assert revoked.returncode == 0, revoked.stderr
        for ws in (by_init, by_header):
            assert await close_code(ws, REVOCATION_CHECK_SECONDS + 1) == 4403
        assert len(services.feed._queues) == listening
        await insert_conversion(services.db, clicks[1], feed=services.feed)  # delivered to nobody


async def test_an_open_socket_runs_no_operation_once_its_key_is_revoked(app, services):
    key = await new_api_key()
    campaign = await make_campaign(services, name="before")
    rename = 'mutation { updateCampaign(input: {id: "%d", name: "after"}) { userErrors { message } } }' % campaign.id
    async with serving(app) as url, connect(url, subprotocols=["graphql-transport-ws"], proxy=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "connection_ack"}
        assert await ApiKey.filter(name="test").update(revoked_at=datetime.now(timezone.utc)) == 1
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": rename}}))
        assert await close_code(ws, 5) == 4403
    assert (await Campaign.get(id=campaign.id)).name == "before"


async def test_conversion_committed_by_another_process_reaches_subscribers(app, services, database_url):
    if not services.db.postgres:
        pytest.skip("across processes only on PostgreSQL (LISTEN/NOTIFY); SQLite is one process")
    key = await new_api_key()
    campaign = await make_campaign(services)
    (click,) = await insert_clicks(services.db, campaign.id, [{}])
    async with serving(app) as url, subscribed(url, services, {"Authorization": f"Bearer {key}"}) as ws:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", OTHER_PROCESS, database_url, str(click),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()
        conversion, committed_at = stdout.decode().split()
        got = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
        received_at = time.time()
    assert got["payload"]["data"]["conversionRecorded"]["id"] == conversion
    assert got["payload"]["data"]["conversionRecorded"]["payout"] == "4.20"
    assert received_at - float(committed_at) < 1.0


async def test_a_postback_reaches_subscribers_within_a_second(app, services, client, database_url, tmp_path):
    """Through the real /postback: to this process, and (PostgreSQL) to another
    `graphapi serve` process on the same database."""
    key = await new_api_key()
    campaign = await make_campaign(services)
    here, there = await insert_clicks(services.db, campaign.id, [{}, {}])
    click_ids = dict(await services.db.fetch("SELECT id, click_id FROM click"))
    server = await asyncio.to_thread(Server, database_url, tmp_path) if services.db.postgres else None
    try:
        async with (
            serving(app) as url,
            subscribed(url, services, {"Authorization": f"Bearer {key}"}) as ws,
            httpx.AsyncClient(base_url=server.url if server else "http://unused.test") as other,
        ):
            targets = [(client, here)] + ([(other, there)] if server is not None else [])
            for target, click in targets:
                sent_at = time.monotonic()
                response = await target.get(f"/postback?click_id={click_ids[click]}&payout=3.10")
                assert response.status_code == 200 and response.json()["result"] == "created", response.text
                got = await next_conversion(ws)
                assert time.monotonic() - sent_at < 1.0
                assert got["payout"] == "3.10" and got["click"]["clickId"] == click_ids[click]
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
