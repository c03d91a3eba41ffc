"""Records every event it is given (an async implementation)."""

from graphapi import hookimpl

EVENTS = []


@hookimpl
async def conversion_recorded(event):
    EVENTS.append(event)
