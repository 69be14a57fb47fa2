"""The list of stacks: core first, then one per handler package that has functions."""

from __future__ import annotations

import pytest

from automations.core import registry
from templates.stacks import render_all, specs_by_stack
from tests.templates.helpers import EXAMPLE_TRIGGERS, example_spec


def test_core_comes_first_then_the_handler_packages_with_functions() -> None:
    stacks = render_all("code.zip", "deps.zip", "bytecode.zip")
    assert stacks[0].name == "caretaker-core"
    assert not stacks[0].functions
    expected = [f"caretaker-{key}" for key in registry.HANDLER_PACKAGES.values()
                if any(registry.stack_of(s) == key for s in registry.discover())]
    assert [s.name for s in stacks[1:]] == expected
    for stack in stacks[1:]:
        assert stack.functions
        assert all(f"caretaker-{registry.stack_of(f.spec)}" == stack.name for f in stack.functions)


def test_every_registered_function_is_in_exactly_one_stack() -> None:
    stacks = render_all("code.zip", "deps.zip", "bytecode.zip")
    placed = [f.spec.name for s in stacks for f in s.functions]
    assert sorted(placed) == [s.name for s in registry.discover()]


def test_functions_group_by_package_in_handler_package_order() -> None:
    specs = [example_spec(key) for key in EXAMPLE_TRIGGERS]
    grouped = specs_by_stack(specs)
    assert list(grouped) == ["scheduled", "custom-resources", "security"]
    assert [s.name for s in grouped["custom-resources"]] == ["example-custom"]


def test_stack_parameters_list_defaults() -> None:
    stacks = render_all("code.zip", "deps.zip", "bytecode.zip")
    assert stacks[0].parameters == {"ArtifactBucket": None, "ArtifactPrefix": "", "ChatNotifications": "enabled"}


def test_security_stack_offers_an_optional_trail_off_by_default() -> None:
    from templates.stacks import STACK_EXTRAS, function_template

    specs = [s for s in registry.discover() if registry.stack_of(s) == "security"]
    if not specs:
        pytest.skip("no security rule registered")
    stack = function_template("security", specs, "caretaker-code-000000000000.zip")
    rendered = stack.template.to_dict()
    assert rendered["Parameters"]["CreateTrail"]["Default"] == "false"
    trails = [r for r in rendered["Resources"].values() if r["Type"] == "AWS::CloudTrail::Trail"]
    assert len(trails) == 1 and trails[0]["Condition"] == "CreateTrailCondition"
    assert set(STACK_EXTRAS) <= set(registry.HANDLER_PACKAGES.values())
