"""conversion_received implementations, as classes so a test registers the ones it needs."""

import asyncio

from graphapi import hookimpl


class HoldBigPayouts:
    @hookimpl
    def conversion_received(self, event):
        return "pending" if event.conversion.payout >= 100 else None


class RejectSource:
    @hookimpl(tryfirst=True)
    async def conversion_received(self, event):
        return "rejected" if event.click.source == "fraud" else None


class Broken:
    @hookimpl(tryfirst=True)
    def conversion_received(self, event):
        raise RuntimeError("reviewer bug")


class Hanging:
    @hookimpl(tryfirst=True)
    async def conversion_received(self, event):
        await asyncio.sleep(60)


class Garbage:
    @hookimpl(tryfirst=True)
    def conversion_received(self, event):
        return "maybe"
