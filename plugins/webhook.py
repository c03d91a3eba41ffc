"""webhook: POST each conversion of the campaign, as JSON, to a URL."""

from graphapi import hookimpl
from graphapi.actions import SendWebhook
from graphapi.events import RulePluginInfo

SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "pattern": "^https?://"},
        "statuses": {
            "type": "array",
            "items": {"enum": ["approved", "pending", "rejected"]},
            "description": "only conversions with these statuses (default: all)",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description=__doc__.split(": ", 1)[1], config_schema=SCHEMA)


@hookimpl
def conversion_recorded(event):
    statuses = event.config.get("statuses")
    if statuses is not None and event.conversion.status not in statuses:
        return None
    payload = event.as_dict()
    payload["type"] = "conversion.recorded"
    return [SendWebhook(url=event.config["url"], payload=payload)]
