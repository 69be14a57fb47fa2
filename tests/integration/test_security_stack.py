"""The security stack in the emulator: each rule's pattern, read back from EventBridge, is the one
its declaration generates and matches its CloudTrail events; a rule runs from the built artifact
against the deployed stacks and remediates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from automations.cli.invoke import invoke
from automations.core import registry
from automations.core.ledger import run_items
from automations.core.spec import trigger_manifest
from builder.deploy import Outputs
from tests.automations.security.conftest import load_event, matches
from tests.automations.security.test_patterns import RULE_EVENTS
from tests.automations.security.test_sg_open_world import authorize_as_recorded

REGION = "us-east-1"
#: The security stack's rules (its scheduled functions, such as tag-compliance-sweep, have no event pattern).
SECURITY = [s for s in registry.discover()
            if registry.stack_of(s) == "security" and "pattern" in trigger_manifest(s.trigger)]


def deployed_patterns() -> dict[str, dict[str, Any]]:
    """Function ARN -> the EventPattern of the EventBridge rule that targets it."""
    events = boto3.client("events", region_name=REGION)
    found: dict[str, dict[str, Any]] = {}
    for rule in events.list_rules()["Rules"]:
        if "EventPattern" not in rule:
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            found[target["Arn"]] = json.loads(events.describe_rule(Name=rule["Name"])["EventPattern"])
    return found


@pytest.mark.parametrize("spec", SECURITY, ids=[s.name for s in SECURITY])
def test_deployed_pattern_is_the_declared_one_and_matches_its_events(spec: Any, deployed: Outputs) -> None:
    arn = boto3.client("lambda", region_name=REGION).get_function(
        FunctionName=spec.function_name)["Configuration"]["FunctionArn"]
    pattern = deployed_patterns()[arn]
    assert pattern == trigger_manifest(spec.trigger)["pattern"]
    if spec.name not in RULE_EVENTS:  # the rules on AWS service events: their samples in test_event_kinds.py
        assert not spec.reads_own_roles, spec.name
        return
    for name in RULE_EVENTS[spec.name]:
        assert matches(pattern, load_event(name)), name
    failed = load_event(RULE_EVENTS[spec.name][0])
    failed["detail"]["errorCode"] = "Client.UnauthorizedOperation"
    assert matches(pattern, failed) is (spec.name == "root-activity")  # root use is reported even when it failed


def test_sg_open_world_remediates_from_the_built_artifact(deployed: Outputs, built_dist: Path,
                                                         tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="it-web", Description="it", VpcId=vpc)["GroupId"]
    event = authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress"))

    outcome = invoke("sg-open-world", dist=built_dist, event=event, capture=True)

    assert outcome.ok, outcome.error
    assert outcome.environment_source == "deployed function"
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    world_ssh = [r for r in rules["SecurityGroupRules"] if not r["IsEgress"] and r.get("FromPort") == 22
                 and (r.get("CidrIpv4") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0")]
    assert world_ssh == []
    table = deployed["caretaker-core"]["StateTableName"]
    items = run_items(boto3.client("dynamodb", region_name=REGION), table, outcome.result["run_id"])
    assert [(i["action"], i["outcome"]) for i in items if i["type"] == "action"] == [
        ("revoke-ingress", "planned"), ("revoke-ingress", "succeeded")]

    again = invoke("sg-open-world", dist=built_dist, event=event, capture=True)  # EventBridge redelivery
    assert again.ok, again.error
    redo = run_items(boto3.client("dynamodb", region_name=REGION), table, again.result["run_id"])
    assert [i["outcome"] for i in redo if i["type"] == "action"] == ["skipped"]
