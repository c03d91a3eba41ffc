"""The postback path: `GET|POST /postback`, where partners report conversions.

The request is read (query string, form or JSON body, size-capped) and checked
here: source address, token, aliases, unreplaced macros, amounts, statuses.
Then it goes to the postback group commit, whose `ConversionWriter`
(graphapi/conversions.py) records it; the answer is sent once it is committed.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from starlette.datastructures import Headers

from graphapi import visitor
from graphapi.clicks import canonical_click_id
from graphapi.conversions import (
    MAX_CLICK_ID,
    ConversionRequest,
    LogEntry,
    PostbackResult,
    Refused,
    RefusedRequest,
    invalid,
)
from graphapi.db import UtcText
from graphapi.events import ConversionInfo, ReceivedConversion, campaign_info, click_info
from graphapi.group_commit import WriteFailed
from graphapi.hot_paths import json_answer, query_pairs
from graphapi.models import Click, Conversion, ConversionStatus, PostbackOutcome
from graphapi.money import amount_problem, parse_amount
from graphapi.statuses import parse_status

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


# --- parsing -------------------------------------------------------------------


async def read_body(receive, headers: Headers, limit: int = MAX_BODY) -> bytes:
    """The request body, never more than `limit` bytes of it read."""
    too_large = invalid(f"body: larger than {limit // 1024} KiB", 413)
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise invalid("body: the client went away before sending all of it")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _storable(text: str) -> str:
    """Without what PostgreSQL refuses to store (NUL, lone surrogates from JSON)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _query_pairs(raw: bytes | str) -> list[tuple[str, str]]:
    # Storable as they are: unquoted with errors replaced, no surrogates.
    return list(query_pairs(raw.decode("latin-1") if isinstance(raw, bytes) else raw))


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
            if not isinstance(document, _JsonObject):
                raise invalid("body: the JSON body must be an object of parameters")
            return [(_storable(name), _storable(_json_text(value))) for name, value in document]
        except (ValueError, RecursionError):
            raise invalid("body: not valid JSON (or nested too deep)") from None
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
        # Every placeholder has one of these; most values need no search.
        if ("{" in value or "%" in value or "[" in value or "#" in value) and _MACRO.search(value):
            raise invalid(
                f"{name}: the partner did not fill in its macro ({value[:64]!r} is a placeholder); "
                "fix the postback URL at the network"
            )
    return values, used


def conversion_request(named: dict[str, list[str]], log: LogEntry) -> ConversionRequest:
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
        if problem := amount_problem(payout):
            raise invalid(f"payout: {values['payout'][:64]!r} {problem}")

    raw_status = values.get("status")
    status = ConversionStatus.APPROVED
    if raw_status is not None:
        status = parse_status(raw_status)
        if status is None:
            raise invalid(
                f"status: {raw_status[:64]!r} is not a status we know; use approved, pending or rejected"
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
        click_id=canonical_click_id(click_id[:MAX_CLICK_ID]),
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


async def unavailable(send) -> None:
    await json_answer(send, 503, {"result": "error", "message": UNAVAILABLE}, [(b"retry-after", b"1")])


class PostbackEndpoint:
    """GET|POST /postback: record a conversion, once per (click, goal, txid)."""

    def __init__(self, services) -> None:
        self.services = services
        self._allowed = services.settings.postback_networks
        self._client_address = visitor.ClientAddress(services.settings.trusted_networks)
        self._received_text = UtcText()

    async def __call__(self, scope, receive, send) -> None:
        services = self.services
        headers = Headers(scope=scope)
        client = scope.get("client")
        remote_addr = self._client_address(client[0] if client else None, headers.get("x-forwarded-for"))
        pairs = _query_pairs(scope["query_string"])
        log = LogEntry(self._received_text(time.time_ns() // 1000), remote_addr, loggable(pairs), None)
        try:
            item = await self._request(scope, receive, headers, remote_addr, pairs, log)
            await self._review(item)
        except Refused as refusal:
            item = RefusedRequest(refusal, log)
        try:
            result: PostbackResult = await services.postbacks.submit(item)
        except (WriteFailed, RuntimeError):
            await unavailable(send)
            return
        await json_answer(send, result.http_status, result.body())

    async def _request(self, scope, receive, headers, remote_addr, pairs, log) -> ConversionRequest:
        if self._allowed and not _allowed(remote_addr, self._allowed):
            raise Refused(
                PostbackOutcome.FORBIDDEN, f"source address {remote_addr} is not allowed to send postbacks"
            )
        if scope["method"] == "POST":
            body = await read_body(receive, headers)
            pairs = pairs + body_pairs(body, headers.get("content-type", ""))
            log.params = loggable(pairs)
        named = _by_name(pairs)
        log.click_id = next(
            (named[name][0][:MAX_CLICK_ID] for name in ALIASES["click_id"] if name in named), None
        )
        check_token(self.services.settings.postback_token, named)
        return conversion_request(named, log)


    async def _review(self, request: ConversionRequest) -> None:
        """`conversion_received` plugins may set the status to record ("postback
        controls"); only looked up when some plugin implements the hook."""
        plugins = self.services.plugins
        if not plugins.implementations("conversion_received"):
            return
        click = await Click.get_or_none(click_id=request.click_id).prefetch_related("campaign", "offer")
        if click is None:
            return  # the writer answers `unknown_click`
        existing = await Conversion.get_or_none(click_id=click.id, goal=request.goal, txid=request.txid)
        payout = request.payout
        if payout is None:
            payout = existing.payout if existing else (click.offer.payout if click.offer else Decimal(0))
        verdict = await plugins.review_conversion(
            ReceivedConversion(
                conversion=ConversionInfo(
                    id=existing.id if existing else None,
                    goal=request.goal,
                    txid=request.txid,
                    status=request.status,
                    previous_status=ConversionStatus(existing.status) if existing else None,
                    payout=payout,
                    currency=request.currency or click.campaign.currency,
                ),
                click=click_info(click),
                campaign=campaign_info(click.campaign),
                params=dict(request.params),
            )
        )
        if verdict is not None:
            request.status = verdict


def _allowed(address: str | None, networks) -> bool:
    if address is None:
        return False
    parsed = ipaddress.ip_address(address)  # as `visitor.ClientAddress` wrote it
    return any(parsed in network for network in networks)
