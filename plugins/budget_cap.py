"""budget_cap: pause a campaign when today's cost (UTC) reaches its daily budget."""

from graphapi import hookimpl
from graphapi.actions import PauseCampaign
from graphapi.events import RulePluginInfo

SCHEMA = {"type": "object", "properties": {}, "additionalProperties": False}


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description=__doc__.split(": ", 1)[1], config_schema=SCHEMA)


@hookimpl
def conversion_recorded(event):
    budget = event.campaign.daily_budget
    if event.campaign.status != "active" or budget is None:
        return None
    if event.today.cost >= budget:
        return [PauseCampaign(reason=f"today's cost {event.today.cost} reached the daily budget {budget}")]
    return None
