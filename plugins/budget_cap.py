"""budget_cap: pause a campaign when today's cost (UTC) reaches its daily budget."""

from graphapi import hookimpl
from graphapi.actions import PauseCampaign
from graphapi.events import RulePluginInfo

SCHEMA = {"type": "object", "properties": {}, "additionalProperties": False}


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description=__doc__.split(": ", 1)[1], config_schema=SCHEMA)


def pause_over_budget(event):
    """Both hooks' events carry the campaign and today's figures: clicks spend
    the budget with no conversion, so the periodic check sees them too."""
    budget = event.campaign.daily_budget
    if event.campaign.status != "active" or budget is None:
        return None
    if event.today.cost >= budget:
        return [PauseCampaign(reason=f"today's cost {event.today.cost} reached the daily budget {budget}")]
    return None


@hookimpl
def conversion_recorded(event):
    return pause_over_budget(event)


@hookimpl
def campaign_checked(event):
    return pause_over_budget(event)
