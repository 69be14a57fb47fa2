"""The example consumer stack: lint-clean, one resource per type, and every import is a real export."""

from __future__ import annotations

import json
import re
from typing import Any

from cfnlint.api import lint

from templates.consumer_example import (
    PROVIDER_STACK_PARAMETER,
    custom_resource_specs,
    provider_stack_name,
    render_consumer_example,
)


def walk(node: Any, key: str) -> list[Any]:
    """Every value under `key` anywhere in a template dict."""
    found: list[Any] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            found.extend(walk(v, key))
    elif isinstance(node, list):
        for item in node:
            found.extend(walk(item, key))
    return found


def substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: variables[m.group(1)], text)


def provider_exports() -> set[str]:
    """Export names of the provider stack as the templates package renders it, under its manifest name."""
    from templates import stacks

    specs = [spec for spec, _ in custom_resource_specs()]
    provider = stacks.function_template("custom-resources", specs, "code.zip")
    assert provider.name == provider_stack_name()
    outputs = provider.template.to_dict()["Outputs"]
    names = [o["Export"]["Name"] for o in outputs.values() if "Export" in o]
    return {substitute(n["Fn::Sub"], {"AWS::StackName": provider.name}) if isinstance(n, dict) else n
            for n in names}


def test_the_example_passes_cfn_lint_without_errors_or_warnings() -> None:
    text = render_consumer_example().to_yaml(long_form=True)

    findings = [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in lint(text, regions=["us-east-1"])
                if m.rule.id[0] in "EW"]

    assert findings == []


def test_every_custom_resource_type_is_used_once() -> None:
    resources = render_consumer_example().to_dict()["Resources"]

    used = sorted(r["Type"] for r in resources.values() if r["Type"].startswith("Custom::"))
    assert used == sorted(trigger.resource_type for _, trigger in custom_resource_specs())


def test_every_import_is_a_name_the_provider_stack_exports() -> None:
    template = render_consumer_example().to_dict()
    default = template["Parameters"][PROVIDER_STACK_PARAMETER]["Default"]

    imports = {substitute(value["Fn::Sub"], {PROVIDER_STACK_PARAMETER: default})
               for value in walk(template, "Fn::ImportValue")}

    assert default == "caretaker-custom-resources"
    assert len(imports) == len(custom_resource_specs())
    assert imports <= provider_exports()
    assert imports == {f"caretaker-custom-resources-{t.resource_type.removeprefix('Custom::')}ServiceToken"
                       for _, t in custom_resource_specs()}


def test_rendering_is_pure() -> None:
    assert json.dumps(render_consumer_example().to_dict(), sort_keys=True) == \
        json.dumps(render_consumer_example().to_dict(), sort_keys=True)
