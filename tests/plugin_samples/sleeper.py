"""Hangs (an async implementation)."""

import asyncio

from graphapi import hookimpl


@hookimpl
async def conversion_recorded(event):
    await asyncio.sleep(60)
