"""Attacks through the roles of the rules on AWS service events: the key quarantine and the instance isolation
can take only the access they are declared to take (evaluated on the rendered statements, as in
test_iam_statements.py), and only EventBridge, from the rule's own EventBridge rule, may invoke them."""

from __future__ import annotations

from typing import Any

from templates.stacks import StackDef
from tests.adversarial.templates.test_iam_statements import ACCOUNT, REGION, USER, allowed, role_of, stacks

__all__ = ["stacks"]

QUARANTINE = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
PROTECTED = {"aws:ResourceTag/caretaker:protect": "true"}


def test_exposed_credentials_cannot_attach_any_policy_but_the_quarantine(stacks: list[StackDef]) -> None:
    role = role_of(stacks, "exposed-credentials")
    for policy in ("arn:aws:iam::aws:policy/AdministratorAccess", f"arn:aws:iam::{ACCOUNT}:policy/anything",
                   "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3Lookalike"):
        assert not allowed(role, "iam:AttachUserPolicy", USER + "dev", {"iam:PolicyARN": policy}), policy
    assert not allowed(role, "iam:AttachUserPolicy", USER + "dev")  # no policy named: refused
    assert not allowed(role, "iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/dev", {"iam:PolicyARN": QUARANTINE})
    assert allowed(role, "iam:AttachUserPolicy", USER + "ci-deployer", {"iam:PolicyARN": QUARANTINE})


def test_exposed_credentials_never_touches_a_protected_user_and_never_deletes(stacks: list[StackDef]) -> None:
    role = role_of(stacks, "exposed-credentials")
    assert not allowed(role, "iam:UpdateAccessKey", USER + "break-glass", PROTECTED)
    assert not allowed(role, "iam:AttachUserPolicy", USER + "break-glass", {"iam:PolicyARN": QUARANTINE, **PROTECTED})
    for action in ("iam:DeleteAccessKey", "iam:DeleteUser", "iam:DetachUserPolicy", "iam:CreateAccessKey"):
        assert not allowed(role, action, USER + "ci-deployer"), action
    assert allowed(role, "iam:UpdateAccessKey", USER + "ci-deployer")


def test_instance_isolation_can_put_interfaces_only_into_quarantine_groups(stacks: list[StackDef]) -> None:
    role = role_of(stacks, "instance-isolation")
    quarantine = {"aws:ResourceTag/caretaker:quarantine-group": "vpc-0a1b2c3d"}
    assert allowed(role, "ec2:ModifyNetworkInterfaceAttribute", f"{EC2}:network-interface/eni-1")
    assert allowed(role, "ec2:ModifyNetworkInterfaceAttribute", f"{EC2}:security-group/sg-q", quarantine)
    # a group that is not a quarantine group: an attacker cannot use the role to open an instance to it
    assert not allowed(role, "ec2:ModifyNetworkInterfaceAttribute", f"{EC2}:security-group/sg-open")
    assert not allowed(role, "ec2:RevokeSecurityGroupEgress", f"{EC2}:security-group/sg-someone-elses")
    for action in ("ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:DeleteSecurityGroup",
                   "ec2:TerminateInstances", "ec2:DeleteSnapshot", "ec2:DeleteTags"):
        assert not allowed(role, action, f"{EC2}:security-group/sg-q", quarantine), action


def test_instance_isolation_creates_only_tagged_groups_and_tags_only_its_own_keys(stacks: list[StackDef]) -> None:
    role = role_of(stacks, "instance-isolation")
    assert not allowed(role, "ec2:CreateSecurityGroup", f"{EC2}:security-group/sg-new")
    assert allowed(role, "ec2:CreateSecurityGroup", f"{EC2}:security-group/sg-new",
                   {"aws:RequestTag/caretaker:quarantine-group": "vpc-0a1b2c3d"})
    own = {"aws:TagKeys": ["caretaker:isolated-by-finding", "caretaker:isolated-at"]}
    assert allowed(role, "ec2:CreateTags", f"{EC2}:instance/i-1", own)
    assert not allowed(role, "ec2:CreateTags", f"{EC2}:instance/i-1", {"aws:TagKeys": ["caretaker:protect"]})
    assert not allowed(role, "ec2:CreateTags", f"{EC2}:instance/i-1", {**own, **PROTECTED})


def _function_resources(stacks: list[StackDef], function: str) -> dict[str, dict[str, Any]]:
    [security] = [s for s in stacks if s.name.endswith("security")]
    resources: dict[str, dict[str, Any]] = security.template.to_dict()["Resources"]
    prefix = "".join(part.capitalize() for part in function.split("-"))
    return {name: r for name, r in resources.items() if name.startswith(prefix)}


def test_only_eventbridge_from_the_rules_own_rule_on_the_default_bus_invokes_them(stacks: list[StackDef]) -> None:
    for function in ("exposed-credentials", "instance-isolation"):
        resources = _function_resources(stacks, function)
        [(rule_id, rule)] = [(n, r) for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"]
        [permission] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
        assert "EventBusName" not in rule["Properties"]  # the default bus: only AWS sends aws.* events there
        assert permission["Properties"]["Principal"] == "events.amazonaws.com"
        assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
        pattern = rule["Properties"]["EventPattern"]
        for branch in pattern.get("$or", [pattern]):
            assert branch["source"] in (["aws.guardduty"], ["aws.health"]), function
