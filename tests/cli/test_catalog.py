"""`python -m automations list` shows every declared function, straight from the registry."""

from __future__ import annotations

import io

from rich.console import Console

from automations.cli.catalog import describe_trigger, print_catalog
from automations.core import registry


def test_list_shows_every_registered_function() -> None:
    out = io.StringIO()
    shown = print_catalog(Console(file=out, width=400))
    specs = registry.discover()
    assert shown == len(specs)
    text = out.getvalue()
    assert all(spec.name in text for spec in specs)


def test_triggers_are_described_briefly() -> None:
    assert describe_trigger({"type": "schedule", "expression": "rate(1 day)"}) == "rate(1 day)"
    assert describe_trigger({"type": "event", "pattern": {"detail": {"eventName": ["A", "B"]}}}) == "event: A, B"
    assert describe_trigger({"type": "custom_resource", "resource_type": "Custom::X"}) == "Custom::X"
    assert describe_trigger({"type": "rotation"}) == "rotation"
