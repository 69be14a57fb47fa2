"""Helpers for template tests: synthetic specs for every trigger type, and lookups in rendered templates."""

from __future__ import annotations

from typing import Any

from troposphere import Template

from automations.core.spec import (
    AnyOf,
    CloudTrail,
    Cron,
    CustomResource,
    EventPattern,
    FunctionSpec,
    GuardDuty,
    Health,
    InstanceStateChange,
    ObjectCreated,
    Permission,
    Rate,
    Rotation,
    Setting,
    Trigger,
)

#: One example of every trigger class, with a handler package that matches a stack.
EXAMPLE_TRIGGERS: dict[str, tuple[Trigger, str]] = {
    "rate": (Rate(6, "hours"), "automations.scheduled"),
    "cron": (Cron("0 3 * * ? *"), "automations.scheduled"),
    "cloudtrail": (CloudTrail("aws.s3", "s3.amazonaws.com", ("PutBucketAcl", "DeleteBucketPolicy")),
                   "automations.security"),
    "pattern": (EventPattern({"source": ["aws.signin"], "detail-type": ["AWS Console Sign In via CloudTrail"]}),
                "automations.security"),
    "health": (Health(("AWS_RISK_CREDENTIALS_EXPOSED",), ("RISK",)), "automations.security"),
    "guardduty": (GuardDuty("Instance", ("CryptoCurrency:EC2/", "UnauthorizedAccess:EC2/SSHBruteForce")),
                  "automations.security"),
    "instance-state": (InstanceStateChange(("running",)), "automations.security"),
    "object-created": (ObjectCreated(("PutObject", "CompleteMultipartUpload")), "automations.security"),
    "any-of": (AnyOf((Health(("AWS_RISK_CREDENTIALS_EXPOSED",)), GuardDuty("AccessKey"))), "automations.security"),
    "custom": (CustomResource("Custom::AccountPasswordPolicy"), "custom_resources"),
    "rotation": (Rotation(), "automations.scheduled"),
}


def example_spec(key: str) -> FunctionSpec:
    """A valid spec (not registered) for the trigger `key` of `EXAMPLE_TRIGGERS`."""
    trigger, package = EXAMPLE_TRIGGERS[key]
    return FunctionSpec(
        name=f"example-{key}",
        description=f"Example function triggered by {type(trigger).__name__}",
        handler=f"{package}.example_{key}.handler",
        trigger=trigger,
        default_mode="audit",
        permissions=(
            Permission(("iam:GetAccountPasswordPolicy",)),
            Permission(("lambda:GetFunction",), ("${FunctionArn}",), why="reads its own configuration"),
        ),
        settings=(
            Setting("dry_names", "list", ("a", "b"), "A list setting."),
            Setting("strict", "bool", True, "A bool setting."),
            Setting("ratio", "float", 0.5, "A float setting.", minimum=0, maximum=1),
            Setting("colour", "str", "red", "A str setting.", allowed=("red", "blue")),
        ),
    )


def resources_of_type(template: Template | dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    data = template.to_dict() if isinstance(template, Template) else template
    return {name: r for name, r in data["Resources"].items() if r["Type"] == resource_type}
