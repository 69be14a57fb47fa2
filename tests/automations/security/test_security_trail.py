"""templates/security_trail.py: the optional trail passes cfn-lint with no error and no warning."""

from __future__ import annotations

import json
from typing import Any

from troposphere import Template

from templates.security_trail import add_optional_trail


def rendered() -> dict[str, Any]:
    template = Template()
    add_optional_trail(template)
    document: dict[str, Any] = json.loads(template.to_json())
    return document


def test_an_empty_template_with_the_trail_lints_clean() -> None:
    from cfnlint.api import lint

    template = Template()
    add_optional_trail(template)

    findings = [f"{m.rule.id} {m.message}" for m in lint(template.to_yaml(long_form=True), regions=["us-east-1"])
                if m.rule.id.startswith(("E", "W"))]

    assert findings == []


def test_the_trail_exists_only_when_asked_for() -> None:
    document = rendered()

    assert document["Parameters"]["CreateTrail"]["Default"] == "false"
    assert document["Conditions"]["CreateTrailCondition"] == {"Fn::Equals": [{"Ref": "CreateTrail"}, "true"]}
    assert {r["Condition"] for r in document["Resources"].values()} == {"CreateTrailCondition"}


def test_the_trail_is_multi_region_and_its_bucket_encrypted_and_private() -> None:
    resources = rendered()["Resources"]
    trail = resources["CaretakerTrail"]["Properties"]
    bucket = resources["CaretakerTrailBucket"]["Properties"]

    assert trail["IsMultiRegionTrail"] is True and trail["IsLogging"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4


def test_the_bucket_policy_lets_only_this_trail_write() -> None:
    resources = rendered()["Resources"]
    statements = {s["Sid"]: s for s in resources["CaretakerTrailBucketPolicy"]["Properties"]["PolicyDocument"]
                  ["Statement"]}

    acl, write = statements["CloudTrailAclCheck"], statements["CloudTrailWrite"]
    assert acl["Action"] == "s3:GetBucketAcl" and write["Action"] == "s3:PutObject"
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    for statement in (acl, write):
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceArn"] == {
            "Fn::Sub": "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/"
                       "${AWS::StackName}-trail"}
    assert resources["CaretakerTrail"]["Properties"]["TrailName"] == {"Fn::Sub": "${AWS::StackName}-trail"}
    assert resources["CaretakerTrail"]["DependsOn"] == ["CaretakerTrailBucketPolicy"]


def test_the_trail_is_tagged_as_guarded_so_caretaker_restores_it() -> None:
    from automations.core.selection import GUARD_TRAIL_TAG

    trail = rendered()["Resources"]["CaretakerTrail"]["Properties"]

    assert trail["Tags"] == [{"Key": GUARD_TRAIL_TAG, "Value": "true"}]
    assert GUARD_TRAIL_TAG == "caretaker:guard-trail"
