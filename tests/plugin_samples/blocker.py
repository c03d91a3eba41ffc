"""Hangs, blocking its thread (a sync implementation)."""

import time

from graphapi import hookimpl


@hookimpl
def conversion_recorded(event):
    time.sleep(60)
