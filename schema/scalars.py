"""The custom scalars: DateTime (UTC on output) and Decimal (a string, never a float).

Date and JSON are strawberry's own.
"""

from __future__ import annotations

import datetime
import decimal

import strawberry

from graphapi.money import parse_amount
from schema.errors import PublicError


def _serialize_datetime(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc).isoformat()


def _parse_datetime(value: object) -> datetime.datetime:
    if not isinstance(value, str):
        raise PublicError("a DateTime is an ISO-8601 string such as 2026-01-31T23:30:00Z")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise PublicError(f"{value!r} is not an ISO-8601 date and time") from None
    # Without an offset a time is taken as UTC, the time the tracker keeps.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    try:
        return moment.astimezone(datetime.timezone.utc)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is in the year 10000 in UTC
        raise PublicError(f"{value!r} is out of range: in UTC it must fall in the years 1 to 9999") from None


def _parse_decimal(value: object) -> decimal.Decimal:
    # Floats are refused: 0.1 is not 0.1 once it is a float.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PublicError('a Decimal is written as a string such as "7.50"')
    text = str(value)
    # As postbacks write amounts: no spaces, exponents or `1_000`.
    amount = parse_amount(text.removeprefix("-"))
    if amount is None:
        raise PublicError(f"{text[:64]!r} is not a decimal number; write digits and a '.', such as \"7.50\"")
    return -amount if text.startswith("-") else amount


SCALARS = {
    datetime.datetime: strawberry.scalar(
        name="DateTime",
        description="ISO-8601 with offset, always UTC on output",
        serialize=_serialize_datetime,
        parse_value=_parse_datetime,
    ),
    decimal.Decimal: strawberry.scalar(
        name="Decimal",
        description='Money, serialized as a string: "7.50"; never a float',
        serialize=str,
        parse_value=_parse_decimal,
    ),
}
