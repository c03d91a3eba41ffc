"""The postback path: `/postback`, where partners report conversions.

The request is parsed and checked here (source address, token, aliases,
unreplaced macros, amounts, statuses); `PostbackWriter` then matches the click
and records the conversion, its outbox row and the postback log row in one
group-committed transaction. Every request is logged, whatever its outcome.

Exactly once: the conversion is inserted with INSERT ... ON CONFLICT DO NOTHING
on the unique (click, goal, txid) key, so the database, not a prior read,
decides which of many identical postbacks creates it, in one process or many.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers

from graphapi import visitor
from graphapi.currency import Rates
from graphapi.db import Transaction
from graphapi.group_commit import WriteFailed
from graphapi.live import ConversionFeed
from graphapi.models import ConversionStatus, CostModel, PostbackOutcome
from graphapi.money import from_micros, parse_amount, to_micros
from graphapi.statuses import may_change, parse_status

# The largest body read; a larger one is refused without reading it all.
MAX_BODY = 64 * 1024
# What the postback log and a conversion's `params` keep of a request.
MAX_LOGGED_PARAMS = 50
MAX_LOGGED_VALUE = 1024
MAX_PARAM_NAME = 64
MAX_PARAM_VALUE = 255
MAX_GOAL = 64
MAX_TXID = 128
MAX_RAW_STATUS = 64
MAX_CLICK_ID = 255

# Each field and the names networks give it; the first is ours and wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "click_id": ("click_id", "clickid", "cid", "subid"),
    "payout": ("payout", "revenue", "sum", "amount"),
    "status": ("status",),
    "goal": ("goal", "event", "et"),
    "txid": ("txid", "tid", "transaction_id", "order_id"),
    "currency": ("currency",),
}
TOKEN = "token"

# A value that is still a template placeholder: {clickid}, {{payout}},
# %7Bpayout%7D (encoded twice), [CLICK_ID], ##CLICK_ID##.
_MACRO = re.compile(
    r"\{\{?[A-Za-z_][\w.]*\}?\}|%7B[A-Za-z_][\w.]*%7D|^\[[A-Za-z_][\w.]*\]$|^##[A-Za-z_][\w.]*##$",
    re.IGNORECASE,
)


class Refused(Exception):
    """The request is answered without a conversion: invalid, forbidden, ..."""

    def __init__(self, outcome: PostbackOutcome, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.http_status = http_status or HTTP_STATUS[outcome]


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


# --- parsing -------------------------------------------------------------------


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_body(receive, headers: Headers, limit: int = MAX_BODY) -> bytes:
    """The request body, never more than `limit` bytes of it read."""
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _storable(text: str) -> str:
    """Without what PostgreSQL refuses to store (NUL, lone surrogates from JSON)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _query_pairs(raw: bytes | str) -> list[tuple[str, str]]:
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return [
        (_storable(name), _storable(value))
        for name, value in parse_qsl(text, keep_blank_values=True, errors="replace")
    ]


class _JsonObject(list):
    """A JSON object as its (name, value) pairs, so repeated names stay visible."""


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, _JsonObject):
        return {name: _plain(item) for name, item in value}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def body_pairs(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """The parameters of a POST body: a form or a JSON object."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body.strip():
        return []
    if media_type in ("", "application/x-www-form-urlencoded"):
        return _query_pairs(body.decode("utf-8", errors="replace"))
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            document = json.loads(
                body,
                object_pairs_hook=_JsonObject,
                # Amounts stay text, so a JSON 7.50 is parsed like "7.50".
                parse_float=str,
                parse_int=str,
                parse_constant=_refuse_constant,
            )
        except (ValueError, RecursionError):
            raise invalid("body: not valid JSON") from None
        if not isinstance(document, _JsonObject):
            raise invalid("body: the JSON body must be an object of parameters")
        return [(_storable(name), _storable(_json_text(value))) for name, value in document]
    raise invalid(
        f"body: content type {media_type!r} is not accepted; send a query string, "
        "application/x-www-form-urlencoded or application/json"
    )


def loggable(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The raw parameters as the postback log keeps them: capped, token hidden."""
    logged: dict[str, Any] = {}
    for name, value in pairs:
        name = name[:MAX_PARAM_NAME]
        value = "[hidden]" if name == TOKEN else value[:MAX_LOGGED_VALUE]
        if name in logged:
            previous = logged[name]
            logged[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        elif len(logged) < MAX_LOGGED_PARAMS:
            logged[name] = value
    return logged


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

    def lock_order(self, clicks: dict[str, MatchedClick]) -> tuple[int, str, str]:
        click = clicks.get(self.click_id)
        return (click.id if click else 0, self.goal, self.txid)


@dataclass(slots=True)
class LogEntry:
    received_at: datetime
    remote_addr: str | None
    params: dict[str, Any]
    click_id: str | None


@dataclass(slots=True)
class RefusedRequest:
    refusal: Refused
    log: LogEntry


def _by_name(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for name, value in pairs:
        named.setdefault(name, []).append(value)
    return named


def field_values(named: dict[str, list[str]]) -> tuple[dict[str, str], set[str]]:
    """Each field's value and the names it was read from.

    Our own name wins over aliases (a network's own `subid` beside `click_id`
    is kept as a parameter); several values for one field are refused rather
    than guessed between.
    """
    values: dict[str, str] = {}
    used: set[str] = set()
    for name, aliases in ALIASES.items():
        sources = [name] if name in named else [alias for alias in aliases if alias in named]
        distinct = {value for source in sources for value in named[source]}
        if len(distinct) > 1:
            raise invalid(f"{name}: given more than once with different values ({', '.join(sources)})")
        if distinct:
            values[name] = distinct.pop()
            used.update(sources)
    for name, value in values.items():
        if _MACRO.search(value):
            raise invalid(
                f"{name}: the partner did not fill in its macro ({value[:64]!r} is a placeholder); "
                "fix the postback URL at the network"
            )
    return values, used


def conversion_request(pairs: Sequence[tuple[str, str]], log: LogEntry) -> ConversionRequest:
    named = _by_name(pairs)
    values, used = field_values(named)
    click_id = values.get("click_id", "")
    if not click_id:
        raise invalid("click_id: missing (also read from clickid, cid or subid)")

    payout = None
    if "payout" in values:
        payout = parse_amount(values["payout"])
        if payout is None:
            raise invalid(
                f"payout: {values['payout'][:64]!r} is not an amount; write a number >= 0 "
                "with digits and a '.' (e.g. 7.50)"
            )

    raw_status = values.get("status")
    status = ConversionStatus.APPROVED
    if raw_status is not None:
        status = parse_status(raw_status)
        if status is None:
            raise invalid(
                f"status: {raw_status[:64]!r} is not a status we know; "
                "use approved, pending or rejected"
            )

    goal, txid = values.get("goal", ""), values.get("txid", "")
    if len(goal) > MAX_GOAL:
        raise invalid(f"goal: longer than {MAX_GOAL} characters")
    if len(txid) > MAX_TXID:
        raise invalid(f"txid: longer than {MAX_TXID} characters")

    currency = values.get("currency")
    if currency is not None:
        currency = currency.strip().upper()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            raise invalid(f"currency: {values['currency'][:64]!r} is not an ISO-4217 code such as USD")

    params: dict[str, str] = {}
    for name, named_values in named.items():
        if name in used or name == TOKEN:
            continue
        if len(params) == MAX_LOGGED_PARAMS:
            break
        params[name[:MAX_PARAM_NAME]] = named_values[0][:MAX_PARAM_VALUE]
    return ConversionRequest(
        click_id=click_id[:MAX_CLICK_ID],
        payout=payout,
        status=status,
        raw_status=raw_status[:MAX_RAW_STATUS] if raw_status is not None else None,
        goal=goal,
        txid=txid,
        currency=currency,
        params=params,
        log=log,
    )


def check_token(expected: str | None, named: dict[str, list[str]]) -> None:
    if expected is None:
        return
    given = named.get(TOKEN)
    if not given:
        raise Refused(PostbackOutcome.FORBIDDEN, "token: missing; this tracker requires a postback token")
    # Compared in constant time, so the answer's timing does not reveal how
    # much of a guess was right.
    if len(set(given)) != 1 or not hmac.compare_digest(given[0].encode(), expected.encode()):
        raise Refused(PostbackOutcome.FORBIDDEN, "token: wrong token")


# --- the endpoint ----------------------------------------------------------------


UNAVAILABLE = "The tracker cannot record postbacks right now; please retry."


async def respond(send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class PostbackEndpoint:
    """GET|POST /postback: record a conversion, once per (click, goal, txid)."""

    def __init__(self, services) -> None:
        self.services = services
        self._allowed = services.settings.postback_networks
        self._trusted = services.settings.trusted_networks

    async def __call__(self, scope, receive, send) -> None:
        services = self.services
        headers = Headers(scope=scope)
        client = scope.get("client")
        remote_addr = visitor.client_ip(
            client[0] if client else None, headers.get("x-forwarded-for"), self._trusted
        )
        pairs = _query_pairs(scope["query_string"])
        log = LogEntry(datetime.now(timezone.utc), remote_addr, loggable(pairs), None)
        try:
            item = await self._request(scope, receive, headers, remote_addr, pairs, log)
        except Refused as refusal:
            item = RefusedRequest(refusal, log)
        except ClientGone:
            return
        try:
            result: PostbackResult = await services.postbacks.submit(item)
        except (WriteFailed, RuntimeError):
            await respond(send, 503, {"result": "error", "message": UNAVAILABLE}, [(b"retry-after", b"1")])
            return
        if result.outcome in (PostbackOutcome.CREATED, PostbackOutcome.UPDATED):
            services.feed.committed([result.conversion_id])
        await respond(send, result.http_status, result.body())

    async def _request(self, scope, receive, headers, remote_addr, pairs, log) -> ConversionRequest:
        if self._allowed and not _allowed(remote_addr, self._allowed):
            raise Refused(PostbackOutcome.FORBIDDEN, f"source address {remote_addr} is not allowed to send postbacks")
        if scope["method"] == "POST":
            try:
                body = await read_body(receive, headers)
            except BodyTooLarge:
                raise invalid(f"body: larger than {MAX_BODY // 1024} KiB", 413) from None
            pairs = pairs + body_pairs(body, headers.get("content-type", ""))
            log.params = loggable(pairs)
        named = _by_name(pairs)
        log.click_id = next(
            (named[name][0][:MAX_CLICK_ID] for name in ALIASES["click_id"] if name in named), None
        )
        check_token(self.services.settings.postback_token, named)
        return conversion_request(pairs, log)


def _allowed(address: str | None, networks) -> bool:
    if address is None:
        return False
    parsed = ipaddress.ip_address(address)  # as `visitor.client_ip` wrote it
    return any(parsed in network for network in networks)


# --- the writer -------------------------------------------------------------------


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


def accrued_cost(click: MatchedClick, payout: Decimal) -> Decimal:
    """What a CPA or REVSHARE campaign pays for this conversion (counted while approved)."""
    if click.cost_model is CostModel.CPA:
        return click.cost_value
    if click.cost_model is CostModel.REVSHARE:
        return payout * click.cost_value / 100
    return Decimal(0)


_SELECT_CLICKS = (
    "SELECT c.click_id, c.id, c.campaign_id, cp.currency, cp.cost_model, cp.cost_value, o.payout "
    "FROM click c JOIN campaign cp ON cp.id = c.campaign_id LEFT JOIN offer o ON o.id = c.offer_id "
    "WHERE c.click_id IN ({})"
)
_INSERT_CONVERSION = (
    "INSERT INTO conversion (click_id, campaign_id, goal, txid, status, raw_status, payout, "
    "currency, original_payout, original_currency, cost, params, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (click_id, goal, txid) DO NOTHING RETURNING id"
)
_SELECT_CONVERSION = (
    "SELECT id, status, payout, original_payout, original_currency FROM conversion "
    "WHERE click_id = ? AND goal = ? AND txid = ?"
)
_UPDATE_CONVERSION = (
    "UPDATE conversion SET status = ?, raw_status = ?, payout = ?, original_payout = ?, "
    "original_currency = ?, cost = ?, updated_at = ? WHERE id = ?"
)
_INSERT_OUTBOX = (
    "INSERT INTO outbox (created_at, conversion_id, previous_status, processed_at, attempts) "
    "VALUES (?, ?, ?, NULL, 0)"
)
_INSERT_LOG = (
    "INSERT INTO postback (received_at, outcome, message, click_id, params, remote_addr, conversion_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
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


class PostbackWriter:
    """`write_batch` for the postback group commit: one result per request."""

    def __init__(self, feed: ConversionFeed, rates: Rates, postgres: bool) -> None:
        self._feed = feed
        self._rates = rates
        # Locks the row against a concurrent postback of another process; on
        # SQLite the write transaction (BEGIN IMMEDIATE) already excludes it.
        self._select_conversion = _SELECT_CONVERSION + (" FOR UPDATE" if postgres else "")

    async def __call__(self, tx: Transaction, items: Sequence[ConversionRequest | RefusedRequest]) -> list[PostbackResult]:
        requests = [(i, item) for i, item in enumerate(items) if isinstance(item, ConversionRequest)]
        clicks = await self._clicks(tx, [item.click_id for _, item in requests])
        results: list[PostbackResult | None] = [None] * len(items)
        for index, item in enumerate(items):
            if isinstance(item, RefusedRequest):
                refusal = item.refusal
                results[index] = PostbackResult(refusal.outcome, refusal.message, http_status=refusal.http_status)
        # Rows are locked in one order in every transaction, so two processes'
        # batches cannot deadlock; the sort is stable, so one key's postbacks
        # apply in the order they came.
        requests.sort(key=lambda pair: pair[1].lock_order(clicks))
        outbox: list[tuple] = []
        for index, request in requests:
            click = clicks.get(request.click_id)
            if click is None:
                results[index] = PostbackResult(PostbackOutcome.UNKNOWN_CLICK, UNKNOWN_CLICK, http_status=404)
                continue
            try:
                results[index] = await self._record(tx, request, click, outbox)
            except Refused as refusal:
                results[index] = PostbackResult(refusal.outcome, refusal.message, http_status=refusal.http_status)
        await tx.executemany(_INSERT_OUTBOX, outbox)
        await tx.executemany(
            _INSERT_LOG,
            [_log_row(item.log, result) for item, result in zip(items, results)],
        )
        await self._feed.announce(tx, [row[1] for row in outbox])
        return results  # type: ignore[return-value]

    async def _clicks(self, tx: Transaction, click_ids: list[str]) -> dict[str, MatchedClick]:
        wanted = sorted(set(click_ids))
        if not wanted:
            return {}
        rows = await tx.fetch(_SELECT_CLICKS.format(", ".join("?" * len(wanted))), wanted)
        return {
            row[0]: MatchedClick(row[1], row[2], row[3], CostModel(row[4]), from_micros(row[5]), from_micros(row[6]))
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
        return Amount(_exact(self._rates.convert(sent, currency, click.currency)), sent, currency)

    async def _record(
        self, tx: Transaction, request: ConversionRequest, click: MatchedClick, outbox: list[tuple]
    ) -> PostbackResult:
        amount = self._amount(request, click)
        now = datetime.now(timezone.utc)
        new = amount or Amount(click.offer_payout)
        inserted = await tx.fetch(
            _INSERT_CONVERSION,
            (
                click.id, click.campaign_id, request.goal, request.txid, request.status.value,
                request.raw_status, to_micros(new.payout), click.currency, _micros(new.original),
                new.original_currency, to_micros(accrued_cost(click, new.payout)),
                json.dumps(request.params, ensure_ascii=False), now, now,
            ),
        )  # fmt: skip
        if inserted:
            conversion_id = inserted[0][0]
            outbox.append((now, conversion_id, None))
            return PostbackResult(PostbackOutcome.CREATED, conversion_id=conversion_id, status=request.status)

        row = (await tx.fetch(self._select_conversion, (click.id, request.goal, request.txid)))[0]
        conversion_id, current = row[0], ConversionStatus(row[1])
        recorded = Amount(from_micros(row[2]), from_micros(row[3]) if row[3] is not None else None, row[4])
        status_changes = request.status != current
        payout_changes = amount is not None and not amount.same_as_sent(recorded)
        if status_changes and not may_change(current, request.status):
            return PostbackResult(
                PostbackOutcome.DUPLICATE,
                f"status: the conversion is already {current}; it does not go back to "
                f"{request.status}, so nothing changed",
                conversion_id,
                current,
            )
        if not status_changes and not payout_changes:
            return PostbackResult(PostbackOutcome.DUPLICATE, conversion_id=conversion_id, status=current)
        kept = amount if payout_changes else recorded
        await tx.execute(
            _UPDATE_CONVERSION,
            (
                request.status.value, request.raw_status,
                to_micros(kept.payout), _micros(kept.original), kept.original_currency,
                to_micros(accrued_cost(click, kept.payout)), now, conversion_id,
            ),
        )  # fmt: skip
        outbox.append((now, conversion_id, current.value))
        return PostbackResult(PostbackOutcome.UPDATED, conversion_id=conversion_id, status=request.status)


def _micros(amount: Decimal | None) -> int | None:
    return None if amount is None else to_micros(amount)


def _log_row(log: LogEntry, result: PostbackResult) -> tuple:
    return (
        log.received_at, result.outcome.value, result.message, log.click_id,
        json.dumps(log.params, ensure_ascii=False), log.remote_addr, result.conversion_id,
    )  # fmt: skip
