"""/postback through HTTP, on SQLite and PostgreSQL: results, figures, hand-over."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal

import pytest

from graphapi.conversions import _SELECT_CONVERSIONS_SQLITE
from graphapi.db import migrate
from graphapi.models import Conversion, ConversionStatus, CostModel, Offer, Outbox
from graphapi.settings import SettingsError, load_settings
from graphapi.stats import campaign_stats
from tests.conftest import http_client, make_campaign
from tests.postbacks import log_rows, new_click, running_app

# (query, result, figures after it: conversions, pending, rejected, revenue,
#  pending revenue, cost) - cost for CPA 2.00 per approved conversion, and for
#  REVSHARE 30% of the approved payout.
SEQUENCE = [
    ("status=pending&payout=10", "created", (0, 1, 0, "0", "10", {"cpa": "0", "revshare": "0"})),
    ("status=pending&payout=10", "duplicate", (0, 1, 0, "0", "10", {"cpa": "0", "revshare": "0"})),
    ("status=approved&payout=10", "updated", (1, 0, 0, "10", "0", {"cpa": "2", "revshare": "3"})),
    ("status=approved&payout=10.00", "duplicate", (1, 0, 0, "10", "0", {"cpa": "2", "revshare": "3"})),
    ("status=chargeback", "updated", (0, 0, 1, "0", "0", {"cpa": "0", "revshare": "0"})),
    ("status=sale&payout=12.50", "updated", (1, 0, 0, "12.5", "0", {"cpa": "2", "revshare": "3.75"})),
    ("status=hold", "duplicate", (1, 0, 0, "12.5", "0", {"cpa": "2", "revshare": "3.75"})),
    ("status=approved&payout=5", "updated", (1, 0, 0, "5", "0", {"cpa": "2", "revshare": "1.5"})),
]
COSTS = {"cpa": (CostModel.CPA, Decimal("2.00")), "revshare": (CostModel.REVSHARE, Decimal("30"))}


@pytest.mark.parametrize("cost", ["cpa", "revshare"])
async def test_postback_sequence_moves_the_figures(client, services, cost):
    cost_model, cost_value = COSTS[cost]
    campaign = await make_campaign(services, cost_model=cost_model, cost_value=cost_value)
    click_id = await new_click(client, campaign.id)
    conversion_id = None
    for step, (query, result, figures) in enumerate(SEQUENCE):
        response = await client.get(f"/postback?click_id={click_id}&{query}")
        assert response.status_code == 200, (step, response.text)
        body = response.json()
        assert body["result"] == result, (step, body)
        conversion_id = conversion_id or body["conversion_id"]
        assert body["conversion_id"] == conversion_id
        stats = await campaign_stats(services.db, campaign.id, "USD")
        conversions, pending, rejected, revenue, pending_revenue, costs = figures
        assert (
            stats.conversions, stats.pending_conversions, stats.rejected_conversions,
            stats.revenue, stats.pending_revenue, stats.cost,
        ) == (conversions, pending, rejected, Decimal(revenue), Decimal(pending_revenue),
              Decimal(costs[cost])), (step, query)  # fmt: skip

    conversion = await Conversion.get(id=conversion_id)
    assert conversion.raw_status == "approved" and conversion.status == ConversionStatus.APPROVED
    # One hand-over per created or updated conversion, with the status it left.
    outbox = (
        await Outbox.filter(conversion_id=conversion_id)
        .order_by("id")
        .values_list("previous_status", flat=True)
    )
    assert outbox == [None, "pending", "approved", "rejected", "approved"]
    outcomes = [row[0] for row in await log_rows(services.db)]
    assert outcomes == [result for _, result, _ in SEQUENCE]
    # Each log row keeps the status its postback left (the conversion's own is the latest).
    logged = await services.db.fetch("SELECT status FROM postback ORDER BY id")
    assert [row[0] for row in logged] == [
        "pending", "pending", "approved", "approved", "rejected", "approved", "approved", "approved"
    ]


async def test_late_status_is_explained(client, services):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    await client.get(f"/postback?click_id={click_id}&payout=3")
    response = await client.get(f"/postback?click_id={click_id}&status=pending&payout=3")
    assert response.json()["result"] == "duplicate"
    assert response.json()["status"] == "approved"
    assert "already approved" in response.json()["message"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [("sale", "approved"), ("Confirmed", "approved"), ("1", "approved"), ("lead", "pending"),
     ("on-hold", "pending"), ("0", "pending"), ("declined", "rejected"), ("Cancelled", "rejected"),
     ("refund", "rejected"), ("-1", "rejected")],
)  # fmt: skip
async def test_status_synonyms_keep_the_raw_value(client, services, raw, status):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    response = await client.get("/postback", params={"click_id": click_id, "status": raw, "payout": "1"})
    assert response.json()["status"] == status
    conversion = await Conversion.get(id=response.json()["conversion_id"])
    assert (conversion.status, conversion.raw_status) == (status, raw)


async def test_aliases_goals_and_params(client, services):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    lead = await client.get(f"/postback?cid={click_id}&event=lead&tid=T-1&sum=1.5&utm=x")
    deposit = await client.get(f"/postback?clickid={click_id}&et=deposit&order_id=T-2&amount=20")
    # Our own name wins; the network's own `subid` is only a parameter then.
    sale = await client.get(f"/postback?click_id={click_id}&subid=net-42&goal=sale&revenue=7")
    assert [r.json()["result"] for r in (lead, deposit, sale)] == ["created"] * 3
    rows = await Conversion.filter(campaign_id=campaign.id).order_by("id")
    assert [(c.goal, c.txid, c.payout) for c in rows] == [
        ("lead", "T-1", Decimal("1.5")), ("deposit", "T-2", Decimal("20")), ("sale", "", Decimal("7")),
    ]  # fmt: skip
    assert rows[0].params == {"utm": "x"} and rows[2].params == {"subid": "net-42"}
    stats = await campaign_stats(services.db, campaign.id, "USD")
    assert (stats.conversions, stats.revenue) == (3, Decimal("28.5"))


async def test_post_form_and_json(client, services):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    form = await client.post("/postback?goal=form", data={"click_id": click_id, "payout": "2.25"})
    as_json = await client.post(
        "/postback", json={"clickid": click_id, "payout": 7.5, "goal": "json", "extra": {"a": [1]}}
    )
    assert form.json()["result"] == as_json.json()["result"] == "created"
    conversion = await Conversion.get(id=as_json.json()["conversion_id"])
    assert conversion.payout == Decimal("7.5") and conversion.params == {"extra": '{"a":["1"]}'}
    assert (await Conversion.get(id=form.json()["conversion_id"])).payout == Decimal("2.25")


async def test_payout_defaults_to_the_offer_and_is_kept_on_update(client, services):
    campaign = await make_campaign(services)
    await Offer.filter(campaign_id=campaign.id).update(payout=Decimal("3.25"))
    await services.campaigns.changed(campaign.id)
    click_id = await new_click(client, campaign.id)
    await client.get(f"/postback?click_id={click_id}&status=pending&payout=10")
    await client.get(f"/postback?click_id={click_id}&status=approved")
    other = await new_click(client, campaign.id)
    await client.get(f"/postback?click_id={other}")
    stats = await campaign_stats(services.db, campaign.id, "USD")
    assert (stats.conversions, stats.revenue) == (2, Decimal("13.25"))


async def test_a_click_id_in_lower_case_is_the_same_click(client, services):
    """Some networks lower-case their macros' values; a ULID reads the same in any case."""
    campaign = await make_campaign(services, landers=(("https://lander.test/", 1),))
    click_id = await new_click(client, campaign.id)
    assert len(click_id) == 26 and click_id.isupper()
    response = await client.get(f"/postback?click_id={click_id.lower()}&payout=3")
    assert response.json()["result"] == "created", response.text
    again = await client.get(f"/postback?click_id={click_id[:13]}{click_id[13:].lower()}&payout=3")
    assert again.json()["result"] == "duplicate"
    go = await client.get(f"/go?click_id={click_id.lower()}")
    assert go.headers["location"].startswith("https://offer.test/a?click_id=" + click_id)


async def test_unknown_click_does_not_tell_malformed_from_unknown(client, services):
    campaign = await make_campaign(services)
    await new_click(client, campaign.id)
    answers = []
    for click_id in (
        "AAAAAAAAAAAAAAAAAAAAAA",
        "not a click id at all!",
        "x" * 5000,
        "'; DROP TABLE click;--",
    ):
        response = await client.get("/postback", params={"click_id": click_id})
        answers.append((response.status_code, response.json()))
    assert (
        answers
        == [(404, {"result": "unknown_click", "message": "Unknown click: no click has this click_id."})] * 4
    )
    assert [row[0] for row in await log_rows(services.db)] == ["unknown_click"] * 4


async def test_log_keeps_raw_parameters_and_peer(client, services):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    created = await client.get(f"/postback?click_id={click_id}&payout=1&note=a&note=b&long={'y' * 3000}")
    ((outcome, message, logged_click, params, remote_addr, conversion_id),) = await log_rows(services.db)
    assert (outcome, message, logged_click, remote_addr) == ("created", None, click_id, "203.0.113.7")
    await client.get("/postback?click_id=nosuchclick")
    assert [row[0] for row in await services.db.fetch("SELECT status FROM postback ORDER BY id")] == ["approved", None]
    assert conversion_id == created.json()["conversion_id"]
    assert json.loads(params) == {"click_id": click_id, "payout": "1", "note": ["a", "b"], "long": "y" * 1024}


async def test_feed_announces_created_and_updated(client, services):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    async with services.feed.subscribe() as queue:
        created = await client.get(f"/postback?click_id={click_id}&status=pending")
        await client.get(f"/postback?click_id={click_id}&status=pending")
        await client.get(f"/postback?click_id={click_id}&status=approved")
        conversion_id = created.json()["conversion_id"]
        assert [await asyncio.wait_for(queue.get(), 1) for _ in range(2)] == [conversion_id] * 2
        assert queue.empty()


async def test_foreign_currency_is_converted(database_url):
    async with running_app(database_url, currency_rates="EUR=1.10,GBP=1.25") as app:
        services = app.state.services
        async with http_client(app) as client:
            usd = await make_campaign(services)
            eur = await make_campaign(services, currency="EUR")
            click_usd, click_eur = await new_click(client, usd.id), await new_click(client, eur.id)
            first = await client.get(f"/postback?click_id={click_usd}&payout=10&currency=eur")
            again = await client.get(f"/postback?click_id={click_usd}&payout=10&currency=EUR")
            cross = await client.get(f"/postback?click_id={click_eur}&payout=11&currency=GBP")
            same = await client.get(f"/postback?click_id={click_eur}&goal=b&payout=4&currency=EUR")
            assert [r.json()["result"] for r in (first, again, cross, same)] == [
                "created", "duplicate", "created", "created"
            ]  # fmt: skip
            conversion = await Conversion.get(id=first.json()["conversion_id"])
            assert (conversion.payout, conversion.currency) == (Decimal("11.00"), "USD")
            assert (conversion.original_payout, conversion.original_currency) == (Decimal("10"), "EUR")
            assert (await campaign_stats(services.db, eur.id, "EUR")).revenue == Decimal("16.5")
    # The partner's amount is what makes a replay a duplicate, not today's rate.
    async with running_app(database_url, currency_rates="EUR=1.20") as app:
        async with http_client(app) as client:
            replay = await client.get(f"/postback?click_id={click_usd}&payout=10&currency=EUR")
            assert replay.json()["result"] == "duplicate"
            assert (await Conversion.get(id=replay.json()["conversion_id"])).payout == Decimal("11.00")


async def test_token_is_checked_first(database_url):
    async with running_app(database_url, postback_token="s3cret") as app:
        async with http_client(app) as client:
            campaign = await make_campaign(app.state.services)
            click_id = await new_click(client, campaign.id)
            answers = [
                await client.get(f"/postback?click_id={click_id}"),
                await client.get(f"/postback?click_id={click_id}&token=s3cre"),
                await client.get("/postback?click_id=unknown&token=guess"),
                await client.get(f"/postback?click_id={click_id}&token=s3cret&token=other"),
                await client.get(f"/postback?click_id={click_id}&token=s3cret"),
            ]
            assert [(r.status_code, r.json()["result"]) for r in answers] == [
                (403, "forbidden"), (403, "forbidden"), (403, "forbidden"), (403, "forbidden"), (200, "created"),
            ]  # fmt: skip
            assert answers[0].json()["message"].startswith("token:")
            rows = await log_rows(app.state.services.db)
            assert len(rows) == 5 and all(json.loads(row[3]).get("token") != "s3cret" for row in rows)
            assert "token" not in (await Conversion.get(id=answers[-1].json()["conversion_id"])).params


async def test_source_allowlist_uses_the_trusted_proxy_address(database_url):
    async with running_app(database_url, postback_allowed_ips="198.51.100.0/24, 2001:db8::/32") as app:
        campaign = await make_campaign(app.state.services)
        async with http_client(app) as visitor:
            click_id = await new_click(visitor, campaign.id)
        answers = []
        for peer, forwarded in [
            ("198.51.100.9", None), ("203.0.113.7", None), ("127.0.0.1", "198.51.100.10"),
            ("203.0.113.7", "198.51.100.11"), ("2001:db8::5", None),
        ]:  # fmt: skip
            async with http_client(app, peer=peer) as partner:
                headers = {"x-forwarded-for": forwarded} if forwarded else {}
                response = await partner.get(f"/postback?click_id={click_id}&goal={peer}", headers=headers)
                answers.append((response.status_code, response.json()["result"]))
        assert answers == [
            (200, "created"),
            (403, "forbidden"),
            (200, "created"),
            (403, "forbidden"),
            (200, "created"),
        ]
        remote = [row[4] for row in await log_rows(app.state.services.db)]
        assert remote == ["198.51.100.9", "203.0.113.7", "198.51.100.10", "203.0.113.7", "2001:db8::5"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("currency_rates", "EUR=abc"), ("currency_rates", "EURO=1.1"), ("currency_rates", "EUR=0"),
     ("currency_rates", "USD=2"), ("postback_allowed_ips", "10.0.0.0/33")],
)  # fmt: skip
def test_bad_postback_settings_name_the_variable(variable, value):
    with pytest.raises(SettingsError, match=f"GRAPHAPI_{variable.upper()}"):
        load_settings(_env_file=None, **{variable: value})


async def test_characters_a_database_refuses_never_fail(client, services):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    body = '{"click_id": "%s", "goal": "a\\u0000b", "note": "\\ud800", "\\u0000": "x"}' % click_id
    response = await client.post("/postback", content=body, headers={"content-type": "application/json"})
    assert response.json()["result"] == "created"
    conversion = await Conversion.get(id=response.json()["conversion_id"])
    assert conversion.goal == "ab" and conversion.params == {"note": "?", "": "x"}
    missing = await client.post(
        "/postback", content='{"click_id": "\\u0000\\udfff"}', headers={"content-type": "application/json"}
    )
    assert missing.status_code == 404
    assert len(await log_rows(services.db)) == 2


async def test_postback_that_cannot_be_committed_asks_for_a_retry(client, services):
    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)
    await services.postbacks.stop()
    response = await client.get(f"/postback?click_id={click_id}")
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")
    assert response.json()["result"] == "error"
    assert await Conversion.all().count() == 0


async def test_an_unexpected_error_on_the_postback_path_is_a_503_not_a_500(client, services, monkeypatch, caplog):
    from graphapi import postbacks

    campaign = await make_campaign(services)
    click_id = await new_click(client, campaign.id)

    def broken(named, log):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(postbacks, "conversion_request", broken)
    response = await client.get(f"/postback?click_id={click_id}")
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")
    assert response.json()["result"] == "error"
    assert "Traceback" not in response.text and "parser bug" not in response.text
    assert "parser bug" in caplog.text


async def test_postback_takes_get_and_post_only(client, services):
    response = await client.put("/postback?click_id=x")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")
    assert "GET or POST" in response.text
    # A link checker's HEAD records nothing, not even in the postback log.
    click_id = await new_click(client, (await make_campaign(services)).id)
    response = await client.head(f"/postback?click_id={click_id}&payout=5")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")
    assert await Conversion.all().count() == 0 and await log_rows(services.db) == []


async def test_a_batch_looks_its_existing_conversions_up_by_key_on_sqlite(tmp_path):
    # With `(click_id, goal, txid) IN (VALUES ...)` SQLite scanned the whole
    # conversion table for every batch of postbacks.
    path = tmp_path / "plan.sqlite3"
    await migrate(f"sqlite://{path}")
    sql = _SELECT_CONVERSIONS_SQLITE.format(values="(?, ?, ?), (?, ?, ?)")
    with sqlite3.connect(path) as connection:
        plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, (1, "", "", 2, "", ""))]
    assert any(step.startswith("SEARCH v USING INDEX") for step in plan), plan
    assert not any(step.startswith("SCAN v") for step in plan), plan
