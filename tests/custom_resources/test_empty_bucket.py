"""Custom::EmptyBucket through the real protocol, including crhelper polling.

crhelper continues a long Delete by putting an EventBridge schedule rule whose target input is
the poll event. moto keeps the rule inert, so the test reads that input and invokes the handler
with it, as EventBridge would. Buckets are filled through moto's backend directly (thousands of
versions through the API would take seconds).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from moto.s3.models import s3_backends

from custom_resources import empty_bucket
from custom_resources.response import FAILED_CREATE_PREFIX
from tests.custom_resources.conftest import ACCOUNT, REGION, Cfn, FakeContext, actions_of
from tests.recording import RecordingClients

BUCKET = "consumer-data"


def make_bucket(cfn: Cfn, name: str = BUCKET, *, objects: int = 0, delete_markers: int = 0,
                stack: str = "consumer") -> None:
    """A versioned bucket of `stack` (declared there in moto's CloudFormation, as the provider checks) with
    `objects` keys of two versions each, then delete markers on some keys."""
    s3 = boto3.client("s3", region_name=REGION)
    cfn.declare(stack, "Bucket" + name.replace("-", "").replace(".", ""), "AWS::S3::Bucket", {"BucketName": name})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    backend = s3_backends[ACCOUNT]["aws"]
    for i in range(objects):
        backend.put_object(name, f"data/{i:05d}", b"one")
        backend.put_object(name, f"data/{i:05d}", b"two")
    for i in range(delete_markers):
        backend.delete_object(name, f"data/{i:05d}")


def versions(name: str = BUCKET) -> int:
    s3 = boto3.client("s3", region_name=REGION)
    total = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        total += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    return total


def rules() -> list[str]:
    return [r["Name"] for r in boto3.client("events", region_name=REGION).list_rules()["Rules"]]


def poll_event(rule: str) -> dict[str, Any]:
    """The event crhelper scheduled: the input of the rule's target."""
    targets = boto3.client("events", region_name=REGION).list_targets_by_rule(Rule=rule)["Targets"]
    assert len(targets) == 1
    return dict(json.loads(targets[0]["Input"]))


def one_batch_context() -> FakeContext:
    """Enough time left for one DeleteObjects batch, then below the safety margin."""
    return FakeContext(function_name=empty_bucket.SPEC.function_name,
                       remaining_ms=empty_bucket.SAFETY_MARGIN_MS + 1_500, cost_ms=1_000)


@pytest.fixture
def function() -> str:
    """The provider's function exists in moto, so crhelper can grant EventBridge the right to invoke it."""
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="empty-bucket", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=empty_bucket.SPEC.function_name, Runtime="python3.12", Role=role, Handler="handler.handler",
        Code={"ZipFile": code.getvalue()})
    return empty_bucket.SPEC.function_name


def test_create_checks_the_bucket_can_be_listed(cfn: Cfn) -> None:
    make_bucket(cfn, "gone-bucket")
    boto3.client("s3", region_name=REGION).delete_bucket(Bucket="gone-bucket")  # still a resource of the stack
    missing = cfn.create(empty_bucket, {"BucketName": "gone-bucket"})
    assert missing["Status"] == "FAILED"
    assert "BucketName 'gone-bucket' cannot be listed: NoSuchBucket" in missing["Reason"]

    make_bucket(cfn)
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})
    assert created["Status"] == "SUCCESS" and created["PhysicalResourceId"].startswith("caretaker:empty-bucket:")
    assert created["Data"] == {"BucketName": BUCKET}


def test_delete_of_a_small_bucket_finishes_at_once_without_polling(cfn: Cfn) -> None:
    make_bucket(cfn, objects=10, delete_markers=4)
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})

    deleted = cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": BUCKET})

    assert deleted["Status"] == "SUCCESS" and deleted["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert versions() == 0
    assert rules() == []
    assert boto3.client("s3", region_name=REGION).delete_bucket(Bucket=BUCKET)  # the stack's next step works


def test_a_large_bucket_is_emptied_across_polls_with_exactly_one_response(
        cfn: Cfn, hooks: RecordingClients, function: str) -> None:
    make_bucket(cfn, objects=700, delete_markers=200)  # 1,600 versions and delete markers
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})
    event = cfn.event(empty_bucket, "Delete", {"BucketName": BUCKET}, physical_id=created["PhysicalResourceId"])

    cfn.invoke(empty_bucket, event, one_batch_context())

    assert cfn.responses(event) == []  # not finished: no answer yet
    assert versions() == 600
    [rule] = rules()
    assert rule.startswith("caretaker-empty-bucket-poll-")  # the role's events permissions cover only these
    policy = json.loads(boto3.client("lambda", region_name=REGION).get_policy(FunctionName=function)["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    invocations = 1
    while not cfn.responses(event):
        assert invocations < 10, "polling does not converge"
        cfn.invoke(empty_bucket, poll_event(rule), one_batch_context())
        invocations += 1

    assert invocations >= 2
    answer = cfn.answer(event)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert answer["Data"] == {}
    assert versions() == 0
    assert rules() == []
    batches = [len(call["Delete"]["Objects"]) for call in hooks.called("s3", "DeleteObjects")]
    assert batches[0] == 1_000 and max(batches) <= 1_000 and sum(batches) == 1_600
    deletes = [a for a in actions_of(cfn.records(event)) if a["action"] == "delete-objects"]
    assert {a["outcome"] for a in deletes} == {"planned", "succeeded"}


def test_the_deadline_ends_polling_with_a_clear_failure(cfn: Cfn, function: str) -> None:
    make_bucket(cfn, objects=600)
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})
    props = {"BucketName": BUCKET, "DeadlineMinutes": "5"}
    event = cfn.event(empty_bucket, "Delete", props, physical_id=created["PhysicalResourceId"])
    cfn.invoke(empty_bucket, event, one_batch_context())
    [rule] = rules()

    cfn.clock.advance(minutes=6)
    cfn.invoke(empty_bucket, poll_event(rule), one_batch_context())

    answer = cfn.answer(event)
    assert answer["Status"] == "FAILED"
    assert f"bucket {BUCKET} still holds object versions after DeadlineMinutes=5 minutes" in answer["Reason"]
    assert answer["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert rules() == []


def test_a_bucket_name_change_keeps_the_id_and_only_the_named_bucket_is_emptied(cfn: Cfn) -> None:
    make_bucket(cfn, "first-bucket", objects=3)
    make_bucket(cfn, "second-bucket", objects=3)
    created = cfn.create(empty_bucket, {"BucketName": "first-bucket"})

    updated = cfn.update(empty_bucket, created["PhysicalResourceId"], {"BucketName": "second-bucket"},
                         {"BucketName": "first-bucket"})
    assert updated["Status"] == "SUCCESS" and updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": "second-bucket"})

    assert versions("second-bucket") == 0 and versions("first-bucket") == 6


def test_objects_s3_refuses_to_delete_fail_the_delete_naming_them(cfn: Cfn, hooks: RecordingClients) -> None:
    make_bucket(cfn, objects=2)
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})
    hooks.answer("s3", "DeleteObjects", lambda params: {"Errors": [
        {"Key": "data/00001", "VersionId": "v1", "Code": "AccessDenied", "Message": "Access Denied"}]})

    deleted = cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": BUCKET})

    assert deleted["Status"] == "FAILED"
    assert "'data/00001' (version v1): AccessDenied: Access Denied" in deleted["Reason"]


def test_keys_with_transient_errors_are_deleted_on_another_pass(cfn: Cfn, hooks: RecordingClients) -> None:
    make_bucket(cfn, objects=2)
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})
    answered: list[int] = []

    def slow_down_once(params: dict[str, Any]) -> dict[str, Any] | None:
        if answered:
            return None
        answered.append(1)
        key = params["Delete"]["Objects"][0]
        return {"Errors": [{**key, "Code": "SlowDown", "Message": "Reduce your request rate"}]}

    hooks.answer("s3", "DeleteObjects", slow_down_once)
    deleted = cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": BUCKET})

    assert deleted["Status"] == "SUCCESS", deleted["Reason"]
    assert versions() == 0


@pytest.mark.parametrize(("properties", "message"), [
    ({"BucketName": "Bad_Bucket"}, "BucketName must be a string of 3 to 63 characters of lowercase letters"),
    ({"BucketName": BUCKET, "DeadlineMinutes": "90"}, "DeadlineMinutes must be an integer from 1 to 55, got 90"),
    ({}, "BucketName is required"),
])
def test_invalid_properties_fail_before_any_aws_call(cfn: Cfn, properties: dict[str, Any], message: str) -> None:
    assert message in cfn.refused(empty_bucket, properties)["Reason"]


def test_an_aws_error_mid_way_fails_the_delete_and_keeps_the_objects(cfn: Cfn, hooks: RecordingClients) -> None:
    make_bucket(cfn, objects=5)
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})
    hooks.fail("s3", "DeleteObjects", "AccessDenied", "Access Denied", times=None)

    deleted = cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": BUCKET})

    assert deleted["Status"] == "FAILED" and "AccessDenied: Access Denied" in deleted["Reason"]
    assert versions() == 10
    assert rules() == []


def test_delete_after_a_failed_create_changes_nothing(cfn: Cfn, hooks: RecordingClients) -> None:
    make_bucket(cfn, objects=2)
    failed = cfn.create(empty_bucket, {"BucketName": BUCKET, "DeadlineMinutes": "0"})
    assert failed["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)

    deleted = cfn.delete(empty_bucket, failed["PhysicalResourceId"], {"BucketName": BUCKET, "DeadlineMinutes": "0"})

    assert deleted["Status"] == "SUCCESS"
    assert versions() == 4 and not hooks.called("s3")


def test_delete_succeeds_when_the_bucket_is_already_gone(cfn: Cfn) -> None:
    make_bucket(cfn)
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})
    boto3.client("s3", region_name=REGION).delete_bucket(Bucket=BUCKET)

    deleted = cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": BUCKET})

    assert deleted["Status"] == "SUCCESS", deleted["Reason"]


def test_a_protected_bucket_is_never_emptied(cfn: Cfn) -> None:
    make_bucket(cfn, objects=3)
    created = cfn.create(empty_bucket, {"BucketName": BUCKET})
    boto3.client("s3", region_name=REGION).put_bucket_tagging(
        Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:protect", "Value": "true"}]})

    deleted = cfn.delete(empty_bucket, created["PhysicalResourceId"], {"BucketName": BUCKET})
    refused = cfn.create(empty_bucket, {"BucketName": BUCKET}, logical_id="Again")

    assert deleted["Status"] == "FAILED"
    assert deleted["Reason"] == f"bucket {BUCKET} is tagged caretaker:protect=true: Caretaker never changes it, " \
                                "so it will not empty it"
    assert refused["Status"] == "FAILED" and "caretaker:protect=true" in refused["Reason"]
    assert versions() == 6
