"""The click path: `/click` (the tracking link) and `/go` (lander to offer).

Both are plain ASGI apps: the click path is the hottest code in the product and
Request/Response objects would double its cost. A click is committed (group
commit) before its 302 is sent.

HEAD gets the answer GET would get but records nothing. HEAD comes from link
checkers, prefetchers and ad networks' URL validators, never from a person
following the link; answered, they are satisfied, where a 405 sends many of
them on to a GET, which would be recorded.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from graphapi import rollups, visitor
from graphapi.db import Transaction, UtcText
from graphapi.group_commit import WriteFailed
from graphapi.hot_paths import params_json, plain, query_pairs
from graphapi.models import Route
from graphapi.money import amount_problem, parse_amount
from graphapi.routing import CampaignRoute, Target, destination

log = logging.getLogger(__name__)

COOKIE = "graphapi_click"
COOKIE_MAX_AGE = 30 * 24 * 3600
SUBS = ("subid",) + tuple(f"sub{i}" for i in range(1, 11))
# Parameters with a column of their own; everything else goes to `params`.
KNOWN = frozenset(("campaign_id", "source", "creative", "cost") + SUBS)
# Lengths values are cut to; longer ones are recorded cut, never refused.
MAX_VALUE = 255
MAX_USER_AGENT = 1024
MAX_REFERRER = 2048
MAX_PARAMS = 50
MAX_PARAM_NAME = 64
MAX_CAMPAIGN_ID = 2**31 - 1


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A random byte as a base32 digit: its low 5 bits, uniform since 32 divides 256.
_DIGIT_OF_BYTE = bytes(ord(CROCKFORD[byte % 32]) for byte in range(256))
_stamp: tuple[int, str] = (0, "")


def new_click_id() -> str:
    """A ULID (26 chars): the time in milliseconds, then 80 bits from the OS's
    CSPRNG. Unguessable, and in time order, so a new click's id goes to the end
    of the click_id index rather than to a random page of it.

    Written out here because python-ulid's generator took 4 µs a click (its
    base32 is a Python loop): a millisecond's ten digits are worked out once,
    and the sixteen random digits are 16 random bytes turned into digits in C
    (0.6 µs in all). The tests decode the ids with python-ulid.
    """
    global _stamp
    millisecond = time.time_ns() // 1_000_000
    if _stamp[0] != millisecond:
        _stamp = (millisecond, "".join(CROCKFORD[(millisecond >> shift) & 31] for shift in range(45, -1, -5)))
    return _stamp[1] + os.urandom(16).translate(_DIGIT_OF_BYTE).decode()


_ULID_DIGITS = frozenset(CROCKFORD)


def canonical_click_id(text: str) -> str:
    """A click id as stored: ULIDs, as Crockford's base32 reads, in any case
    (some networks lower-case their macros' values); anything else as it is."""
    if len(text) == 26 and text.isascii() and not text.isupper():
        upper = text.upper()
        if _ULID_DIGITS.issuperset(upper):
            return upper
    return text


# The columns a click row (a tuple, built by ClickEndpoint) holds, in order, with
# their PostgreSQL types; `unique_since` is last and is not a column.
CLICK_COLUMNS = (
    ("click_id", "text"), ("campaign_id", "int"), ("offer_id", "int"), ("lander_id", "int"),
    ("route", "text"), ("created_at", "timestamptz"), ("ip", "text"), ("user_agent", "text"),
    ("visitor", "bigint"), ("country", "text"), ("device_type", "text"), ("os", "text"),
    ("browser", "text"), ("referrer", "text"), ("source", "text"), ("creative", "text"),
    *((name, "text") for name in SUBS),
    ("params", "jsonb"), ("truncated", "bool"), ("is_bot", "bool"), ("cost", "bigint"),
)  # fmt: skip
_NAMES = [name for name, _ in CLICK_COLUMNS]
_CAMPAIGN, _VISITOR, _SINCE = _NAMES.index("campaign_id") + 1, _NAMES.index("visitor") + 1, len(_NAMES) + 1
_ROUTE = _NAMES.index("route")
# A click is unique when it counts and its visitor has not clicked the campaign
# since `unique_since`: asked in the INSERT itself, so it costs no round trip.
# Fallback clicks do not count, so they are never unique and do not use up the
# visitor's unique click; the click_visitor index leaves them out under this
# very condition (migration 0011), so the question is still answered from it.
_COUNTED = "c.route <> 'fallback'"
INSERT_CLICK_SQLITE = (
    f"INSERT INTO click ({', '.join(_NAMES)}, is_unique) VALUES ("
    + ", ".join(f"?{n}" for n in range(1, len(_NAMES) + 1))
    + f", ?{_ROUTE + 1} <> 'fallback' AND NOT EXISTS (SELECT 1 FROM click c WHERE c.campaign_id = ?{_CAMPAIGN}"
    f" AND c.visitor = ?{_VISITOR} AND c.created_at > ?{_SINCE} AND {_COUNTED}))"
)


# PostgreSQL: the whole batch in one statement, as arrays. A statement does not
# see its own rows, so a visitor's click after a counted one within the batch is
# marked not unique up front (`first`).
#
# Nor does it see a batch of another process committed while it runs: two
# processes' batches each found no earlier click of one visitor and both
# counted it unique. So each batch also upserts its visitors' rows of
# click_visitor_seen (in key order), which waits for another batch's upsert of
# the same visitor to commit and then reads its time (`previous`); a click is
# unique only if that is not within the window either. The rows matter only
# while batches are in flight: graphapi.rollups prunes the old ones.
_SENT_POSTGRES = (*CLICK_COLUMNS, ("since", "timestamptz"), ("first", "bool"))
_BATCH_POSTGRES = (
    "t AS (SELECT * FROM unnest("
    + ", ".join(f"?::{kind}[]" for _, kind in _SENT_POSTGRES)
    + f") AS t({', '.join(name for name, _ in _SENT_POSTGRES)})), "
    "s AS (INSERT INTO click_visitor_seen AS v (campaign_id, visitor, seen_at)"
    " SELECT campaign_id, visitor, MAX(created_at) FROM t WHERE route <> 'fallback' GROUP BY 1, 2 ORDER BY 1, 2"
    " ON CONFLICT (campaign_id, visitor) DO UPDATE SET previous = v.seen_at, seen_at = GREATEST(v.seen_at, excluded.seen_at)"
    " RETURNING campaign_id, visitor, previous), "
)
_INSERT_POSTGRES = (
    f"INSERT INTO click ({', '.join(_NAMES)}, is_unique) SELECT "
    + ", ".join(f"t.{name}" for name in _NAMES)
    + ", t.first AND t.route <> 'fallback' AND NOT EXISTS (SELECT 1 FROM click c WHERE c.campaign_id = t.campaign_id"
    f" AND c.visitor = t.visitor AND c.created_at > t.since AND {_COUNTED})"
    " AND NOT EXISTS (SELECT 1 FROM s WHERE s.campaign_id = t.campaign_id AND s.visitor = t.visitor"
    " AND s.previous > t.since) FROM t"
)


INSERT_CLICKS_POSTGRES = rollups.queued(f"{_INSERT_POSTGRES} RETURNING id", before=_BATCH_POSTGRES)


async def write_clicks(tx: Transaction, rows: Sequence[tuple]) -> list[None]:
    """The click group commit's `write_batch`: one statement on PostgreSQL.
    graphapi.rollups.catch_up counts the clicks later."""
    if not tx.postgres:
        # Each row of an executemany sees the ones before it in the transaction.
        await tx.executemany(INSERT_CLICK_SQLITE, rows)
        return [None] * len(rows)
    seen = set()
    first = []
    for row in rows:
        key = (row[_CAMPAIGN - 1], row[_VISITOR - 1])
        first.append(key not in seen)
        if row[_ROUTE] != Route.FALLBACK:
            seen.add(key)
    await tx.execute(INSERT_CLICKS_POSTGRES, [*zip(*rows), first])
    return [None] * len(rows)


class Query:
    """The query string of a click: first value of each name, cut to size."""

    def __init__(self, raw: bytes) -> None:
        self.values: dict[str, str] = {}
        self.truncated = False
        for name, value in query_pairs(raw.decode("utf-8", "replace")):
            if name not in self.values:
                self.values[name] = value

    def get(self, name: str, limit: int = MAX_VALUE) -> str | None:
        value = self.values.get(name)
        if not value:
            return None
        return self.cut(value, limit)

    def cut(self, value: str, limit: int) -> str:
        if len(value) > limit:
            self.truncated = True
            return value[:limit]
        return value

    def extra(self) -> dict[str, str]:
        extra: dict[str, str] = {}
        for name, value in self.values.items():
            if name in KNOWN:
                continue
            if len(extra) == MAX_PARAMS:
                self.truncated = True
                break
            extra[self.cut(name, MAX_PARAM_NAME)] = self.cut(value, MAX_VALUE)
        return extra


def _headers(scope: dict) -> dict[bytes, bytes]:
    return {name: value for name, value in scope["headers"]}


def _text(raw: bytes | None) -> str:
    return raw.decode("latin-1").replace("\x00", "") if raw else ""


def _dynamic_cost(text: str) -> Decimal | None:
    """The click's `cost`, or None where it is missing or cannot be stored (the
    campaign's own cost applies then: a bad value must not lose the visitor)."""
    cost = parse_amount(text)
    return None if cost is None or amount_problem(cost) else cost


def parse_campaign_id(text: str | None) -> int | None:
    if not text or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_CAMPAIGN_ID else None


async def redirect(send, location: str, cookie: str | None = None) -> None:
    headers = [
        (b"location", location.encode("ascii")),
        (b"cache-control", b"no-store, no-cache, max-age=0"),
        (b"content-length", b"0"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if cookie:
        headers.append(
            (
                b"set-cookie",
                f"{COOKIE}={cookie}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax".encode(),
            )
        )
    await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


UNAVAILABLE = "The tracker cannot record clicks right now; please try again in a moment."


async def unavailable(send) -> None:
    await plain(send, 503, UNAVAILABLE, [(b"retry-after", b"1")])


class ClickEndpoint:
    """GET /click?campaign_id=...: record the click, 302 to a lander or an offer."""

    def __init__(self, services) -> None:
        self.services = services
        self.client_address = visitor.ClientAddress(services.settings.trusted_networks)
        self.unique_window = services.settings.unique_window_hours * 3_600_000_000  # micros
        self.created_text, self.since_text = UtcText(), UtcText()

    async def __call__(self, scope, receive, send) -> None:
        services = self.services
        settings = services.settings
        query = Query(scope["query_string"])
        campaign_id = parse_campaign_id(query.values.get("campaign_id"))
        if campaign_id is None:
            await plain(send, 404, "Unknown campaign: campaign_id must be a campaign's numeric id.")
            return
        try:
            route = await services.campaigns.get(campaign_id)
        except Exception:
            log.exception("campaign %s could not be read", campaign_id)
            await unavailable(send)
            return
        if route is None:
            await plain(send, 404, f"Unknown campaign: there is no campaign {campaign_id}.")
            return

        headers = _headers(scope)
        client = scope.get("client")
        ip = self.client_address(client[0] if client else None, _text(headers.get(b"x-forwarded-for")))
        user_agent = query.cut(_text(headers.get(b"user-agent")), MAX_USER_AGENT)
        device = visitor.describe(user_agent)
        source = query.get("source")
        now = time.time_ns() // 1000

        offer = lander = None
        if route.accepts(source):
            if route.landers:
                lander = route.landers.pick()
                target_url, kind = lander.url, Route.LANDER
            else:
                offer = route.offers.pick()
                target_url, kind = offer.url, Route.OFFER
        else:
            target_url, kind = route.fallback_url or settings.fallback_url, Route.FALLBACK

        click_id = new_click_id()
        visitor_key = visitor.visitor_key(ip, user_agent)
        country = visitor.country(ip)
        creative = query.get("creative")
        subs = {name: query.get(name) for name in SUBS}
        referrer = query.cut(_text(headers.get(b"referer")), MAX_REFERRER) or None
        params = query.extra()
        cost = route.click_cost(_dynamic_cost(query.values.get("cost", "")))
        row = (
            click_id, route.id, offer.id if offer else None, lander.id if lander else None,
            kind.value, self.created_text(now), ip, user_agent, visitor_key, country, device.device_type.value,
            device.os, device.browser, referrer, source, creative, *subs.values(),
            params_json(params), query.truncated,
            device.is_bot, cost, self.since_text(now - self.unique_window),
        )  # fmt: skip
        recorded = scope["method"] == "GET"  # else HEAD: its click_id is never stored
        if recorded:
            try:
                await services.clicks.submit(row)
            except (WriteFailed, RuntimeError):
                await unavailable(send)
                return
        if target_url is None:
            await plain(send, 404, "This campaign is not taking traffic and has no fallback URL.")
            return
        macros = macro_values(
            click_id, route.id, offer, lander, subs, source, creative, country, device.device_type
        )
        await redirect(send, destination(target_url, macros), cookie=click_id if lander and recorded else None)


def macro_values(
    click_id: str,
    campaign_id: int,
    offer: Target | None,
    lander: Target | None,
    subs: dict[str, str | None],
    source: str | None,
    creative: str | None,
    country: str | None,
    device_type: str,
) -> dict[str, str | None]:
    return {
        **subs,
        "click_id": click_id,
        "campaign_id": str(campaign_id),
        "offer_id": str(offer.id) if offer else None,
        "lander_id": str(lander.id) if lander else None,
        "source": source,
        "creative": creative,
        "country": country,
        "device": str(device_type),
    }


@dataclass(slots=True)
class StoredClick:
    id: int
    click_id: str
    campaign_id: int
    offer_id: int | None
    lander_id: int | None
    source: str | None
    creative: str | None
    country: str | None
    device_type: str
    subs: dict[str, str | None]

    def macros(self, offer: Target | None, lander: Target | None) -> dict[str, str | None]:
        return macro_values(
            self.click_id, self.campaign_id, offer, lander, self.subs, self.source,
            self.creative, self.country, self.device_type,
        )  # fmt: skip


SELECT_CLICK = (
    "SELECT id, click_id, campaign_id, offer_id, lander_id, source, creative, country, "
    "device_type, " + ", ".join(SUBS) + " FROM click WHERE click_id = ?"
)


async def find_click(database, click_id: str) -> StoredClick | None:
    rows = await database.fetch(SELECT_CLICK, (click_id,))
    if not rows:
        return None
    r = rows[0]
    return StoredClick(*r[:9], subs=dict(zip(SUBS, r[9:])))


class GoEndpoint:
    """GET /go?click_id=...: a lander's click-through to an offer.

    The first click-through picks an offer by weight and records it; a repeat
    goes to the same offer and counts once.
    """

    def __init__(self, services) -> None:
        self.services = services

    async def __call__(self, scope, receive, send) -> None:
        services = self.services
        fallback = services.settings.fallback_url
        query = Query(scope["query_string"])
        click_id = query.get("click_id", 64) or _cookie(_headers(scope).get(b"cookie"))
        click_id = click_id and canonical_click_id(click_id)
        try:
            click = await find_click(services.db, click_id) if click_id else None
            route = await services.campaigns.get(click.campaign_id) if click else None
        except Exception:
            await unavailable(send)
            return
        if click is None or route is None:
            if fallback:
                await redirect(send, destination(fallback, {"click_id": click_id or ""}))
            else:
                await plain(send, 404, "Unknown click: no click has this click_id.")
            return

        lander = route.landers.get(click.lander_id)
        offer = route.offers.get(click.offer_id) if click.offer_id else None
        # A click sent to the fallback (neither lander nor offer) saw no
        # lander to come from: it goes to the fallback again, recording nothing.
        went_to_fallback = click.lander_id is None and click.offer_id is None
        if went_to_fallback or not route.accepts(click.source):
            target = route.fallback_url or fallback
            if target is None:
                await plain(send, 404, "This campaign is not taking traffic and has no fallback URL.")
                return
            location = destination(target, click.macros(None, lander))
            await redirect(send, location)
            return
        if offer is None and scope["method"] == "HEAD":
            offer = route.offers.pick()  # a look, not a click-through: nothing recorded
        elif offer is None:
            try:
                offer = await self._choose_offer(click, route)
            except Exception:
                await unavailable(send)
                return
        location = destination(offer.url, click.macros(offer, lander))
        await redirect(send, location)

    async def _choose_offer(self, click: StoredClick, route: CampaignRoute) -> Target:
        """Record the click-through (group commit); a concurrent one that won keeps its offer."""
        offer = route.offers.pick()
        chosen = await self.services.click_throughs.submit((click.id, offer.id, datetime.now(timezone.utc)))
        return route.offers.get(chosen) or offer


async def write_click_throughs(tx: Transaction, items: Sequence[tuple[int, int, datetime]]) -> list[int]:
    """Items are (click pk, offer id, time); the result is each click's offer,
    which is another's when a concurrent click-through got there first."""
    ids = sorted({pk for pk, _, _ in items})
    await rollups.count_before_click_through(tx, ids)
    await tx.executemany(
        "UPDATE click SET offer_id = ?, lander_clicked_at = ? WHERE id = ? AND offer_id IS NULL",
        # In id order, so two processes sending the same clicks on lock them in turn.
        [(offer_id, moment, pk) for pk, offer_id, moment in sorted(items)],
    )
    rows = await tx.fetch(
        f"SELECT id, offer_id, lander_clicked_at FROM click WHERE id IN ({', '.join('?' * len(ids))})", ids
    )
    chosen = {pk: offer_id for pk, offer_id, _ in rows}
    # Those this batch sent on (not an earlier batch): their time is ours.
    moments: dict[int, set[datetime]] = {}
    for pk, _, moment in items:
        moments.setdefault(pk, set()).add(moment)
    moved = [pk for pk, _, at in rows if at is not None and rollups.as_datetime(at) in moments[pk]]
    await rollups.add_click_throughs(tx, moved)
    return [chosen[pk] for pk, _, _ in items]





def _cookie(header: bytes | None) -> str | None:
    for part in _text(header).split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value[:64]
    return None
