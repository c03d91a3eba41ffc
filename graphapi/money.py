"""Money: `Decimal` in Python, whole micro-units in the database.

Storing integers (1 = 0.000001 of the currency) keeps SUM() exact on SQLite,
whose DECIMAL columns are floats underneath, and on PostgreSQL alike.
"""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from tortoise.fields import BigIntField

SCALE = 6
_QUANTUM = Decimal(1).scaleb(-SCALE)
_CENT = Decimal("0.01")
# Far below BIGINT's limit once scaled, and far above any real payout.
MAX_AMOUNT = Decimal(10) ** 12


# Amounts repeat (offers' payouts, campaigns' costs, partners' payouts): the
# two conversions below cost 0.6 µs each, a cached one less than 0.1.
_CACHED = 16_384


@functools.lru_cache(maxsize=_CACHED)
def to_micros(value: Decimal) -> int:
    return int(value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN).scaleb(SCALE))


@functools.lru_cache(maxsize=_CACHED)
def from_micros(value: int | None) -> Decimal:
    """Whole cents print as `7.50`; finer amounts keep their digits."""
    amount = Decimal(int(value or 0)).scaleb(-SCALE)
    cents = amount.quantize(_CENT)
    return cents if cents == amount else amount.normalize()


def parse_amount(text: str) -> Decimal | None:
    """A finite, non-negative amount written with ASCII digits and a '.', else None.

    Rejects what partners' templates get wrong: `7,50`, `NaN`, `inf`, `1e309`,
    Unicode digits, signs and empty values.
    """
    if not text or len(text) > 32 or not text.isascii():
        return None
    if not all(ch.isdigit() or ch == "." for ch in text) or text.count(".") > 1:
        return None
    if text == ".":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if value >= MAX_AMOUNT:
        return None
    return value


class MoneyField(BigIntField):
    """A Decimal amount stored as whole micro-units."""

    def to_db_value(self, value: Any, instance: Any) -> int | None:
        if value is None:
            return None
        return to_micros(Decimal(value))

    def to_python_value(self, value: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return from_micros(value)
