"""source_postback: tell the traffic source about a conversion by calling its postback URL template."""

from urllib.parse import quote

from graphapi import hookimpl
from graphapi.actions import SendWebhook
from graphapi.events import RulePluginInfo

MACROS = (
    "click_id", "subid", "sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9", "sub10",
    "source", "creative", "country",
)  # fmt: skip
SCHEMA = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "with macros: {subid}, {sub1}..{sub10}, {click_id}, {source}, {creative}, "
            "{country}, {payout}, {currency}, {status}, {goal}, {txid}, {conversion_id}, {campaign_id}",
        },
        "statuses": {
            "type": "array",
            "items": {"enum": ["approved", "pending", "rejected"]},
            "default": ["approved"],
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description=__doc__.split(": ", 1)[1], config_schema=SCHEMA)


def postback_url(template, event):
    conversion = event.conversion
    values = {name: getattr(event.click, name) for name in MACROS}
    values |= {
        "payout": str(conversion.payout), "currency": conversion.currency, "status": str(conversion.status),
        "goal": conversion.goal, "txid": conversion.txid, "conversion_id": str(conversion.id),
        "campaign_id": str(event.campaign.id),
    }  # fmt: skip
    for name, value in values.items():
        template = template.replace("{" + name + "}", quote(value or "", safe=""))
    return template


@hookimpl
def conversion_recorded(event):
    conversion = event.conversion
    # Once per status reached: a payout correction is not a second conversion.
    if conversion.status not in event.config.get("statuses", ["approved"]):
        return None
    if conversion.previous_status == conversion.status:
        return None
    return [SendWebhook(url=postback_url(event.config["url"], event), method="GET")]
