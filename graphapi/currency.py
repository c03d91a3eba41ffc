"""Exchange rates between currencies, from `GRAPHAPI_CURRENCY_RATES`."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal


class Rates:
    """Rates given as units of the reporting currency (`GRAPHAPI_CURRENCY`) per
    one unit of each other currency; any two listed currencies convert through it."""

    def __init__(self, reporting: str, rates: Mapping[str, Decimal]) -> None:
        self._rates = {**rates, reporting: Decimal(1)}

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal | None:
        """`amount` of `source` in `target`, or None when a rate is missing."""
        if source == target:
            return amount
        source_rate, target_rate = self._rates.get(source), self._rates.get(target)
        if source_rate is None or target_rate is None:
            return None
        return amount * source_rate / target_rate
