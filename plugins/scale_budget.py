"""scale_budget: raise a campaign's daily budget by a percentage while its ROI stays above a threshold."""

from datetime import timedelta

from graphapi import hookimpl
from graphapi.actions import ChangeBudget
from graphapi.events import RulePluginInfo

SCHEMA = {
    "type": "object",
    "properties": {
        "min_roi": {"type": "number", "description": "scale only at or above this ROI, in percent"},
        "percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000, "default": 20},
        "max_budget": {"type": "number", "exclusiveMinimum": 0, "description": "never above this"},
        "min_conversions": {"type": "integer", "minimum": 0, "default": 1},
        "cooldown_hours": {"type": "number", "minimum": 0, "default": 24, "description": "at most once per"},
    },
    "required": ["min_roi"],
    "additionalProperties": False,
}


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description=__doc__.split(": ", 1)[1], config_schema=SCHEMA)


@hookimpl
def conversion_recorded(event):
    config, stats = event.config, event.stats
    if event.campaign.daily_budget is None or stats.roi is None:
        return None
    if stats.roi >= config["min_roi"] and stats.conversions >= config.get("min_conversions", 1):
        return [
            ChangeBudget(
                percent=config.get("percent", 20),
                maximum=config.get("max_budget"),
                cooldown=timedelta(hours=config.get("cooldown_hours", 24)),
            )
        ]
    return None
