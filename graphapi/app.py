"""The application factory: routes, and the resources the lifespan builds."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute

from graphapi import clicks, postbacks, rollups
from graphapi.api_keys import RevocationWatch
from graphapi.clicks import ClickEndpoint, GoEndpoint, write_click_throughs, write_clicks
from graphapi.conversions import ConversionWriter, order_key
from graphapi.currency import Rates
from graphapi.dashboard import Dashboard
from graphapi.db import Database
from graphapi.graphql_endpoint import GraphQLEndpoint
from graphapi.group_commit import GroupCommit
from graphapi.hot_paths import hot_path
from graphapi.live import ConversionFeed
from graphapi.plugins import Plugins
from graphapi.postbacks import PostbackEndpoint
from graphapi.routing import CampaignCache
from graphapi.rule_checks import RuleChecks
from graphapi.rule_engine import RuleEngine, every_conversion_hooks
from graphapi.settings import Settings, load_settings
from graphapi.webhooks import WebhookSender


# PostgreSQL: postback batches written at once, the next one sent while one
# waits on the database (SQLite has one writer). Not clicks: their batches,
# made smaller, cost more CPU a click than the overlap gained.
POSTBACK_BATCHES = 2


@dataclass
class Services:
    """What request handlers use; built by the lifespan, one set per app."""

    settings: Settings
    db: Database = field(init=False)
    campaigns: CampaignCache = field(init=False)
    clicks: GroupCommit = field(init=False)
    rollup_keeper: rollups.RollupKeeper = field(init=False)
    click_throughs: GroupCommit = field(init=False)
    feed: ConversionFeed = field(init=False)
    postbacks: GroupCommit = field(init=False)
    plugins: Plugins = field(init=False)
    webhooks: WebhookSender = field(init=False)
    rules: RuleEngine = field(init=False)
    rule_checks: RuleChecks = field(init=False)
    api_keys: RevocationWatch = field(init=False)


async def healthz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    if await services.db.ping():
        return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})
    return JSONResponse({"status": "unavailable"}, status_code=503)


class TrackerApp(Starlette):
    """Starlette, with the hot paths dispatched before its middleware stack.

    /click and /go take every paid visitor, /postback every conversion; the
    three wrappers around each starlette route (error, exception and router
    layers) cost more than the endpoints themselves. These endpoints are plain
    ASGI apps that answer every error themselves (`hot_path`).
    """

    def __init__(self, *, hot_paths: dict[str, Callable], **kwargs) -> None:
        super().__init__(**kwargs)
        self.hot_paths = hot_paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            endpoint = self.hot_paths.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


@contextlib.contextmanager
def _collector_for_serving() -> Iterator[None]:
    """Python's cycle collector set for a long-running server.

    Left as it is, each full collection walked the whole heap start-up built
    (schema, user-agent and bot rules, geo data): under /click load that was a
    pause of about 50 ms every 4 seconds and 2-2.6 % of the server's time.
    Frozen, that heap is out of the collector's reach until shutdown; young
    objects, mostly freed by reference counting anyway, are looked at every
    10,000 allocations rather than every 700."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app. The database must be migrated (`graphapi migrate`)."""
    services = Services(settings or load_settings())
    services.plugins = Plugins(services.settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.db = Database(services.settings.database_url)
        await services.db.open()
        services.campaigns = CampaignCache(services.db)
        await services.campaigns.start()
        services.feed = ConversionFeed(services.db)
        await services.feed.start()
        services.clicks = GroupCommit(services.db, write_clicks, "clicks", one_statement=True)
        services.clicks.start()
        services.rollup_keeper = rollups.RollupKeeper(services.db)
        services.rollup_keeper.start()
        services.click_throughs = GroupCommit(services.db, write_click_throughs, "click-throughs")
        services.click_throughs.start()
        rates = Rates(services.settings.currency, services.settings.currency_rates)
        writer = ConversionWriter(
            services.feed, rates, services.db.postgres, lambda: bool(every_conversion_hooks(services.plugins))
        )
        services.postbacks = GroupCommit(
            services.db, writer, "postbacks", after_commit=writer.committed, key=order_key,
            in_flight=POSTBACK_BATCHES if services.db.postgres else 1,
        )
        services.postbacks.start()
        services.webhooks = WebhookSender(
            allow_private=services.settings.webhook_allow_private,
            secret=services.settings.webhook_secret,
            timeout=services.settings.webhook_timeout_seconds,
        )
        services.rules = RuleEngine(services)
        await services.rules.start()
        services.rule_checks = RuleChecks(services)
        services.rule_checks.start()
        services.api_keys = RevocationWatch()
        services.api_keys.start()
        try:
            with _collector_for_serving():
                yield
        finally:
            await services.api_keys.stop()
            await services.rule_checks.stop()
            await services.rules.stop()
            await services.webhooks.close()
            await services.postbacks.stop()
            await services.click_throughs.stop()
            await services.rollup_keeper.stop()
            await services.clicks.stop()
            await services.feed.stop()
            await services.campaigns.stop()
            await services.db.close()

    graphql = GraphQLEndpoint(services)
    app = TrackerApp(
        hot_paths={
            # HEAD is a link checker's look: /click and /go answer it as GET
            # would without recording anything (graphapi.clicks); a postback
            # is a partner's call that records, so HEAD is refused.
            "/click": hot_path(ClickEndpoint(services), ("GET", "HEAD"), clicks.unavailable),
            "/go": hot_path(GoEndpoint(services), ("GET", "HEAD"), clicks.unavailable),
            "/postback": hot_path(PostbackEndpoint(services), ("GET", "POST"), postbacks.unavailable),
        },
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Mount("/", Dashboard()),  # last: it answers every other path
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
