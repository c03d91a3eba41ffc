"""Recording conversions: the write side of `/postback`.

`ConversionWriter` is the postback group commit's `write_batch`: in one
transaction it matches each request's click, converts its money into the
campaign's currency, records the conversion, writes an outbox row for every
created or updated one (the rule engine's hand-over, committed with it) and a
postback log row for every request, whatever its outcome.

An outbox row with nothing to run (its campaign has no enabled rule, and no
plugin runs for every conversion) is written processed: a rule engine's pass
over it cost more than the postback that wrote it.

Exactly once: a conversion is inserted with INSERT ... ON CONFLICT DO NOTHING
on the unique (click, goal, txid) key, so the database, not a prior read,
decides which of many identical postbacks creates it, in one process or many;
an existing one is then read locked (FOR UPDATE on PostgreSQL; SQLite's write
transaction excludes every other writer) before it is changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from graphapi import rollups
from graphapi.currency import Rates
from graphapi.db import Transaction
from graphapi.hot_paths import params_json
from graphapi.live import NOTIFY, ConversionFeed
from graphapi.models import ConversionStatus, CostModel, PostbackOutcome
from graphapi.money import LARGEST_AMOUNT, MAX_AMOUNT, from_micros, to_micros
from graphapi.rule_engine import has_enabled_rule
from graphapi.statuses import may_change

# Longer click ids are cut (never matching a click: ours have 22 characters).
MAX_CLICK_ID = 255


class Refused(Exception):
    """The request is answered without a conversion: invalid, forbidden, ..."""

    def __init__(self, outcome: PostbackOutcome, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.http_status = http_status or HTTP_STATUS[outcome]

    def result(self) -> PostbackResult:
        return PostbackResult(self.outcome, self.message, http_status=self.http_status)


def invalid(message: str, http_status: int | None = None) -> Refused:
    return Refused(PostbackOutcome.INVALID, message, http_status)


HTTP_STATUS = {
    PostbackOutcome.CREATED: 200,
    PostbackOutcome.UPDATED: 200,
    PostbackOutcome.DUPLICATE: 200,
    PostbackOutcome.INVALID: 400,
    PostbackOutcome.FORBIDDEN: 403,
    PostbackOutcome.UNKNOWN_CLICK: 404,
}
UNKNOWN_CLICK = "Unknown click: no click has this click_id."


@dataclass(slots=True)
class ConversionRequest:
    """A postback whose parameters are all well-formed."""

    click_id: str
    payout: Decimal | None  # None: the offer's payout (new) or the recorded one (update)
    status: ConversionStatus
    raw_status: str | None
    goal: str
    txid: str
    currency: str | None  # None: the campaign's currency
    params: dict[str, str]
    log: LogEntry = field(repr=False)


@dataclass(slots=True)
class LogEntry:
    received_at: str  # UTC, as graphapi.db.UtcText writes it
    remote_addr: str | None
    params: dict[str, Any]
    click_id: str | None


@dataclass(slots=True)
class RefusedRequest:
    refusal: Refused
    log: LogEntry


@dataclass(slots=True)
class PostbackResult:
    outcome: PostbackOutcome
    message: str | None = None
    conversion_id: int | None = None
    status: ConversionStatus | None = None
    http_status: int = 200

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"result": self.outcome.value}
        if self.conversion_id is not None:
            body["conversion_id"] = self.conversion_id
        if self.status is not None:
            body["status"] = self.status.value
        if self.message:
            body["message"] = self.message
        return body


@dataclass(frozen=True, slots=True)
class MatchedClick:
    id: int
    campaign_id: int
    currency: str
    cost_model: CostModel
    cost_value: Decimal
    offer_payout: Decimal
    has_rules: bool  # its campaign has an enabled rule
    dimensions: tuple[str, ...]  # its value of each rollup dimension (rollups.VALUES)


def accrued_cost(click: MatchedClick, payout: Decimal) -> Decimal:
    """What a CPA or REVSHARE campaign pays for this conversion (counted while approved)."""
    if click.cost_model is CostModel.CPA:
        return click.cost_value
    if click.cost_model is CostModel.REVSHARE:
        # A share of a payout near the amount limit, at a rate over 100 %, is
        # past it, and past what a stored amount may be: held there, as sums are.
        return min(payout * click.cost_value / 100, LARGEST_AMOUNT)
    return Decimal(0)


_SELECT_CLICKS = (
    "SELECT k.click_id, k.id, k.campaign_id, cp.currency, cp.cost_model, cp.cost_value, o.payout, "
    f"{has_enabled_rule('k.campaign_id')}, "
    f"{rollups.CLICK_VALUES} FROM click k JOIN campaign cp ON cp.id = k.campaign_id "
    "LEFT JOIN offer o ON o.id = k.offer_id WHERE k.click_id "
)
_CONVERSION_COLUMNS = (
    "click_id, campaign_id, goal, txid, status, raw_status, payout, currency, original_payout, "
    "original_currency, cost, params, created_at, updated_at"
)
# A batch's new conversions in one statement; a key that exists already is
# left alone (and then read locked), so the database decides which of many
# identical postbacks creates it. The key comes back with the id: RETURNING
# gives rows in no set order.
_INSERT_CONVERSIONS_POSTGRES = (
    f"INSERT INTO conversion ({_CONVERSION_COLUMNS}) SELECT t.click_id, t.campaign_id, t.goal, t.txid, "
    "t.status, t.raw_status, t.payout, t.currency, t.original_payout, t.original_currency, t.cost, "
    "t.params::jsonb, t.created_at, t.updated_at FROM unnest(?::bigint[], ?::int[], ?::text[], ?::text[], "
    "?::text[], ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::text[], "
    "?::timestamptz[], ?::timestamptz[]) AS t(click_id, campaign_id, goal, txid, status, raw_status, payout, "
    "currency, original_payout, original_currency, cost, params, created_at, updated_at) "
    "ORDER BY 1, 3, 4 ON CONFLICT (click_id, goal, txid) DO NOTHING RETURNING id, click_id, goal, txid"
)
_INSERT_CONVERSIONS_SQLITE = (
    f"INSERT INTO conversion ({_CONVERSION_COLUMNS}) VALUES {{values}} "
    "ON CONFLICT (click_id, goal, txid) DO NOTHING RETURNING id, click_id, goal, txid"
)
# Existing conversions of the batch, in key order; on PostgreSQL locked in that
# order (as every batch locks them), on SQLite the write transaction excludes
# every other writer already. A join, so that SQLite looks each key up in the
# index (with `(...) IN (VALUES ...)` it scans the whole table).
_SELECT_CONVERSIONS = (
    "WITH t(click_id, goal, txid) AS ({keys}) SELECT v.id, v.click_id, v.goal, v.txid, v.status, v.payout, "
    "v.original_payout, v.original_currency, v.cost, v.created_at FROM t JOIN conversion v "
    "ON v.click_id = t.click_id AND v.goal = t.goal AND v.txid = t.txid ORDER BY v.click_id, v.goal, v.txid"
)
_SELECT_CONVERSIONS_POSTGRES = (
    _SELECT_CONVERSIONS.format(keys="SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[])") + " FOR UPDATE OF v"
)
_SELECT_CONVERSIONS_SQLITE = _SELECT_CONVERSIONS.format(keys="VALUES {values}")
# SQLite's limit on a statement's parameters (32,766) over 14 columns.
_SQLITE_ROWS = 1_000


async def _fetch_sqlite(tx: Transaction, template: str, rows: Sequence[Sequence[Any]]) -> list[tuple]:
    """`template` with `rows` as its {values} list, in chunks SQLite accepts."""
    found: list[tuple] = []
    for start in range(0, len(rows), _SQLITE_ROWS):
        chunk = rows[start : start + _SQLITE_ROWS]
        one = "(" + ", ".join("?" * len(chunk[0])) + ")"
        found += await tx.fetch(
            template.format(values=", ".join([one] * len(chunk))), [value for row in chunk for value in row]
        )
    return found


_UPDATE_CONVERSION = (
    "UPDATE conversion SET status = ?, raw_status = ?, payout = ?, original_payout = ?, "
    "original_currency = ?, cost = ?, updated_at = ? WHERE id = ?"
)
INSERT_OUTBOX = (
    "INSERT INTO outbox (created_at, conversion_id, previous_status, status, processed_at, attempts) "
    "VALUES (?, ?, ?, ?, ?, 0)"
)
_LOG_COLUMNS = "received_at, outcome, message, click_id, params, remote_addr, conversion_id, status"
_INSERT_LOG = f"INSERT INTO postback ({_LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
# PostgreSQL: everything a batch writes after reading, in one statement (one
# round trip rather than five), from the same rows as arrays: the changed
# conversions, the outbox, the rollups, the log and the announcements.
_WRITE_BACK_POSTGRES = (
    "WITH changed AS (UPDATE conversion c SET status = t.status, raw_status = t.raw_status, payout = t.payout, "
    "original_payout = t.original_payout, original_currency = t.original_currency, cost = t.cost, "
    "updated_at = t.updated_at FROM unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], "
    "?::bigint[], ?::timestamptz[], ?::bigint[]) AS t(status, raw_status, payout, original_payout, "
    "original_currency, cost, updated_at, id) WHERE c.id = t.id), "
    "outbox AS (INSERT INTO outbox (created_at, conversion_id, previous_status, status, processed_at, attempts) "
    "SELECT t.*, 0 FROM unnest(?::timestamptz[], ?::bigint[], ?::text[], ?::text[], ?::timestamptz[]) AS t), "
    f"{rollups.ADD_CONVERSION_ROWS_POSTGRES}, "
    f"log AS (INSERT INTO postback ({_LOG_COLUMNS}) SELECT t.received_at, t.outcome, t.message, t.click_id, "
    "t.params::jsonb, t.remote_addr, t.conversion_id, t.status FROM unnest(?::timestamptz[], ?::text[], ?::text[], "
    "?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[]) AS t(" + _LOG_COLUMNS + ")) "
    + NOTIFY
)


@dataclass(frozen=True, slots=True)
class Amount:
    """A payout in the campaign's currency, and as the partner sent it when converted."""

    payout: Decimal
    original: Decimal | None = None
    original_currency: str | None = None

    def same_as_sent(self, other: Amount) -> bool:
        """Whether both were sent as the same amount in the same currency (rates may move)."""
        if self.original_currency or other.original_currency:
            return (self.original, self.original_currency) == (other.original, other.original_currency)
        return self.payout == other.payout


def _exact(amount: Decimal) -> Decimal:
    """As stored: whole micro-units."""
    return from_micros(to_micros(amount))


@dataclass(slots=True)
class _Recorded:
    """A conversion as the batch leaves it (in micro-units, as stored)."""

    id: int
    status: ConversionStatus
    raw_status: str | None
    amount: Amount
    cost: int
    created_at: datetime
    changed: bool = False

    def state(self) -> rollups.State:
        return (self.status.value, to_micros(self.amount.payout), self.cost)


@dataclass(slots=True)
class _Pending:
    """A request whose click is known and whose amount is worked out."""

    index: int
    request: ConversionRequest
    click: MatchedClick
    amount: Amount | None

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.click.id, self.request.goal, self.request.txid)

    def as_new(self) -> tuple[Amount, int]:
        """The amount, and the cost in micro-units, a conversion it creates has."""
        amount = self.amount or Amount(self.click.offer_payout)
        return amount, to_micros(accrued_cost(self.click, amount.payout))


class ConversionWriter:
    """`write_batch` for the postback group commit: one result per request.

    A batch costs a fixed number of statements whatever its size (read the
    clicks, insert the new keys, read the others locked, then write back what
    changed, the outbox, rollups and log: one statement on PostgreSQL), since
    on PostgreSQL each statement is a round trip.
    """

    def __init__(
        self, feed: ConversionFeed, rates: Rates, postgres: bool, every_conversion: Callable[[], bool]
    ) -> None:
        self._feed = feed
        self._rates = rates
        self._postgres = postgres
        # Whether a plugin runs for every conversion (rule_engine.every_conversion_hooks),
        # asked each batch: a plugin may be registered after start-up.
        self._every_conversion = every_conversion

    async def __call__(
        self, tx: Transaction, items: Sequence[ConversionRequest | RefusedRequest]
    ) -> list[PostbackResult]:
        clicks = await self._clicks(tx, [item.click_id for item in items if isinstance(item, ConversionRequest)])
        results: list[PostbackResult | None] = [None] * len(items)
        pending: list[_Pending] = []
        for index, item in enumerate(items):
            if isinstance(item, RefusedRequest):
                results[index] = item.refusal.result()
                continue
            try:
                click = clicks.get(item.click_id)
                if click is None:
                    raise Refused(PostbackOutcome.UNKNOWN_CLICK, UNKNOWN_CLICK)
                pending.append(_Pending(index, item, click, self._amount(item, click)))
            except Refused as refusal:
                results[index] = refusal.result()
        # Rows are locked in key order in every transaction, so two processes'
        # batches cannot deadlock; the sort is stable, so one key's postbacks
        # apply in the order they came.
        pending.sort(key=lambda p: p.key)
        now = datetime.now(timezone.utc)
        # The batch's time as the rows' text: sqlite3's datetime adapter costs
        # 1.4 µs a value, and a batch writes it three times a request or so.
        stamp = now.isoformat(" ")
        firsts = {p.key: p for p in reversed(pending)}  # each key's first request
        created = await self._insert(tx, [firsts[key] for key in sorted(firsts)], stamp)
        recorded = await self._existing(tx, [key for key in sorted(firsts) if key not in created])
        outbox: list[tuple] = []
        before: dict[tuple, rollups.State | None] = {}
        every_conversion = self._every_conversion()
        for p in pending:
            key, status = p.key, p.request.status
            # The rule engine's hand-over; with no rule or plugin to run, the
            # row is written processed, and no engine spends a claim on it.
            processed_at = None if every_conversion or p.click.has_rules else stamp
            if key in created and key not in recorded:
                recorded[key] = _Recorded(created[key], status, p.request.raw_status, *p.as_new(), now)
                outbox.append((stamp, created[key], None, status.value, processed_at))
                before[key] = None
                results[p.index] = PostbackResult(PostbackOutcome.CREATED, conversion_id=created[key], status=status)
            else:
                previous = recorded[key].status
                results[p.index] = result = _apply(p, recorded[key], before)
                if result.outcome is PostbackOutcome.UPDATED:
                    outbox.append((stamp, result.conversion_id, previous.value, status.value, processed_at))
        changes = [
            (r.status.value, r.raw_status, to_micros(r.amount.payout), _micros(r.amount.original),
             r.amount.original_currency, r.cost, stamp, r.id)
            for r in recorded.values() if r.changed
        ]  # fmt: skip
        log = [_log_row(item.log, result) for item, result in zip(items, results)]
        await self._write_back(tx, changes, outbox, _rollup_sums(pending, recorded, before), log)
        return results  # type: ignore[return-value]

    async def _write_back(
        self, tx: Transaction, changes: list[tuple], outbox: list[tuple], sums: rollups.Sums, log: list[tuple]
    ) -> None:
        """The changed conversions, the outbox, the rollups, the log and the announcements."""
        announced = [row[1] for row in outbox]
        if self._postgres:
            tables = ((changes, 8), (outbox, 5), (rollups.conversion_rows(sums), 10), (log, 8))
            arrays = [list(column) for rows, width in tables for column in _columns(rows, width)]
            await tx.execute(_WRITE_BACK_POSTGRES, [*arrays, *self._feed.notify_params(announced)])
            return
        await tx.executemany(_UPDATE_CONVERSION, changes)
        await tx.executemany(INSERT_OUTBOX, outbox)
        await rollups.add_conversion_sums(tx, sums)
        await tx.executemany(_INSERT_LOG, log)
        await self._feed.announce(tx, announced)

    def committed(self, results: Sequence[PostbackResult]) -> None:
        """After a batch's commit: this process's subscribers hear of its conversions."""
        self._feed.committed(
            result.conversion_id
            for result in results
            if result.outcome in (PostbackOutcome.CREATED, PostbackOutcome.UPDATED)
        )

    async def _insert(self, tx: Transaction, firsts: list[_Pending], stamp: str) -> dict[tuple, int]:
        """Insert each key's first request; the ids of the keys that were new."""
        rows = []
        for p in firsts:
            request, click = p.request, p.click
            new, cost = p.as_new()
            rows.append((
                click.id, click.campaign_id, request.goal, request.txid, request.status.value,
                request.raw_status, to_micros(new.payout), click.currency, _micros(new.original),
                new.original_currency, cost, params_json(request.params), stamp, stamp,
            ))  # fmt: skip
        if not rows:
            return {}
        inserted = await self._fetch_rows(tx, _INSERT_CONVERSIONS_POSTGRES, _INSERT_CONVERSIONS_SQLITE, rows)
        return {(click_id, goal, txid): pk for pk, click_id, goal, txid in inserted}

    async def _existing(self, tx: Transaction, keys: list[tuple[int, str, str]]) -> dict[tuple, _Recorded]:
        """The conversions of these keys, read locked."""
        if not keys:
            return {}
        rows = await self._fetch_rows(tx, _SELECT_CONVERSIONS_POSTGRES, _SELECT_CONVERSIONS_SQLITE, keys)
        return {
            (click_id, goal, txid): _Recorded(
                pk, ConversionStatus(status), None,
                Amount(from_micros(payout), from_micros(original) if original is not None else None, currency),
                cost, rollups.as_datetime(created_at),
            )
            for pk, click_id, goal, txid, status, payout, original, currency, cost, created_at in rows
        }  # fmt: skip

    async def _fetch_rows(
        self, tx: Transaction, postgres: str, sqlite_template: str, rows: Sequence[Sequence[Any]]
    ) -> list[tuple]:
        """A statement over `rows`: one array per column on PostgreSQL, VALUES lists on SQLite."""
        if self._postgres:
            return await tx.fetch(postgres, [list(column) for column in zip(*rows)])
        return await _fetch_sqlite(tx, sqlite_template, rows)

    async def _clicks(self, tx: Transaction, click_ids: list[str]) -> dict[str, MatchedClick]:
        wanted = sorted(set(click_ids))
        if not wanted:
            return {}
        if self._postgres:  # one prepared statement, whatever the batch's size
            rows = await tx.fetch(_SELECT_CLICKS + "= ANY(?::text[])", [wanted])
        else:
            rows = await tx.fetch(_SELECT_CLICKS + f"IN ({', '.join('?' * len(wanted))})", wanted)
        return {
            row[0]: MatchedClick(
                row[1], row[2], row[3], CostModel(row[4]), from_micros(row[5]), from_micros(row[6]), bool(row[7]),
                tuple(row[8:]),
            )
            for row in rows
        }

    def _amount(self, request: ConversionRequest, click: MatchedClick) -> Amount | None:
        """The request's payout in the campaign's currency; None when it sent none."""
        currency = request.currency or click.currency
        if currency != click.currency and self._rates.convert(Decimal(1), currency, click.currency) is None:
            raise invalid(
                f"currency: no exchange rate from {currency} to {click.currency} "
                "(the campaign's currency); add it to GRAPHAPI_CURRENCY_RATES"
            )
        if request.payout is None:
            return None
        sent = _exact(request.payout)
        if currency == click.currency:
            return Amount(sent)
        converted = self._rates.convert(sent, currency, click.currency)
        if converted >= MAX_AMOUNT:
            raise invalid(f"payout: {sent} {currency} is more than {click.currency} can hold")
        return Amount(_exact(converted), sent, currency)


def order_key(item: ConversionRequest | RefusedRequest) -> tuple[str, str, str] | None:
    """The postback group commit's key: one conversion's postbacks apply in the
    order they came, so no two batches under way hold the same one."""
    return (item.click_id, item.goal, item.txid) if isinstance(item, ConversionRequest) else None


def _apply(p: _Pending, recorded: _Recorded, before: dict[tuple, rollups.State | None]) -> PostbackResult:
    """A request for a conversion that exists (or that an earlier request of the
    batch created): change it, or answer that it is a duplicate."""
    request, current = p.request, recorded.status
    status_changes = request.status != current
    payout_changes = p.amount is not None and not p.amount.same_as_sent(recorded.amount)
    if status_changes and not may_change(current, request.status):
        return PostbackResult(
            PostbackOutcome.DUPLICATE,
            f"status: the conversion is already {current}; it does not go back to "
            f"{request.status}, so nothing changed",
            recorded.id,
            current,
        )
    if not status_changes and not payout_changes:
        return PostbackResult(PostbackOutcome.DUPLICATE, conversion_id=recorded.id, status=current)
    before.setdefault(p.key, recorded.state())
    if payout_changes:
        recorded.amount = p.amount
    recorded.status, recorded.raw_status = request.status, request.raw_status
    recorded.cost = to_micros(accrued_cost(p.click, recorded.amount.payout))
    recorded.changed = True
    return PostbackResult(PostbackOutcome.UPDATED, conversion_id=recorded.id, status=request.status)


def _rollup_sums(
    pending: list[_Pending], recorded: dict[tuple, _Recorded], before: dict[tuple, rollups.State | None]
) -> rollups.Sums:
    """What the batch changed in the conversion rollups: each created or changed
    conversion (by key) from its state `before` to its recorded one."""
    clicks = {p.click.id: p.click for p in pending}
    sums: rollups.Sums = {}
    for key, state in before.items():
        click, conversion = clicks[key[0]], recorded[key]
        rollups.count_conversion(
            sums, click.campaign_id, conversion.created_at, click.dimensions, key[1], state, conversion.state()
        )
    return sums


def _columns(rows: Sequence[tuple], width: int) -> list[tuple]:
    """`rows` as `width` columns (as many empty ones when there are no rows)."""
    return list(zip(*rows)) if rows else [()] * width


def _micros(amount: Decimal | None) -> int | None:
    return None if amount is None else to_micros(amount)


def _log_row(log: LogEntry, result: PostbackResult) -> tuple:
    return (
        log.received_at, result.outcome.value, result.message, log.click_id,
        params_json(log.params), log.remote_addr, result.conversion_id,
        result.status.value if result.status is not None else None,
    )  # fmt: skip
