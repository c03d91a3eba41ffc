"""Records every event it is given (a sync implementation)."""

from graphapi import hookimpl

EVENTS = []


@hookimpl
def conversion_recorded(event):
    EVENTS.append(event)
