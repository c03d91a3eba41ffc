"""A rule plugin: runs once per attached rule, with that rule's config."""

from graphapi import hookimpl
from graphapi.events import RulePluginInfo

CALLS = []


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(
        description="records its rules' configs",
        config_schema={
            "type": "object",
            "properties": {"threshold": {"type": "integer", "minimum": 1}},
            "required": ["threshold"],
            "additionalProperties": False,
        },
    )


@hookimpl
def conversion_recorded(event):
    CALLS.append((event.conversion.id, event.rule_id, event.config))
