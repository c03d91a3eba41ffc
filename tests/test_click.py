"""GET /click and /go through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from graphapi.db import UtcText
from graphapi.models import Campaign, CampaignStatus, Click, CostModel, DeviceType, Route
from tests.conftest import http_client, make_campaign
from tests.gql import gql, new_api_key

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def click_id_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["click_id"][0]


async def test_click_records_and_redirects_to_offer(client, services):
    campaign = await make_campaign(services, offers=(("https://offer.test/a", 100),))
    before = datetime.now(timezone.utc)
    response = await client.get(
        "/click",
        params={
            "campaign_id": campaign.id, "subid": "abc123", "source": "site-9", "creative": "cr-1",
            "sub1": "x", "sub10": "y", "gclid": "zz", "utm_term": "shoes",
        },  # fmt: skip
        headers={"user-agent": IPHONE, "referer": "https://ads.test/page"},
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("https://offer.test/a?click_id=")
    assert "no-store" in response.headers["cache-control"]
    click = await Click.get(click_id=click_id_of(location))
    offer = (await campaign.offers.all())[0]
    assert click.campaign_id == campaign.id
    assert click.offer_id == offer.id and click.lander_id is None
    assert click.route == Route.OFFER
    assert click.created_at.utcoffset().total_seconds() == 0
    assert before <= click.created_at <= datetime.now(timezone.utc)
    assert click.ip == "203.0.113.7"
    assert click.user_agent == IPHONE
    assert click.device_type == DeviceType.MOBILE
    assert click.os == "iOS" and click.browser == "Mobile Safari"
    assert click.referrer == "https://ads.test/page"
    assert (click.source, click.creative, click.subid) == ("site-9", "cr-1", "abc123")
    assert (click.sub1, click.sub2, click.sub10) == ("x", None, "y")
    assert click.params == {"gclid": "zz", "utm_term": "shoes"}
    assert click.is_unique is True and click.is_bot is False
    assert click.cost == Decimal(0)
    assert len(click.click_id) >= 22


async def test_weighted_rotation_three_to_one(client, services):
    campaign = await make_campaign(
        services, offers=(("https://a.test/?c={click_id}", 300), ("https://b.test/?c={click_id}", 100))
    )
    hosts = Counter()
    for n in range(400):
        response = await client.get(f"/click?campaign_id={campaign.id}&subid={n}")
        assert response.status_code == 302
        location = urlsplit(response.headers["location"])
        hosts[location.hostname] += 1
        assert parse_qs(location.query)["c"][0]
    assert set(hosts) == {"a.test", "b.test"}
    # 3:1 of 400 is 300:100; four standard deviations either way.
    assert 265 <= hosts["a.test"] <= 335, hosts
    assert await Click.filter(campaign_id=campaign.id).count() == 400


async def test_lander_first_then_go_to_offer(client, services):
    campaign = await make_campaign(
        services,
        offers=(("https://offer.test/o?c={click_id}&l={lander_id}&o={offer_id}", 100),),
        landers=(("https://lander.test/l?c={click_id}&o={offer_id}", 100),),
    )
    response = await client.get(f"/click?campaign_id={campaign.id}")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.hostname == "lander.test"
    click_id = parse_qs(location.query)["c"][0]
    assert "graphapi_click=" + click_id in response.headers["set-cookie"]
    click = await Click.get(click_id=click_id)
    assert click.route == Route.LANDER and click.offer_id is None and click.lander_id

    go = await client.get(f"/go?click_id={click_id}")
    assert go.status_code == 302
    offer_url = urlsplit(go.headers["location"])
    assert offer_url.hostname == "offer.test"
    query = parse_qs(offer_url.query)
    assert query["c"] == [click_id] and query["l"] == [str(click.lander_id)]
    await click.refresh_from_db()
    assert query["o"] == [str(click.offer_id)]
    assert click.lander_clicked_at is not None
    first_through = click.lander_clicked_at

    # A repeat goes to the same offer and is not counted again; the cookie
    # stands in for a lander that cannot pass the click_id.
    client.cookies.set("graphapi_click", click_id)
    again = await client.get("/go")
    assert again.status_code == 302
    assert urlsplit(again.headers["location"]).hostname == "offer.test"
    await click.refresh_from_db()
    assert click.lander_clicked_at == first_through


async def test_go_picks_offers_by_weight_and_keeps_the_choice(client, services):
    campaign = await make_campaign(
        services,
        offers=(("https://a.test/", 1), ("https://b.test/", 1)),
        landers=(("https://lander.test/", 1),),
    )
    seen = Counter()
    for _ in range(40):
        click_id = click_id_of((await client.get(f"/click?campaign_id={campaign.id}")).headers["location"])
        first = urlsplit((await client.get(f"/go?click_id={click_id}")).headers["location"]).hostname
        second = urlsplit((await client.get(f"/go?click_id={click_id}")).headers["location"]).hostname
        assert first == second
        seen[first] += 1
    assert set(seen) == {"a.test", "b.test"}


async def test_head_answers_as_get_would_but_records_nothing(client, services):
    """Link checkers and prefetchers send HEAD: no click, no lander click-through, no cookie."""
    campaign = await make_campaign(
        services, offers=(("https://offer.test/o", 1),), landers=(("https://lander.test/l?c={click_id}", 1),)
    )
    head = await client.head(f"/click?campaign_id={campaign.id}")
    assert head.status_code == 302 and urlsplit(head.headers["location"]).hostname == "lander.test"
    assert "set-cookie" not in head.headers
    assert (await client.head("/click?campaign_id=999999")).status_code == 404
    assert await Click.all().count() == 0

    location = (await client.get(f"/click?campaign_id={campaign.id}")).headers["location"]
    click_id = parse_qs(urlsplit(location).query)["c"][0]
    go = await client.head(f"/go?click_id={click_id}")
    assert go.status_code == 302 and urlsplit(go.headers["location"]).hostname == "offer.test"
    click = await Click.get(click_id=click_id)
    assert click.offer_id is None and click.lander_clicked_at is None
    assert await Click.all().count() == 1


async def test_go_sends_a_fallback_click_to_the_fallback_again(client, services):
    """A visitor the paused campaign sent to its fallback saw no lander: a /go with
    that click, once the campaign runs again, is not a lander's click-through."""
    campaign = await make_campaign(services, fallback_url="https://fallback.test/f", status=CampaignStatus.PAUSED,
                                   landers=(("https://lander.test/l", 1),))  # fmt: skip
    response = await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": CHROME})
    assert urlsplit(response.headers["location"]).hostname == "fallback.test"
    click_id = click_id_of(response.headers["location"])
    await Campaign.filter(id=campaign.id).update(status=CampaignStatus.ACTIVE)
    await services.campaigns.changed(campaign.id)
    go = await client.get(f"/go?click_id={click_id}")
    assert urlsplit(go.headers["location"]).hostname == "fallback.test"
    click = await Click.get(click_id=click_id)
    assert (click.offer_id, click.lander_clicked_at) == (None, None)


async def test_go_unknown_click(client, services, settings, app):
    response = await client.get("/go?click_id=nope")
    assert response.status_code == 404
    assert "Unknown click" in response.text


async def test_go_unknown_click_uses_global_fallback(database_url):
    from graphapi.app import create_app
    from graphapi.settings import Settings

    app = create_app(Settings(database_url=database_url, fallback_url="https://fallback.test/x", _env_file=None))
    async with app.router.lifespan_context(app), http_client(app) as client:
        response = await client.get("/go?click_id=nope")
    assert response.status_code == 302
    assert urlsplit(response.headers["location"]).hostname == "fallback.test"


async def test_macros_are_url_encoded(client, services):
    campaign = await make_campaign(
        services,
        offers=(("https://offer.test/p?s={subid}&src={source}&cr={creative}&geo={country}&dev={device}&cid={campaign_id}&s1={sub1}&id={click_id}", 100),),
    )
    response = await client.get(
        "/click",
        params={"campaign_id": campaign.id, "subid": "a b&c=d/e?f#g", "source": "news/1", "sub1": "ü"},
        headers={"user-agent": CHROME, "x-forwarded-for": "8.8.8.8"},
    )
    location = response.headers["location"]
    parts = urlsplit(location)
    assert parts.hostname == "offer.test" and parts.path == "/p" and parts.fragment == ""
    query = parse_qs(parts.query, keep_blank_values=True)
    assert query["s"] == ["a b&c=d/e?f#g"]
    assert query["src"] == ["news/1"]
    assert query["s1"] == ["ü"]
    assert query["dev"] == ["desktop"]
    assert query["cid"] == [str(campaign.id)]
    assert query["cr"] == [""]
    # The peer is not a trusted proxy, so its X-Forwarded-For is ignored.
    assert query["geo"] == [""]
    assert "click_id" not in query and query["id"][0]


async def test_an_internationalised_host_is_sent_in_its_ascii_form(client, services):
    """Percent-encoded, a host names nothing: browsers and URL checkers take its punycode."""
    campaign = await make_campaign(services, offers=(("https://офер.example:8443/шлях?s={sub1}", 100),))
    response = await client.get("/click", params={"campaign_id": campaign.id, "sub1": "x"}, headers={"user-agent": CHROME})
    location = urlsplit(response.headers["location"])
    assert location.netloc == "xn--e1arho.example:8443"
    assert location.path == "/%D1%88%D0%BB%D1%8F%D1%85" and parse_qs(location.query)["s"] == ["x"]


async def test_click_id_appended_to_existing_query_and_before_fragment(client, services):
    campaign = await make_campaign(services, offers=(("https://offer.test/p?a=1#top", 100),))
    location = (await client.get(f"/click?campaign_id={campaign.id}")).headers["location"]
    parts = urlsplit(location)
    assert parts.fragment == "top"
    assert parse_qs(parts.query)["a"] == ["1"] and parse_qs(parts.query)["click_id"][0]


@pytest.mark.parametrize(
    "change",
    [
        {"status": CampaignStatus.PAUSED},
        {"status": CampaignStatus.ARCHIVED},
        {"source_blacklist": ["bad-site"]},
        "no-active-offer",
    ],
)
async def test_fallback(client, services, change):
    campaign = await make_campaign(services, fallback_url="https://fallback.test/f")
    if change == "no-active-offer":
        await campaign.offers.all().update(active=False)
    else:
        await Campaign.filter(id=campaign.id).update(**change)
    await services.campaigns.changed(campaign.id)
    response = await client.get(f"/click?campaign_id={campaign.id}&source=bad-site")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.hostname == "fallback.test"
    click = await Click.get(click_id=parse_qs(location.query)["click_id"][0])
    assert click.route == Route.FALLBACK and click.offer_id is None


async def test_blacklist_spares_other_sources(client, services):
    campaign = await make_campaign(services, fallback_url="https://fallback.test/", source_blacklist=["bad"])
    response = await client.get(f"/click?campaign_id={campaign.id}&source=good")
    assert urlsplit(response.headers["location"]).hostname == "offer.test"


async def test_blacklist_ignores_case_and_surrounding_whitespace(client, services):
    campaign = await make_campaign(services, fallback_url="https://fallback.test/", source_blacklist=["bad", " Other "])
    for source, host in (
        ("BAD", "fallback.test"), ("%20bad", "fallback.test"), ("Bad%09", "fallback.test"), ("+bAd+", "fallback.test"),
        ("other", "fallback.test"), ("bad-site", "offer.test"), ("b%20ad", "offer.test"),
    ):  # fmt: skip
        response = await client.get(f"/click?campaign_id={campaign.id}&source={source}")
        assert urlsplit(response.headers["location"]).hostname == host, source


async def test_fallback_global_then_404(database_url):
    from graphapi.app import create_app
    from graphapi.settings import Settings

    for fallback, expected in (("https://global.test/", 302), (None, 404)):
        app = create_app(Settings(database_url=database_url, fallback_url=fallback, _env_file=None))
        async with app.router.lifespan_context(app), http_client(app) as client:
            services = app.state.services
            campaign = await make_campaign(services, status=CampaignStatus.PAUSED)
            response = await client.get(f"/click?campaign_id={campaign.id}")
        assert response.status_code == expected
        if fallback:
            assert urlsplit(response.headers["location"]).hostname == "global.test"


@pytest.mark.parametrize("campaign_id", ["999999", "abc", "", "-1", "0", "1.5", "99999999999999999999", "١"])
async def test_unknown_or_malformed_campaign_is_404(client, services, campaign_id):
    await make_campaign(services)
    response = await client.get(f"/click?campaign_id={campaign_id}")
    assert response.status_code == 404
    assert "Unknown campaign" in response.text


async def test_missing_campaign_id_is_404(client):
    response = await client.get("/click")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("user_agent", "device_type"),
    [(GOOGLEBOT, DeviceType.BOT), ("", DeviceType.BOT), ("curl/8.4.0", DeviceType.BOT)],
)
async def test_bots_are_flagged_and_still_redirected(client, services, user_agent, device_type):
    campaign = await make_campaign(services)
    response = await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": user_agent})
    assert response.status_code == 302
    click = await Click.get(click_id=click_id_of(response.headers["location"]))
    assert click.is_bot is True
    assert click.device_type == device_type


@pytest.mark.parametrize(("user_agent", "device_type"), [(CHROME, "desktop"), (IPHONE, "mobile"), (IPAD, "tablet")])
async def test_device_types(client, services, user_agent, device_type):
    campaign = await make_campaign(services)
    response = await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": user_agent})
    click = await Click.get(click_id=click_id_of(response.headers["location"]))
    assert click.device_type == device_type and click.is_bot is False


async def test_uniqueness_per_visitor_and_campaign(client, services):
    first = await make_campaign(services)
    second = await make_campaign(services)

    async def unique(campaign, ip, ua=CHROME):
        async with http_client(client._transport.app, peer=ip) as c:
            response = await c.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": ua})
        return (await Click.get(click_id=click_id_of(response.headers["location"]))).is_unique

    assert await unique(first, "198.51.100.1") is True
    assert await unique(first, "198.51.100.1") is False
    assert await unique(first, "198.51.100.1", IPHONE) is True
    assert await unique(first, "198.51.100.2") is True
    assert await unique(second, "198.51.100.1") is True


async def figures(client, campaign) -> dict:
    query = "query($id: ID!) { campaign(id: $id) { stats { clicks uniqueClicks } } }"
    return (await gql(client, await new_api_key(), query, id=str(campaign.id)))["campaign"]["stats"]


async def listed_uniqueness(client, campaign) -> Counter:
    """(went to an offer, isUnique) of the campaign's clicks as the `clicks` list shows them."""
    query = "query($id: ID!) { clicks(campaignId: $id, first: 500) { edges { node { offer { id } isUnique } } } }"
    edges = (await gql(client, await new_api_key("clicks"), query, id=str(campaign.id)))["clicks"]["edges"]
    return Counter((edge["node"]["offer"] is not None, edge["node"]["isUnique"]) for edge in edges)


@pytest.mark.parametrize("why", ["blacklisted source", "paused campaign"])
async def test_a_fallback_click_leaves_the_visitor_first_counted_click_unique(client, services, why):
    campaign = await make_campaign(services, fallback_url="https://fallback.test/", source_blacklist=["badsrc"])
    paused = why == "paused campaign"
    if paused:
        await Campaign.filter(id=campaign.id).update(status=CampaignStatus.PAUSED)
        await services.campaigns.changed(campaign.id)
    visitor = {"user-agent": CHROME}  # the same visitor: IP and user agent
    fallback = await client.get(f"/click?campaign_id={campaign.id}&source={'ok' if paused else 'badsrc'}", headers=visitor)
    assert urlsplit(fallback.headers["location"]).hostname == "fallback.test"
    if paused:
        await Campaign.filter(id=campaign.id).update(status=CampaignStatus.ACTIVE)
        await services.campaigns.changed(campaign.id)
    counted = await client.get(f"/click?campaign_id={campaign.id}&source=ok", headers=visitor)
    assert urlsplit(counted.headers["location"]).hostname == "offer.test"
    assert await figures(client, campaign) == {"clicks": 1, "uniqueClicks": 1}
    # A fallback click is not counted, so it is never unique either.
    assert await listed_uniqueness(client, campaign) == {(False, False): 1, (True, True): 1}


async def test_fallback_clicks_in_the_same_batch_leave_the_counted_click_unique(client, services):
    """PostgreSQL writes a batch in one statement, which does not see its own rows."""
    campaign = await make_campaign(services, fallback_url="https://fallback.test/", source_blacklist=["badsrc"])
    sources = ["badsrc"] * 10 + ["ok"] * 2
    responses = await asyncio.gather(
        *(client.get(f"/click?campaign_id={campaign.id}&source={s}", headers={"user-agent": CHROME}) for s in sources)
    )
    assert all(response.status_code == 302 for response in responses)
    assert await figures(client, campaign) == {"clicks": 2, "uniqueClicks": 1}
    assert await listed_uniqueness(client, campaign) == {(False, False): 10, (True, True): 1, (True, False): 1}


def test_click_times_are_written_as_sqlite3_writes_datetimes():
    """The text a click's times are sent as, against sqlite3's adapter, which
    the ORM's writes go through: SQLite compares times as text."""
    text = UtcText()
    rng = random.Random(5)
    now = time.time_ns() // 1000
    moments = [0, 1, 999_999, 1_000_000, now - now % 1_000_000, *(rng.randrange(2**52) for _ in range(3000))]
    moments += sorted(now + rng.randrange(-3_000_000, 3_000_000) for _ in range(3000))
    for micros in moments:
        moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)
        assert text(micros) == moment.isoformat(" ")


async def test_uniqueness_window_is_24_hours(client, services):
    campaign = await make_campaign(services)
    response = await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": CHROME})
    click = await Click.get(click_id=click_id_of(response.headers["location"]))
    await Click.filter(id=click.id).update(created_at=click.created_at - timedelta(hours=24, minutes=1))
    if services.db.postgres:  # and the time its batch left for the batches after it
        async with services.db.write() as tx:
            await tx.execute("UPDATE click_visitor_seen SET seen_at = seen_at - interval '24 hours 1 minute'")
    response = await client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": CHROME})
    assert (await Click.get(click_id=click_id_of(response.headers["location"]))).is_unique is True


async def test_country_from_trusted_proxy(app, services):
    campaign = await make_campaign(services)
    async with http_client(app, peer="127.0.0.1") as proxied:
        response = await proxied.get(
            f"/click?campaign_id={campaign.id}",
            headers={"x-forwarded-for": "203.0.113.250, 77.88.8.8"},
        )
    click = await Click.get(click_id=click_id_of(response.headers["location"]))
    assert click.ip == "77.88.8.8"
    assert click.country == "RU"


async def test_forwarded_for_from_untrusted_peer_is_ignored(app, services):
    campaign = await make_campaign(services)
    async with http_client(app, peer="8.8.8.8") as direct:
        response = await direct.get(
            f"/click?campaign_id={campaign.id}", headers={"x-forwarded-for": "77.88.8.8"}
        )
    click = await Click.get(click_id=click_id_of(response.headers["location"]))
    assert click.ip == "8.8.8.8" and click.country == "US"


@pytest.mark.parametrize(
    ("cost_model", "cost_value", "query", "expected"),
    [
        (CostModel.CPC, "0.25", "", "0.25"),
        (CostModel.CPC, "0.25", "&cost=0.031", "0.031"),
        (CostModel.CPC, "0.25", "&cost=abc", "0.25"),
        (CostModel.CPC, "0.25", "&cost=-1", "0.25"),
        (CostModel.CPM, "2.50", "", "0.0025"),
        (CostModel.CPA, "3.00", "&cost=0.5", "0"),
        (CostModel.REVSHARE, "50", "", "0"),
        (CostModel.NONE, "0", "&cost=0.5", "0"),
    ],
)
async def test_click_cost(client, services, cost_model, cost_value, query, expected):
    campaign = await make_campaign(services, cost_model=cost_model, cost_value=Decimal(cost_value))
    response = await client.get(f"/click?campaign_id={campaign.id}{query}")
    click = await Click.get(click_id=click_id_of(response.headers["location"]))
    assert click.cost == Decimal(expected)


async def test_long_and_odd_values_are_truncated_not_refused(client, services):
    campaign = await make_campaign(services)
    params = {"campaign_id": campaign.id, "subid": "s" * 5000, "sub3": "\x00nul\x00", "x" * 500: "v" * 9000}
    params.update({f"p{i}": str(i) for i in range(80)})
    response = await client.get(
        "/click", params=params, headers={"user-agent": "U" * 20000, "referer": "https://r.test/" + "r" * 9000}
    )
    assert response.status_code == 302
    click = await Click.get(click_id=click_id_of(response.headers["location"]))
    assert click.truncated is True
    assert click.subid == "s" * 255
    assert click.sub3 == "nul"
    assert len(click.user_agent) == 1024
    assert len(click.referrer) == 2048
    assert len(click.params) <= 50
    assert all(len(k) <= 64 and len(v) <= 255 for k, v in click.params.items())


async def test_invalid_utf8_and_percent_garbage(client, services):
    campaign = await make_campaign(services)
    response = await client.get(f"/click?campaign_id={campaign.id}&subid=%FF%FE%00&sub1=%zz&%%=1")
    assert response.status_code == 302
    click = await Click.get(click_id=click_id_of(response.headers["location"]))
    assert click.subid == "\ufffd\ufffd"


async def test_macro_values_are_percent_encoded_unless_plain(client, services):
    campaign = await make_campaign(services, offers=(("https://offer.test/p?a={sub1}&b={sub2}&c={subid}", 100),))
    query = urlencode({"sub1": "Az09-_.~", "sub2": "a b/é&=?#%", "subid": ""})
    response = await client.get(f"/click?campaign_id={campaign.id}&{query}")
    location = response.headers["location"]
    assert location.startswith("https://offer.test/p?a=Az09-_.~&b=a%20b%2F%C3%A9%26%3D%3F%23%25&c=&click_id=")


OPEN_REDIRECTS = [
    "url=https://evil.test",
    "subid=//evil.test",
    "subid=https://evil.test/",
    "subid=%0d%0aLocation:%20https://evil.test",
    "sub1=%0aSet-Cookie:%20x=1",
    "subid=javascript:alert(1)",
    "source=@evil.test",
    "redirect=javascript:alert(1)",
]


@pytest.mark.parametrize("attack", OPEN_REDIRECTS)
@pytest.mark.parametrize(
    "template",
    ["https://offer.test/p?s={subid}&x={sub1}&src={source}", "https://offer.test/{subid}", "https://offer.test/p"],
)
async def test_open_redirect_attempts_never_change_the_host(client, services, attack, template):
    campaign = await make_campaign(services, offers=((template, 100),))
    response = await client.get(f"/click?campaign_id={campaign.id}&{attack}")
    assert response.status_code == 302
    location = response.headers["location"]
    assert urlsplit(location).scheme == "https"
    assert urlsplit(location).hostname == "offer.test"
    assert "\r" not in location and "\n" not in location
    assert "set-cookie" not in response.headers
    assert list(response.headers.keys()).count("location") == 1


async def test_click_ids_are_unique_and_unguessable():
    from ulid import ULID

    from graphapi.clicks import new_click_id

    ids = [new_click_id() for _ in range(100_000)]
    assert len(set(ids)) == 100_000
    # ULIDs: the time, then 80 random bits (16 characters of Crockford's base32).
    assert all(len(i) == 26 and i.isalnum() and i.isupper() for i in ids)
    assert abs(ULID.from_str(ids[-1]).datetime - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert all(str(ULID.from_str(i)) == i for i in ids[:1000])  # valid ULIDs, as a ULID library reads them
    # Every digit of the random part is used, about equally (80 random bits).
    digits = Counter("".join(i[10:] for i in ids))
    assert len(digits) == 32 and max(digits.values()) < 1.1 * min(digits.values())
    assert ids == sorted(ids, key=lambda i: i[:10])  # in time order
    # Ids of the same millisecond do not follow from one another.
    randoms = [i[10:] for i in ids]
    assert sum(a[:4] == b[:4] for a, b in zip(randoms, randoms[1:])) < 10


async def test_concurrent_clicks_all_committed(client, services):
    campaign = await make_campaign(services)
    responses = await asyncio.gather(
        *(client.get(f"/click?campaign_id={campaign.id}&subid={n}") for n in range(300))
    )
    assert all(r.status_code == 302 for r in responses)
    ids = {click_id_of(r.headers["location"]) for r in responses}
    stored = set(await Click.filter(campaign_id=campaign.id).values_list("click_id", flat=True))
    assert stored == ids


async def test_campaign_change_reaches_the_click_path(client, services):
    campaign = await make_campaign(services, fallback_url="https://fallback.test/")
    assert urlsplit((await client.get(f"/click?campaign_id={campaign.id}")).headers["location"]).hostname == "offer.test"
    await Campaign.filter(id=campaign.id).update(status=CampaignStatus.PAUSED)
    await services.campaigns.changed(campaign.id)
    assert urlsplit((await client.get(f"/click?campaign_id={campaign.id}")).headers["location"]).hostname == "fallback.test"


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_simultaneous_clicks_of_one_visitor_count_one_unique(client, services):
    campaign = await make_campaign(services)
    responses = await asyncio.gather(
        *(client.get(f"/click?campaign_id={campaign.id}", headers={"user-agent": CHROME}) for _ in range(30))
    )
    assert all(r.status_code == 302 for r in responses)
    assert await Click.filter(campaign_id=campaign.id).count() == 30
    assert await Click.filter(campaign_id=campaign.id, is_unique=True).count() == 1


async def test_concurrent_click_throughs_agree_on_one_offer(client, services):
    campaign = await make_campaign(
        services,
        offers=(("https://a.test/", 1), ("https://b.test/", 1), ("https://c.test/", 1)),
        landers=(("https://lander.test/", 1),),
    )
    click_id = click_id_of((await client.get(f"/click?campaign_id={campaign.id}")).headers["location"])
    responses = await asyncio.gather(*(client.get(f"/go?click_id={click_id}") for _ in range(20)))
    hosts = {urlsplit(r.headers["location"]).hostname for r in responses}
    assert len(hosts) == 1
    click = await Click.get(click_id=click_id)
    assert urlsplit((await click.offer).url).hostname in hosts


async def test_an_unexpected_error_on_the_click_path_is_a_503_not_a_500(client, services, monkeypatch, caplog):
    from graphapi import visitor

    campaign = await make_campaign(services)

    def broken(user_agent):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(visitor, "describe", broken)
    response = await client.get(f"/click?campaign_id={campaign.id}")
    assert response.status_code == 503
    assert "Traceback" not in response.text and "parser bug" not in response.text
    assert "parser bug" in caplog.text
