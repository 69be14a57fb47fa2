"""`list`: the declared functions, read from the registry (the one list there is)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from automations.core import registry
from automations.core.spec import trigger_manifest


def describe_trigger(trigger: dict[str, Any]) -> str:
    kind = str(trigger["type"])
    if kind == "schedule":
        return str(trigger["expression"])
    if kind == "event":
        pattern: dict[str, Any] = trigger["pattern"]
        detail = pattern.get("detail", {})
        names = detail.get("eventName") if isinstance(detail, dict) else None
        return "event: " + (", ".join(names) if isinstance(names, list) else str(pattern.get("detail-type", "")))
    if kind == "custom_resource":
        return str(trigger["resource_type"])
    return kind


def print_catalog(console: Console | None = None) -> int:
    console = console or Console()
    table = Table(title="Caretaker functions")
    for column in ("stack", "name", "trigger", "default mode", "what it does"):
        table.add_column(column, overflow="fold")
    specs = registry.discover()
    for spec in sorted(specs, key=lambda s: (registry.stack_of(s) or "", s.name)):
        table.add_row(str(registry.stack_of(spec)), spec.name, describe_trigger(trigger_manifest(spec.trigger)),
                      spec.default_mode, spec.description)
    console.print(table)
    return len(specs)
