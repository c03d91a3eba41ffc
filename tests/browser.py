"""Headless Chromium for the dashboard tests, through Playwright.

The browser is the system's chromium (Debian's `chromium` package, or the
path in GRAPHAPI_TEST_CHROMIUM); Playwright's own browser downloads are never
used. Without a browser the tests are skipped with the reason, unless
GRAPHAPI_TEST_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_BROWSER = os.environ.get("GRAPHAPI_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    configured = os.environ.get("GRAPHAPI_TEST_CHROMIUM")
    names = [configured] if configured else ["chromium", "chromium-browser"]
    return next(filter(None, map(shutil.which, names)), None)


def unavailable(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (GRAPHAPI_TEST_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def launch(playwright):
    path = chromium_path()
    if path is None:
        unavailable("no chromium found: apt-get install chromium, or name one in GRAPHAPI_TEST_CHROMIUM")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
