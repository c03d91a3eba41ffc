"""An example graphapi plugin.

- `conversion_received`: a postback whose payout is above
  GRAPHAPI_EXAMPLE_MAX_PAYOUT (default 500) is recorded as pending, for a human to
  look at, whatever status the partner sent.
- `conversion_recorded`: logs every recorded conversion, and blacklists the
  traffic source of a chargeback (an approved conversion turned rejected).
"""

import logging
import os
from decimal import Decimal

from graphapi import hookimpl
from graphapi.actions import AddToBlacklist

__version__ = "0.1.0"

log = logging.getLogger("graphapi_example_plugin")


@hookimpl
def conversion_received(event):
    limit = Decimal(os.environ.get("GRAPHAPI_EXAMPLE_MAX_PAYOUT", "500"))
    if event.conversion.payout > limit and event.conversion.status == "approved":
        return "pending"
    return None


@hookimpl
async def conversion_recorded(event):
    conversion = event.conversion
    log.info(
        "conversion %s of campaign %s: %s %s %s",
        conversion.id, event.campaign.id, conversion.status, conversion.payout, conversion.currency,
    )  # fmt: skip
    chargeback = conversion.previous_status == "approved" and conversion.status == "rejected"
    if chargeback and event.click.source:
        return [AddToBlacklist(source=event.click.source)]
    return None
