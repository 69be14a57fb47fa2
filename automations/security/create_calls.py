"""The create calls `creator-tags` answers: for each, where CloudTrail records the new resources' ids.

One `CreateCall` per CloudTrail event name: the service that tags the result (`resource_tags.TAGGERS`),
the kind of resource, and `find(event)`, the ids from `responseElements` (or, for S3's CreateBucket,
which returns nothing, the bucket name from `requestParameters`). The trigger pattern, the IAM
statements and the docs table are derived from `CREATE_CALLS`; nobody lists the calls twice.
EC2's newer APIs wrap their response in `<Operation>Response` (CloudTrail records the XML response
as it is), older ones do not: both shapes are read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from automations.security.errors import BadEventError
from automations.security.findings import CloudTrailEvent


def items(value: Any) -> list[Mapping[str, Any]]:
    """CloudTrail's EC2 lists: `{"items": [...]}` or a bare list; anything else is empty."""
    if isinstance(value, Mapping):
        value = value.get("items")
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def response_of(event: CloudTrailEvent) -> Mapping[str, Any]:
    """`responseElements`, unwrapped from `<eventName>Response` when EC2 recorded it so."""
    wrapped = event.response.get(f"{event.name}Response")
    return wrapped if isinstance(wrapped, Mapping) else event.response


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value else ""


def field_at(*path: str) -> Callable[[CloudTrailEvent], list[str]]:
    """The one id at `path` of the (unwrapped) response."""

    def find(event: CloudTrailEvent) -> list[str]:
        value: Any = response_of(event)
        for step in path:
            value = value.get(step) if isinstance(value, Mapping) else None
        return [_text(value)] if _text(value) else []

    return find


def each_of(list_path: str, key: str) -> Callable[[CloudTrailEvent], list[str]]:
    """The id `key` of every entry of the list at `list_path`."""

    def find(event: CloudTrailEvent) -> list[str]:
        return [_text(entry.get(key)) for entry in items(response_of(event).get(list_path)) if _text(entry.get(key))]

    return find


def bucket_name(event: CloudTrailEvent) -> list[str]:
    name = event.request.get("bucketName")
    return [name] if isinstance(name, str) and name else []


def load_balancers(event: CloudTrailEvent) -> list[str]:
    """Elastic Load Balancing v2 returns the ARNs; a Classic Load Balancer (same event name, API 2012-06-01)
    has none, and is not tagged."""
    return each_of("loadBalancers", "loadBalancerArn")(event)


@dataclass(frozen=True)
class CreateCall:
    name: str  # CloudTrail eventName
    source: str  # EventBridge source, e.g. "aws.ec2"
    event_source: str  # detail.eventSource
    service: str  # the tagger (resource_tags.TAGGERS) and boto3 client
    kind: str  # what is created, e.g. "instance" (for EC2, also how it is read: resource_tags.EC2_KINDS)
    find: Callable[[CloudTrailEvent], list[str]]
    where: str  # where `find` looks, for the docs and error messages

    def resource_ids(self, event: CloudTrailEvent) -> list[str]:
        """The new resources' ids, or `BadEventError` saying where they were looked for."""
        found = list(dict.fromkeys(self.find(event)))  # unique, in the event's order
        if not found:
            raise BadEventError(f"{self.name}: no {self.kind} id at {self.where}")
        return found


_EC2 = ("aws.ec2", "ec2.amazonaws.com", "ec2")

CREATE_CALLS: tuple[CreateCall, ...] = (
    CreateCall("RunInstances", *_EC2, "instance", each_of("instancesSet", "instanceId"),
               "responseElements.instancesSet.items[].instanceId"),
    CreateCall("CreateVolume", *_EC2, "volume", field_at("volumeId"), "responseElements.volumeId"),
    CreateCall("CreateSnapshot", *_EC2, "snapshot", field_at("snapshotId"), "responseElements.snapshotId"),
    CreateCall("CreateSnapshots", *_EC2, "snapshot", each_of("snapshotSet", "snapshotId"),
               "responseElements.snapshotSet.items[].snapshotId"),
    CreateCall("CreateSecurityGroup", *_EC2, "security-group", field_at("groupId"), "responseElements.groupId"),
    CreateCall("CreateImage", *_EC2, "image", field_at("imageId"), "responseElements.imageId"),
    CreateCall("CreateLaunchTemplate", *_EC2, "launch-template", field_at("launchTemplate", "launchTemplateId"),
               "responseElements.CreateLaunchTemplateResponse.launchTemplate.launchTemplateId"),
    CreateCall("AllocateAddress", *_EC2, "elastic-ip", field_at("allocationId"), "responseElements.allocationId"),
    CreateCall("CreateNatGateway", *_EC2, "natgateway", field_at("natGateway", "natGatewayId"),
               "responseElements.CreateNatGatewayResponse.natGateway.natGatewayId"),
    CreateCall("CreateBucket", "aws.s3", "s3.amazonaws.com", "s3", "bucket", bucket_name,
               "requestParameters.bucketName"),
    CreateCall("CreateFunction20150331", "aws.lambda", "lambda.amazonaws.com", "lambda", "function",
               field_at("functionArn"), "responseElements.functionArn"),
    CreateCall("CreateDBInstance", "aws.rds", "rds.amazonaws.com", "rds", "db-instance", field_at("dBInstanceArn"),
               "responseElements.dBInstanceArn"),
    CreateCall("CreateTable", "aws.dynamodb", "dynamodb.amazonaws.com", "dynamodb", "table",
               field_at("tableDescription", "tableArn"), "responseElements.tableDescription.tableArn"),
    CreateCall("CreateLoadBalancer", "aws.elasticloadbalancing", "elasticloadbalancing.amazonaws.com", "elbv2",
               "load-balancer", load_balancers, "responseElements.loadBalancers[].loadBalancerArn"),
)

BY_EVENT: Mapping[tuple[str, str], CreateCall] = {(c.event_source, c.name): c for c in CREATE_CALLS}


def create_call(event: CloudTrailEvent) -> CreateCall | None:
    """The declared call the event records, or None (a lookalike: another service's call of the same name)."""
    return BY_EVENT.get((event.event_source, event.name))


def pattern() -> dict[str, Any]:
    """The EventBridge pattern of every declared call: one `$or` branch per service, so a name matches only
    with its own event source (CreateBucket from S3, never from EC2)."""
    branches: dict[tuple[str, str], list[str]] = {}
    for call in CREATE_CALLS:
        branches.setdefault((call.source, call.event_source), []).append(call.name)
    return {
        "source": sorted({source for source, _ in branches}),
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "errorCode": [{"exists": False}],
            "$or": [{"eventSource": [event_source], "eventName": sorted(names)}
                    for (_, event_source), names in sorted(branches.items())],
        },
    }
