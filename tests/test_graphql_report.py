"""`report`: rows add up to totals for every dimension; days and hours in a
time zone; periods; currencies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from graphapi.app import create_app
from graphapi.models import Lander, Offer
from graphapi.report import Dimension
from graphapi.settings import Settings
from graphapi.stats import campaign_stats
from tests.conftest import http_client, make_campaign
from tests.gql import gql, gql_raw, new_api_key
from tests.seeding import insert_clicks, insert_conversion

COUNTS = ("clicks", "uniqueClicks", "botClicks", "landerClicks", "conversions", "pendingConversions",
          "rejectedConversions")  # fmt: skip
MONEY = ("revenue", "pendingRevenue", "cost", "profit")
STATS = "stats { %s currency }" % " ".join(COUNTS + MONEY)
ROW = "day hour campaign { id } offer { id } lander { id } country deviceType os browser source creative " \
    "subid sub1 sub2 sub3 sub4 sub5 sub6 sub7 sub8 sub9 sub10 goal"
REPORT = """query($groupBy: [ReportDimension!]!, $campaignId: ID, $since: DateTime, $until: DateTime, $tz: String) {
  report(groupBy: $groupBy, campaignId: $campaignId, since: $since, until: $until, timezone: $tz) {
    rows { %s %s } totals { %s } } }""" % (ROW, STATS, STATS.removeprefix("stats { ").removesuffix(" }"))
START = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
async def key(services) -> str:
    return await new_api_key()


async def seed(services) -> list:
    """Two campaigns, varied clicks over three days, conversions of every status."""
    campaigns = []
    for n in range(2):
        campaign = await make_campaign(
            services, offers=(("https://o.test/1", 1), ("https://o.test/2", 1)),
            landers=(("https://l.test/", 1),),
        )  # fmt: skip
        offers = [o.id for o in await Offer.filter(campaign_id=campaign.id).order_by("id")]
        lander = (await Lander.get(campaign_id=campaign.id)).id
        rows = []
        for i in range(40):
            rows.append({
                "created_at": START + timedelta(hours=i * 2 + n, minutes=i),
                "offer_id": offers[i % 2], "lander_id": lander if i % 3 else None,
                "lander_clicked_at": START if i % 4 == 0 else None,
                "country": ["UA", "DE", None][i % 3], "device_type": ["desktop", "mobile", "tablet"][i % 3],
                "os": ["Linux", "iOS"][i % 2], "browser": ["Firefox", "Safari", None][i % 3],
                "source": f"s{i % 4}", "creative": f"c{i % 2}", "subid": f"id{i % 5}",
                **{f"sub{k}": f"v{(i + k) % 3}" for k in range(1, 11)},
                "is_bot": i % 7 == 0, "is_unique": i % 2 == 0, "cost": Decimal("0.013") * (i % 4),
                "route": "fallback" if i == 39 else "lander",
            })  # fmt: skip
        clicks = await insert_clicks(services.db, campaign.id, rows)
        for i, click in enumerate(clicks[:30]):
            await insert_conversion(
                services.db, click, status=["approved", "pending", "rejected"][i % 3],
                payout=Decimal("1.25") * (i + 1), goal=["", "lead", "sale"][i % 2 + (i % 5 == 0)],
                created_at=START + timedelta(hours=i * 3, minutes=7), cost=Decimal("0.5") if i % 2 else Decimal(0),
            )  # fmt: skip
        campaigns.append(campaign)
    return campaigns


def add_up(rows: list[dict]) -> dict:
    total = {name: sum(row["stats"][name] for row in rows) for name in COUNTS}
    total.update({name: str(sum(Decimal(row["stats"][name]) for row in rows)) for name in MONEY})
    return total


def figures(stats: dict) -> dict:
    return {name: stats[name] if name in COUNTS else str(Decimal(stats[name])) for name in COUNTS + MONEY}


async def test_rows_add_up_to_totals_for_every_dimension(client, key, services):
    campaigns = await seed(services)
    everything = (await gql(client, key, REPORT, groupBy=[]))["report"]
    assert len(everything["rows"]) == 1 and everything["rows"][0]["stats"] == everything["totals"]
    # The totals are the campaigns' figures (graphapi.stats), summed.
    expected = [await campaign_stats(services.db, c.id, "USD") for c in campaigns]
    assert everything["totals"]["clicks"] == sum(s.clicks for s in expected) > 0
    assert Decimal(everything["totals"]["revenue"]) == sum(s.revenue for s in expected) > 0
    assert Decimal(everything["totals"]["cost"]) == sum(s.cost for s in expected) > 0
    assert everything["totals"]["landerClicks"] == sum(s.lander_clicks for s in expected) > 0

    for dimension in Dimension:
        name = dimension.name
        for tz in ("UTC", "Asia/Kolkata"):
            result = (await gql(client, key, REPORT, groupBy=[name], tz=tz))["report"]
            assert result["totals"] == everything["totals"], (name, tz)
            assert add_up(result["rows"]) == figures(result["totals"]), (name, tz)
            assert len(result["rows"]) > 1, name
    combined = (await gql(client, key, REPORT, groupBy=["DAY", "CAMPAIGN", "GOAL", "SUB3", "DEVICE_TYPE"]))["report"]
    assert add_up(combined["rows"]) == figures(combined["totals"])
    keys = [tuple(str(row[f]) for f in ("day", "campaign", "goal", "sub3", "deviceType")) for row in combined["rows"]]
    assert len(keys) == len(set(keys))


async def test_dimension_values_and_goal_rows(client, key, services):
    campaign = await make_campaign(services)
    offer = (await Offer.get(campaign_id=campaign.id)).id
    (click,) = await insert_clicks(services.db, campaign.id, [{"offer_id": offer, "device_type": "mobile", "country": "UA"}])
    await insert_conversion(services.db, click, goal="lead", payout=Decimal("3"))
    rows = (await gql(client, key, REPORT, groupBy=["GOAL", "OFFER", "DEVICE_TYPE", "CAMPAIGN", "COUNTRY"]))["report"]["rows"]
    # Clicks have no goal: their figures are on the row whose goal is null.
    assert [(r["goal"], r["stats"]["clicks"], r["stats"]["conversions"]) for r in rows] == [("lead", 0, 1), (None, 1, 0)]
    for row in rows:
        assert row["offer"] == {"id": str(offer)} and row["campaign"] == {"id": str(campaign.id)}
        assert row["deviceType"] == "MOBILE" and row["country"] == "UA" and row["day"] is None


async def test_end_of_month_click_lands_on_the_next_day_in_kyiv(client, key, services):
    campaign = await make_campaign(services)
    late = datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc)
    await insert_clicks(services.db, campaign.id, [{"created_at": late}])
    async def rows(group_by, tz):
        return (await gql(client, key, REPORT, groupBy=group_by, tz=tz))["report"]["rows"]

    assert [r["day"] for r in await rows(["DAY"], "UTC")] == ["2026-01-31"]
    assert [r["day"] for r in await rows(["DAY"], "Europe/Kyiv")] == ["2026-02-01"]
    assert [r["hour"] for r in await rows(["HOUR"], "UTC")] == ["2026-01-31T23:00:00+00:00"]
    assert [r["hour"] for r in await rows(["HOUR"], "Europe/Kyiv")] == ["2026-01-31T23:00:00+00:00"]
    # A half-hour zone: the local hour starts on the half hour, UTC.
    assert [r["hour"] for r in await rows(["HOUR"], "Asia/Kolkata")] == ["2026-01-31T23:30:00+00:00"]


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("zone", "times", "hours", "days"),
    [
        pytest.param(
            # Kyiv leaves summer time at 01:00 UTC on 25 October 2026: 03:30 local happens twice.
            "Europe/Kyiv", [_utc(2026, 10, 25, 0, 30), _utc(2026, 10, 25, 1, 30)],
            [("2026-10-25T00:00:00+00:00", 1), ("2026-10-25T01:00:00+00:00", 1)], [("2026-10-25", 2)],
            id="the repeated hour of a DST change stays two hours",
        ),
        pytest.param(
            # Kolkata is UTC+5:30, so its reports read the raw clicks: 05:10 and 05:50 local.
            "Asia/Kolkata", [_utc(2026, 1, 31, 23, 40), _utc(2026, 2, 1, 0, 20)],
            [("2026-01-31T23:30:00+00:00", 2)], [("2026-02-01", 2)],
            id="clicks within one local hour share its row",
        ),
    ],
)  # fmt: skip
async def test_local_hours_and_days(client, key, services, zone, times, hours, days):
    campaign = await make_campaign(services)
    await insert_clicks(services.db, campaign.id, [{"created_at": moment} for moment in times])
    rows = (await gql(client, key, REPORT, groupBy=["HOUR"], tz=zone))["report"]["rows"]
    assert [(r["hour"], r["stats"]["clicks"]) for r in rows] == hours
    rows = (await gql(client, key, REPORT, groupBy=["DAY"], tz=zone))["report"]["rows"]
    assert [(r["day"], r["stats"]["clicks"]) for r in rows] == days


async def test_periods_reaching_the_ends_of_the_calendar(client, key, services):
    """Valid UTC times, which in the zone fall in the years 0 and 10000: the
    zone's offsets are taken over the span traffic can have."""
    campaign = await make_campaign(services)
    # Kyiv leaves summer time at 01:00 UTC on 25 October 2026.
    await insert_clicks(services.db, campaign.id, [{"created_at": _utc(2026, 10, 25, 0, 30)},
                                                   {"created_at": _utc(2026, 10, 25, 1, 30)}])  # fmt: skip
    ends = {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59.999999Z"}
    for zone, day in (("America/New_York", "2026-10-24"), ("Europe/Kyiv", "2026-10-25"), ("Asia/Tokyo", "2026-10-25")):
        data = await gql(client, key, REPORT, groupBy=["HOUR"], campaignId=str(campaign.id), tz=zone, **ends)
        assert [r["hour"] for r in data["report"]["rows"]] == ["2026-10-25T00:00:00+00:00", "2026-10-25T01:00:00+00:00"]
        data = await gql(client, key, REPORT, groupBy=["DAY"], tz=zone, **ends)
        assert [(r["day"], r["stats"]["clicks"]) for r in data["report"]["rows"]] == [(day, 2)]


async def test_clicks_count_by_click_time_and_conversions_by_conversion_time(client, key, services):
    campaign = await make_campaign(services)
    (click,) = await insert_clicks(services.db, campaign.id, [{"created_at": START}])
    await insert_conversion(services.db, click, payout=Decimal("2"), created_at=START + timedelta(days=3))
    since = (START + timedelta(days=1)).isoformat()
    totals = (await gql(client, key, REPORT, groupBy=[], since=since))["report"]["totals"]
    assert (totals["clicks"], totals["conversions"], totals["revenue"]) == (0, 1, "2.00")
    totals = (await gql(client, key, REPORT, groupBy=[], until=since))["report"]["totals"]
    assert (totals["clicks"], totals["conversions"]) == (1, 0)
    rows = (await gql(client, key, REPORT, groupBy=["DAY"]))["report"]["rows"]
    assert [(r["day"], r["stats"]["clicks"], r["stats"]["conversions"]) for r in rows] == [
        ("2026-03-01", 1, 0), ("2026-03-04", 0, 1)
    ]


async def test_bad_time_zone_and_unknown_campaign_are_explained(client, key, services):
    for tz in ("Mars/Olympus", "../../etc/passwd", "", "a" * 5000, "America", "UTC\x00"):
        body = await gql_raw(client, key, REPORT, groupBy=["DAY"], tz=tz)
        assert body["data"] is None and "unknown time zone" in body["errors"][0]["message"]
    body = await gql_raw(client, key, REPORT, groupBy=[], campaignId="404")
    assert "no campaign with id" in body["errors"][0]["message"]


async def test_campaign_report_is_in_its_currency(client, key, services):
    campaign = await make_campaign(services, currency="EUR")
    other = await make_campaign(services, currency="USD")
    for c in (campaign, other):
        (click,) = await insert_clicks(services.db, c.id, [{}])
        await insert_conversion(services.db, click, payout=Decimal("10"))
    result = (await gql(client, key, REPORT, groupBy=["CAMPAIGN"], campaignId=str(campaign.id)))["report"]
    assert result["totals"]["currency"] == "EUR" and result["totals"]["revenue"] == "10.00"
    assert [r["campaign"]["id"] for r in result["rows"]] == [str(campaign.id)]
    empty = await make_campaign(services, currency="GBP")
    result = (await gql(client, key, REPORT, groupBy=[], campaignId=str(empty.id)))["report"]
    assert result["totals"]["currency"] == "GBP" and result["rows"] == []
    # Spanning EUR and USD with no rate configured: refused, never summed wrongly.
    body = await gql_raw(client, key, REPORT, groupBy=["CAMPAIGN"])
    assert body["data"] is None and "no rate for EUR into USD" in body["errors"][0]["message"]


async def test_a_campaign_made_while_a_report_runs_is_not_summed_in_another_currency(client, key, services):
    """The report reads its campaigns' one currency, then sums without the
    campaign table: a campaign in another currency made in between stays out."""
    usd = await make_campaign(services, currency="USD")
    await insert_clicks(services.db, usd.id, [{}])
    fetch = services.db.fetch
    made = []

    async def fetch_then_make_a_campaign(sql, params=(), side_by_side=False):
        rows = await fetch(sql, params, side_by_side)
        if "FROM campaign" in sql and not made:
            made.append(await make_campaign(services, currency="EUR"))
            await insert_clicks(services.db, made[0].id, [{}])
        return rows

    services.db.fetch = fetch_then_make_a_campaign
    result = (await gql(client, key, REPORT, groupBy=["DAY"]))["report"]
    assert made and result["totals"]["currency"] == "USD" and result["totals"]["clicks"] == 1


async def test_report_spanning_currencies_is_converted(database_url):
    settings = Settings(database_url=database_url, currency="USD", currency_rates="EUR=1.10", _env_file=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app), http_client(app) as client:
        services = app.state.services
        key = await new_api_key()
        eur = await make_campaign(services, currency="EUR")
        usd = await make_campaign(services, currency="USD")
        for campaign, payout in ((eur, "10"), (usd, "1.01")):
            (click,) = await insert_clicks(services.db, campaign.id, [{"cost": Decimal("0.333333")}])
            await insert_conversion(services.db, click, payout=Decimal(payout))
        result = (await gql(client, key, REPORT, groupBy=["CAMPAIGN"]))["report"]
    assert result["totals"]["currency"] == "USD"
    assert result["totals"]["revenue"] == "12.01"
    by_campaign = {row["campaign"]["id"]: row["stats"] for row in result["rows"]}
    assert by_campaign[str(eur.id)]["revenue"] == "11.00" and by_campaign[str(eur.id)]["currency"] == "USD"
    assert add_up(result["rows"]) == figures(result["totals"])


async def test_campaign_stats_field_in_a_window(client, key, services):
    campaign = await make_campaign(services)
    await insert_clicks(services.db, campaign.id, [{"created_at": START}, {"created_at": START + timedelta(days=2)}])
    data = await gql(client, key, """query($id: ID!, $since: DateTime) { campaign(id: $id) {
        all: stats { clicks } recent: stats(since: $since) { clicks } } }""",
        id=str(campaign.id), since=(START + timedelta(days=1)).isoformat())  # fmt: skip
    assert data["campaign"] == {"all": {"clicks": 2}, "recent": {"clicks": 1}}
