"""Mutations, by area. Each takes one `input`, validates all of it, and stores
nothing when anything is wrong (the payload then carries `userErrors`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from strawberry import UNSET
from strawberry.utils.str_converters import to_camel_case

from schema.validation import Errors

Check = Callable[[Errors, Sequence[str | int], Any], None]


def optional(check: Check) -> Check:
    """A check that lets null through (null clears the field)."""

    def check_unless_null(errors: Errors, path: Sequence[str | int], value: Any) -> None:
        if value is not None:
            check(errors, path, value)

    return check_unless_null


def collect(errors: Errors, path: Sequence[str | int], data: Any, checks: dict[str, Check]) -> dict[str, Any]:
    """The fields of `data` that were given, checked; errors go to `errors`.

    A field that `data` lacks (create and update inputs share the checks) or
    that the client left out (UNSET) is skipped. Every field is first checked
    for what no database column can hold (NUL), so no check need look for it.
    """
    values = {}
    for name, check in checks.items():
        value = getattr(data, name, UNSET)
        if value is UNSET:
            continue
        field = [*path, to_camel_case(name)]
        if errors.storable(field, value):
            check(errors, field, value)
        values[name] = value
    return values
