"""How a custom resource provider is declared: `provider_spec` registers its `FunctionSpec` (mode `enforce`,
the timeout and memory every provider shares) and, for a type whose Delete continues through crhelper
polling, the permissions on its own schedule rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from automations.core.registry import register
from automations.core.spec import CustomResource, FunctionSpec, Permission

#: Providers run because a stack asked for them: they act (mode `enforce`) unless an operator says otherwise.
PROVIDER_MODE: Literal["enforce"] = "enforce"
PROVIDER_TIMEOUT_S = 120
PROVIDER_MEMORY_MB = 256


def provider_spec(name: str, resource_type: str, what: str, permissions: tuple[Permission, ...], *,
                  timeout: int = PROVIDER_TIMEOUT_S, polls: bool = False) -> FunctionSpec:
    """Declare and register the provider of one custom resource type; its module's `handler = Provider(SPEC, ...)`
    is bound by `registry.discover()`.

    `polls`: a Delete may continue through crhelper polling, so the function also gets the permissions
    for its own schedule rules (`polling_permissions`)."""
    spec = FunctionSpec(
        name=name,
        description=f"CloudFormation provider of {resource_type}: {what}",
        trigger=CustomResource(resource_type),
        default_mode=PROVIDER_MODE,
        timeout=timeout,
        memory=PROVIDER_MEMORY_MB,
        permissions=permissions,
    )
    if polls:
        spec = replace(spec, permissions=(*permissions, *polling_permissions(spec.function_name)))
    return register(spec)


def polling_rule_prefix(function_name: str) -> str:
    """What the names of a function's crhelper polling rules start with."""
    return f"{function_name}-poll-"


def polling_permissions(function_name: str) -> tuple[Permission, ...]:
    """crhelper polling: a schedule rule per long request, on this function's own rules only, and the
    permission for EventBridge to invoke this function."""
    return (
        Permission(("events:PutRule", "events:PutTargets", "events:RemoveTargets", "events:DeleteRule"),
                   (f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/"
                    f"{polling_rule_prefix(function_name)}*",),
                   why="crhelper polling: this function's own schedule rules (named after the function)"),
        Permission(("lambda:AddPermission",), ("${FunctionArn}",),
                   condition={"StringEquals": {"lambda:Principal": "events.amazonaws.com"}},
                   why="crhelper polling: let the schedule rule invoke this function (EventBridge only)"),
        Permission(("lambda:RemovePermission",), ("${FunctionArn}",),
                   why="crhelper polling: remove that permission when done"),
    )
