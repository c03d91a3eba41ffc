"""What the app's lifespan does to the process around it."""

from __future__ import annotations

import gc

from graphapi.app import create_app


async def test_serving_freezes_the_start_up_heap_and_shutdown_gives_the_collector_back(settings):
    threshold = gc.get_threshold()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (10_000, *threshold[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold
