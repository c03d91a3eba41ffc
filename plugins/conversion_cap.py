"""conversion_cap: pause a campaign after N approved conversions today (UTC)."""

from graphapi import hookimpl
from graphapi.actions import PauseCampaign
from graphapi.events import RulePluginInfo

SCHEMA = {
    "type": "object",
    "properties": {"max_conversions": {"type": "integer", "minimum": 1}},
    "required": ["max_conversions"],
    "additionalProperties": False,
}


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description=__doc__.split(": ", 1)[1], config_schema=SCHEMA)


@hookimpl
def conversion_recorded(event):
    cap = event.config["max_conversions"]
    if event.campaign.status == "active" and event.today.conversions >= cap:
        return [PauseCampaign(reason=f"{event.today.conversions} approved conversions today (cap {cap})")]
    return None
