"""An optional multi-region CloudTrail trail for the security stack.

The security rules see management events only where a trail is logging: CloudTrail is
what hands them to EventBridge. An account that has no trail sets `CreateTrail=true`
and gets one here: multi-region, log file validation on, writing to its own bucket
(SSE-S3, Block Public Access, TLS only, versioned) with the bucket policy CloudTrail needs.
The trail carries `caretaker:guard-trail=true`: cloudtrail-tampering records its configuration and
restores it when weakened, or re-creates it when deleted.
"""

from __future__ import annotations

from troposphere import Equals, GetAtt, Output, Parameter, Ref, Sub, Tags, Template
from troposphere.cloudtrail import Trail
from troposphere.s3 import (
    Bucket,
    BucketEncryption,
    BucketPolicy,
    OwnershipControls,
    OwnershipControlsRule,
    PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
    VersioningConfiguration,
)

from automations.core.selection import GUARD_TRAIL_TAG

CREATE_TRAIL_PARAMETER = "CreateTrail"
CREATE_TRAIL_CONDITION = "CreateTrailCondition"
TRAIL_NAME = "${AWS::StackName}-trail"
TRAIL_ARN = "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/" + TRAIL_NAME


def _bucket() -> Bucket:
    return Bucket(
        "CaretakerTrailBucket",
        Condition=CREATE_TRAIL_CONDITION,
        DeletionPolicy="Retain",  # audit logs outlive the stack
        UpdateReplacePolicy="Retain",
        BucketEncryption=BucketEncryption(ServerSideEncryptionConfiguration=[
            ServerSideEncryptionRule(ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(
                SSEAlgorithm="AES256")),
        ]),
        PublicAccessBlockConfiguration=PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True),
        OwnershipControls=OwnershipControls(Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
    )


def _bucket_policy(bucket: Bucket) -> BucketPolicy:
    """GetBucketAcl and PutObject for CloudTrail, only on behalf of this trail (aws:SourceArn); TLS only."""
    source = {"aws:SourceArn": Sub(TRAIL_ARN)}
    return BucketPolicy(
        "CaretakerTrailBucketPolicy",
        Condition=CREATE_TRAIL_CONDITION,
        Bucket=Ref(bucket),
        PolicyDocument={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:GetBucketAcl",
                    "Resource": GetAtt(bucket, "Arn"),
                    "Condition": {"StringEquals": source},
                },
                {
                    "Sid": "CloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": Sub("${Arn}/AWSLogs/${AWS::AccountId}/*", Arn=GetAtt(bucket, "Arn")),
                    "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}},
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [GetAtt(bucket, "Arn"), Sub("${Arn}/*", Arn=GetAtt(bucket, "Arn"))],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
    )


def add_optional_trail(template: Template) -> None:
    """Add the `CreateTrail` parameter (default "false") and, under its condition, the trail and its bucket."""
    parameter = template.add_parameter(Parameter(
        CREATE_TRAIL_PARAMETER,
        Type="String",
        Default="false",
        AllowedValues=["true", "false"],
        Description="true = create a multi-region CloudTrail trail (management events reach EventBridge only "
                    "where a trail is logging); false = the account already has one.",
    ))
    template.add_condition(CREATE_TRAIL_CONDITION, Equals(Ref(parameter), "true"))
    bucket = template.add_resource(_bucket())
    policy = template.add_resource(_bucket_policy(bucket))
    trail = template.add_resource(Trail(
        "CaretakerTrail",
        Condition=CREATE_TRAIL_CONDITION,
        DependsOn=[policy],
        TrailName=Sub(TRAIL_NAME),
        S3BucketName=Ref(bucket),
        IsLogging=True,
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
        # what makes it a trail Caretaker guards: its configuration is recorded, restored and re-created
        Tags=Tags({GUARD_TRAIL_TAG: "true"}),
    ))
    template.add_output(Output(
        "CaretakerTrailArn",
        Condition=CREATE_TRAIL_CONDITION,
        Description="The trail Caretaker created",
        Value=GetAtt(trail, "Arn"),
    ))
