"""Owner routing as an attacker sees it: the `caretaker:owner` tag is chosen by whoever may tag the resource.

A developer who opens port 22 to the world can also tag the group with an owner nobody reads, a value SNS
will not take as an attribute, or give every resource its own owner. None of it may silence the finding or
flood the topic: the message still reaches every subscriber without an owner filter, an owner SNS refuses is
dropped from the attributes (not the message), and a notification sends at most `MAX_OWNER_MESSAGES` + 1
messages. Legitimate use beside it: a team's filter policy gets its own findings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
import pytest

from automations.core.notify import MAX_OWNER_MESSAGES
from automations.scheduled.cleanup_volumes import handler as cleanup_volumes
from automations.security import sg_open_world
from tests.automations.conftest import REGION, Alerts, LambdaContext
from tests.automations.scheduled.cleanup_harness import Harness as CleanupHarness
from tests.automations.scheduled.cleanup_harness import harness as cleanup_harness
from tests.automations.scheduled.cleanup_harness import tag_specs
from tests.automations.security.conftest import Harness, load_event, outcomes
from tests.automations.security.test_sg_open_world import authorize_as_recorded, ingress
from tests.notifications import message_body, published

WORLD_SSH = {("tcp", 22, 22, "0.0.0.0/0")}


def subscribe(alerts: Alerts, name: str, policy: Mapping[str, Any]) -> str:
    sqs, sns = boto3.client("sqs", region_name=REGION), boto3.client("sns", region_name=REGION)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=alerts.topic_arn, Protocol="sqs", Endpoint=arn,
                  Attributes={"FilterPolicy": json.dumps(policy)})
    return str(url)


def inbox(url: str) -> list[dict[str, Any]]:
    got = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [message_body(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]


def open_ssh(ec2: Any, group: str, owner: str) -> dict[str, Any]:
    ec2.create_tags(Resources=[group], Tags=[{"Key": "caretaker:owner", "Value": owner}])
    event = load_event("authorize_security_group_ingress")
    event["detail"]["requestParameters"]["ipPermissions"]["items"] = [
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]
    event["detail"]["responseElements"]["securityGroupRuleSet"]["items"] = [
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]
    return authorize_as_recorded(ec2, group, event)


def test_tagging_a_world_open_group_with_an_owner_nobody_reads_does_not_hide_the_finding(
        harness: Harness, ec2: Any, group: str) -> None:
    security = subscribe(harness.alerts, "security", {"severity": ["medium", "high", "critical"]})
    event = open_ssh(ec2, group, "nobody-listens")

    summary = harness.invoke(sg_open_world.handler, event)

    assert not ingress(ec2, group) & WORLD_SSH  # revoked all the same
    assert outcomes(harness.items(summary)) == [("revoke-ingress", "planned"), ("revoke-ingress", "succeeded")]
    [note] = harness.notifications()  # the unfiltered subscriber
    assert (note["body"]["owner"], note["body"]["severity"]) == ("nobody-listens", "medium")
    [seen] = inbox(security)  # a subscriber filtering on severity, not owner
    assert seen["finding"]["resource"] == group


def test_an_owner_value_sns_refuses_cannot_silence_the_finding(harness: Harness, ec2: Any, group: str) -> None:
    harness.fail("sns", "Publish", "InvalidParameterValue",
                         when=lambda body: "owner" in body.get("MessageAttributes", {}))
    event = open_ssh(ec2, group, "team-\u00e9")

    summary = harness.invoke(sg_open_world.handler, event)

    assert not ingress(ec2, group) & WORLD_SSH
    assert outcomes(harness.items(summary)) == [("revoke-ingress", "planned"), ("revoke-ingress", "succeeded")]
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "succeeded"
    assert "owner" not in published(harness.alerts.topic_arn)[0]["attributes"]  # sent without the attribute
    assert "notifications_failed" not in harness.run_summary(summary)


def test_a_team_filter_policy_gets_its_own_findings(harness: Harness, ec2: Any, group: str) -> None:
    """Legitimate use: the group's owning team subscribes with `{"owner": ["team-web"]}`."""
    team = subscribe(harness.alerts, "team-web", {"owner": ["team-web"]})
    other = subscribe(harness.alerts, "team-db", {"owner": ["team-db"]})

    harness.invoke(sg_open_world.handler, open_ssh(ec2, group, "team-web"))

    [seen] = inbox(team)
    assert seen["owner"] == "team-web" and seen["finding"]["resource"] == group
    assert inbox(other) == []


@pytest.fixture
def cleanup(monkeypatch: pytest.MonkeyPatch, lambda_context: LambdaContext) -> CleanupHarness:
    return cleanup_harness(cleanup_volumes, monkeypatch, lambda_context, mode="enforce")


def test_an_owner_per_volume_cannot_flood_the_topic(cleanup: CleanupHarness) -> None:
    from tests.automations.scheduled.cleanup_harness import ec2 as cleanup_ec2

    count = MAX_OWNER_MESSAGES + 5
    cleanup.clock.advance(days=-30)
    volumes = {str(cleanup_ec2().create_volume(
        AvailabilityZone=f"{REGION}a", Size=1,
        TagSpecifications=tag_specs("volume", {"caretaker:owner": f"team-{i:03d}"}))["VolumeId"])
        for i in range(count)}
    cleanup.clock.advance(days=30)

    result = cleanup.invoke()

    docs = [message_body(m["Message"]) for m in cleanup.messages()]
    assert len(docs) == MAX_OWNER_MESSAGES + 1
    assert sum(1 for d in docs if d["owner"] is None) == 1
    listed = [entry["id"] for d in docs for entry in d["pending"]]
    assert sorted(listed) == sorted(volumes)  # every volume told about exactly once
    assert result["volumes_pending"] == count
    assert len(cleanup.outcomes(result["run_id"])) == 2 * count  # planned + succeeded tags, for all
