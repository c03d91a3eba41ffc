"""Every mutation: success, each validation error, nothing stored on error,
and the click path seeing changes at once."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import httpx
import pytest

from graphapi import models
from tests.conftest import make_campaign
from tests.gql import gql, gql_raw, new_api_key
from tests.seeding import insert_clicks, insert_conversion
from tests.serving import Server

CAMPAIGN = "campaign { id name status currency costModel costValue dailyBudget fallbackUrl trafficSource " \
    "sourceWhitelist sourceBlacklist offers { name url weight payout active } landers { name url weight active } }"
CREATE = "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { %s userErrors { field message } } }" % CAMPAIGN
UPDATE = "mutation($input: UpdateCampaignInput!) { updateCampaign(input: $input) { %s userErrors { field message } } }" % CAMPAIGN
OFFER = "offer { id name url weight payout active }"
LANDER = "lander { id name url weight active }"
ADD_OFFER = "mutation($c: ID!, $input: OfferInput!) { addOffer(campaignId: $c, input: $input) { %s userErrors { field message } } }" % OFFER
UPDATE_OFFER = "mutation($input: UpdateOfferInput!) { updateOffer(input: $input) { %s userErrors { field message } } }" % OFFER
ADD_LANDER = "mutation($c: ID!, $input: LanderInput!) { addLander(campaignId: $c, input: $input) { %s userErrors { field message } } }" % LANDER
UPDATE_LANDER = "mutation($input: UpdateLanderInput!) { updateLander(input: $input) { %s userErrors { field message } } }" % LANDER
RULE = "rule { id plugin config enabled }"
ADD_RULE = "mutation($input: AddRuleInput!) { addRule(input: $input) { %s userErrors { field message } } }" % RULE
UPDATE_RULE = "mutation($input: UpdateRuleInput!) { updateRule(input: $input) { %s userErrors { field message } } }" % RULE
REMOVE_RULE = "mutation($id: ID!) { removeRule(id: $id) { %s userErrors { field message } } }" % RULE
SET_STATUS = """mutation($id: ID!, $status: ConversionStatus!) { setConversionStatus(id: $id, status: $status) {
    conversion { id status campaign { stats { conversions rejectedConversions revenue } } } userErrors { field message } } }"""


@pytest.fixture
async def key(services) -> str:
    return await new_api_key()


async def location(client, campaign_id) -> str | None:
    response = await client.get(f"/click?campaign_id={campaign_id}")
    return response.headers.get("location") if response.status_code == 302 else None


async def test_create_campaign(client, key, services):
    data = (await gql(client, key, CREATE, input={
        "name": "Spring", "currency": "eur", "costModel": "CPC", "costValue": "0.05", "dailyBudget": "100",
        "trafficSource": "push", "fallbackUrl": "https://fallback.test/",
        "offers": [{"name": "A", "url": "https://offer.test/a?x={click_id}", "weight": 2, "payout": "7.5"},
                   {"name": "B", "url": "http://offer.test/b"}],
        "landers": [{"name": "L", "url": "https://lander.test/", "weight": 0}],
    }))["createCampaign"]  # fmt: skip
    assert data["userErrors"] == []
    campaign = data["campaign"]
    assert campaign["name"] == "Spring" and campaign["currency"] == "EUR" and campaign["status"] == "ACTIVE"
    assert campaign["costModel"] == "CPC" and campaign["costValue"] == "0.05" and campaign["dailyBudget"] == "100.00"
    assert campaign["offers"] == [
        {"name": "A", "url": "https://offer.test/a?x={click_id}", "weight": 2, "payout": "7.50", "active": True},
        {"name": "B", "url": "http://offer.test/b", "weight": 100, "payout": "0.00", "active": True},
    ]
    assert campaign["landers"] == [{"name": "L", "url": "https://lander.test/", "weight": 0, "active": True}]
    # Weight 0 lander: never picked; the click goes straight to an offer.
    assert (await location(client, campaign["id"])).startswith("http")


async def test_minimal_campaign_takes_the_defaults(client, key, services):
    data = (await gql(client, key, CREATE, input={"name": "x", "offers": []}))["createCampaign"]
    assert data["userErrors"] == []
    assert data["campaign"]["currency"] == "USD" and data["campaign"]["costModel"] == "NONE"
    assert data["campaign"]["landers"] == [] and data["campaign"]["dailyBudget"] is None


BAD_CAMPAIGNS = [
    ({"name": "  "}, ["input", "name"], "must not be empty"),
    ({"name": "x" * 256}, ["input", "name"], "at most 255"),
    ({"trafficSource": "x" * 256}, ["input", "trafficSource"], "at most 255"),
    ({"costValue": "1000000000000"}, ["input", "costValue"], "less than"),
    ({"currency": "XYZ"}, ["input", "currency"], "ISO-4217"),
    ({"currency": None}, ["input", "currency"], "ISO-4217"),
    ({"costValue": "-1"}, ["input", "costValue"], ">= 0"),
    ({"costModel": None}, ["input", "costModel"], "must not be null"),
    ({"dailyBudget": "-0.01"}, ["input", "dailyBudget"], ">= 0"),
    ({"dailyBudget": "1000000000000"}, ["input", "dailyBudget"], "less than 1000000000000"),
    ({"costValue": "0.0000004"}, ["input", "costValue"], "more than 6 decimal places"),
    ({"fallbackUrl": "javascript:alert(1)"}, ["input", "fallbackUrl"], "http"),
    ({"offers": [{"name": "a", "url": "https://ok.test/"}, {"name": "b", "url": "javascript:alert(1)//x"}]},
     ["input", "offers", "1", "url"], "http"),
    ({"offers": [{"name": "a", "url": "data:text/html,<script>"}]}, ["input", "offers", "0", "url"], "http"),
    ({"offers": [{"name": "a", "url": "/relative/path"}]}, ["input", "offers", "0", "url"], "http"),
    ({"offers": [{"name": "a", "url": "https:///nohost"}]}, ["input", "offers", "0", "url"], "host"),
    ({"offers": [{"name": "a", "url": "https://user:pw@offer.test/"}]}, ["input", "offers", "0", "url"], "credentials"),
    ({"offers": [{"name": "a", "url": "https://offer.test:99999/"}]}, ["input", "offers", "0", "url"], "port from 1 to 65535"),
    ({"offers": [{"name": "a", "url": "https://offer.test:0/"}]}, ["input", "offers", "0", "url"], "port from 1 to 65535"),
    ({"offers": [{"name": "a", "url": "https://offer.test:http/"}]}, ["input", "offers", "0", "url"], "port from 1 to 65535"),
    ({"offers": [{"name": "a", "url": "https://offer.test/a b"}]}, ["input", "offers", "0", "url"], "spaces"),
    ({"offers": [{"name": "a", "url": "https://{sub1}/x"}]}, ["input", "offers", "0", "url"], "not in the host"),
    ({"offers": [{"name": "a", "url": "https://a.{source}.test/"}]}, ["input", "offers", "0", "url"], "not in the host"),
    ({"offers": [{"name": "a", "url": "https://offer.test/", "weight": -1}]}, ["input", "offers", "0", "weight"], ">= 0"),
    ({"offers": [{"name": "a", "url": "https://offer.test/", "weight": 10**6 + 1}]}, ["input", "offers", "0", "weight"], "at most"),
    ({"offers": [{"name": "a", "url": "https://offer.test/" + "x" * 4096}]}, ["input", "offers", "0", "url"], "at most 4096"),
    ({"offers": [{"name": "a", "url": "https://offer.test/", "payout": "-5"}]}, ["input", "offers", "0", "payout"], ">= 0"),
    ({"offers": [{"name": "", "url": "https://offer.test/"}]}, ["input", "offers", "0", "name"], "empty"),
    ({"landers": [{"name": "l", "url": "ftp://lander.test/"}]}, ["input", "landers", "0", "url"], "http"),
    ({"landers": [{"name": "l", "url": "https://lander.test/", "weight": -3}]}, ["input", "landers", "0", "weight"], ">= 0"),
    # PostgreSQL stores no NUL; SQLite would have kept it.
    ({"name": "a\x00b"}, ["input", "name"], "must not contain NUL characters"),
    ({"trafficSource": "x\x00y"}, ["input", "trafficSource"], "NUL"),
    ({"offers": [{"name": "o\x00", "url": "https://offer.test/"}]}, ["input", "offers", "0", "name"], "NUL"),
    ({"landers": [{"name": "l", "url": "https://lander.test/\x00"}]}, ["input", "landers", "0", "url"], "NUL"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "path", "message"), BAD_CAMPAIGNS)
async def test_create_campaign_refuses_bad_input(client, key, services, fields, path, message):
    data = (await gql(client, key, CREATE, input={"name": "ok", "offers": [], **fields}))["createCampaign"]
    assert data["campaign"] is None
    assert [e["field"] for e in data["userErrors"]] == [path]
    assert message in data["userErrors"][0]["message"]
    assert await models.Campaign.all().count() == 0 and await models.Offer.all().count() == 0


async def test_every_error_is_reported_at_once(client, key, services):
    data = (await gql(client, key, CREATE, input={
        "name": "", "currency": "??", "offers": [{"name": "a", "url": "x", "weight": -1}]}))["createCampaign"]  # fmt: skip
    assert sorted(e["field"] for e in data["userErrors"]) == [
        ["input", "currency"], ["input", "name"], ["input", "offers", "0", "url"], ["input", "offers", "0", "weight"]
    ]


async def test_decimals_must_be_finite_strings(client, key, services):
    for bad in (7.5, "NaN", "Infinity", "abc", " 1_000 ", "1e3", "+5", "7,50", "--1"):
        body = await gql_raw(client, key, CREATE, input={"name": "x", "offers": [], "costValue": bad})
        assert body.get("data") is None
        assert "Decimal" in body["errors"][0]["message"] or "decimal" in body["errors"][0]["message"]
    assert await models.Campaign.all().count() == 0


async def test_update_campaign_reaches_the_click_path_at_once(client, key, services):
    campaign = await make_campaign(services, offers=(("https://offer.test/a", 1),))
    assert (await location(client, campaign.id)).startswith("https://offer.test/a")
    data = (await gql(client, key, UPDATE, input={
        "id": str(campaign.id), "status": "PAUSED", "fallbackUrl": "https://fallback.test/", "name": "renamed",
        "sourceBlacklist": ["spam"], "costModel": "CPM", "costValue": "2", "dailyBudget": "50", "trafficSource": "pop",
    }))["updateCampaign"]  # fmt: skip
    assert data["userErrors"] == []
    got = data["campaign"]
    assert (got["status"], got["name"], got["costModel"], got["costValue"]) == ("PAUSED", "renamed", "CPM", "2.00")
    assert got["sourceBlacklist"] == ["spam"] and got["trafficSource"] == "pop" and got["dailyBudget"] == "50.00"
    assert (await location(client, campaign.id)).startswith("https://fallback.test/")

    data = await gql(client, key, UPDATE, input={"id": str(campaign.id), "dailyBudget": None, "status": "ACTIVE"})
    assert data["updateCampaign"]["campaign"]["dailyBudget"] is None
    assert data["updateCampaign"]["campaign"]["name"] == "renamed"  # left out: left alone
    assert (await location(client, campaign.id)).startswith("https://offer.test/a")


@pytest.mark.parametrize(("fields", "path", "message"), [
    ({"id": "999"}, ["input", "id"], "no such id"),
    ({"name": None}, ["input", "name"], "empty"),
    ({"status": None}, ["input", "status"], "must not be null"),
    ({"costValue": "-2"}, ["input", "costValue"], ">= 0"),
    ({"fallbackUrl": "javascript://x"}, ["input", "fallbackUrl"], "http"),
    ({"sourceWhitelist": ["ok", ""]}, ["input", "sourceWhitelist", "1"], "empty"),
    ({"sourceBlacklist": None}, ["input", "sourceBlacklist"], "null"),
    ({"sourceBlacklist": ["s"] * 10_001}, ["input", "sourceBlacklist"], "at most 10000"),
    ({"trafficSource": "y" * 300}, ["input", "trafficSource"], "at most 255"),
    ({"trafficSource": "x\x00y"}, ["input", "trafficSource"], "NUL"),
    ({"sourceBlacklist": ["ok", "x\x00y"]}, ["input", "sourceBlacklist", "1"], "NUL"),
])  # fmt: skip
async def test_update_campaign_refuses_bad_input(client, key, services, fields, path, message):
    campaign = await make_campaign(services, name="before")
    data = await gql(client, key, UPDATE, input={"id": str(campaign.id), "name": "after", **fields})
    errors = data["updateCampaign"]["userErrors"]
    assert [e["field"] for e in errors] == [path] and message in errors[0]["message"]
    assert (await models.Campaign.get(id=campaign.id)).name == "before"


async def test_add_and_update_offer(client, key, services):
    campaign = await make_campaign(services, offers=())
    assert await location(client, campaign.id) is None
    data = await gql(client, key, ADD_OFFER, c=str(campaign.id), input={"name": "o", "url": "https://new.test/", "payout": "3"})
    offer = data["addOffer"]["offer"]
    assert data["addOffer"]["userErrors"] == [] and offer["payout"] == "3.00" and offer["weight"] == 100
    assert (await location(client, campaign.id)).startswith("https://new.test/")

    data = await gql(client, key, UPDATE_OFFER, input={"id": offer["id"], "url": "https://moved.test/", "weight": 5})
    assert data["updateOffer"]["offer"]["url"] == "https://moved.test/"
    assert data["updateOffer"]["offer"]["weight"] == 5 and data["updateOffer"]["offer"]["name"] == "o"
    assert (await location(client, campaign.id)).startswith("https://moved.test/")

    data = await gql(client, key, UPDATE_OFFER, input={"id": offer["id"], "active": False})
    assert data["updateOffer"]["offer"]["active"] is False
    assert await location(client, campaign.id) is None


@pytest.mark.parametrize(("mutation", "variables", "path", "message"), [
    (ADD_OFFER, {"c": "999", "input": {"name": "o", "url": "https://x.test/"}}, ["campaignId"], "no campaign"),
    (ADD_OFFER, {"input": {"name": "o", "url": "javascript:x"}}, ["input", "url"], "http"),
    (ADD_OFFER, {"input": {"name": "o", "url": "https://x.test/", "weight": -1}}, ["input", "weight"], ">= 0"),
    (ADD_OFFER, {"input": {"name": "o", "url": "https://x.test/", "payout": "-1"}}, ["input", "payout"], ">= 0"),
    (ADD_OFFER, {"input": {"name": "o", "url": "https://x.test/", "weight": None}}, ["input", "weight"], ">= 0"),
    (ADD_LANDER, {"c": "abc", "input": {"name": "l", "url": "https://x.test/"}}, ["campaignId"], "no campaign"),
    (ADD_LANDER, {"input": {"name": "l", "url": "data:,hi"}}, ["input", "url"], "http"),
    (ADD_LANDER, {"input": {"name": "l", "url": "https://x.test/", "weight": -1}}, ["input", "weight"], ">= 0"),
    (ADD_LANDER, {"input": {"name": "", "url": "https://x.test/"}}, ["input", "name"], "empty"),
])  # fmt: skip
async def test_add_offer_and_lander_refuse_bad_input(client, key, services, mutation, variables, path, message):
    campaign = await make_campaign(services, offers=())
    data = await gql(client, key, mutation, **{"c": str(campaign.id), **variables})
    payload = next(iter(data.values()))
    assert [e["field"] for e in payload["userErrors"]] == [path] and message in payload["userErrors"][0]["message"]
    assert await models.Offer.all().count() == 0 and await models.Lander.all().count() == 0


@pytest.mark.parametrize(("mutation", "model", "fields", "path", "message"), [
    (UPDATE_OFFER, models.Offer, {"id": "0"}, ["input", "id"], "no such id"),
    (UPDATE_OFFER, models.Offer, {"url": "https://a@b.test/"}, ["input", "url"], "credentials"),
    (UPDATE_OFFER, models.Offer, {"url": None}, ["input", "url"], "null"),
    (UPDATE_OFFER, models.Offer, {"payout": "-3"}, ["input", "payout"], ">= 0"),
    (UPDATE_OFFER, models.Offer, {"payout": "3.1234567"}, ["input", "payout"], "more than 6 decimal places"),
    (UPDATE_OFFER, models.Offer, {"payout": "999999999999.9999999"}, ["input", "payout"], "more than 6 decimal places"),
    (UPDATE_OFFER, models.Offer, {"active": None}, ["input", "active"], "null"),
    (UPDATE_LANDER, models.Lander, {"id": "x"}, ["input", "id"], "no such id"),
    (UPDATE_LANDER, models.Lander, {"url": "//no-scheme.test/"}, ["input", "url"], "http"),
    (UPDATE_LANDER, models.Lander, {"weight": -1}, ["input", "weight"], ">= 0"),
    (UPDATE_OFFER, models.Offer, {"name": "\x00"}, ["input", "name"], "NUL"),
])  # fmt: skip
async def test_update_offer_and_lander_refuse_bad_input(client, key, services, mutation, model, fields, path, message):
    campaign = await make_campaign(services, landers=(("https://lander.test/", 1),))
    row = await model.get(campaign_id=campaign.id)
    data = await gql(client, key, mutation, input={"id": str(row.id), "name": "changed", **fields})
    payload = next(iter(data.values()))
    assert [e["field"] for e in payload["userErrors"]] == [path] and message in payload["userErrors"][0]["message"]
    assert (await model.get(id=row.id)).name != "changed"


async def test_add_and_update_lander(client, key, services):
    campaign = await make_campaign(services)
    data = await gql(client, key, ADD_LANDER, c=str(campaign.id), input={"name": "l", "url": "https://lp.test/"})
    lander = data["addLander"]["lander"]
    assert data["addLander"]["userErrors"] == [] and lander["active"] is True
    assert (await location(client, campaign.id)).startswith("https://lp.test/")
    data = await gql(client, key, UPDATE_LANDER, input={"id": lander["id"], "active": False})
    assert data["updateLander"]["lander"]["active"] is False
    assert (await location(client, campaign.id)).startswith("https://offer.test/a")


async def test_rules_added_updated_and_removed(client, key, services):
    campaign = await make_campaign(services)
    data = await gql(client, key, ADD_RULE, input={"campaignId": str(campaign.id), "plugin": "roi_guard", "config": {"min_roi": -50}})
    rule = data["addRule"]["rule"]
    assert data["addRule"]["userErrors"] == []
    assert rule["plugin"] == "roi_guard" and rule["config"] == {"min_roi": -50} and rule["enabled"] is True

    data = await gql(client, key, UPDATE_RULE, input={"id": rule["id"], "enabled": False, "config": {"min_roi": -10}})
    assert data["updateRule"]["rule"] == {**rule, "enabled": False, "config": {"min_roi": -10}}
    data = await gql(client, key, UPDATE_RULE, input={"id": rule["id"], "enabled": True})
    assert data["updateRule"]["rule"]["config"] == {"min_roi": -10}

    data = await gql(client, key, 'query($id: ID!) { campaign(id: $id) { rules { id enabled } } }', id=str(campaign.id))
    assert data["campaign"]["rules"] == [{"id": rule["id"], "enabled": True}]
    data = await gql(client, key, REMOVE_RULE, id=rule["id"])
    assert data["removeRule"]["rule"]["id"] == rule["id"] and data["removeRule"]["userErrors"] == []
    assert await models.Rule.all().count() == 0
    data = await gql(client, key, REMOVE_RULE, id=rule["id"])
    assert data["removeRule"] == {"rule": None, "userErrors": [{"field": ["id"], "message": "no rule with this id"}]}


async def test_a_rule_without_config_gets_an_empty_object(client, key, services):
    campaign = await make_campaign(services)
    data = await gql(client, key, ADD_RULE, input={"campaignId": str(campaign.id), "plugin": "budget_cap"})
    assert data["addRule"]["userErrors"] == [] and data["addRule"]["rule"]["config"] == {}


@pytest.mark.parametrize(("fields", "path", "message"), [
    ({"campaignId": "404"}, ["input", "campaignId"], "no campaign"),
    ({"plugin": " "}, ["input", "plugin"], "no rule plugin named ''"),
    ({"plugin": "nope"}, ["input", "plugin"], "no rule plugin named 'nope' is loaded (loaded: roi_guard"),
    ({"config": [1, 2]}, ["input", "config"], "JSON object"),
    ({"config": "text"}, ["input", "config"], "JSON object"),
    ({"config": {}}, ["input", "config"], "'min_roi' is a required property"),
    ({"config": {"min_roi": "high"}}, ["input", "config", "min_roi"], "is not of type 'number'"),
    ({"config": {"min_roi": 1, "extra": 2}}, ["input", "config"], "Additional properties"),
    ({"enabled": None}, ["input", "enabled"], "null"),
    ({"plugin": "webhook", "config": {"url": "https://hooks.example/\x00"}}, ["input", "config", "url"], "NUL"),
])  # fmt: skip
async def test_add_rule_refuses_bad_input(client, key, services, fields, path, message):
    campaign = await make_campaign(services)
    data = await gql(client, key, ADD_RULE, input={
        "campaignId": str(campaign.id), "plugin": "roi_guard", "config": {"min_roi": 0}, **fields})  # fmt: skip
    errors = data["addRule"]["userErrors"]
    assert [e["field"] for e in errors] == [path] and message in errors[0]["message"]
    assert await models.Rule.all().count() == 0


async def test_a_rule_config_holds_only_finite_numbers(client, key, services):
    """JSON has no NaN or Infinity: stored, one made every answer listing the rule unreadable."""
    campaign = await make_campaign(services)
    finite = "must be a finite number (JSON has no NaN or Infinity)"
    literal = 'mutation { addRule(input: {campaignId: "%s", plugin: "roi_guard", config: {min_roi: 1e400}}) { %s userErrors { field message } } }'
    data = await gql(client, key, literal % (campaign.id, RULE))
    assert data["addRule"]["userErrors"] == [{"field": ["input", "config", "min_roi"], "message": finite}]
    # Python's json writes (and reads) NaN and Infinity, as some clients do.
    config = {"min_roi": float("inf"), "x": [1, float("nan")]}
    variables = {"input": {"campaignId": str(campaign.id), "plugin": "roi_guard", "config": config}}
    response = await client.post("/graphql", content=json.dumps({"query": ADD_RULE, "variables": variables}),
                                 headers={"authorization": f"Bearer {key}", "content-type": "application/json"})  # fmt: skip
    assert response.json()["data"]["addRule"]["userErrors"] == [
        {"field": ["input", "config", "min_roi"], "message": finite}, {"field": ["input", "config", "x", "1"], "message": finite}
    ]  # fmt: skip
    assert await models.Rule.all().count() == 0


@pytest.mark.parametrize(("fields", "path", "message"), [
    ({"id": "77"}, ["input", "id"], "no rule"),
    ({"config": 5}, ["input", "config"], "JSON object"),
    ({"config": None}, ["input", "config"], "JSON object"),
    ({"config": {"min_roi": 1, "min_cost": -5}}, ["input", "config", "min_cost"], "less than the minimum of 0"),
    ({"enabled": None}, ["input", "enabled"], "null"),
    ({"config": {"min_roi": 1, "x\x00": 1}}, ["input", "config"], "NUL"),
])  # fmt: skip
async def test_update_rule_refuses_bad_input(client, key, services, fields, path, message):
    campaign = await make_campaign(services)
    rule = await models.Rule.create(campaign=campaign, plugin="roi_guard", config={"a": 1})
    data = await gql(client, key, UPDATE_RULE, input={"id": str(rule.id), "enabled": False, **fields})
    errors = data["updateRule"]["userErrors"]
    assert [e["field"] for e in errors] == [path] and message in errors[0]["message"]
    stored = await models.Rule.get(id=rule.id)
    assert stored.enabled is True and stored.config == {"a": 1}


async def test_set_conversion_status_moves_the_figures_and_tells_the_rules(client, key, services):
    campaign = await make_campaign(services)
    (click,) = await insert_clicks(services.db, campaign.id, [{}])
    conversion = await insert_conversion(services.db, click, payout=Decimal("7.50"))
    async with services.feed.subscribe() as queue:
        data = await gql(client, key, SET_STATUS, id=str(conversion), status="REJECTED")
        assert await asyncio.wait_for(queue.get(), 1) == conversion
    payload = data["setConversionStatus"]
    assert payload["userErrors"] == []
    assert payload["conversion"]["status"] == "REJECTED"
    assert payload["conversion"]["campaign"]["stats"] == {"conversions": 0, "rejectedConversions": 1, "revenue": "0.00"}
    outbox = await models.Outbox.filter(conversion_id=conversion).values_list("previous_status", flat=True)
    assert outbox == ["approved"]

    # The same status again changes nothing and hands nothing to the rules.
    data = await gql(client, key, SET_STATUS, id=str(conversion), status="REJECTED")
    assert data["setConversionStatus"]["userErrors"] == []
    assert await models.Outbox.filter(conversion_id=conversion).count() == 1

    # Unlike a postback, the operator may send it back to pending.
    data = await gql(client, key, SET_STATUS, id=str(conversion), status="PENDING")
    payload = data["setConversionStatus"]
    assert payload["conversion"]["status"] == "PENDING"
    assert payload["conversion"]["campaign"]["stats"] == {"conversions": 0, "rejectedConversions": 0, "revenue": "0.00"}
    outbox = await models.Outbox.filter(conversion_id=conversion).order_by("id").values_list("status", flat=True)
    assert outbox == ["rejected", "pending"]


async def test_set_conversion_status_of_an_unknown_conversion(client, key, services):
    for missing in ("12345", "not-an-id"):
        data = await gql(client, key, SET_STATUS, id=missing, status="APPROVED")
        assert data["setConversionStatus"] == {
            "conversion": None, "userErrors": [{"field": ["id"], "message": "no conversion with this id"}]
        }


async def test_ids_beyond_a_tables_keys_are_unknown_ids(client, key, services):
    """On PostgreSQL too, whose key columns refuse a larger number as a parameter."""
    campaign = await make_campaign(services)
    offer = {"name": "o", "url": "https://x.test/"}
    for pk in ("2147483648", "9223372036854775808", "1" * 5000):
        for mutation, variables, path, message in [
            (UPDATE, {"input": {"id": pk, "name": "x"}}, ["input", "id"], "no such id"),
            (ADD_OFFER, {"c": pk, "input": offer}, ["campaignId"], "no campaign with this id"),
            (ADD_LANDER, {"c": pk, "input": offer}, ["campaignId"], "no campaign with this id"),
            (UPDATE_OFFER, {"input": {"id": pk, "name": "x"}}, ["input", "id"], "no such id"),
            (UPDATE_LANDER, {"input": {"id": pk, "name": "x"}}, ["input", "id"], "no such id"),
            (ADD_RULE, {"input": {"campaignId": pk, "plugin": "roi_guard", "config": {"min_roi": 0}}},
             ["input", "campaignId"], "no campaign with this id"),
            (UPDATE_RULE, {"input": {"id": pk, "enabled": False}}, ["input", "id"], "no rule with this id"),
            (REMOVE_RULE, {"id": pk}, ["id"], "no rule with this id"),
            (SET_STATUS, {"id": pk, "status": "REJECTED"}, ["id"], "no conversion with this id"),
        ]:  # fmt: skip
            payload = next(iter((await gql(client, key, mutation, **variables)).values()))
            assert payload["userErrors"] == [{"field": path, "message": message}], (mutation, pk)
    assert (await models.Campaign.get(id=campaign.id)).name == campaign.name
    assert await models.Rule.all().count() == 0


async def test_a_change_reaches_the_click_path_of_another_process(client, key, services, database_url, tmp_path):
    campaign = await make_campaign(services, offers=(("https://before.test/", 1),))
    offer = await models.Offer.get(campaign_id=campaign.id)
    server = await asyncio.to_thread(Server, database_url, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url) as other:
            first = await other.get(f"/click?campaign_id={campaign.id}")
            assert first.headers["location"].startswith("https://before.test/")
            data = await gql(client, key, UPDATE_OFFER, input={"id": str(offer.id), "url": "https://after.test/"})
            assert data["updateOffer"]["userErrors"] == []
            changed_at = time.monotonic()
            # PostgreSQL tells the other process at once (NOTIFY); a shared
            # SQLite file is polled each second.
            while True:
                location = (await other.get(f"/click?campaign_id={campaign.id}")).headers["location"]
                if location.startswith("https://after.test/"):
                    break
                assert time.monotonic() - changed_at < (0.5 if services.db.postgres else 2.5)
                await asyncio.sleep(0.02)
    finally:
        await asyncio.to_thread(server.stop)
