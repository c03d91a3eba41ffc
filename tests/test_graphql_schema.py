"""The served schema against its exported SDL and against the contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from graphql import build_schema, find_breaking_changes

import schema

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = Path("shared/contract/schema.graphql")


def contract_path() -> Path | None:
    """The contract beside the repository (../shared), or beside a folder above it
    (worktrees live one level deeper)."""
    for folder in ROOT.parents:
        if (folder / CONTRACT).is_file():
            return folder / CONTRACT
    return None


def test_exported_sdl_matches_the_code():
    assert schema.SDL_PATH.read_text() == schema.sdl(), (
        "schema/schema.graphql is out of date: run `graphapi export-schema`"
    )


def test_export_command_writes_the_sdl(tmp_path):
    out = tmp_path / "schema.graphql"
    done = subprocess.run(
        [sys.executable, "-m", "graphapi.cli", "export-schema", "--output", str(out)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text() == schema.sdl()


def test_no_breaking_change_against_the_contract():
    path = contract_path()
    if path is None:
        pytest.skip("the contract (../shared/contract/schema.graphql) is not beside this repository")
    changes = find_breaking_changes(build_schema(path.read_text()), build_schema(schema.sdl()))
    assert changes == []
