"""The `graphapi` command: settings checked at start, migrations, API keys."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from graphapi.api_keys import hash_key
from graphapi.db import Database
from graphapi.models import ApiKey


def graphapi(*args: str, cwd, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHAPI_")}
    env.update({f"GRAPHAPI_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "graphapi.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("database_url", "mysql://x"),
        ("public_url", "not a url"),
        ("fallback_url", "javascript:alert(1)"),
        ("currency", "dollars"),
        ("currency", "XYZ"),  # three letters, but no currency
        ("trusted_proxies", "10.0.0.0/33"),
        ("unique_window_hours", "0"),
        ("database_url", "sqlite://"),
        ("database_url", "sqlite:///no/such/folder/graphapi.sqlite3"),  # SQLite would wait forever
    ],
)
def test_bad_setting_stops_the_server_naming_it(tmp_path, setting, value):
    result = graphapi("serve", "--port", "1", cwd=tmp_path, **{setting: value})
    assert result.returncode != 0
    assert f"GRAPHAPI_{setting.upper()}" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_from_dotenv(tmp_path):
    (tmp_path / ".env").write_text("GRAPHAPI_CURRENCY=euro\n")
    result = graphapi("migrate", cwd=tmp_path)
    assert result.returncode != 0 and "GRAPHAPI_CURRENCY" in result.stderr


def test_migrate_creates_the_sqlite_database_in_the_working_folder(tmp_path):
    first = graphapi("migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "applied migration 0001_initial" in first.stdout
    assert (tmp_path / "graphapi.sqlite3").exists()
    again = graphapi("migrate", cwd=tmp_path)
    assert again.returncode == 0 and "applied migration" not in again.stdout


async def test_create_api_key_prints_it_last_and_stores_only_a_hash(database_url, tmp_path):
    result = graphapi("create-api-key", "dashboard", cwd=tmp_path, database_url=database_url)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert len(key) > 40 and " " not in key
    db = Database(database_url)
    await db.open()
    try:
        stored = await ApiKey.get(name="dashboard")
        assert stored.key_hash == hash_key(key)
        assert key not in str(await db.fetch("SELECT * FROM api_key"))
    finally:
        await db.close()


@pytest.mark.parametrize("url", [
    "postgres://nobody@127.0.0.1:1/none",  # no server
    "postgres://postgres@127.0.0.1:5432/graphapi_no_such_database",
    "postgres://graphapi_no_such_role@127.0.0.1:5432/postgres",
])  # fmt: skip
def test_a_database_that_cannot_be_opened_is_a_clear_error(tmp_path, url):
    result = graphapi("migrate", cwd=tmp_path, database_url=url)
    assert result.returncode != 0
    assert "GRAPHAPI_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_empty_variables_are_unset_ones(tmp_path):
    """GRAPHAPI_POSTBACK_TOKEN= (or blanks) means no token, not one that refuses every postback."""
    code = "from graphapi.settings import Settings; s = Settings(); print(s.postback_token, s.public_url)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHAPI_")}
    env.update(GRAPHAPI_POSTBACK_TOKEN="  ", GRAPHAPI_PUBLIC_URL="")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["None", "http://localhost:8000"], result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("serve", "--port", "99999"), "a port is 1 to 65535"),
    (("serve", "--port", "-5"), "a port is 1 to 65535"),
    (("serve", "--workers", "0"), "workers (4 per core)"),
    (("serve", "--workers", "100000"), "workers (4 per core)"),
    (("revoke-api-key", "k" * 300), "1 to 255 characters"),
    (("create-api-key", ""), "1 to 255 characters"),
    (("create-api-key", "n" * 256), "1 to 255 characters"),
    (("export-schema", "--output", "/no/such/folder/schema.graphql"), "cannot write the schema"),
])  # fmt: skip
def test_bad_arguments_are_clear_errors(tmp_path, args, message):
    result = graphapi(*args, cwd=tmp_path)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
