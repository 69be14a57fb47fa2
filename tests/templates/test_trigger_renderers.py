"""Every trigger class has a renderer, and each renders the resources its trigger type needs."""

from __future__ import annotations

import inspect
import typing

import pytest

from automations.core import triggers as triggers_module
from automations.core.spec import Trigger
from builder.lint import lint_text
from templates.stacks import function_template, render_yaml
from templates.triggers import TRIGGER_RENDERERS
from tests.templates.helpers import EXAMPLE_TRIGGERS, example_spec, resources_of_type


def trigger_classes() -> set[type]:
    return set(typing.get_args(Trigger))


def test_every_trigger_class_has_a_renderer() -> None:
    assert trigger_classes() == set(TRIGGER_RENDERERS)


def test_the_trigger_union_lists_every_trigger_class_of_spec() -> None:
    """A new trigger dataclass in triggers.py must join the `Trigger` union (and so need a renderer)."""
    trigger_like = {
        obj for _, obj in inspect.getmembers(triggers_module, inspect.isclass)
        if obj.__module__ == triggers_module.__name__ and not obj.__name__.startswith("_")
    }
    assert trigger_like == trigger_classes()


def test_examples_cover_every_trigger_class() -> None:
    assert {type(trigger) for trigger, _ in EXAMPLE_TRIGGERS.values()} == trigger_classes()


@pytest.mark.parametrize("key", ["rate", "cron"])
def test_schedules_render_a_rule_on_a_parameter_and_an_events_permission(key: str) -> None:
    spec = example_spec(key)
    stack = function_template("scheduled", [spec], "code.zip")
    data = stack.template.to_dict()
    (rule,) = resources_of_type(data, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "Example" + key.capitalize() + "Schedule"}
    trigger = EXAMPLE_TRIGGERS[key][0]
    assert isinstance(trigger, triggers_module.Rate | triggers_module.Cron)
    assert stack.parameters["Example" + key.capitalize() + "Schedule"] == trigger.expression
    (permission,) = resources_of_type(data, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"


@pytest.mark.parametrize("key", ["cloudtrail", "pattern", "health", "guardduty", "instance-state", "object-created",
                                 "any-of"])
def test_event_triggers_render_a_rule_on_the_declared_pattern(key: str) -> None:
    spec = example_spec(key)
    data = function_template("security", [spec], "code.zip").template.to_dict()
    (rule,) = resources_of_type(data, "AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == spec.trigger.pattern()  # type: ignore[union-attr]
    assert "ScheduleExpression" not in rule["Properties"]
    (permission,) = resources_of_type(data, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": [next(iter(
        resources_of_type(data, "AWS::Events::Rule"))), "Arn"]}


def test_custom_resources_export_a_service_token_and_have_no_rule() -> None:
    data = function_template("custom-resources", [example_spec("custom")], "code.zip").template.to_dict()
    assert not resources_of_type(data, "AWS::Events::Rule")
    assert not resources_of_type(data, "AWS::Lambda::Permission")
    output = data["Outputs"]["ExampleCustomServiceToken"]
    assert output["Value"] == {"Fn::GetAtt": ["ExampleCustomFunction", "Arn"]}
    assert output["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-AccountPasswordPolicyServiceToken"}


def test_rotation_lets_secrets_manager_of_this_account_invoke() -> None:
    data = function_template("scheduled", [example_spec("rotation")], "code.zip").template.to_dict()
    assert not resources_of_type(data, "AWS::Events::Rule")
    (permission,) = resources_of_type(data, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_a_stack_with_every_trigger_type_is_lint_clean() -> None:
    """Renderers no registered function uses yet are linted too."""
    specs = [example_spec(key) for key in EXAMPLE_TRIGGERS]
    text = render_yaml(function_template("examples", specs, "code.zip").template)
    assert [str(f) for f in lint_text(text, "examples.yaml")] == []
