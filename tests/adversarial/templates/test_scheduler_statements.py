"""Attacks through instance-scheduler's rendered role (docs/security-model.md section 8).

A developer who may tag some resources, or who protected one, must not get the scheduler to stop, start or scale
what is protected or never opted in. The requests are evaluated against the rendered policy with the evaluator of
test_iam_statements (moto does not evaluate IAM); beside each attack, the opted-in resource stays allowed.
"""

from __future__ import annotations

import pytest

from templates.stacks import StackDef
from tests.adversarial.templates.test_iam_statements import ACCOUNT, REGION, allowed, role_of, stacks

__all__ = ["stacks"]

RESOURCES = {
    "ec2:StopInstances": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0",
    "ec2:StartInstances": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0",
    "rds:StopDBInstance": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders",
    "rds:StartDBInstance": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders",
    "rds:StopDBCluster": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:reports",
    "rds:StartDBCluster": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:reports",
    "autoscaling:UpdateAutoScalingGroup":
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:1a2b:autoScalingGroupName/web",
}
OPTED_IN = {"aws:ResourceTag/caretaker:schedule": "office-hours"}


@pytest.mark.parametrize(("action", "resource"), RESOURCES.items(), ids=list(RESOURCES))
def test_a_protected_resource_cannot_be_stopped_started_or_scaled_even_with_a_schedule_tag(
        stacks: list[StackDef], action: str, resource: str) -> None:
    statements = role_of(stacks, "instance-scheduler")

    for protect in ("true", "TRUE", "True"):
        assert not allowed(statements, action, resource, {**OPTED_IN, "aws:ResourceTag/caretaker:protect": protect})


@pytest.mark.parametrize(("action", "resource"), RESOURCES.items(), ids=list(RESOURCES))
def test_a_resource_that_never_opted_in_cannot_be_touched(stacks: list[StackDef], action: str, resource: str) -> None:
    assert not allowed(role_of(stacks, "instance-scheduler"), action, resource)


@pytest.mark.parametrize(("action", "resource"), RESOURCES.items(), ids=list(RESOURCES))
def test_an_opted_in_resource_is_still_scheduled(stacks: list[StackDef], action: str, resource: str) -> None:
    statements = role_of(stacks, "instance-scheduler")

    assert allowed(statements, action, resource, OPTED_IN)
    assert allowed(statements, action, resource, {**OPTED_IN, "aws:ResourceTag/caretaker:protect": "false"})


def test_the_scheduler_cannot_tag_so_it_cannot_opt_anything_in_itself(stacks: list[StackDef]) -> None:
    statements = role_of(stacks, "instance-scheduler")

    for action in ("ec2:CreateTags", "rds:AddTagsToResource", "autoscaling:CreateOrUpdateTags"):
        assert not allowed(statements, action, RESOURCES["ec2:StopInstances"], OPTED_IN), action

