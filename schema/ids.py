"""GraphQL IDs are the tables' integer keys, as strings."""

from __future__ import annotations

# Beyond BIGINT: no such row, and PostgreSQL would refuse the parameter.
_MAX_ID = 2**63 - 1


def parse_id(value: str | None) -> int | None:
    """The integer key an ID names, or None when it names nothing."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    pk = int(value)
    return pk if pk <= _MAX_ID else None
