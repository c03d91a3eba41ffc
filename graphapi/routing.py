"""Where a click goes: campaigns precomputed for the click path, cached, and the
destination URL with its macros."""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
import random
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from itertools import accumulate
from urllib.parse import quote, urlsplit, urlunsplit

from graphapi.models import Campaign, CampaignStatus, CostModel
from graphapi.money import to_micros

log = logging.getLogger(__name__)

CHANNEL = "graphapi_campaign"
# How often every process looks for campaign changes made elsewhere.
POLL_SECONDS = 1.0
MAX_UNKNOWN = 10_000

MACROS = (
    "click_id", "campaign_id", "offer_id", "lander_id", "subid",
    "sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9", "sub10",
    "source", "creative", "country", "device",
)  # fmt: skip
# Characters left as they are when a final URL goes into the Location header.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    url: str


class Rotation:
    """Weighted random choice among targets, weights precomputed once."""

    __slots__ = ("targets", "_cumulative", "_total")

    def __init__(self, weighted: list[tuple[Target, int]]) -> None:
        kept = [(t, w) for t, w in weighted if w > 0]
        self.targets = [t for t, _ in kept]
        self._cumulative = list(accumulate(w for _, w in kept))
        self._total = self._cumulative[-1] if kept else 0

    def __bool__(self) -> bool:
        return self._total > 0

    def pick(self) -> Target:
        return self.targets[bisect.bisect_right(self._cumulative, random.randrange(self._total))]

    def get(self, target_id: int | None) -> Target | None:
        return next((t for t in self.targets if t.id == target_id), None)


@dataclass(frozen=True, slots=True)
class CampaignRoute:
    """All the click path needs to know of a campaign."""

    id: int
    status: CampaignStatus
    cost_model: CostModel
    fallback_url: str | None
    # Normalised (source_key) when the route is built.
    blacklist: frozenset[str]
    offers: Rotation
    landers: Rotation
    # Micros a click costs when it names no cost of its own: worked out once.
    fixed_click_cost: int

    def click_cost(self, dynamic_cost: Decimal | None) -> int:
        """What a click costs, in micros; a dynamic `cost` applies to CPC only."""
        if dynamic_cost is not None and self.cost_model is CostModel.CPC:
            return to_micros(dynamic_cost)
        return self.fixed_click_cost

    def accepts(self, source: str | None) -> bool:
        """Whether a click is routed to the campaign's landers and offers."""
        return (
            self.status is CampaignStatus.ACTIVE
            and bool(self.offers)
            and (source is None or not self.blacklist or source_key(source) not in self.blacklist)
        )


def source_key(source: str) -> str:
    """A source as blacklists compare it: `BAD`, ` bad` and `bad` are one
    source, since traffic sources' macros are not consistent about case and
    spacing and a blacklisted source must not get through by a variant."""
    return source.strip().casefold()


async def load_route(campaign_id: int) -> CampaignRoute | None:
    campaign = await Campaign.get_or_none(id=campaign_id).prefetch_related("offers", "landers")
    if campaign is None:
        return None
    cost_model = CostModel(campaign.cost_model)
    return CampaignRoute(
        id=campaign.id,
        status=CampaignStatus(campaign.status),
        cost_model=cost_model,
        fallback_url=campaign.fallback_url,
        blacklist=frozenset(source_key(source) for source in campaign.source_blacklist or ()),
        offers=Rotation(
            [(Target(o.id, o.url), o.weight) for o in campaign.offers if o.active]
        ),
        landers=Rotation(
            [(Target(lp.id, lp.url), lp.weight) for lp in campaign.landers if lp.active]
        ),
        fixed_click_cost=to_micros(_fixed_click_cost(cost_model, campaign.cost_value)),
    )


def _fixed_click_cost(cost_model: CostModel, cost_value: Decimal) -> Decimal:
    if cost_model is CostModel.CPC:
        return cost_value
    if cost_model is CostModel.CPM:
        return cost_value / 1000
    return Decimal(0)  # NONE; CPA and REVSHARE accrue on conversions


class CampaignCache:
    """Campaign routes in memory, kept fresh across processes.

    `changed()` drops a campaign here at once, tells other PostgreSQL
    processes by NOTIFY, and touches the campaign's `updated_at`; every process
    also polls `MAX(updated_at)` each second, which covers several processes
    on one SQLite file and any notice a dropped LISTEN connection missed.
    """

    def __init__(self, database) -> None:
        self._db = database
        self._routes: dict[int, CampaignRoute] = {}
        # Unknown ids are remembered too, so a flood of them never reaches the
        # database; bounded, oldest out first.
        self._unknown: OrderedDict[int, None] = OrderedDict()
        # Bumped by every forget(), so a load that raced a change is not kept.
        self._generation = 0
        self._tasks: list[asyncio.Task] = []

    async def get(self, campaign_id: int) -> CampaignRoute | None:
        route = self._routes.get(campaign_id)
        if route is not None or campaign_id in self._unknown:
            return route
        generation = self._generation
        route = await load_route(campaign_id)
        if generation != self._generation:
            return route
        if route is None:
            self._unknown[campaign_id] = None
            if len(self._unknown) > MAX_UNKNOWN:
                self._unknown.popitem(last=False)
        else:
            self._routes[campaign_id] = route
        return route

    def forget(self, campaign_id: int | None = None) -> None:
        self._generation += 1
        if campaign_id is None:
            self._routes.clear()
            self._unknown.clear()
        else:
            self._routes.pop(campaign_id, None)
            self._unknown.pop(campaign_id, None)

    async def changed(self, campaign_id: int) -> None:
        """Call after committing any change to a campaign, its offers or landers."""
        self.forget(campaign_id)
        async with self._db.write() as tx:
            await tx.execute(
                "UPDATE campaign SET updated_at = ? WHERE id = ?",
                (datetime.now(timezone.utc), campaign_id),
            )
            if self._db.postgres:
                await tx.execute("SELECT pg_notify(?, ?)", (CHANNEL, str(campaign_id)))

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll(), name="campaign-poll"))
        if self._db.postgres:
            # Whatever changed while we were not listening is unknown: forget all.
            self._tasks.append(
                asyncio.create_task(
                    self._db.listen(CHANNEL, self._on_notice, on_connect=self.forget),
                    name="campaign-listen",
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_notice(self, payload: str) -> None:
        self.forget(int(payload) if payload.isdigit() else None)

    async def _poll(self) -> None:
        last = None
        while True:
            try:
                latest = (await self._db.fetch("SELECT MAX(updated_at) FROM campaign"))[0][0]
            except Exception:
                log.warning("campaign change poll failed", exc_info=True)
                latest = None
            if latest != last:
                if last is not None:
                    self.forget()
                last = latest
            await asyncio.sleep(POLL_SECONDS)


_MACRO = re.compile(r"\{(" + "|".join(MACROS) + r")\}")


@functools.lru_cache(maxsize=4096)
def _compile(template: str) -> tuple[str, ...]:
    """A URL template as alternating literal text and macro names, with the
    literal parts already percent-encoded and `{click_id}` added to the query
    when the template has none.

    Stored URLs are compiled once, not parsed on every click.
    """
    scheme, netloc, path, query, fragment = urlsplit(template)
    appending = "{click_id}" not in template
    if appending:
        query = f"{query}&click_id={{click_id}}" if query else "click_id={click_id}"
    # Else the URL stays exactly as it was written, but for an IDN host.
    url = urlunsplit((scheme, _ascii_host(netloc), path, query, fragment)) if appending or not netloc.isascii() else template
    parts = _MACRO.split(url)
    for index in range(0, len(parts), 2):
        parts[index] = quote(parts[index], safe=_URL_SAFE)
    return tuple(parts)


def _ascii_host(netloc: str) -> str:
    """An internationalised host name in its ASCII (punycode) form, which
    browsers and URL checkers resolve; percent-encoded, it names no host."""
    if netloc.isascii():
        return netloc
    host, colon, port = netloc.partition(":")
    try:
        return host.encode("idna").decode("ascii") + colon + port
    except UnicodeError:  # not a name IDNA can write: left to be percent-encoded
        return netloc


# Values made of these characters are the same percent-encoded: most are
# (click ids, numbers, countries), and quote() is a Python function.
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9_.~-]").search


def destination(template: str, values: dict[str, str | None]) -> str:
    """A stored URL with its macros replaced by URL-encoded values, and
    `click_id` appended when the URL has no `{click_id}` macro.

    Values are percent-encoded with nothing left safe, so no value can add a
    path, a host, a query separator or a header line.
    """
    out = list(_compile(template))
    for index in range(1, len(out), 2):
        value = values.get(out[index]) or ""
        out[index] = quote(value, safe="") if _NEEDS_QUOTING(value) else value
    return "".join(out)
