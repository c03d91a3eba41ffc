"""The benchmarks run as the README says: installed with the bench extra alone,
so nothing they import may need pytest or the tests' fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs a script with pytest unimportable, as in a virtualenv that has only the
# bench extra: `python -c WITHOUT_PYTEST script.py --option ...`.
WITHOUT_PYTEST = (
    "import runpy, sys; sys.modules['pytest'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)

GRAPHQL_FIGURES = (
    "seeded 2000 clicks and 20 conversions",
    "GraphQL clicks(first: 500)",
    "GraphQL report [DAY, COUNTRY] 30 days",
    "plain SQL GROUP BY over click",
    "rule figures per conversion (rollups)",
    "rule figures per conversion (raw tables)",
)


def run_bench(script: str, *options: str, timeout: float = 60, **environment: str) -> subprocess.CompletedProcess:
    """`bench/<script>` run with pytest unimportable."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_PYTEST, str(ROOT / "bench" / script), *options],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **environment},
    )  # fmt: skip


async def test_graphql_bench_prints_every_figure_without_pytest(database_url):
    result = run_bench(
        "graphql_bench.py", "--database-url", database_url, "--clicks", "2000", "--conversions", "20", "--runs", "1",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for figure in GRAPHQL_FIGURES:
        assert figure in result.stdout, result.stdout


def test_wrk_benches_say_what_is_missing(tmp_path):
    """No wrk on the PATH: a line saying what to install, before any server starts."""
    for script in ("click_bench.py", "postback_bench.py"):
        result = run_bench(script, "--databases", "sqlite", PATH=str(tmp_path))
        assert result.returncode == 1
        assert "wrk and taskset not found: apt-get install wrk util-linux" in result.stderr
        assert "Traceback" not in result.stderr


def test_wrk_benches_say_postgresql_does_not_answer():
    nobody = "postgresql://postgres@127.0.0.1:1/postgres"
    for script, sqlite_only in (("click_bench.py", "--databases sqlite"), ("memory_bench.py", "--database sqlite")):
        options = ("--database", "postgres") if script == "memory_bench.py" else ()
        result = run_bench(script, *options, GRAPHAPI_BENCH_POSTGRES=nobody)
        assert result.returncode == 1
        assert f"PostgreSQL does not answer at {nobody}" in result.stderr
        assert f"leave PostgreSQL out ({sqlite_only})" in result.stderr
        assert "Traceback" not in result.stderr
