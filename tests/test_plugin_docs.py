"""Meta-tests that keep the plugin API honest (after datasette's): every hook has
a test, and its exact signature is in the plugin docs."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from graphapi import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = [name for name, value in vars(hookspecs).items() if hasattr(value, "graphapi_spec")]


def signature(name: str) -> str:
    """`name(arg: Type, ...) -> Return`, as written in hookspecs.py."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"


def test_the_hooks_are_found():
    assert sorted(HOOKS) == ["campaign_checked", "conversion_received", "conversion_recorded", "rule_plugin_info"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    sources = "".join(path.read_text() for path in (ROOT / "tests").glob("test_*.py"))
    assert f"def test_hook_{hook}(" in sources


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### `{signature(hook)}`" in docs


def test_firstresult_hooks_say_so_in_their_docstring():
    for hook in HOOKS:
        spec = getattr(hookspecs, hook)
        if spec.graphapi_spec.get("firstresult"):
            assert spec.__doc__.startswith("firstresult:"), hook
