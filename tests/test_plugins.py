"""Loading plugins (built-in, entry points, GRAPHAPI_PLUGINS, disabled), the
`graphapi plugins` command, rule configs, and `conversion_received`."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from graphapi.app import create_app
from graphapi.events import ReceivedConversion
from graphapi.plugins import DEFAULT_PLUGINS, Plugins
from graphapi.settings import Settings
from graphapi.testing import make_event
from tests.plugin_samples import reviewers

S = "tests.plugin_samples."
ROOT = Path(__file__).resolve().parents[1]  # so that `tests.plugin_samples` imports
PLUGINS_COMMAND = [sys.executable, "-m", "graphapi.cli", "plugins"]
BUILTIN = [module.rsplit(".", 1)[-1] for module in DEFAULT_PLUGINS]


def plugins(**settings) -> Plugins:
    return Plugins(Settings(_env_file=None, **settings))


def test_builtin_rules_are_loaded_as_plugins():
    # Beside any plugin packages installed in this environment.
    loaded = {p.name: p for p in plugins().loaded() if not p.origin.startswith("entry point (")}
    assert list(loaded) == BUILTIN
    assert {p.origin for p in loaded.values()} == {"builtin"}
    assert loaded["roi_guard"].hooks == ("campaign_checked", "conversion_recorded", "rule_plugin_info")


def test_graphapi_plugins_and_disabling_by_name():
    loaded = plugins(plugins=[S + "recorder"], disable_plugins=["webhook", "roi_guard"]).loaded()
    names = [p.name for p in loaded]
    assert S + "recorder" in names and "webhook" not in names and "roi_guard" not in names
    assert next(p for p in loaded if p.name == S + "recorder").origin == "GRAPHAPI_PLUGINS"


def test_broken_plugins_are_reported_not_fatal():
    loaded = plugins(
        plugins=[S + n for n in ("broken_import", "misspelled", "bad_info", "recorder", "no_such_module")]
    )
    names = [p.name for p in loaded.loaded()]
    assert S + "recorder" in names
    errors = {e.name.removeprefix(S): e.error for e in loaded.errors}
    assert set(errors) == {"broken_import", "misspelled", "bad_info", "no_such_module"}
    assert errors["broken_import"] == "cannot load: ImportError: needs a package that is not installed"
    assert "unknown hook 'conversion_recordd'" in errors["misspelled"]
    assert errors["bad_info"].startswith("rule_plugin_info: TypeError: returned {'description'")
    assert not any(name.removeprefix(S) in errors for name in names)


def test_each_app_has_its_own_plugin_manager():
    first = create_app(Settings(_env_file=None, plugins=[S + "recorder"]))
    second = create_app(Settings(_env_file=None))
    assert first.state.services.plugins.pm is not second.state.services.plugins.pm
    assert [p.name for p in second.state.services.plugins.loaded()] == [p.name for p in plugins().loaded()]
    assert S + "recorder" not in [p.name for p in second.state.services.plugins.loaded()]


def test_plugins_command_lists_name_origin_and_version():
    env = {"PATH": "/usr/bin:/bin", "GRAPHAPI_PLUGINS": S + "recorder", "GRAPHAPI_DISABLE_PLUGINS": "webhook"}
    run = subprocess.run(PLUGINS_COMMAND, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = [line.split() for line in run.stdout.splitlines()]
    assert lines[0] == ["NAME", "ORIGIN", "VERSION", "HOOKS"]
    assert ["roi_guard", "builtin", "0.1.0", "campaign_checked,", "conversion_recorded,", "rule_plugin_info"] in lines
    assert [S + "recorder", "GRAPHAPI_PLUGINS", "-", "conversion_recorded"] in lines
    assert not any(line[0] == "webhook" for line in lines)

    env["GRAPHAPI_PLUGINS"] = S + "broken_import"
    run = subprocess.run(PLUGINS_COMMAND, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"FAILED {S}broken_import (GRAPHAPI_PLUGINS): cannot load: ImportError" in run.stderr


def test_hook_rule_plugin_info():
    rules = plugins(plugins=[S + "threshold_rule", S + "recorder"]).rule_plugins()
    assert list(rules) == sorted(BUILTIN + [S + "threshold_rule"])  # recorder runs on all, not attached
    info = rules[S + "threshold_rule"]
    assert info.description == "records its rules' configs"
    assert info.config_schema["required"] == ["threshold"]
    assert rules["roi_guard"].description.startswith("pause a campaign whose ROI falls below")


def test_rule_configs_are_validated_against_the_plugins_schema():
    loaded = plugins(plugins=[S + "threshold_rule"])
    assert loaded.validate_rule_config(S + "threshold_rule", {"threshold": 3}) == []
    assert loaded.validate_rule_config(S + "threshold_rule", {"threshold": 0, "extra": 1}) == [
        (["config"], "Additional properties are not allowed ('extra' was unexpected)"),
        (["config", "threshold"], "0 is less than the minimum of 1"),
    ]
    assert loaded.validate_rule_config(S + "threshold_rule", None) == [
        (["config"], "'threshold' is a required property")
    ]
    [(path, message)] = loaded.validate_rule_config("nope", {})
    assert path == ["plugin"] and message.startswith(
        "no rule plugin named 'nope' is loaded (loaded: roi_guard,"
    )
    assert loaded.validate_rule_config("budget_cap", {}) == []
    assert loaded.validate_rule_config("webhook", {"url": "ftp://x"})[0][0] == ["config", "url"]


def received(payout: str = "10", source: str | None = None) -> ReceivedConversion:
    event = make_event(payout=payout, click={"source": source})
    return ReceivedConversion(conversion=event.conversion, click=event.click, campaign=event.campaign)


async def test_hook_conversion_received():
    loaded = plugins()
    assert await loaded.review_conversion(received()) is None  # nobody has an opinion
    loaded.pm.register(reviewers.HoldBigPayouts())
    loaded.pm.register(reviewers.RejectSource())
    assert await loaded.review_conversion(received("10")) is None
    assert await loaded.review_conversion(received("100")) == "pending"
    # firstresult: the tryfirst reviewer decides before the other.
    assert await loaded.review_conversion(received("100", source="fraud")) == "rejected"


async def test_broken_reviewers_are_ignored(caplog):
    loaded = plugins()
    loaded.pm.register(reviewers.HoldBigPayouts())
    for broken in (reviewers.Broken(), reviewers.Hanging(), reviewers.Garbage()):
        loaded.pm.register(broken)
    started = time.monotonic()
    assert await loaded.review_conversion(received("100")) == "pending"
    assert time.monotonic() - started < 1.5
    assert "raised RuntimeError: reviewer bug" in caplog.text
    assert "timed out after 1 s" in caplog.text
    assert "'maybe' is not a valid ConversionStatus" in caplog.text


@pytest.mark.parametrize("value", ["", "roi_guard", "roi_guard, webhook"])
def test_disable_plugins_setting_is_a_list(monkeypatch, value):
    monkeypatch.setenv("GRAPHAPI_DISABLE_PLUGINS", value)
    assert Settings(_env_file=None).disable_plugins == [v.strip() for v in value.split(",") if v.strip()]


def test_make_event_amounts_are_decimal():
    assert make_event(payout="7.5", campaign={"daily_budget": 10}).campaign.daily_budget == Decimal("10")


def test_a_builtin_module_named_again_is_reported_once_loaded():
    loaded = plugins(plugins=["plugins.webhook"])
    assert [(e.name, e.error) for e in loaded.errors] == [("plugins.webhook", "already loaded as 'webhook'")]
    assert [p.name for p in loaded.loaded()] == [p.name for p in plugins().loaded()]
