"""/graphql over HTTP: API keys, queries, nested objects, paging and limits."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from graphapi.api_keys import hash_key
from graphapi.graphql_endpoint import MAX_BODY
from graphapi.models import ApiKey
from schema import MAX_ALIASES, MAX_COST, MAX_DEPTH
from schema.paging import MAX_PAGE
from tests.conftest import make_campaign
from tests.gql import gql, gql_raw, new_api_key
from tests.postbacks import new_click
from tests.seeding import insert_clicks, insert_conversion

QUERY = "{ campaigns { edges { node { id } } } }"


@pytest.fixture
async def key(services) -> str:
    return await new_api_key()


async def test_no_key_wrong_key_and_revoked_key_get_401(client, key, settings):
    assert (await client.post("/graphql", json={"query": QUERY})).status_code == 401
    for header in ("Bearer nope", "Basic " + key, "Bearer", key):
        response = await client.post("/graphql", json={"query": QUERY}, headers={"authorization": header})
        assert response.status_code == 401, header
        assert "data" not in response.json()
    response = await client.get("/graphql", params={"query": QUERY})
    assert response.status_code == 401

    good = await client.post("/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {key}"})
    assert good.status_code == 200 and good.json() == {"data": {"campaigns": {"edges": []}}}

    assert await ApiKey.filter(name="test").update(revoked_at=datetime.now(timezone.utc)) == 1
    response = await client.post("/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 401


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHAPI_")}
    env["GRAPHAPI_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "graphapi.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_keys_created_and_revoked_on_the_command_line(database_url, services, client):
    created = await asyncio.to_thread(_cli, database_url, "create-api-key", "ci")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert await ApiKey.filter(name="ci").values_list("key_hash", flat=True) == [hash_key(key)]
    auth = {"authorization": f"Bearer {key}"}
    assert (await client.post("/graphql", json={"query": QUERY}, headers=auth)).status_code == 200

    revoked = await asyncio.to_thread(_cli, database_url, "revoke-api-key", "ci")
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
    assert (await client.post("/graphql", json={"query": QUERY}, headers=auth)).status_code == 401
    again = await asyncio.to_thread(_cli, database_url, "revoke-api-key", "ci")
    assert again.returncode != 0 and "no live API key named 'ci'" in again.stderr


async def test_browser_gets_graphiql_but_no_data_without_key(client):
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    with_query = await client.get("/graphql", params={"query": QUERY}, headers={"accept": "text/html"})
    assert with_query.status_code == 401
    # The page keeps what is typed in its own parameters: reloaded, it is still the page.
    typed = await client.get("/graphql", params={"q": QUERY, "headers": "{}"}, headers={"accept": "text/html"})
    assert typed.status_code == 200 and typed.text == page.text


async def test_graphiql_takes_every_file_from_this_server(client):
    """No CDN: the page works where the server has no internet."""
    page = (await client.get("/graphql", headers={"accept": "text/html"})).text
    files = [url for url in re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', page)
             if not url.startswith("data:")]  # fmt: skip
    assert len(files) == 7 and not [url for url in files if not url.startswith("/vendor/graphiql/")], files
    for url in files:
        response = await client.get(url)
        kind = "text/css" if url.endswith(".css") else "javascript"
        assert response.status_code == 200 and kind in response.headers["content-type"], url
    assert not re.findall(r'(?:src|href)="https?:', page)  # the icon is inline


async def test_queries_over_get_but_mutations_only_over_post(client, key):
    auth = {"authorization": f"Bearer {key}"}
    response = await client.get("/graphql", params={"query": QUERY}, headers=auth)
    assert response.json() == {"data": {"campaigns": {"edges": []}}}
    mutation = 'mutation { removeRule(id: "1") { userErrors { message } } }'
    response = await client.get("/graphql", params={"query": mutation}, headers=auth)
    assert response.status_code == 400 and "mutations are not allowed" in response.text.lower()
    batch = await client.post("/graphql", json=[{"query": QUERY}, {"query": QUERY}], headers=auth)
    assert batch.status_code == 400


async def test_subscriptions_over_http_are_sent_to_the_websocket(client, key):
    auth = {"authorization": f"Bearer {key}"}
    subscription = "subscription { conversionRecorded { id } }"
    for response in (
        await client.post("/graphql", json={"query": subscription}, headers=auth),
        await client.get("/graphql", params={"query": subscription}, headers=auth),
    ):
        assert response.status_code == 200 and response.json() == {"data": None, "errors": [
            {"message": "subscriptions are served over WebSocket (graphql-transport-ws) on /graphql, not over HTTP"}
        ]}  # fmt: skip


async def test_a_click_with_a_value_cut_to_fit_says_so(client, key, services):
    campaign = await make_campaign(services)
    plain = await new_click(client, campaign.id)
    cut = await new_click(client, f"{campaign.id}&sub1={'x' * 5000}")
    query = "query($c: String!) { click(clickId: $c) { truncated sub1 } }"
    assert (await gql(client, key, query, c=plain))["click"] == {"truncated": False, "sub1": None}
    click = (await gql(client, key, query, c=cut))["click"]
    assert click["truncated"] is True and click["sub1"] == "x" * 255


async def test_campaign_with_everything_nested(client, key, services, settings):
    campaign = await make_campaign(
        services, offers=(("https://offer.test/a?c={click_id}", 3),), landers=(("https://lander.test/", 1),),
        currency="EUR", source_blacklist=["bad"],
    )  # fmt: skip
    clicks = await insert_clicks(
        services.db, campaign.id, [{"country": "UA", "sub3": "x", "params": {"k": "v"}, "cost": Decimal("0.5")}]
    )
    conversion = await insert_conversion(services.db, clicks[0], payout=Decimal("7.5"), goal="lead")
    data = await gql(client, key, """
        query($id: ID!) {
          campaign(id: $id) {
            id name status costModel costValue currency sourceBlacklist sourceWhitelist
            trackingUrl postbackUrl createdAt
            offers { id url weight payout active } landers { id url weight active } rules { id }
            stats { clicks conversions revenue cost profit roi cr epc cpa cpc landerCtr currency }
          }
          clicks(campaignId: $id) { edges { node {
            clickId country sub3 params cost deviceType isBot isUnique createdAt
            campaign { id } offer { id } lander { id }
            conversions { id goal payout status click { clickId } campaign { name } }
          } } }
          conversion(id: "%d") { id goal txid payout currency click { country } }
        }""" % conversion, id=str(campaign.id))  # fmt: skip
    got = data["campaign"]
    assert got["id"] == str(campaign.id) and got["status"] == "ACTIVE" and got["costModel"] == "NONE"
    assert got["currency"] == "EUR" and got["costValue"] == "0.00"
    assert got["sourceBlacklist"] == ["bad"] and got["sourceWhitelist"] == []
    assert got["trackingUrl"] == f"http://localhost:8000/click?campaign_id={campaign.id}"
    assert got["postbackUrl"] == (
        "http://localhost:8000/postback?click_id={click_id}&payout={payout}&status={status}"
    )
    assert got["createdAt"].endswith("+00:00")
    assert got["offers"] == [{"id": got["offers"][0]["id"], "url": "https://offer.test/a?c={click_id}",
                              "weight": 3, "payout": "0.00", "active": True}]  # fmt: skip
    assert len(got["landers"]) == 1 and got["rules"] == []
    assert got["stats"] == {
        "clicks": 1, "conversions": 1, "revenue": "7.50", "cost": "0.50", "profit": "7.00",
        "roi": 1400.0, "cr": 100.0, "epc": "7.50", "cpa": "0.50", "cpc": "0.50", "landerCtr": None,
        "currency": "EUR",
    }  # fmt: skip
    node = data["clicks"]["edges"][0]["node"]
    assert node["country"] == "UA" and node["sub3"] == "x" and node["params"] == {"k": "v"}
    assert node["cost"] == "0.50" and node["deviceType"] == "DESKTOP" and node["isBot"] is False
    assert node["campaign"] == {"id": str(campaign.id)} and node["offer"] is None and node["lander"] is None
    assert node["conversions"] == [{
        "id": str(conversion), "goal": "lead", "payout": "7.50", "status": "APPROVED",
        "click": {"clickId": node["clickId"]}, "campaign": {"name": campaign.name},
    }]  # fmt: skip
    assert data["conversion"] == {
        "id": str(conversion), "goal": "lead", "txid": None, "payout": "7.50", "currency": "EUR",
        "click": {"country": "UA"},
    }  # fmt: skip


async def test_postback_url_carries_the_configured_token(database_url):
    from graphapi.app import create_app
    from graphapi.settings import Settings
    from tests.conftest import http_client

    app = create_app(Settings(database_url=database_url, postback_token="s3cr&t", public_url="https://t.example/", _env_file=None))
    async with app.router.lifespan_context(app), http_client(app) as client:
        key = await new_api_key()
        campaign = await make_campaign(app.state.services)
        data = await gql(client, key, 'query($id: ID!) { campaign(id: $id) { postbackUrl trackingUrl } }', id=str(campaign.id))
    assert data["campaign"]["postbackUrl"].endswith("&status={status}&token=s3cr%26t")
    assert data["campaign"]["postbackUrl"].startswith("https://t.example/postback?")
    assert data["campaign"]["trackingUrl"] == f"https://t.example/click?campaign_id={campaign.id}"


async def test_unknown_ids_are_null(client, key, services):
    data = await gql(client, key, """{ campaign(id: "999") { id } a: campaign(id: "x") { id }
        click(clickId: "nope") { clickId } nul: click(clickId: "ab\\u0000c") { clickId }
        conversion(id: "99999999999999999999999") { id } clicks(campaignId: "junk") { edges { cursor } } }""")
    assert data == {
        "campaign": None, "a": None, "click": None, "nul": None, "conversion": None, "clicks": {"edges": []}
    }


# Beyond 32-bit keys (campaigns, offers, landers, rules), beyond 64-bit ones, beyond what int() converts.
BEYOND_KEYS = ("2147483648", "9223372036854775808", "1" * 5000)


async def test_ids_beyond_a_tables_keys_are_unknown_ids(client, key, services):
    """On PostgreSQL too, whose key columns refuse a larger number as a parameter."""
    await make_campaign(services)
    for pk in BEYOND_KEYS:
        data = await gql(client, key, """query($id: ID!) { campaign(id: $id) { id } conversion(id: $id) { id }
            clicks(campaignId: $id) { edges { cursor } } conversions(campaignId: $id) { edges { cursor } }
            ruleEvents(campaignId: $id) { edges { cursor } } }""", id=pk)
        assert data == {
            "campaign": None, "conversion": None,
            "clicks": {"edges": []}, "conversions": {"edges": []}, "ruleEvents": {"edges": []},
        }  # fmt: skip
        body = await gql_raw(client, key, "query($id: ID) { report(groupBy: [], campaignId: $id) { totals { clicks } } }", id=pk)
        assert body["data"] is None and body["errors"][0]["message"] == f"no campaign with id {pk!r}"


@pytest.fixture
def statements(services, monkeypatch) -> list[str]:
    """Every SQL statement the app sends from now on (ORM and driver paths)."""
    sent: list[str] = []
    client_class = type(services.db.client)
    for name in ("execute_query", "execute_query_dict"):
        original = getattr(client_class, name)

        async def counted(self, query, values=None, _original=original):
            sent.append(query)
            return await _original(self, query, values)

        monkeypatch.setattr(client_class, name, counted)
    original_fetch = services.db.fetch

    async def counted_fetch(sql, params=(), **options):
        sent.append(sql)
        return await original_fetch(sql, params, **options)

    monkeypatch.setattr(services.db, "fetch", counted_fetch)
    return sent


async def test_nested_objects_are_batched(client, key, services, statements):
    """50 clicks with campaign, offer, conversions and campaign stats: a
    handful of queries, not one per click."""
    campaigns = [await make_campaign(services) for _ in range(5)]
    for campaign in campaigns:
        await insert_clicks(services.db, campaign.id, [{} for _ in range(10)])
    statements.clear()
    data = await gql(client, key, """{ clicks(first: 50) { edges { node {
        campaign { name offers { id } landers { id } rules { id } stats { clicks } }
        offer { id } conversions { id } } } } }""")
    assert len(data["clicks"]["edges"]) == 50
    assert all(e["node"]["campaign"]["stats"]["clicks"] == 10 for e in data["clicks"]["edges"])
    # key, page, campaigns, offers, landers, rules, conversions, stats (the
    # campaigns' currencies, clicks, conversions, and as all-time stats read
    # past days from the daily rollups and today from the hourly ones, where
    # days end and two more sums); and reads asking whether there are new
    # clicks to count into the rollups first (graphapi.rollups.catch_up):
    # one on PostgreSQL, two on SQLite
    assert len(statements) <= (14 if services.db.postgres else 15), statements


async def test_paging_1000_clicks_50_at_a_time_while_clicks_arrive(client, key, services):
    campaign = await make_campaign(services)
    first_thousand = set(await insert_clicks(services.db, campaign.id, [{} for _ in range(1000)]))
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = await gql(client, key, """query($after: String, $id: ID) {
            clicks(campaignId: $id, first: 50, after: $after) {
              edges { cursor node { clickId } } pageInfo { hasNextPage hasPreviousPage endCursor } } }""",
            after=after, id=str(campaign.id))  # fmt: skip
        connection = data["clicks"]
        seen += [edge["node"]["clickId"] for edge in connection["edges"]]
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        pages += 1
        # More clicks arrive between pages.
        await insert_clicks(services.db, campaign.id, [{} for _ in range(7)])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    ids = await services.db.fetch("SELECT id, click_id FROM click")
    by_click_id = {click_id: pk for pk, click_id in ids}
    seen_ids = [by_click_id[c] for c in seen]
    assert len(seen_ids) == len(set(seen_ids))
    assert first_thousand <= set(seen_ids)
    assert pages >= 20


async def test_page_size_and_cursor_errors_are_explained(client, key, services):
    body = await gql_raw(client, key, "{ clicks(first: %d) { edges { cursor } } }" % (MAX_PAGE + 1))
    assert body["data"] is None and f"between 0 and {MAX_PAGE}" in body["errors"][0]["message"]
    body = await gql_raw(client, key, '{ clicks(after: "bm9wZQ==") { edges { cursor } } }')
    assert "invalid cursor" in body["errors"][0]["message"]
    data = await gql(client, key, "{ clicks(first: null) { edges { cursor } pageInfo { hasNextPage } } }")
    assert data["clicks"]["pageInfo"]["hasNextPage"] is False


async def test_cursors_beyond_a_tables_keys_are_invalid(client, key, services):
    """Not "Unexpected error.": PostgreSQL refuses such numbers as parameters."""
    beyond = {name: [2**63, 10**23] for name in ("clicks", "conversions", "postbacks", "ruleEvents", "campaigns")}
    beyond["campaigns"].append(2**31)  # a 32-bit key
    for name, numbers in beyond.items():
        for number in numbers:
            body = await gql_raw(client, key, "query($c: String) { %s(after: $c) { edges { cursor } } }" % name,
                                 c=base64.urlsafe_b64encode(f"cursor:{number}".encode()).decode())  # fmt: skip
            assert body["data"] is None, (name, number)
            assert body["errors"][0]["message"] == "invalid cursor: pass an endCursor from a previous page"


async def test_deep_and_aliased_queries_are_rejected_before_any_resolver(client, key, services, statements):
    def only_the_key_lookup():
        assert len(statements) == 1 and "api_key" in statements[0], statements
        statements.clear()

    deep = "{ clicks { edges { node { " + "conversions { click { " * 9 + "clickId" + " } }" * 9 + " } } } }"
    body = await gql_raw(client, key, deep)
    assert "data" not in body or body["data"] is None
    assert f"exceeds maximum operation depth of {MAX_DEPTH}" in body["errors"][0]["message"]
    only_the_key_lookup()

    aliases = "{ " + " ".join(f"a{i}: campaigns {{ edges {{ cursor }} }}" for i in range(1000)) + " }"
    body = await gql_raw(client, key, aliases)
    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"] or "token" in body["errors"][0]["message"]
    only_the_key_lookup()

    few = "{ " + " ".join(f"a{i}: campaigns {{ edges {{ cursor }} }}" for i in range(MAX_ALIASES + 1)) + " }"
    body = await gql_raw(client, key, few)
    assert f"{MAX_ALIASES}" in body["errors"][0]["message"]
    only_the_key_lookup()


# Within every limit on its parts, and about 108,000 fields as schema.cost
# counts them: 500 clicks, each with its campaign's figures and offers and
# its conversions' campaigns and clicks. Fifty aliases of it kept the server
# from answering clicks for half a minute.
COSTLY = """query($n: Int) { clicks(first: $n) { edges { node { clickId %s conversions { id payout
    campaign { stats(until: "2030-01-01T00:00:00Z") { clicks conversions revenue } } click { conversions { id } } } } } } }"""
CAMPAIGN_PART = "campaign { name stats(since: \"2020-01-01T00:00:00Z\") { clicks uniqueClicks conversions revenue cost roi cr epc } offers { id } }"


async def test_costly_queries_are_refused_before_any_resolver(client, key, services, statements):
    too_costly = f"query too costly: it asks for about 108,001 fields, more than the limit of {MAX_COST:,};"
    for query in (COSTLY % CAMPAIGN_PART, (COSTLY % "...Where") + " fragment Where on Click { %s }" % CAMPAIGN_PART):
        statements.clear()
        body = await gql_raw(client, key, query, n=500)
        assert body.get("data") is None and body["errors"][0]["message"].startswith(too_costly), body
        assert len(statements) == 1 and "api_key" in statements[0], statements  # nothing ran
        # The same with a smaller page (first is read from the variables) runs.
        assert "errors" not in await gql_raw(client, key, query, n=20)

    # The dashboard's largest: 500 campaigns with their figures, about 13,000.
    everything = "{ campaigns(first: 500) { edges { node { id name status currency trackingUrl stats { %s } } } } }"
    figures = " ".join(("clicks uniqueClicks botClicks landerClicks conversions pendingConversions rejectedConversions "
                        "revenue pendingRevenue cost profit roi cr epc cpa cpc currency").split())  # fmt: skip
    assert "errors" not in await gql_raw(client, key, everything % figures)


async def test_a_body_over_a_mebibyte_is_refused_unexecuted(client, key, services, statements):
    auth = {"authorization": f"Bearer {key}"}
    near = json.dumps({"query": QUERY, "variables": {"pad": "x" * (MAX_BODY - 100)}}).encode()
    response = await client.post("/graphql", content=near, headers={**auth, "content-type": "application/json"})
    assert len(near) <= MAX_BODY and response.json() == {"data": {"campaigns": {"edges": []}}}

    async def chunked():  # no content-length: counted as it arrives
        yield b'{"query": "{ campaigns { edges { cursor } } }", "variables": {"pad": "'
        for _ in range(MAX_BODY // 65536):
            yield b"x" * 65536
        yield b'"}}'

    statements.clear()
    for body in (json.dumps({"query": QUERY, "variables": {"pad": "x" * MAX_BODY}}).encode(), chunked()):
        response = await client.post("/graphql", content=body, headers={**auth, "content-type": "application/json"})
        assert response.status_code == 413 and response.json() == {"errors": [{"message": "body: larger than 1024 KiB"}]}
    assert len(statements) == 2 and all("api_key" in sql for sql in statements), statements


async def test_unexpected_errors_are_masked_and_logged(client, key, services, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr("schema.report.report", broken)
    with caplog.at_level(logging.ERROR):
        body = await gql_raw(client, key, "{ report(groupBy: []) { totals { clicks } } }")
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "hunter2" not in str(body)
    assert "hunter2" in caplog.text


async def test_concurrent_requests_keep_their_own_loaders(client, key, services):
    one = await make_campaign(services, name="one")
    two = await make_campaign(services, name="two")
    query = 'query($id: ID!) { campaign(id: $id) { name } }'
    results = await asyncio.gather(*(gql(client, key, query, id=str(c.id)) for c in [one, two] * 5))
    assert [r["campaign"]["name"] for r in results] == ["one", "two"] * 5


async def test_time_filters_on_lists(client, key, services):
    campaign = await make_campaign(services)
    old = datetime(2026, 1, 1, tzinfo=timezone.utc)
    await insert_clicks(services.db, campaign.id, [{"created_at": old}, {"created_at": old + timedelta(days=2)}])
    data = await gql(client, key, """{ clicks(since: "2026-01-02T00:00:00Z") { edges { node { createdAt } } }
        all: clicks(until: "2026-01-05T00:00:00+02:00") { edges { cursor } } }""")
    assert [e["node"]["createdAt"] for e in data["clicks"]["edges"]] == ["2026-01-03T00:00:00+00:00"]
    assert len(data["all"]["edges"]) == 2


async def test_times_beyond_the_calendar_in_utc_are_explained(client, key, services):
    await make_campaign(services)
    for moment in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        for query in (
            "query($t: DateTime) { clicks(since: $t) { edges { cursor } } }",
            "query($t: DateTime) { campaigns { edges { node { stats(since: $t) { clicks } } } } }",
            "query($t: DateTime) { report(groupBy: [DAY], until: $t) { totals { clicks } } }",
            '{ clicks(since: "%s") { edges { cursor } } }' % moment,
        ):
            body = await gql_raw(client, key, query, t=moment)
            assert body.get("data") is None, query
            message = body["errors"][0]["message"]
            assert f"{moment!r} is out of range: in UTC it must fall in the years 1 to 9999" in message, message


async def test_conversions_postbacks_and_rule_events_lists(client, key, services):
    from graphapi import models

    campaign = await make_campaign(services)
    other = await make_campaign(services)
    clicks = await insert_clicks(services.db, campaign.id, [{}, {}, {}])
    approved = await insert_conversion(services.db, clicks[0], payout=Decimal("1"))
    pending = await insert_conversion(services.db, clicks[1], status="pending")
    (other_click,) = await insert_clicks(services.db, other.id, [{}])
    await insert_conversion(services.db, other_click)
    now = datetime.now(timezone.utc)
    await models.Postback.create(received_at=now, outcome="created", click_id="abc", params={"payout": "1"},
                                 remote_addr="198.51.100.1", conversion_id=approved, status="pending")  # fmt: skip
    await models.Postback.create(received_at=now, outcome="unknown_click", message="no such click", params={})
    await models.RuleEvent.create(plugin="pause", campaign=campaign, conversion_id=pending, action="pause_campaign",
                                  detail={"roi": -90}, outcome="applied")  # fmt: skip
    await models.RuleEvent.create(plugin="notify", campaign=other, action="send_webhook", outcome="failed", message="timeout")
    data = await gql(client, key, """query($c: ID) {
        conversions(campaignId: $c) { edges { node { id status } } }
        pending: conversions(status: PENDING) { edges { node { id } } }
        postbacks { edges { node { outcome clickId params remoteAddr message status conversion { id } } } }
        unknown: postbacks(outcome: UNKNOWN_CLICK) { edges { node { message status conversion { id } } } }
        ruleEvents(campaignId: $c) { edges { node { plugin action detail outcome campaign { id } conversion { id } } } }
        all: ruleEvents { edges { node { outcome message } } }
        rulePlugins { name description configSchema } }""", c=str(campaign.id))  # fmt: skip
    assert [e["node"] for e in data["conversions"]["edges"]] == [
        {"id": str(pending), "status": "PENDING"}, {"id": str(approved), "status": "APPROVED"}
    ]
    assert [e["node"]["id"] for e in data["pending"]["edges"]] == [str(pending)]
    assert [e["node"]["outcome"] for e in data["postbacks"]["edges"]] == ["UNKNOWN_CLICK", "CREATED"]
    assert data["postbacks"]["edges"][1]["node"] == {
        "outcome": "CREATED", "clickId": "abc", "params": {"payout": "1"}, "remoteAddr": "198.51.100.1",
        "message": None, "status": "PENDING", "conversion": {"id": str(approved)},
    }  # fmt: skip
    assert data["unknown"]["edges"] == [{"node": {"message": "no such click", "status": None, "conversion": None}}]
    assert [e["node"] for e in data["ruleEvents"]["edges"]] == [{
        "plugin": "pause", "action": "pause_campaign", "detail": {"roi": -90}, "outcome": "APPLIED",
        "campaign": {"id": str(campaign.id)}, "conversion": {"id": str(pending)},
    }]  # fmt: skip
    assert [e["node"] for e in data["all"]["edges"]] == [
        {"outcome": "FAILED", "message": "timeout"}, {"outcome": "APPLIED", "message": None}
    ]
    plugins = {plugin["name"]: plugin for plugin in data["rulePlugins"]}
    assert {"roi_guard", "budget_cap", "webhook"} <= set(plugins)
    assert plugins["roi_guard"]["configSchema"]["required"] == ["min_roi"]
    assert plugins["roi_guard"]["description"].startswith("pause a campaign")


async def test_campaigns_list_pages_and_filters_by_status(client, key, services):
    from graphapi.models import CampaignStatus

    made = [await make_campaign(services, name=f"c{i}") for i in range(5)]
    await make_campaign(services, name="paused", status=CampaignStatus.PAUSED)
    data = await gql(client, key, "{ campaigns(first: 2, status: ACTIVE) { edges { node { name } } pageInfo { hasNextPage endCursor } } }")
    assert [e["node"]["name"] for e in data["campaigns"]["edges"]] == ["c4", "c3"]
    after = data["campaigns"]["pageInfo"]["endCursor"]
    data = await gql(client, key, 'query($a: String) { campaigns(first: 10, status: ACTIVE, after: $a) { edges { node { name } } pageInfo { hasNextPage } } }', a=after)
    assert [e["node"]["name"] for e in data["campaigns"]["edges"]] == ["c2", "c1", "c0"]
    assert data["campaigns"]["pageInfo"]["hasNextPage"] is False and len(made) == 5
    data = await gql(client, key, "{ campaigns(status: PAUSED) { edges { node { name status } } } }")
    assert data["campaigns"]["edges"] == [{"node": {"name": "paused", "status": "PAUSED"}}]


async def test_requests_that_cannot_run_are_answered_in_json(client, key):
    auth = {"authorization": f"Bearer {key}"}
    mutation = 'mutation { removeRule(id: "1") { userErrors { message } } }'
    deep = '{"query": "query($v: JSON) { __typename }", "variables": {"v": ' + "[" * 5000 + "]" * 5000 + "}}"
    for response, says in (
        (await client.get("/graphql", params={"query": mutation}, headers=auth), "mutations are not allowed"),
        (await client.post("/graphql", json=[{"query": QUERY}], headers=auth), "batching"),
        (await client.post("/graphql", content=b"{not json", headers={**auth, "content-type": "application/json"}),
         "json"),
        (await client.post("/graphql", content=deep.encode(), headers={**auth, "content-type": "application/json"}),
         "json"),
        (await client.post("/graphql", json={"query": "query A { __typename }", "operationName": "Z"}, headers=auth),
         "unknown operation"),
    ):  # fmt: skip
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/json"
        [error] = response.json()["errors"]
        assert says in error["message"].lower(), error


async def test_several_operations_need_an_operation_name(client, key):
    two = "query A { __typename } query B { campaigns { edges { cursor } } }"
    body = await gql_raw(client, key, two)
    assert body == {"data": None, "errors": [{"message": "an operationName is required: the document has several operations"}]}
    named = await client.post("/graphql", json={"query": two, "operationName": "B"}, headers={"authorization": f"Bearer {key}"})
    assert named.json() == {"data": {"campaigns": {"edges": []}}}


async def test_a_key_that_cannot_be_checked_is_a_503_not_a_500(client, key, monkeypatch, caplog):
    """The database down while a request's key is looked up (here: refused at connect)."""

    async def unreachable(key: str) -> bool:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    monkeypatch.setattr("graphapi.graphql_endpoint.is_valid", unreachable)
    with caplog.at_level(logging.ERROR):
        response = await client.post("/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {key}"})
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")
    assert "database is unreachable" in response.json()["errors"][0]["message"]
    assert "5432" not in response.text and "Connect call failed" in caplog.text
