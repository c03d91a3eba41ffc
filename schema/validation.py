"""Checks for mutation input, reported as `userErrors` with the path at fault.

A mutation collects every error first and stores nothing when there is one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from decimal import Decimal
from urllib.parse import urlsplit

import iso4217
import strawberry

from graphapi.money import amount_problem

MAX_NAME = 255
MAX_URL = 4096
MAX_SOURCES = 10_000


@strawberry.type
class UserError:
    field: list[str] | None
    message: str


class Errors(list[UserError]):
    def add(self, path: Sequence[str | int], message: str) -> None:
        self.append(UserError(field=[str(part) for part in path], message=message))

    def storable(self, path: Sequence[str | int], value: object) -> bool:
        """Whether `value` (text, or lists and JSON objects of it) holds no NUL
        and no NaN or infinity: PostgreSQL stores neither in text or JSON,
        SQLite would keep them, and answers holding a NaN are not JSON.
        Every place that holds one is reported."""
        found = list(_unstorable(path, value))
        for where, message in found:
            self.add(where, message)
        return not found

    def name(self, path: Sequence[str | int], value: str | None) -> None:
        if value is None or not value.strip():
            self.add(path, "must not be empty")
        elif len(value) > MAX_NAME:
            self.add(path, f"must be at most {MAX_NAME} characters")

    def text(self, path: Sequence[str | int], value: str | None) -> None:
        """Optional text: None is fine."""
        if value is not None and len(value) > MAX_NAME:
            self.add(path, f"must be at most {MAX_NAME} characters")

    def url(self, path: Sequence[str | int], value: str | None) -> None:
        """An absolute http(s) URL with a host and no credentials (macros allowed)."""
        if value is None:
            self.add(path, "must not be null")
            return
        if len(value) > MAX_URL:
            self.add(path, f"must be at most {MAX_URL} characters")
            return
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            parts, host = None, None
        try:
            port_ok = parts is None or "{" in parts.netloc or parts.port != 0
        except ValueError:  # a port that is not a number from 1 to 65535
            port_ok = False
        if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
            self.add(path, "must be an absolute http:// or https:// URL with a host")
        elif not port_ok:
            self.add(path, "must have a port from 1 to 65535, or none")
        elif parts.username is not None or parts.password is not None:
            self.add(path, "must not carry credentials (user:password@)")
        elif "{" in parts.netloc or "}" in parts.netloc:
            # A macro there would let a click's parameters choose where visitors go.
            self.add(path, "macros may appear in the path, query or fragment, not in the host")
        elif any(ch.isspace() or ord(ch) < 32 for ch in value):
            self.add(path, "must not contain spaces or control characters")

    def weight(self, path: Sequence[str | int], value: int | None) -> None:
        if value is None or value < 0:
            self.add(path, "must be a whole number >= 0")
        elif value > 1_000_000:
            self.add(path, "must be at most 1000000")

    def amount(self, path: Sequence[str | int], value: Decimal | None) -> None:
        if value is None:
            self.add(path, "must be a decimal >= 0")
        elif problem := amount_problem(value):
            self.add(path, problem)

    def currency(self, path: Sequence[str | int], value: str | None) -> None:
        try:
            iso4217.Currency(value)
        except ValueError:
            self.add(path, "must be an ISO-4217 currency code such as USD")

    def not_null(self, path: Sequence[str | int], value: object) -> None:
        if value is None:
            self.add(path, "must not be null")

    def sources(self, path: Sequence[str | int], values: list[str] | None) -> None:
        if values is None:
            self.add(path, "must not be null (use [] for none)")
        elif len(values) > MAX_SOURCES:
            self.add(path, f"must hold at most {MAX_SOURCES} sources")
        else:
            for index, value in enumerate(values):
                self.name([*path, index], value)


_NUL = "must not contain NUL characters (\\u0000)"


def _unstorable(path: Sequence[str | int], value: object) -> Iterator[tuple[Sequence[str | int], str]]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path, _NUL
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path, "must be a finite number (JSON has no NaN or Infinity)"
    elif isinstance(value, dict):
        for name, item in value.items():
            if "\x00" in name:
                yield path, _NUL
            yield from _unstorable([*path, name], item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable([*path, index], item)
