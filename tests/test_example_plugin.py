"""The example third-party plugin, pip-installed into a temporary site: found
through its entry point, it sees each conversion change once."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graphapi.models import RuleEvent
from graphapi.plugins import Plugins
from graphapi.settings import Settings
from tests.conftest import make_campaign
from tests.conversions import change_status, record_conversion, wait_processed

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "graphapi-example-plugin"


@pytest.fixture(scope="session")
def example_site(tmp_path_factory) -> Path:
    """`pip install` of the example package, offline, into a directory of its own
    (from a copy: building leaves files beside the sources)."""
    site = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("example") / "graphapi-example-plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(source)],
        check=True, timeout=300, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    return site


@pytest.fixture
def installed(example_site, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.delitem(sys.modules, "graphapi_example_plugin", raising=False)
    return example_site


def test_it_is_loaded_through_its_entry_point(installed):
    loaded = Plugins(Settings(_env_file=None))
    [example] = [p for p in loaded.loaded() if p.name == "example"]
    assert example.origin == "entry point (graphapi-example-plugin 0.1.0)"
    assert example.version == "0.1.0"
    assert example.hooks == ("conversion_received", "conversion_recorded")
    module = loaded.pm.get_plugin("example")
    assert Path(module.__file__).parent == installed  # the installed copy, not the source tree

    disabled = Plugins(Settings(_env_file=None, disable_plugins=["example"]))
    assert "example" not in [p.name for p in disabled.loaded()]


def test_without_it_installed_it_is_not_loaded():
    try:
        importlib.metadata.distribution("graphapi-example-plugin")
        pytest.skip("the example plugin is installed in this environment (as its README shows)")
    except importlib.metadata.PackageNotFoundError:
        pass
    assert "example" not in [p.name for p in Plugins(Settings(_env_file=None)).loaded()]


async def test_it_sees_each_conversion_change_once(installed, start_app, caplog):
    caplog.set_level("INFO", logger="graphapi_example_plugin")
    app = await start_app()
    services = app.state.services
    campaign = await make_campaign(services)
    conversions = [await record_conversion(services, campaign, source=f"s{n}") for n in range(3)]
    await change_status(services, conversions[0], "rejected")  # a chargeback
    await wait_processed()

    seen = [r.getMessage() for r in caplog.records if r.name == "graphapi_example_plugin"]
    expected = [f"conversion {c.id} of campaign {campaign.id}: approved 10.00 USD" for c in conversions]
    expected.append(f"conversion {conversions[0].id} of campaign {campaign.id}: rejected 10.00 USD")
    assert sorted(seen) == sorted(expected)
    event = await RuleEvent.get(plugin="example")
    assert (event.action, event.outcome, event.detail) == ("add_to_blacklist", "applied", {"source": "s0"})


def test_its_own_tests_pass():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(EXAMPLE / "pyproject.toml"), str(EXAMPLE)],
        capture_output=True, text=True, timeout=120, cwd=EXAMPLE,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
