"""docs/custom-resources.md stays in step with the declarations: every property row is the schema's."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from automations.core import registry
from automations.core.spec import CustomResource, FunctionSpec
from custom_resources.properties import Prop, Schema
from custom_resources.provider import Provider

DOC = Path(__file__).resolve().parents[2] / "docs" / "custom-resources.md"
KINDS = {"str": "String", "int": "Integer", "bool": "Boolean", "list": "List of String",
         "filters": "List of {Name, Values}", "objects": "List of Object"}
SPECS = [spec for spec in registry.discover() if isinstance(spec.trigger, CustomResource)]


def shown_default(prop: Prop) -> str:
    if prop.required:
        return "**required**"
    if prop.default is None:
        return "(omitted)"
    if isinstance(prop.default, bool):
        return f"`{str(prop.default).lower()}`"
    if isinstance(prop.default, tuple):
        return "`[]`" if not prop.default else f"`{list(prop.default)}`"
    return f'`"{prop.default}"`' if prop.default == "" else f"`{prop.default}`"


def property_row(prop: Prop) -> str:
    notes = [note for flag, note in (("replaces", "changing it replaces the resource"),
                                     ("generation", "changing it regenerates the value"),
                                     ("secret", "secret: never logged or returned")) if getattr(prop, flag)]
    what = prop.description + (" " + "; ".join(notes).capitalize() + "." if notes else "")
    allowed = prop.describe_allowed().replace("|", "\\|")
    return f"| `{prop.name}` | {KINDS[prop.kind]} | {shown_default(prop)} | {allowed} | {what} |"


def property_rows(schema: Schema) -> list[str]:
    return [property_row(prop) for prop in schema.props]


def provider_of(spec: FunctionSpec) -> Provider:
    handler: Provider = importlib.import_module(spec.module).handler
    return handler


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_property_of_every_type_is_documented_as_declared(spec: FunctionSpec) -> None:
    text = DOC.read_text()
    resource_type = spec.trigger.resource_type  # type: ignore[union-attr]

    assert f"## `{resource_type}`" in text
    section = text.split(f"## `{resource_type}`", 1)[1].split("\n## ", 1)[0]
    for row in property_rows(provider_of(spec).resource.schema):
        assert row in section, f"missing or outdated row in {DOC.name}:\n{row}"


if __name__ == "__main__":  # print the tables, to paste into the document
    for spec in SPECS:
        print(spec.trigger.resource_type)  # type: ignore[union-attr]
        print("\n".join(property_rows(provider_of(spec).resource.schema)))
        print()
