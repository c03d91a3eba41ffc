from graphapi import hookimpl
from graphapi.actions import AddToWhitelist


@hookimpl
def conversion_recorded(event):
    if event.conversion.payout > 100:
        return 42
    return ["pause it please", AddToWhitelist(source="from-garbage")]
