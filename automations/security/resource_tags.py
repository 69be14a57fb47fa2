"""Reading and adding tags of new resources, one way per service, for `creator-tags`.

Each `Tagger` reads the current tags of the resources one create call made (`current`, which leaves
out the resources that no longer exist) and adds tags to them (`add`). Adding never removes or
replaces a tag the resource has: EC2, Lambda, RDS, DynamoDB and Elastic Load Balancing add the
keys given and keep the others; S3 replaces a bucket's whole tag set, so its tagger writes the set
it read with the new keys merged in (see docs/security-rules.md, creator-tags, for the window this
leaves). The IAM statements of `creator-tags` refuse a write over an existing `caretaker:created-by`
where the service supports `aws:ResourceTag` conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from automations.core.aws import ServiceName
from automations.core.errors import error_code
from automations.core.selection import tag_map

#: An EC2 id list per Describe call (the APIs take up to 1000; RunInstances launches at most 1000 at once)
EC2_BATCH = 200


@dataclass(frozen=True)
class Ec2Kind:
    """How to read one kind of EC2 resource: the Describe call, its id parameter and response list."""

    method: str
    id_param: str
    list_key: str
    id_key: str
    gone: tuple[str, ...]


EC2_KINDS: Mapping[str, Ec2Kind] = {
    "instance": Ec2Kind("describe_instances", "InstanceIds", "Reservations", "InstanceId",
                        ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")),
    "volume": Ec2Kind("describe_volumes", "VolumeIds", "Volumes", "VolumeId", ("InvalidVolume.NotFound",)),
    "snapshot": Ec2Kind("describe_snapshots", "SnapshotIds", "Snapshots", "SnapshotId",
                        ("InvalidSnapshot.NotFound",)),
    "security-group": Ec2Kind("describe_security_groups", "GroupIds", "SecurityGroups", "GroupId",
                              ("InvalidGroup.NotFound", "InvalidGroupId.NotFound")),
    "image": Ec2Kind("describe_images", "ImageIds", "Images", "ImageId", ("InvalidAMIID.NotFound",)),
    "launch-template": Ec2Kind("describe_launch_templates", "LaunchTemplateIds", "LaunchTemplates",
                               "LaunchTemplateId", ("InvalidLaunchTemplateId.NotFound",)),
    "elastic-ip": Ec2Kind("describe_addresses", "AllocationIds", "Addresses", "AllocationId",
                          ("InvalidAllocationID.NotFound",)),
    "natgateway": Ec2Kind("describe_nat_gateways", "NatGatewayIds", "NatGateways", "NatGatewayId",
                          ("NatGatewayNotFound", "InvalidNatGatewayID.NotFound")),
}


def describe_ec2(client: Any, kind: str, ids: Sequence[str]) -> list[Mapping[str, Any]]:
    """The EC2 resources of `kind` among `ids` that still exist, as their Describe call returns them."""
    spec = EC2_KINDS[kind]
    return [item for start in range(0, len(ids), EC2_BATCH)
            for item in _describe(client, spec, list(ids[start:start + EC2_BATCH]))]


def _describe(client: Any, spec: Ec2Kind, ids: list[str]) -> list[Mapping[str, Any]]:
    """One Describe call; one id that is gone makes EC2 refuse the whole call, so then one at a time."""
    try:
        response = getattr(client, spec.method)(**{spec.id_param: ids})
    except ClientError as exc:
        if error_code(exc) not in spec.gone:
            raise
        if len(ids) == 1:
            return []
        return [item for one in ids for item in _describe(client, spec, [one])]
    items = response.get(spec.list_key, [])
    if spec.list_key == "Reservations":
        items = [instance for reservation in items for instance in reservation.get("Instances", [])]
    return [item for item in items if str(item.get(spec.id_key)) in ids]


class Tagger(Protocol):
    """`current(client, kind, ids)`: {id: tags} of the resources that still exist; `add(...)` adds `tags`."""

    #: the boto3 client the tagger works with
    @property
    def client_name(self) -> ServiceName: ...

    def current(self, client: Any, kind: str, ids: Sequence[str]) -> dict[str, dict[str, str]]: ...

    def add(self, client: Any, kind: str, ids: Sequence[str], tags: Mapping[str, str]) -> dict[str, Any]: ...


class Ec2Tagger:
    client_name: ServiceName = "ec2"

    def current(self, client: Any, kind: str, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        spec = EC2_KINDS[kind]
        return {str(item[spec.id_key]): tag_map(item.get("Tags")) for item in describe_ec2(client, kind, ids)}

    def add(self, client: Any, kind: str, ids: Sequence[str], tags: Mapping[str, str]) -> dict[str, Any]:
        client.create_tags(Resources=list(ids), Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return {"tagged": list(ids)}


class S3Tagger:
    client_name: ServiceName = "s3"

    def current(self, client: Any, kind: str, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for bucket in ids:
            try:
                found[bucket] = tag_map(client.get_bucket_tagging(Bucket=bucket).get("TagSet"))
            except ClientError as exc:
                if error_code(exc) == "NoSuchTagSet":
                    found[bucket] = {}
                elif error_code(exc) != "NoSuchBucket":
                    raise
        return found

    def add(self, client: Any, kind: str, ids: Sequence[str], tags: Mapping[str, str]) -> dict[str, Any]:
        """PutBucketTagging replaces the set: re-read it right before, and keep every tag it holds."""
        for bucket in ids:
            now = self.current(client, kind, [bucket]).get(bucket)
            if now is None:
                continue
            merged = {**{k: v for k, v in tags.items() if k not in now}, **now}
            client.put_bucket_tagging(Bucket=bucket, Tagging={
                "TagSet": [{"Key": k, "Value": v} for k, v in sorted(merged.items())]})
        return {"tagged": list(ids)}


@dataclass(frozen=True)
class ArnTagger:
    """Services that tag by ARN with add-only calls: Lambda, RDS, DynamoDB, Elastic Load Balancing."""

    client_name: ServiceName
    list_method: str
    list_param: str
    list_key: str
    add_method: str
    add_param: str
    gone: tuple[str, ...]
    map_tags: bool = False  # Lambda takes and returns {key: value}; the others a list of Key/Value

    def current(self, client: Any, kind: str, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for arn in ids:
            try:
                response = getattr(client, self.list_method)(**{self.list_param: arn})
            except ClientError as exc:
                if error_code(exc) in self.gone:
                    continue
                raise
            tags = response.get(self.list_key)
            found[arn] = {str(k): str(v) for k, v in tags.items()} if self.map_tags else tag_map(tags)
        return found

    def add(self, client: Any, kind: str, ids: Sequence[str], tags: Mapping[str, str]) -> dict[str, Any]:
        body: Any = dict(tags) if self.map_tags else [{"Key": k, "Value": v} for k, v in tags.items()]
        for arn in ids:
            getattr(client, self.add_method)(**{self.add_param: arn, "Tags": body})
        return {"tagged": list(ids)}


class ElbTagger:
    """Elastic Load Balancing v2: DescribeTags and AddTags take up to 20 ARNs."""

    client_name: ServiceName = "elbv2"

    def current(self, client: Any, kind: str, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for arn in ids:
            try:
                descriptions = client.describe_tags(ResourceArns=[arn]).get("TagDescriptions", [])
            except ClientError as exc:
                if error_code(exc) == "LoadBalancerNotFound":
                    continue
                raise
            for description in descriptions:
                found[str(description["ResourceArn"])] = tag_map(description.get("Tags"))
        return found

    def add(self, client: Any, kind: str, ids: Sequence[str], tags: Mapping[str, str]) -> dict[str, Any]:
        client.add_tags(ResourceArns=list(ids), Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return {"tagged": list(ids)}


TAGGERS: Mapping[str, Tagger] = {
    "ec2": Ec2Tagger(),
    "s3": S3Tagger(),
    "lambda": ArnTagger("lambda", "list_tags", "Resource", "Tags", "tag_resource", "Resource",
                        ("ResourceNotFoundException",), map_tags=True),
    "rds": ArnTagger("rds", "list_tags_for_resource", "ResourceName", "TagList", "add_tags_to_resource",
                     "ResourceName", ("DBInstanceNotFound", "DBInstanceNotFoundFault")),
    "dynamodb": ArnTagger("dynamodb", "list_tags_of_resource", "ResourceArn", "Tags", "tag_resource", "ResourceArn",
                          ("ResourceNotFoundException",)),
    "elbv2": ElbTagger(),
}
