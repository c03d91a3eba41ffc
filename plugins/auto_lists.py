"""auto_lists: whitelist a traffic source that converts profitably; blacklist one that spent without converting."""

from graphapi import hookimpl
from graphapi.actions import AddToBlacklist, AddToWhitelist
from graphapi.events import RulePluginInfo

SCHEMA = {
    "type": "object",
    "properties": {
        "whitelist_min_conversions": {"type": "integer", "minimum": 1, "default": 3},
        "whitelist_min_roi": {"type": "number", "default": 0, "description": "percent"},
        "blacklist_min_cost": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "no approved conversion after this cost",
        },
    },
    "additionalProperties": False,
}


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description=__doc__.split(": ", 1)[1], config_schema=SCHEMA)


def blacklist(event, source, stats):
    """Both hooks': a source that spent `blacklist_min_cost` with no approved
    conversion. It has no conversion to be judged on when it never converts:
    the periodic check judges it."""
    limit = event.config.get("blacklist_min_cost")
    if (
        limit is not None
        and stats.conversions == 0
        and stats.cost >= limit
        and source not in event.campaign.source_blacklist
    ):
        return [AddToBlacklist(source=source)]
    return []


@hookimpl
def conversion_recorded(event):
    source, stats, config = event.click.source, event.source_stats, event.config
    if source is None or stats is None:
        return None
    if (
        stats.conversions >= config.get("whitelist_min_conversions", 3)
        and stats.roi is not None
        and stats.roi >= config.get("whitelist_min_roi", 0)
        and source not in event.campaign.source_whitelist
    ):
        return [AddToWhitelist(source=source)]
    return blacklist(event, source, stats) or None


@hookimpl
def campaign_checked(event):
    # Whitelisting needs conversions: conversion_recorded sees them all.
    return [action for source, stats in event.sources.items() for action in blacklist(event, source, stats)] or None
