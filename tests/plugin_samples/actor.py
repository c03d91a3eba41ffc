"""Returns whatever the test put in RETURN (a list of actions)."""

from graphapi import hookimpl

RETURN = []


@hookimpl
def conversion_recorded(event):
    return list(RETURN)
