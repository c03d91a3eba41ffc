"""The dashboard in a real browser: headless Chromium against a real `graphapi serve`.

Clicks and postbacks go to the server over HTTP, as traffic and networks would
send them; the page is driven like a media buyer would, by its labels.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest

from tests.browser import DESKTOP, PHONE, launch, unavailable
from tests.serving import Server

# build/screenshots by default (not tracked); the README's come from a run with
# GRAPHAPI_TEST_SCREENSHOTS=docs/screenshots.
SCREENSHOTS = Path(
    os.environ.get("GRAPHAPI_TEST_SCREENSHOTS") or Path(__file__).resolve().parent.parent / "build" / "screenshots"
)
CHROME_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"


@pytest.fixture(scope="module")
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright):
    browser = launch(playwright)
    yield browser
    browser.close()


class Api:
    """The server's public endpoints, as traffic, networks and scripts call them."""

    def __init__(self, server: Server, key: str) -> None:
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=10)
        self.key = key

    def gql(self, query: str, **variables) -> dict:
        response = self.http.post(
            "/graphql", json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.key}"},
        )  # fmt: skip
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def create_campaign(self, name: str, **fields) -> str:
        data = self.gql(
            "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { message } } }",
            input={"name": name, "offers": [{"name": "Offer A", "url": "https://offer.example/lp?cid={click_id}", "payout": "5"}], **fields},
        )["createCampaign"]  # fmt: skip
        assert not data["userErrors"], data
        return data["campaign"]["id"]

    def click(self, campaign_id: str, ua: str = CHROME_UA, **params) -> str:
        response = self.http.get("/click", params={"campaign_id": campaign_id, **params}, headers={"user-agent": ua})
        assert response.status_code == 302, response.text
        return parse_qs(urlsplit(response.headers["location"]).query)["cid"][0]

    def postback(self, **params) -> httpx.Response:
        return self.http.get("/postback", params=params)


@contextlib.contextmanager
def deployment(workdir: Path, database_url: str | None = None, workers: int = 1) -> Iterator[tuple[Server, str, Api]]:
    """A `graphapi serve` (on a new SQLite database unless given one), an API key, and a client."""
    database_url = database_url or f"sqlite://{workdir}/graphapi.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHAPI_")}
    env["GRAPHAPI_DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-m", "graphapi.cli", "create-api-key", "dashboard-test"],
        env=env, cwd=workdir, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = result.stdout.strip().splitlines()[-1]
    with Server(database_url, workdir, workers=workers, public_url="https://tracker.example") as server:
        api = Api(server, key)
        try:
            yield server, key, api
        finally:
            api.http.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server for the tests that do not mind each other's data."""
    with deployment(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def server(shared) -> Server:
    return shared[0]


@pytest.fixture(scope="module")
def api_key(shared) -> str:
    return shared[1]


@pytest.fixture(scope="module")
def api(shared) -> Api:
    return shared[2]


@pytest.fixture
def new_page(browser):
    """Opens pages, each in a fresh browser profile with the API key already
    entered, recording every request; no page may raise a JavaScript error."""
    pages = []

    def open_page(server: Server, key: str):
        context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")
        context.add_init_script(f"localStorage.getItem('graphapi.apiKey') || localStorage.setItem('graphapi.apiKey', {json.dumps(key)})")
        page = context.new_page()
        page.requests = []
        page.errors = []
        context.on("request", lambda request: page.requests.append(request.url))
        page.on("websocket", lambda socket: page.requests.append(socket.url))
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.set_default_timeout(10_000)
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        page.context.close()
    assert [error for page in pages for error in page.errors] == []


@pytest.fixture
def page(new_page, server, api_key):
    return new_page(server, api_key)


def open_view(page, server, hash_: str = "#/campaigns") -> None:
    page.goto(f"{server.url}/{hash_}")
    page.wait_for_selector("section.view[data-loaded], section.view form")


def kpi(page, name: str) -> str:
    return page.locator(f'[data-kpi="{name}"] dd').inner_text()


def test_the_page_asks_for_the_key_once_and_says_when_it_is_refused(browser, server, api_key):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        page.get_by_label("API key").fill("gapi_wrong")
        page.get_by_role("button", name="Open the dashboard").click()
        page.get_by_text("The API key was refused").wait_for()
        page.get_by_label("API key").fill(api_key)
        page.get_by_role("button", name="Open the dashboard").click()
        page.get_by_role("heading", name="Campaigns").wait_for()
        page.reload()  # the key is remembered
        page.get_by_role("heading", name="Campaigns").wait_for()
        assert page.get_by_label("API key").count() == 0
    finally:
        context.close()


def test_a_buyer_creates_a_campaign_and_watches_it_convert_then_pauses_it(page, server, api):
    open_view(page, server, "#/campaigns/new")
    page.get_by_label("Name", exact=True).fill("Spring sale")
    page.get_by_label("Traffic source").fill("PropellerAds")
    page.get_by_label("Offer name").fill("Casino A")
    page.get_by_label("Offer URL").fill("ftp://not-a-web-page")
    page.get_by_label("Default payout").fill("7.50")
    page.get_by_label("Daily budget").fill("lots")
    page.get_by_role("button", name="Create campaign").click()

    # A value GraphQL itself refuses, then the API's userError: each beside its field.
    budget = page.locator(".field", has=page.get_by_label("Daily budget"))
    budget.locator(".field-error", has_text="not a decimal number").wait_for()
    page.get_by_label("Daily budget").fill("")
    page.get_by_role("button", name="Create campaign").click()
    offer_url = page.get_by_label("Offer URL")
    offer_url.and_(page.locator("[aria-invalid=true]")).wait_for()
    error = page.locator(".field", has=offer_url).locator(".field-error")
    assert "http" in error.inner_text()

    offer_url.fill("https://offer.example/lp?cid={click_id}")
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_role("heading", name="Spring sale").wait_for()
    campaign_id = page.url.rsplit("/", 1)[1]
    tracking = page.get_by_label("Tracking URL", exact=True).input_value()
    assert tracking.startswith("https://tracker.example/click?") and f"campaign_id={campaign_id}" in tracking
    postback_url = page.get_by_label("Postback URL", exact=True).input_value()
    assert postback_url.startswith("https://tracker.example/postback?")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy the Postback URL").click()
    page.get_by_text("Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == postback_url
    page.get_by_text("No clicks yet in this range.").wait_for()

    clicks = [api.click(campaign_id, source="site-1"), api.click(campaign_id, ua=IPHONE_UA, source="site-2")]
    api.click(campaign_id, ua=IPHONE_UA, source="site-2")  # the same visitor again: not unique
    page.get_by_role("button", name="Refresh").click()
    page.locator('[data-kpi="Clicks"] dd', has_text=re.compile("^3$")).wait_for()
    assert kpi(page, "Unique") == "2"

    # The conversions table gains the new conversion live, without a reload.
    page.get_by_role("link", name="Conversions", exact=True).click()
    page.get_by_text("No conversions yet.").wait_for()
    page.evaluate("window.sameDocument = true")
    page.locator("#live-state[data-state=live]").wait_for()
    assert api.postback(click_id=clicks[1], payout="7.50", goal="deposit", txid="T-1").json()["result"] == "created"
    row = page.locator("#conversion-rows tr").first
    row.wait_for()
    assert page.evaluate("window.sameDocument") is True
    assert row.locator('[data-label="Payout"]').inner_text() == "$7.50"
    assert row.locator('[data-label="Click id"]').inner_text() == clicks[1]
    assert row.locator('[data-label="Source"]').inner_text() == "site-2"
    assert row.locator('[data-label="Device"]').inner_text() == "mobile"
    assert row.locator('[data-label="Goal"]').inner_text() == "deposit"
    conversion_id = row.get_attribute("data-conversion-id")

    # Rejected by hand (a chargeback the network never sent): the figures follow.
    row.get_by_label(f"Status of conversion {conversion_id}").select_option("REJECTED")
    page.locator(f'[data-conversion-id="{conversion_id}"] select.conv-rejected').wait_for()
    stats = "query($id: ID!) { campaign(id: $id) { stats { conversions rejectedConversions } } }"
    assert api.gql(stats, id=campaign_id)["campaign"]["stats"] == {"conversions": 0, "rejectedConversions": 1}
    row.get_by_label(f"Status of conversion {conversion_id}").select_option("APPROVED")
    page.locator(f'[data-conversion-id="{conversion_id}"] select.conv-approved').wait_for()

    # The campaigns table shows the figures, formatted.
    page.get_by_role("link", name="Campaigns", exact=True).click()
    row = page.locator(f'tr[data-campaign-id="{campaign_id}"]')
    row.wait_for()
    figures = {label: row.locator(f'[data-label="{label}"]').inner_text() for label in ("Clicks", "Unique", "Conv.", "CR", "Revenue", "EPC")}
    assert figures == {"Clicks": "3", "Unique": "2", "Conv.": "1", "CR": "33.33%", "Revenue": "$7.50", "EPC": "$2.50"}

    # Pause from the table: the status changes here and in the API.
    row.get_by_role("button", name="Pause Spring sale").click()
    row.locator(".badge", has_text="paused").wait_for()
    status = api.gql("query($id: ID!) { campaign(id: $id) { status } }", id=campaign_id)["campaign"]["status"]
    assert status == "PAUSED"
    row.get_by_role("button", name="Resume Spring sale").wait_for()


def test_the_postback_log_filters_by_outcome(page, server, api):
    campaign_id = api.create_campaign("Postback log")
    click_id = api.click(campaign_id)
    api.postback(click_id=click_id, payout="2.00")
    api.postback(click_id=click_id, payout="2.00")  # duplicate
    api.postback(click_id="nosuchclick000000000000000000000")
    api.postback(click_id=click_id, payout="{payout}")

    # Each row says the status its postback set, not the conversion's latest.
    approved = api.postback(click_id=click_id, payout="2.00", goal="sale").json()
    assert api.postback(click_id=click_id, goal="sale", status="chargeback").json()["result"] == "updated"

    open_view(page, server, "#/postbacks")
    messages = page.locator('tbody tr td[data-label="Message"]')
    assert messages.nth(0).inner_text() == f"conversion {approved['conversion_id']} (rejected)"
    assert messages.nth(1).inner_text() == f"conversion {approved['conversion_id']} (approved; now rejected)"
    outcomes = set(page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.outcome)"))
    assert {"CREATED", "DUPLICATE", "UNKNOWN_CLICK", "INVALID"} <= outcomes

    page.get_by_label("Outcome").select_option("INVALID")
    page.locator('section[data-postback-outcome="INVALID"]').wait_for()
    assert set(page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.outcome)")) == {"INVALID"}
    assert "macro" in page.locator("tbody tr").first.locator('[data-label="Message"]').inner_text()
    page.get_by_label("Outcome").select_option("FORBIDDEN")
    page.get_by_text("No postbacks with outcome “forbidden”.").wait_for()

    # A page at a time: older ones on request.
    for i in range(100):
        api.postback(click_id=f"unknown{i:025d}")
    page.get_by_label("Outcome").select_option("UNKNOWN_CLICK")
    page.locator('section[data-postback-outcome="UNKNOWN_CLICK"]').wait_for()
    rows = page.locator("tbody tr")
    assert rows.count() == 100 and "unknown0000000000000000000000099" in rows.first.inner_text()
    page.get_by_role("button", name="Show older").click()
    page.locator("tbody tr:nth-child(101)").wait_for()
    assert rows.count() == 101
    assert page.get_by_role("button", name="Show older").is_hidden()


def test_the_report_groups_by_a_dimension_and_drills_down_by_another(page, server, api):
    campaign_id = api.create_campaign("Report")
    for source, ua in [("alpha", CHROME_UA), ("alpha", IPHONE_UA), ("beta", CHROME_UA)]:
        api.click(campaign_id, ua=ua, source=source, creative="banner-1")
    open_view(page, server, f"#/campaigns/{campaign_id}")
    page.get_by_label("Group by").select_option("SOURCE")
    table = page.locator(".card", has=page.get_by_role("heading", name="Report")).locator("table")
    table.locator("tbody tr", has_text="alpha").wait_for()
    assert table.locator("tbody tr").first.locator('[data-label="Source"]').inner_text() == "alpha"  # most clicks first

    # Sorting by a header, then drilling down by device.
    table.get_by_role("button", name="Source").click()
    table.locator('th[aria-sort="ascending"]', has_text="Source").wait_for()
    assert table.locator("tbody tr").first.locator('[data-label="Source"]').inner_text() == "alpha"
    # Drawn again (Refresh, or new conversions), the report keeps the order chosen.
    drawn = table.locator("tbody tr").first.element_handle()
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_function("row => !row.isConnected", arg=drawn)
    table.locator('th[aria-sort="ascending"]', has_text="Source").wait_for()
    page.get_by_label("Then by").select_option("DEVICE_TYPE")
    alpha = table.locator('tr.drilled[data-group="alpha"] td:first-child')
    alpha.first.wait_for()
    assert sorted(alpha.all_inner_texts()) == ["DESKTOP", "MOBILE"]
    page.locator(".chart canvas").first.wait_for()  # the chart drew


def test_a_drill_down_shows_each_groups_figures_and_the_totals(page, server, api):
    campaign_id = api.create_campaign("Drill-down")
    sources = [f"site-{i}" for i in range(7)]
    for i, source in enumerate(sources):
        for ua in [CHROME_UA, IPHONE_UA][: 1 + i % 2]:
            api.click(campaign_id, ua=f"{ua} drill-{i}", source=source)
    open_view(page, server, f"#/campaigns/{campaign_id}")
    page.get_by_label("Group by").select_option("SOURCE")
    page.get_by_label("Then by").select_option("DEVICE_TYPE")
    table = page.locator(".card", has=page.get_by_role("heading", name="Report")).locator("table")
    table.locator("caption", has_text="then by device").wait_for()
    # More than five groups: closed, each on one line with its own figures.
    groups = table.locator("tbody tr.group")
    assert groups.count() == 7 and table.locator("tr.drilled").count() == 0
    clicks = {row.locator("td").first.inner_text().strip("▸ "): row.locator('[data-label="Clicks"]').inner_text() for row in groups.all()}
    assert clicks == {source: str(1 + i % 2) for i, source in enumerate(sources)}
    assert table.locator("tfoot td").first.inner_text() == "Total"
    assert table.locator('tfoot [data-label="Clicks"]').inner_text() == "10"
    table.get_by_role("button", name="Show 2 rows of site-1").click()
    drilled = table.locator('tr.drilled[data-group="site-1"]')
    assert sorted(drilled.locator("td:first-child").all_inner_texts()) == ["DESKTOP", "MOBILE"]
    table.get_by_role("button", name="Hide 2 rows of site-1").click()
    drilled.first.wait_for(state="detached")
    offers = page.locator(".card", has=page.get_by_role("heading", name="Offers"))
    assert "null" not in offers.inner_text()  # a table without totals draws none


def test_edit_forms_show_user_errors_next_to_their_fields(page, server, api):
    campaign_id = api.create_campaign("Forms")
    open_view(page, server, f"#/campaigns/{campaign_id}")

    def submit(dialog, label: str, value: str, button: str, error: str | None = None) -> None:
        """Fill one field, submit, and (given `error`) see it beside that field."""
        dialog.get_by_label(label).fill(value)
        dialog.get_by_role("button", name=button).click()
        if error:
            dialog.locator(".field", has=page.get_by_label(label)).locator(".field-error", has_text=error).wait_for()

    page.get_by_role("button", name="Add lander").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Lander name").fill("Quiz")
    submit(dialog, "Lander URL", "https://user:pw@lander.example/", "Add lander", error="credentials")
    submit(dialog, "Lander URL", "https://lander.example/quiz", "Add lander")
    page.locator("td", has_text="https://lander.example/quiz").wait_for()

    offers = page.locator(".card", has=page.get_by_role("heading", name="Offers"))
    offers.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Active").uncheck()
    submit(dialog, "Weight", "40", "Save offer")
    offers.locator("tbody tr", has_text="Offer A").locator(".badge", has_text="off").wait_for()
    assert offers.locator('td[data-label="Weight"]').inner_text() == "40"

    page.get_by_role("button", name="Add rule").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Rule plugin").fill("roi_guard")
    submit(dialog, "Config (JSON)", "{not json", "Add rule", error="not valid JSON")
    # The plugin's JSON Schema wants a number; the error says where inside the config.
    submit(dialog, "Config (JSON)", '{"min_roi": 10, "min_cost": "5"}', "Add rule", error="min_cost:")
    submit(dialog, "Config (JSON)", '{"min_roi": 10, "min_cost": 5}', "Add rule")
    page.locator("code", has_text='{"min_roi":10,"min_cost":5}').wait_for()

    page.get_by_role("button", name="Edit campaign").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Cost model").select_option("CPC")
    dialog.get_by_label("Cost value").fill("0.05")
    dialog.get_by_label("Source blacklist").fill("bad-site\nworse-site")
    dialog.get_by_role("button", name="Save campaign").click()
    page.get_by_text("Cost: CPC $0.05").wait_for()
    campaign = api.gql("query($id: ID!) { campaign(id: $id) { sourceBlacklist costModel } }", id=campaign_id)["campaign"]
    assert campaign == {"sourceBlacklist": ["bad-site", "worse-site"], "costModel": "CPC"}

    page.get_by_role("button", name="Pause Forms").click()
    page.locator(".campaign-head .badge", has_text="paused").wait_for()
    page.get_by_role("button", name="Resume Forms").wait_for()


def test_source_lists_keep_one_entry_per_line_spaces_and_commas_included(page, server, api):
    campaign_id = api.create_campaign("Source lists")
    lists = "query($id: ID!) { campaign(id: $id) { sourceBlacklist sourceWhitelist } }"
    open_view(page, server, f"#/campaigns/{campaign_id}")
    page.get_by_role("button", name="Edit campaign").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Source blacklist").fill("Top Sites Network\n  site.com,zone 5  \n\nbadzone\n")
    dialog.get_by_label("Source whitelist").fill("Push Network One")
    dialog.get_by_role("button", name="Save campaign").click()
    dialog.wait_for(state="detached")
    expected = {"sourceBlacklist": ["Top Sites Network", "site.com,zone 5", "badzone"], "sourceWhitelist": ["Push Network One"]}
    assert api.gql(lists, id=campaign_id)["campaign"] == expected

    # Saved again untouched, the entries stay as they are.
    page.get_by_role("button", name="Edit campaign").click()
    assert page.get_by_role("dialog").get_by_label("Source blacklist").input_value() == "Top Sites Network\nsite.com,zone 5\nbadzone"
    page.get_by_role("dialog").get_by_role("button", name="Save campaign").click()
    page.get_by_role("dialog").wait_for(state="detached")
    assert api.gql(lists, id=campaign_id)["campaign"] == expected


def test_api_errors_are_shown_not_a_blank_page(page, server):
    open_view(page, server, "#/campaigns/999999")
    page.get_by_text("No such campaign.").wait_for()
    page.goto(f"{server.url}/#/nowhere")
    page.get_by_role("heading", name="Not found").wait_for()

    # A server that fails or does not answer: said so, with a way to try again.
    page.route("**/graphql", lambda route: route.fulfill(status=502, body="Bad Gateway", content_type="text/plain"))
    page.goto(f"{server.url}/#/postbacks")
    page.get_by_role("alert").filter(has_text="answered 502").wait_for()
    page.unroute("**/graphql")
    page.route("**/graphql", lambda route: route.abort())
    page.get_by_role("button", name="Try again").click()
    page.get_by_role("alert").filter(has_text="did not answer").wait_for()
    page.unroute("**/graphql")
    page.get_by_role("button", name="Try again").click()
    page.get_by_text("Every request to /postback").wait_for()
    page.locator("section[data-loaded]").wait_for()


VIEWS = {
    "campaigns": "#/campaigns",
    "campaign": "#/campaigns/{id}",
    "new-campaign": "#/campaigns/new",
    "conversions": "#/conversions",
    "postbacks": "#/postbacks",
    "rule-events": "#/rule-events",
}


def test_every_view_at_desktop_and_phone_width_stays_on_the_server_origin(new_page, tmp_path):
    """Screenshots of each view (see SCREENSHOTS), no request to another origin,
    and nothing wider than a phone's screen; on a server of its own, so the
    screenshots show only what this test sends."""
    with deployment(tmp_path) as (server, key, api):
        page = new_page(server, key)
        campaign_id = api.create_campaign("Summer promo", trafficSource="TrafficStars", costModel="CPC", costValue="0.02")
        rule = api.gql(
            "mutation($input: AddRuleInput!) { addRule(input: $input) { userErrors { message } } }",
            input={"campaignId": campaign_id, "plugin": "conversion_cap", "config": {"max_conversions": 3}},
        )["addRule"]  # fmt: skip
        assert rule["userErrors"] == []
        click_ids = [
            api.click(campaign_id, ua=IPHONE_UA if i % 3 else CHROME_UA, source=f"zone-{i % 4}", creative="video-2")
            for i in range(12)
        ]
        for click_id in click_ids[::4]:
            api.postback(click_id=click_id, payout="4.20", goal="lead")
        api.postback(click_id=click_ids[0], payout="4.20", goal="lead")  # a duplicate
        api.postback(click_id="nosuchclick0000000000000000000000")
        other = api.create_campaign("Winter leads", trafficSource="PropellerAds", costModel="CPA", costValue="2")
        for i, click_id in enumerate([api.click(other, source=f"site-{i % 2}", sub1="banner") for i in range(5)]):
            if i < 2:
                api.postback(click_id=click_id, payout="9.00", status="sale" if i else "declined")
        paused = api.create_campaign("Autumn test")
        api.gql("mutation($input: UpdateCampaignInput!) { updateCampaign(input: $input) { userErrors { message } } }",
                input={"id": paused, "status": "PAUSED"})
        events = "{ ruleEvents { edges { node { plugin outcome } } } }"
        deadline = time.monotonic() + 10
        while not api.gql(events)["ruleEvents"]["edges"] and time.monotonic() < deadline:
            time.sleep(0.1)  # rules run after the commit, off the postback's path
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            for name, hash_ in VIEWS.items():
                open_view(page, server, hash_.format(id=campaign_id))
                if name == "campaign":
                    page.locator(".chart canvas").first.wait_for()
                page.screenshot(path=SCREENSHOTS / f"{name}-{size_name}.png", full_page=True)
                unlabelled = page.locator("input, select, textarea").evaluate_all(
                    "els => els.filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.outerHTML)"
                )
                assert unlabelled == [], f"{name}: inputs without a label"
                if size_name == "phone":
                    width = page.evaluate("document.documentElement.scrollWidth")
                    assert width <= size["width"], f"{name} is {width}px wide at phone width"
        page.locator("tbody tr", has_text="conversion_cap").first.wait_for()  # the last view: rule events
        open_view(page, server, f"#/campaigns/{campaign_id}")
        page.get_by_role("link", name="What the rules did").click()
        page.get_by_role("heading", name="Rule events of one campaign").wait_for()
        page.locator("section[data-loaded] tbody tr").first.wait_for()
        assert set(page.locator('td[data-label="Campaign"]').all_inner_texts()) == {"Summer promo"}
        open_view(page, server, f"#/rule-events/{other}")
        page.get_by_text("No rule events yet.").wait_for()
        origins = {urlsplit(url).netloc for url in page.requests if not url.startswith("data:")}
        assert origins == {urlsplit(server.url).netloc}, page.requests
        assert any(url.startswith("ws://") for url in page.requests)  # the live feed, same origin too


def test_the_campaigns_table_is_usable_within_a_second(page, server, api):
    """From navigation start (a cold browser cache, then a reload) to the
    campaigns table on screen, by the page's own mark."""
    api.create_campaign("Load time")
    shown = "performance.getEntriesByName('graphapi:campaigns-shown')[0].startTime"
    timings = {}
    for load in ("cold", "reload"):
        if load == "cold":
            page.goto(f"{server.url}/")
        else:
            page.reload()
        page.locator("tr[data-campaign-id]").first.wait_for()
        timings[load] = page.evaluate(shown)
    print(f"campaigns table usable after {timings['cold']:.0f} ms (cold), {timings['reload']:.0f} ms (reload)")
    assert timings["cold"] < 1000 and timings["reload"] < 1000

def test_a_campaign_can_be_paused_with_the_keyboard_alone(page, server, api):
    campaign_id = api.create_campaign("Keyboard")
    open_view(page, server)
    pause = page.get_by_role("button", name="Pause Keyboard")
    for _ in range(80):
        page.keyboard.press("Tab")
        if pause.evaluate("button => button === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the pause button")
    page.keyboard.press("Enter")
    page.locator(f'tr[data-campaign-id="{campaign_id}"] .badge', has_text="paused").wait_for()


def test_ranges_are_local_days_in_the_chosen_time_zone(page, server, api):
    open_view(page, server)
    resolve = """([range, from, to, timeZone]) => import("/js/format.js").then(
        (format) => format.resolveRange({ range, from, to, timeZone }))"""
    # The day clocks go forward in Berlin is 23 hours long; in Kolkata days start at 18:30 UTC.
    berlin = page.evaluate(resolve, ["custom", "2026-03-29", "2026-03-29", "Europe/Berlin"])
    assert (berlin["since"], berlin["until"]) == ("2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z")
    kolkata = page.evaluate(resolve, ["custom", "2026-01-31", "2026-01-01", "Asia/Kolkata"])
    assert (kolkata["since"], kolkata["until"]) == ("2025-12-31T18:30:00.000Z", "2026-01-31T18:30:00.000Z")

    campaign_id = api.create_campaign("Ranges")
    api.click(campaign_id)
    row = page.locator(f'tr[data-campaign-id="{campaign_id}"]')
    page.get_by_role("button", name="Refresh").click()
    row.locator('[data-label="Clicks"]', has_text="1").wait_for()
    page.get_by_label("Range", exact=True).select_option("yesterday")
    row.locator('[data-label="Clicks"]', has_text="0").wait_for()
    page.get_by_label("Range", exact=True).select_option("30d")
    row.locator('[data-label="Clicks"]', has_text="1").wait_for()
    page.reload()  # the choice is remembered
    assert page.get_by_label("Range", exact=True).input_value() == "30d"


def test_money_is_shown_as_stored_never_rounded_through_a_float(page, server, api):
    open_view(page, server)
    money = """([amount, currency]) => import("/js/format.js").then((format) => format.money(amount, currency))"""
    cases = {
        ("0.0025", "USD"): "$0.0025", ("0.025", "USD"): "$0.025", ("3.123456", "USD"): "$3.123456",
        ("7.50", "USD"): "$7.50", ("7.5", "USD"): "$7.50", ("2.100000", "USD"): "$2.10", ("0", "USD"): "$0.00",
        ("-0.030000", "USD"): "-$0.03", ("1234567.000001", "USD"): "$1,234,567.000001",
        ("9007199254740993.01", "USD"): "$9,007,199,254,740,993.01", ("0.005", "EUR"): "€0.005", ("500", "JPY"): "¥500",
    }  # fmt: skip
    shown = {case: page.evaluate(money, list(case)) for case in cases}
    assert shown == cases

    # A sub-cent CPC: the campaign's cost, its CPC and each source's cost add up.
    campaign_id = api.create_campaign("Sub-cent", costModel="CPC", costValue="0.0025")
    for source in ("s0", "s0", "s1"):
        api.click(campaign_id, ua=f"{CHROME_UA} {source}-{time.monotonic_ns()}", source=source)
    open_view(page, server, f"#/campaigns/{campaign_id}")
    page.get_by_text("Cost: CPC $0.0025").wait_for()
    assert (kpi(page, "Cost"), kpi(page, "CPC"), kpi(page, "Profit")) == ("$0.0075", "$0.0025", "-$0.0075")
    report = page.locator(".card", has=page.get_by_role("heading", name="Report"))
    report.locator("tbody tr").nth(1).wait_for()
    assert report.locator('tbody td[data-label="Cost"]').all_inner_texts() == ["$0.005", "$0.0025"]
    assert report.locator('tfoot td[data-label="Cost"]').inner_text() == "$0.0075"


LONG_NAME = "DE | Android | Sweeps iPhone 15 | ExoClick Push | Tier1 | June v2 (CPA)"


def test_long_names_wrap_and_every_figure_stays_on_screen_at_1280_px(page, server, api):
    campaign_id = api.create_campaign(LONG_NAME, trafficSource="ExoClick-Germany-Push-Network-Premium-Tier-1-Traffic")
    source = "Top-Sites-Network-Premium-Placement-Zone-1234567-Germany-Android"
    click_id = api.click(campaign_id, source=source, creative="creative-" + "x" * 60)
    api.postback(click_id=click_id, payout="2.50", goal="first-deposit-" + "y" * 40, note="z" * 300)

    def fits(last_cell) -> None:
        """The table needs no sideways scroll and the row's last cell is on screen."""
        widths = page.locator("thead th").evaluate_all("ths => ths.map(th => th.textContent + ':' + Math.round(th.getBoundingClientRect().width))")
        assert page.locator(".table-wrap").first.evaluate("wrap => wrap.scrollWidth <= wrap.clientWidth"), " ".join(widths)
        box = last_cell.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"], box

    open_view(page, server)
    row = page.locator(f'tr[data-campaign-id="{campaign_id}"]')
    assert row.get_by_role("link", name=LONG_NAME).is_visible()
    fits(row.get_by_role("button", name=f"Pause {LONG_NAME}"))
    for label in ("CR", "Revenue", "Cost", "Profit", "ROI", "EPC"):
        fits(row.locator(f'[data-label="{label}"]'))

    open_view(page, server, "#/conversions")
    row = page.locator("#conversion-rows tr").first
    assert row.locator('[data-label="Click id"]').inner_text() == click_id
    fits(row.locator('[data-label="Click id"]'))
    assert row.locator('[data-label="Source"] [title]').get_attribute("title") == source  # cut, in full in the tooltip

    open_view(page, server, "#/postbacks")
    row = page.locator("tbody tr").first
    fits(row.locator('[data-label="Parameters"]'))
    assert "z" * 300 in row.locator('[data-label="Parameters"] [title]').get_attribute("title")

    open_view(page, server, "#/rule-events")  # no rule here: at least no error


def test_every_time_says_its_time_zone(page, server, api):
    campaign_id = api.create_campaign("Zones")
    rule = "mutation($input: AddRuleInput!) { addRule(input: $input) { userErrors { message } } }"
    api.gql(rule, input={"campaignId": campaign_id, "plugin": "conversion_cap", "config": {"max_conversions": 1}})
    api.postback(click_id=api.click(campaign_id, ua=f"{CHROME_UA} zones"), payout="1")
    events = "query($id: ID) { ruleEvents(campaignId: $id) { edges { node { id } } } }"
    deadline = time.monotonic() + 10
    while not api.gql(events, id=campaign_id)["ruleEvents"]["edges"] and time.monotonic() < deadline:
        time.sleep(0.1)  # rules run after the commit
    open_view(page, server)
    page.get_by_label("Time zone").select_option("America/New_York")
    for hash_, label in (("#/conversions", "Time"), ("#/postbacks", "Received"), ("#/rule-events", "Time")):
        open_view(page, server, hash_)
        assert page.locator("thead th").first.inner_text().split() == [label, "America/New_York"], hash_
        cell = page.locator("tbody td").first
        assert cell.get_attribute("data-label") == f"{label} (America/New_York)"  # phone width shows this label
    # The report by hour says whose hours they are.
    open_view(page, server, f"#/campaigns/{campaign_id}")
    page.get_by_label("Group by").select_option("HOUR")
    report = page.locator(".card", has=page.get_by_role("heading", name="Report"))
    report.get_by_role("button", name="Hour (America/New_York)").wait_for()


def test_the_goal_report_tells_clicks_from_conversions_without_a_goal(page, server, api):
    campaign_id = api.create_campaign("Goals")
    clicks = [api.click(campaign_id, ua=f"{CHROME_UA} goals-{i}") for i in range(3)]
    api.postback(click_id=clicks[0], payout="1")
    api.postback(click_id=clicks[1], payout="2", goal="lead")
    open_view(page, server, f"#/campaigns/{campaign_id}")
    page.get_by_label("Group by").select_option("GOAL")
    table = page.locator(".card", has=page.get_by_role("heading", name="Report")).locator("table")
    table.locator("caption", has_text="By goal").wait_for()
    rows = {
        row.locator('[data-label="Goal"]').inner_text(): (row.locator('[data-label="Clicks"]').inner_text(), row.locator('[data-label="Conv."]').inner_text())
        for row in table.locator("tbody tr").all()
    }  # fmt: skip
    assert rows == {"(clicks)": ("3", "0"), "(no goal)": ("0", "1"), "lead": ("0", "1")}


def test_large_figures_are_never_cut_and_a_phone_never_scrolls_sideways(page, server, api):
    campaign_id = api.create_campaign("Big numbers", costModel="CPC", costValue="0.0025")
    for i in range(3):
        api.postback(click_id=api.click(campaign_id, ua=f"{CHROME_UA} big-{i}"), payout="999999999.123456")
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        open_view(page, server, f"#/campaigns/{campaign_id}")
        page.locator(".chart canvas").first.wait_for()
        assert kpi(page, "Revenue") == "$2,999,999,997.370368"
        cut = page.locator(".kpis dd").evaluate_all("dds => dds.filter(dd => dd.scrollWidth > dd.clientWidth).map(dd => dd.textContent)")
        assert cut == [], size
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], size


def test_rule_events_say_what_was_done(page, server, api):
    campaign_id = api.create_campaign("Auto lists", costModel="CPC", costValue="1")
    rule = "mutation($input: AddRuleInput!) { addRule(input: $input) { userErrors { message } } }"
    api.gql(rule, input={"campaignId": campaign_id, "plugin": "auto_lists", "config": {"blacklist_min_cost": 1}})
    clicks = [api.click(campaign_id, ua=f"{CHROME_UA} lists-{i}", source="zoneC") for i in range(2)]
    api.postback(click_id=clicks[0], status="pending")  # spent 2, nothing approved
    events = "query($id: ID) { ruleEvents(campaignId: $id) { edges { node { outcome } } } }"
    deadline = time.monotonic() + 10
    while not api.gql(events, id=campaign_id)["ruleEvents"]["edges"] and time.monotonic() < deadline:
        time.sleep(0.1)  # rules run after the commit
    open_view(page, server, f"#/rule-events/{campaign_id}")
    row = page.locator("tbody tr").first
    assert row.locator('[data-label="Outcome"]').inner_text() == "applied"
    assert row.locator('[data-label="Message"]').inner_text() == "blacklisted zoneC"


def test_a_decimal_typo_is_explained_beside_its_field(page, server, api):
    open_view(page, server, "#/campaigns/new")
    page.get_by_label("Name", exact=True).fill("Typo")
    page.get_by_label("Offer name").fill("Offer")
    page.get_by_label("Offer URL").fill("https://offer.example/")
    page.get_by_label("Default payout").fill("3,50")
    graphql = []
    page.on("request", lambda request: graphql.append(request) if request.url.endswith("/graphql") else None)
    page.get_by_role("button", name="Create campaign").click()
    error = page.locator(".field", has=page.get_by_label("Default payout")).locator(".field-error")
    error.filter(has_text="Write 3.50").wait_for()
    assert "Variable" not in error.inner_text() and graphql == []
    page.get_by_label("Default payout").fill("3.50")
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_role("heading", name="Typo").wait_for()
    assert page.locator('td[data-label="Payout"]').inner_text() == "$3.50"


def test_offer_rows_can_be_added_and_removed_and_errors_find_their_row(page, server, api):
    open_view(page, server, "#/campaigns/new")
    page.get_by_label("Name", exact=True).fill("Two offers")
    page.get_by_role("button", name="Add another offer").click()
    first, second = page.locator("fieldset", has_text="Offer 1"), page.locator("fieldset", has_text="Offer 2")
    first.get_by_label("Offer name").fill("First")
    first.get_by_label("Offer URL").fill("https://first.example/")
    second.get_by_label("Offer name").fill("Second")
    second.get_by_label("Offer URL").fill("https://user:pw@second.example/")
    page.get_by_role("button", name="Create campaign").click()
    second.locator(".field-error", has_text="credentials").wait_for()
    assert first.locator(".field-error").all_inner_texts() == ["", "", "", ""]

    first.get_by_role("button", name="Remove offer").click()
    row = page.locator("fieldset.row")
    assert row.locator("legend").inner_text() == "Offer 1"
    page.get_by_role("button", name="Create campaign").click()
    row.locator(".field-error", has_text="credentials").wait_for()  # now offers.0, still beside its field
    row.get_by_label("Offer URL").fill("https://second.example/")
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_role("heading", name="Two offers").wait_for()
    assert page.locator('td[data-label="Offer"]').all_inner_texts() == ["Second"]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_conversions_arrive_live_from_every_server_process(database, request, tmp_path, new_page):
    """On PostgreSQL with two worker processes, a postback taken by either one
    reaches the page's subscription (LISTEN/NOTIFY); on SQLite, one process.
    (The database comes from conftest's sync fixture: Playwright's loop is running.)"""
    database_url, workers = None, 1
    if database == "postgres":
        database_url, workers = request.getfixturevalue("postgres_database"), 2
    with deployment(tmp_path, database_url, workers=workers) as (server, key, api):
        page = new_page(server, key)
        campaign_id = api.create_campaign("Live")
        click_ids = [api.click(campaign_id, ua=f"{CHROME_UA} visitor-{i}") for i in range(8)]
        open_view(page, server, "#/conversions")
        page.locator("#live-state[data-state=live]").wait_for()
        for click_id in click_ids:
            # A new connection each time, so the workers share the postbacks.
            assert httpx.get(f"{server.url}/postback", params={"click_id": click_id, "payout": "1.00"}).status_code == 200
        for click_id in click_ids:
            page.locator('#conversion-rows td[data-label="Click id"]', has_text=click_id).wait_for()


def test_graphiql_runs_a_query_with_no_other_origin_reachable(browser, server, api_key, api):
    """GraphiQL at /graphql on a server without internet: every other origin is cut off."""
    api.create_campaign("Seen in GraphiQL")
    context = browser.new_context(viewport=DESKTOP)
    origin = urlsplit(server.url).netloc
    elsewhere = []

    def only_this_server(route):
        if urlsplit(route.request.url).netloc == origin or route.request.url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        params = {"q": "{ campaigns { edges { node { name } } } }", "headers": json.dumps({"Authorization": f"Bearer {api_key}"})}
        page.goto(f"{server.url}/graphql?{urlencode(params, quote_via=quote)}")  # the page reads %20, not +
        page.locator(".graphiql-execute-button").click()
        page.locator(".result-window").get_by_text("Seen in GraphiQL").wait_for()
    finally:
        context.close()
    assert elsewhere == [] and errors == []
