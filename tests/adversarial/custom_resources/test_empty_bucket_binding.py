"""Attacks on Custom::EmptyBucket from a stack that does not own the bucket (docs/security-model.md, section 2).

The provider empties only a bucket that CloudFormation lists as an `AWS::S3::Bucket` resource of the
requesting stack. The stacks here are real moto CloudFormation stacks: the victim's (the security
stack with its trail bucket, or another team's) and the attacker's, which holds a bucket of its own.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from custom_resources import empty_bucket
from custom_resources.response import FAILED_CREATE_PREFIX
from tests.custom_resources.conftest import REGION, Cfn, actions_of, summary_of
from tests.custom_resources.test_empty_bucket import make_bucket, versions
from tests.recording import RecordingClients

SECURITY, ATTACKER = "caretaker-security", "attacker-app"
OWN_BUCKET = "attacker-own-bucket"


def trail_bucket(cfn: Cfn) -> str:
    """The security stack's trail bucket (named by CloudFormation, as templates/security_trail.py leaves it),
    versioned and holding log objects."""
    stack_id = cfn.declare(SECURITY, "CaretakerTrailBucket", "AWS::S3::Bucket", {})
    resources = boto3.client("cloudformation", region_name=REGION).describe_stack_resources(
        StackName=stack_id)["StackResources"]
    name = str(next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "CaretakerTrailBucket"))
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for i in range(5):
        s3.put_object(Bucket=name, Key=f"AWSLogs/123456789012/CloudTrail/{i}.json.gz", Body=b"log")
    return name


def refusal_of(cfn: Cfn, answer: dict[str, Any], action: str) -> dict[str, Any]:
    records = cfn.records(answer)
    (refusal,) = [a for a in actions_of(records) if a["action"] == action]
    assert [a for a in actions_of(records) if a["action"] != action] == []
    assert refusal["outcome"] == "skipped" and summary_of(records)["outcome"] == "skipped"
    return refusal


def test_empty_bucket_created_for_the_security_stacks_trail_bucket_is_refused(
        cfn: Cfn, hooks: RecordingClients) -> None:
    trail = trail_bucket(cfn)
    make_bucket(cfn, OWN_BUCKET, objects=1, stack=ATTACKER)
    hooks.reset()

    created = cfn.create(empty_bucket, {"BucketName": trail}, stack=ATTACKER)

    assert created["Status"] == "FAILED"
    assert created["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)  # its Delete then touches nothing
    assert f"BucketName {trail!r} is not a resource (AWS::S3::Bucket) of the requesting stack " \
           f"{cfn.stack_id(ATTACKER)}" in created["Reason"]
    assert versions(trail) == 5
    assert not hooks.called("s3")  # not even listed: the check comes first
    refusal = refusal_of(cfn, created, "refuse-create")
    assert cfn.stack_id(ATTACKER) in refusal["reason"] and trail in refusal["reason"]

    cleanup = cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": trail}, stack=ATTACKER)
    assert cleanup["Status"] == "SUCCESS" and versions(trail) == 5


def test_delete_of_an_empty_bucket_naming_another_teams_bucket_changes_nothing(
        cfn: Cfn, hooks: RecordingClients) -> None:
    """A resource created before stack binding (or a forged request) names a bucket of another stack: its Delete
    answers SUCCESS so that CloudFormation can finish, and empties nothing."""
    make_bucket(cfn, "victim-data", objects=4, stack="victim-app")
    make_bucket(cfn, OWN_BUCKET, stack=ATTACKER)
    hooks.reset()

    deleted = cfn.delete(empty_bucket, "caretaker:empty-bucket:0123456789ab", {"BucketName": "victim-data"},
                         stack=ATTACKER)

    assert deleted["Status"] == "SUCCESS"
    assert "refused" in deleted["Reason"] and cfn.stack_id(ATTACKER) in deleted["Reason"]
    assert versions("victim-data") == 8
    assert not hooks.called("s3", "DeleteObjects")
    refusal_of(cfn, deleted, "refuse-delete")


def test_a_trail_bucket_delete_is_refused_on_every_poll_too(
        cfn: Cfn, hooks: RecordingClients) -> None:
    trail = trail_bucket(cfn)
    make_bucket(cfn, OWN_BUCKET, stack=ATTACKER)
    event = cfn.event(empty_bucket, "Delete", {"BucketName": trail}, physical_id="caretaker:empty-bucket:0123456789ab",
                      stack=ATTACKER)
    event.update(CrHelperPoll=True, CrHelperData={"EmptyBucketDeadline": "2999-01-01T00:00:00Z"})

    cfn.invoke(empty_bucket, event)

    answer = cfn.answer(event)
    assert answer["Status"] == "SUCCESS" and "refused" in answer["Reason"]
    assert versions(trail) == 5
    assert not hooks.called("s3", "DeleteObjects")


def test_an_update_to_another_stacks_bucket_fails(
        cfn: Cfn, hooks: RecordingClients) -> None:
    trail = trail_bucket(cfn)
    make_bucket(cfn, OWN_BUCKET, objects=2, stack=ATTACKER)
    created = cfn.create(empty_bucket, {"BucketName": OWN_BUCKET}, stack=ATTACKER)
    assert created["Status"] == "SUCCESS", created["Reason"]

    updated = cfn.update(empty_bucket, created["PhysicalResourceId"], {"BucketName": trail},
                         {"BucketName": OWN_BUCKET}, stack=ATTACKER)

    assert updated["Status"] == "FAILED" and "is not a resource (AWS::S3::Bucket)" in updated["Reason"]
    assert versions(trail) == 5
    refusal_of(cfn, updated, "refuse-update")


def test_a_resource_of_another_type_with_the_buckets_name_does_not_count(cfn: Cfn) -> None:
    """The attacker's stack holds a resource whose physical id is the victim bucket's name (a parameter named
    like it): only an AWS::S3::Bucket of the stack counts."""
    make_bucket(cfn, "victim-data", objects=3, stack="victim-app")
    cfn.declare(ATTACKER, "LookAlike", "AWS::SSM::Parameter", {"Name": "victim-data", "Type": "String", "Value": "x"})

    created = cfn.create(empty_bucket, {"BucketName": "victim-data"}, stack=ATTACKER)

    assert created["Status"] == "FAILED" and "is not a resource (AWS::S3::Bucket)" in created["Reason"]
    assert versions("victim-data") == 6


def test_a_request_from_a_stack_cloudformation_does_not_know_is_refused(cfn: Cfn) -> None:
    make_bucket(cfn, "victim-data", objects=1, stack="victim-app")

    created = cfn.create(empty_bucket, {"BucketName": "victim-data"}, stack="no-such-stack")

    assert created["Status"] == "FAILED" and "is not a resource" in created["Reason"]
    assert versions("victim-data") == 2


def test_when_cloudformation_cannot_answer_nothing_is_emptied(cfn: Cfn, hooks: RecordingClients) -> None:
    make_bucket(cfn, objects=2)
    hooks.fail("cloudformation", "DescribeStackResources", "Throttling", "Rate exceeded", times=None)

    deleted = cfn.delete(empty_bucket, "caretaker:empty-bucket:0123456789ab", {"BucketName": "consumer-data"})

    assert deleted["Status"] == "FAILED" and "cannot tell whether stack" in deleted["Reason"]
    assert versions() == 4


def test_the_owning_stack_still_empties_its_own_bucket(cfn: Cfn) -> None:
    trail_bucket(cfn)
    make_bucket(cfn, OWN_BUCKET, objects=3, delete_markers=1, stack=ATTACKER)

    created = cfn.create(empty_bucket, {"BucketName": OWN_BUCKET}, stack=ATTACKER)
    deleted = cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": OWN_BUCKET}, stack=ATTACKER)

    assert created["Status"] == "SUCCESS" and deleted["Status"] == "SUCCESS", deleted["Reason"]
    assert versions(OWN_BUCKET) == 0
    assert summary_of(cfn.records(deleted))["outcome"] == "succeeded"


@pytest.mark.parametrize("beyond_first_100", [False, True])
def test_a_stack_beyond_describe_stack_resources_first_100_still_finds_its_bucket(
        cfn: Cfn, hooks: RecordingClients, beyond_first_100: bool) -> None:
    """DescribeStackResources returns at most 100 resources; the bucket may be further on (ListStackResources)."""
    make_bucket(cfn, objects=1)
    others = [{"ResourceType": "AWS::SSM::Parameter", "PhysicalResourceId": f"p{i}", "LogicalResourceId": f"P{i}",
               "ResourceStatus": "CREATE_COMPLETE", "Timestamp": "2026-01-01T00:00:00Z"} for i in range(100)]
    hooks.answer("cloudformation", "DescribeStackResources",
                 lambda params: {"StackResources": others} if beyond_first_100 else None)

    created = cfn.create(empty_bucket, {"BucketName": "consumer-data"})

    assert created["Status"] == "SUCCESS", created["Reason"]
    assert bool(hooks.called("cloudformation", "ListStackResources")) == beyond_first_100
