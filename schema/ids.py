"""GraphQL IDs are the tables' integer keys, as strings."""

from __future__ import annotations

from tortoise.models import Model


def parse_id(value: str | None, model: type[Model]) -> int | None:
    """The key of `model`'s table an ID names, or None when it names nothing.

    A number beyond what the table's key column holds names nothing either:
    PostgreSQL would refuse it as a parameter rather than find no row
    (campaigns, offers, landers and rules have 32-bit keys, the rest 64-bit).
    """
    if value is None or not value.isascii() or not value.isdigit():
        return None
    try:
        pk = int(value)
    except ValueError:  # more digits than Python converts
        return None
    return pk if pk <= model._meta.pk.constraints["le"] else None
