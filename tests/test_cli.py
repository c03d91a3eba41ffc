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
        ("trusted_proxies", "10.0.0.0/33"),
        ("unique_window_hours", "0"),
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


def test_unreachable_database_is_a_clear_error(tmp_path):
    result = graphapi("migrate", cwd=tmp_path, database_url="postgres://nobody@127.0.0.1:1/none")
    assert result.returncode != 0
    assert "GRAPHAPI_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
