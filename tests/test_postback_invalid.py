"""Bad postbacks: each gets a 4xx whose message names the field, and a log entry."""

from __future__ import annotations

import json

import pytest

from graphapi.models import Conversion
from tests.conftest import http_client, make_campaign
from tests.postbacks import log_rows, new_click, running_app

TOKEN = "t0ken"
TEN_MB = 10 * 1024 * 1024
JSON = {"content-type": "application/json"}
MACRO = "the partner did not fill in its macro"


async def ten_megabytes_in_chunks():
    for _ in range(10):
        yield b"x" * (1024 * 1024)


# (what, query after click_id=<a real click>&token=..., other request arguments,
#  HTTP status, result, what the message starts with)
CASES = [
    ("missing click_id", "payout=1", {"click": False}, 400, "invalid", "click_id: missing"),
    ("empty click_id", "click_id=", {"click": False}, 400, "invalid", "click_id: missing"),
    *[
        (f"payout {payout!r}", f"payout={payout}", {}, 400, "invalid", "payout:")
        for payout in ("abc", "7,50", "-5", "NaN", "inf", "1e309", "", "%D9%A7.%D9%A5", "%EF%BC%97", "1.2.3", "+5")
    ],
    ("payout past the micro-unit", "payout=0.1234567", {}, 400, "invalid",
     "payout: '0.1234567' has more than 6 decimal places"),
    ("payout at the limit", "payout=1000000000000", {}, 400, "invalid",
     "payout: '1000000000000' must be less than 1000000000000"),
    ("unknown status", "status=maybe", {}, 400, "invalid", "status:"),
    ("empty status", "status=", {}, 400, "invalid", "status:"),
    ("currency without a rate", "payout=5&currency=JPY", {}, 400, "invalid", "currency: no exchange rate"),
    ("malformed currency", "currency=EURO", {}, 400, "invalid", "currency:"),
    ("too large once converted", "payout=999999999999&currency=EUR", {}, 400, "invalid", "payout:"),
    ("macro in click_id", "clickid={clickid}", {"click": False}, 400, "invalid", f"click_id: {MACRO}"),
    ("encoded macro in payout", "payout=%7Bpayout%7D", {}, 400, "invalid", f"payout: {MACRO}"),
    ("doubly encoded macro", "payout=%257Bpayout%257D", {}, 400, "invalid", f"payout: {MACRO}"),
    ("bracket macro in txid", "txid=[TRANSACTION_ID]", {}, 400, "invalid", f"txid: {MACRO}"),
    ("macro in status", "status={status}", {}, 400, "invalid", f"status: {MACRO}"),
    ("10 MB body", "", {"method": "POST", "content": "10 MB"}, 413, "invalid", "body:"),
    ("10 MB streamed body", "", {"method": "POST", "content": "stream"}, 413, "invalid", "body:"),
    ("repeated click_id", "click_id=other", {}, 400, "invalid", "click_id: given more than once"),
    ("conflicting aliases", "cid=a&clickid=b", {"click": False}, 400, "invalid", "click_id: given more than once"),
    ("repeated payout", "payout=1&payout=2", {}, 400, "invalid", "payout: given more than once"),
    ("query and body disagree", "payout=1", {"method": "POST", "data": {"payout": "2"}}, 400, "invalid",
     "payout: given more than once"),
    ("goal too long", "goal=" + "g" * 65, {}, 400, "invalid", "goal:"),
    ("txid too long", "txid=" + "t" * 129, {}, 400, "invalid", "txid:"),
    ("broken JSON", "", {"method": "POST", "content": b"{", "headers": JSON}, 400, "invalid", "body:"),
    ("JSON array", "", {"method": "POST", "json": [1, 2]}, 400, "invalid", "body:"),
    ("deep JSON", "", {"method": "POST", "content": b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", "headers": JSON},
     400, "invalid", "body:"),
    ("JSON NaN", "", {"method": "POST", "content": b'{"payout": NaN}', "headers": JSON}, 400, "invalid", "body:"),
    ("XML", "", {"method": "POST", "content": b"<a/>", "headers": {"content-type": "text/xml"}}, 400, "invalid",
     "body:"),
    ("missing token", "", {"token": None}, 403, "forbidden", "token: missing"),
    ("wrong token", "", {"token": "t0ke"}, 403, "forbidden", "token: wrong"),
    ("empty token", "", {"token": ""}, 403, "forbidden", "token: wrong"),
]  # fmt: skip


@pytest.fixture
async def partner(database_url):
    async with running_app(database_url, postback_token=TOKEN, currency_rates="EUR=1.1") as app:
        async with http_client(app) as client:
            yield app.state.services, client


@pytest.mark.parametrize(("query", "extra", "status", "result", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
async def test_bad_postback(partner, query, extra, status, result, message):
    services, client = partner
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    extra = dict(extra)
    parts = [f"click_id={click_id}"] if extra.pop("click", True) else []
    token = extra.pop("token", TOKEN)
    if token is not None:
        parts.append(f"token={token}")
    if query:
        parts.append(query)
    if extra.get("content") == "10 MB":
        extra["content"] = b"x" * TEN_MB
    elif extra.get("content") == "stream":
        extra["content"] = ten_megabytes_in_chunks()
    method = extra.pop("method", "GET")

    response = await client.request(method, "/postback?" + "&".join(parts), **extra)

    assert response.status_code == status, response.text
    body = response.json()
    assert body["result"] == result
    assert body["message"].startswith(message), body["message"]
    rows = await log_rows(services.db)
    assert [(row[0], row[1]) for row in rows] == [(result, body["message"])]
    assert await Conversion.all().count() == 0


async def test_a_partner_that_goes_away_mid_body_is_logged(app, services):
    messages = [
        {"type": "http.request", "body": b"click_id=abc&pay", "more_body": True},
        {"type": "http.disconnect"},
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/postback", "raw_path": b"/postback", "root_path": "",
        "query_string": b"goal=x", "headers": [(b"content-length", b"100")],
        "client": ("203.0.113.7", 40000), "server": ("tracker.test", 80),
    }  # fmt: skip
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    (outcome, message, _, params, remote_addr, _), = await log_rows(services.db)
    assert (outcome, remote_addr) == ("invalid", "203.0.113.7")
    assert message == "body: the client went away before sending all of it"
    assert json.loads(params) == {"goal": "x"}
