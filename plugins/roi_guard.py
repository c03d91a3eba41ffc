"""roi_guard: pause a campaign whose ROI falls below a threshold once it has spent enough."""

from graphapi import hookimpl
from graphapi.actions import PauseCampaign
from graphapi.events import RulePluginInfo

SCHEMA = {
    "type": "object",
    "properties": {
        "min_roi": {"type": "number", "description": "pause below this ROI, in percent (-30 = losing 30 %)"},
        "min_cost": {
            "type": "number",
            "minimum": 0,
            "default": 0,
            "description": "judge only after this much cost",
        },
    },
    "required": ["min_roi"],
    "additionalProperties": False,
}


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description=__doc__.split(": ", 1)[1], config_schema=SCHEMA)


def pause_below_roi(event):
    """Both hooks' events carry the campaign, its figures and the config: a
    campaign that spends without converting is checked periodically."""
    stats, config = event.stats, event.config
    if event.campaign.status != "active" or stats.roi is None:
        return None
    if stats.cost >= config.get("min_cost", 0) and stats.roi < config["min_roi"]:
        reason = (
            f"ROI {stats.roi:.1f}% is below {config['min_roi']}% after {stats.cost} {stats.currency} of cost"
        )
        return [PauseCampaign(reason=reason)]
    return None


@hookimpl
def conversion_recorded(event):
    return pause_below_roi(event)


@hookimpl
def campaign_checked(event):
    return pause_below_roi(event)
