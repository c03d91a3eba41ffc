"""A rule plugin with a periodic check: records each event, then does what its
rule's config says (`{"then": "raise"}`, `"garbage"`, `"pause"`)."""

from graphapi import hookimpl
from graphapi.actions import PauseCampaign
from graphapi.events import RulePluginInfo

EVENTS = []


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(
        description="checks campaigns periodically",
        config_schema={"type": "object", "properties": {"then": {"enum": ["raise", "garbage", "pause"]}}},
    )


@hookimpl
def campaign_checked(event):
    EVENTS.append(event)
    match event.config.get("then"):
        case "raise":
            raise RuntimeError("check bug")
        case "garbage":
            return 42
        case "pause":
            return [PauseCampaign(reason="checked")]
    return None
