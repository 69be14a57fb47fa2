"""How each trigger type becomes template resources: one renderer per trigger class.

`TRIGGER_RENDERERS` is an explicit mapping from trigger class to renderer; a test checks
that every trigger class declared in `automations.core.spec` has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from troposphere import AWSObject, Export, GetAtt, Output, Ref, Sub, Template
from troposphere.awslambda import Function, Permission
from troposphere.events import Rule, Target

from automations.core.spec import (
    AnyOf,
    CloudTrail,
    Cron,
    CustomResource,
    EventPattern,
    EventTrigger,
    FunctionSpec,
    GuardDuty,
    Health,
    InstanceStateChange,
    ObjectCreated,
    Rate,
    Rotation,
    Trigger,
    pascal,
)
from templates import names
from templates.parameters import add_schedule_parameter

#: (template, spec, trigger, function) -> the resources added. The trigger is an instance of the mapped class.
Renderer = Callable[[Template, FunctionSpec, Any, Function], list[AWSObject]]


def _invoke_permission(spec: FunctionSpec, function: Function, suffix: str, **source: object) -> Permission:
    return Permission(
        f"{pascal(spec.name)}{suffix}Permission",
        Action="lambda:InvokeFunction",
        FunctionName=GetAtt(function, "Arn"),
        **source,
    )


def _rule_with_permission(template: Template, spec: FunctionSpec, function: Function,
                          **rule_props: object) -> list[AWSObject]:
    rule = template.add_resource(Rule(
        f"{pascal(spec.name)}Rule",
        Description=f"Invokes {spec.function_name}",
        State="ENABLED",
        Targets=[Target(Arn=GetAtt(function, "Arn"), Id="Function")],
        **rule_props,
    ))
    permission = template.add_resource(_invoke_permission(
        spec, function, "Events", Principal="events.amazonaws.com", SourceArn=GetAtt(rule, "Arn"),
    ))
    return [rule, permission]


def render_schedule(template: Template, spec: FunctionSpec, trigger: Rate | Cron,
                    function: Function) -> list[AWSObject]:
    """An EventBridge rule whose schedule is a stack parameter (default: the declared expression)."""
    schedule = add_schedule_parameter(template, spec, trigger)
    return _rule_with_permission(template, spec, function, ScheduleExpression=Ref(schedule))


def render_event(template: Template, spec: FunctionSpec, trigger: EventTrigger,
                 function: Function) -> list[AWSObject]:
    """An EventBridge rule on the declared event pattern (default event bus: AWS services deliver there)."""
    return _rule_with_permission(template, spec, function, EventPattern=trigger.pattern())


def render_custom_resource(template: Template, spec: FunctionSpec, trigger: CustomResource,
                           function: Function) -> list[AWSObject]:
    """No rule: CloudFormation invokes the provider with the caller's rights. Export its ServiceToken."""
    template.add_output(Output(
        f"{pascal(spec.name)}ServiceToken",
        Description=f"ServiceToken of {trigger.resource_type}",
        Value=GetAtt(function, "Arn"),
        Export=Export(Sub("${AWS::StackName}-" + names.service_token_export(trigger.resource_type))),
    ))
    return []


def render_rotation(template: Template, spec: FunctionSpec, trigger: Rotation,
                    function: Function) -> list[AWSObject]:
    """Let Secrets Manager in this account invoke the rotation function."""
    permission = template.add_resource(_invoke_permission(
        spec, function, "SecretsManager",
        Principal="secretsmanager.amazonaws.com", SourceAccount=Ref("AWS::AccountId"),
    ))
    return [permission]


TRIGGER_RENDERERS: dict[type, Renderer] = {
    Rate: render_schedule,
    Cron: render_schedule,
    CloudTrail: render_event,
    EventPattern: render_event,
    Health: render_event,
    GuardDuty: render_event,
    InstanceStateChange: render_event,
    ObjectCreated: render_event,
    AnyOf: render_event,
    CustomResource: render_custom_resource,
    Rotation: render_rotation,
}


def render_trigger(template: Template, spec: FunctionSpec, function: Function) -> list[AWSObject]:
    trigger: Trigger = spec.trigger
    try:
        renderer = TRIGGER_RENDERERS[type(trigger)]
    except KeyError:
        raise TypeError(f"{spec.name}: no renderer for trigger {type(trigger).__name__}") from None
    return renderer(template, spec, trigger, function)
