from decimal import Decimal

import graphapi_example_plugin as plugin

from graphapi.actions import AddToBlacklist
from graphapi.events import ReceivedConversion
from graphapi.testing import (
    make_event,
    run_conversion_received,
    run_conversion_recorded,
)


async def test_a_chargeback_blacklists_its_source():
    event = make_event(status="rejected", previous_status="approved", click={"source": "site-7"})
    assert await run_conversion_recorded(plugin, event) == [AddToBlacklist(source="site-7")]


async def test_an_ordinary_conversion_is_only_logged(caplog):
    caplog.set_level("INFO", logger="graphapi_example_plugin")
    event = make_event(status="approved", conversion_id=42, click={"source": "site-7"})
    assert await run_conversion_recorded(plugin, event) is None
    assert "conversion 42 of campaign 1: approved 10.00 USD" in caplog.text


def received(payout):
    event = make_event(payout=payout)
    return ReceivedConversion(conversion=event.conversion, click=event.click, campaign=event.campaign)


async def test_a_large_payout_is_held_as_pending(monkeypatch):
    monkeypatch.setenv("GRAPHAPI_EXAMPLE_MAX_PAYOUT", "100")
    assert await run_conversion_received(plugin, received(Decimal("100.01"))) == "pending"
    assert await run_conversion_received(plugin, received(Decimal("100"))) is None
