"""Batches sent as PostgreSQL array literals come back from PostgreSQL as they were sent."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from graphapi import pg_arrays
from graphapi.db import UtcText
from tests.conftest import _dsn

AWKWARD = [
    "plain", "", "NULL", "null", None, ' leading and trailing ', 'a "quoted" word', "back\\slash",
    "\\\"", "{braces}", "a,b", "(x)", "tab\tnew\nline\r", "ünïcödé ✓ 🙂", "'single'", "\\N", "{}", '"',
]  # fmt: skip


@pytest.fixture
async def connection(postgres_database):
    import asyncpg

    connection = await asyncpg.connect(_dsn(postgres_database))
    yield connection
    await connection.close()


async def roundtrip(connection, values: list, kind: str) -> list:
    return await connection.fetchval(f"SELECT $1::text::{kind}[]", pg_arrays.literal(values, kind))


async def test_text_of_any_kind(connection):
    assert await roundtrip(connection, AWKWARD, "text") == AWKWARD
    assert await roundtrip(connection, [None, None], "text") == [None, None]
    assert await roundtrip(connection, [], "text") == []


async def test_json(connection):
    documents = [{"q": 'say "hi"', "path": "C:\\dir", "u": "✓", "n": None}, {}, None, {"gclid": "a,b}"}]
    sent = [None if d is None else json.dumps(d, ensure_ascii=False) for d in documents]
    back = await roundtrip(connection, sent, "jsonb")
    assert [None if b is None else json.loads(b) for b in back] == documents


@pytest.mark.parametrize("kind", ["int", "bigint"])
async def test_numbers(connection, kind):
    values = [0, -1, 7, None, 2**31 - 1, -(2**31)] + ([2**62, -(2**63)] if kind == "bigint" else [])
    assert await roundtrip(connection, values, kind) == values


async def test_truths(connection):
    assert await roundtrip(connection, [True, False, None], "bool") == [True, False, None]


async def test_times_as_datetimes_and_as_text(connection):
    moment = datetime(2026, 11, 28, 23, 59, 59, 999_999, tzinfo=timezone.utc)
    values = [moment, moment.replace(microsecond=0), None, moment.astimezone(timezone(timedelta(hours=-5)))]
    assert await roundtrip(connection, values, "timestamptz") == values
    assert await roundtrip(connection, [moment.replace(tzinfo=None)], "timestamptz") == [moment]
    text = UtcText()
    micros = [1_764_374_399_999_999, 1_764_374_400_000_000, 0]
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    expected = [epoch + timedelta(microseconds=m) for m in micros]
    assert await roundtrip(connection, [text(m) for m in micros], "timestamptz") == expected


def test_a_string_is_not_taken_for_an_array_of_its_characters():
    with pytest.raises(TypeError):
        pg_arrays.literal("abc", "text")
