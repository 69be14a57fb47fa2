"""Quarantine security groups: one per VPC, no ingress and no egress, tagged, created once and reused.

Used by `instance-isolation` (isolate) and by `python -m automations restore-isolation` (put the
recorded groups back). A group is trusted as the quarantine group of its VPC only when it carries
`caretaker:quarantine-group=<vpc id>` **and** has no rule at all: anyone who may tag a group could tag
one that lets traffic through, and isolating into it would isolate nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code

#: On the quarantine group: the VPC it isolates in.
QUARANTINE_TAG = "caretaker:quarantine-group"
#: On an isolated instance: the finding that isolated it, and when.
ISOLATED_TAG = "caretaker:isolated-by-finding"
ISOLATED_AT_TAG = "caretaker:isolated-at"
#: On a forensic snapshot: the finding it was taken for, and the instance.
FORENSIC_FINDING_TAG = "caretaker:forensic-finding"
FORENSIC_INSTANCE_TAG = "caretaker:forensic-instance"


@dataclass(frozen=True)
class QuarantineGroups:
    """What a VPC holds: the trusted quarantine group (if any), and tagged groups refused for having rules."""

    trusted: str | None
    refused: tuple[str, ...]


def find_group(ec2: Any, vpc_id: str) -> QuarantineGroups:
    """The VPC's quarantine group: tagged for this VPC and without any ingress or egress rule."""
    trusted: list[str] = []
    refused: list[str] = []
    pages = ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": f"tag:{QUARANTINE_TAG}", "Values": [vpc_id]}])
    for page in pages:
        for group in page.get("SecurityGroups", []):
            empty = not group.get("IpPermissions") and not group.get("IpPermissionsEgress")
            (trusted if empty else refused).append(str(group["GroupId"]))
    return QuarantineGroups(min(trusted) if trusted else None, tuple(sorted(refused)))


def group_tags(vpc_id: str, automation: str) -> list[dict[str, str]]:
    return [{"Key": QUARANTINE_TAG, "Value": vpc_id}, {"Key": "caretaker:automation", "Value": automation},
            {"Key": "Name", "Value": f"caretaker-quarantine-{vpc_id}"}]


def create_group(ec2: Any, vpc_id: str, name: str, automation: str) -> str:
    """Create the VPC's quarantine group (tagged as it is created) and revoke the egress rule EC2 adds to
    every new group, so it allows nothing either way. A name already taken (by a group that is not a
    trusted quarantine group) gets a suffix."""
    tags = [{"ResourceType": "security-group", "Tags": group_tags(vpc_id, automation)}]
    description = "Caretaker quarantine: no inbound, no outbound traffic (instance-isolation)"
    group_id = ""
    for candidate in (f"{name}-{vpc_id}", f"{name}-{vpc_id}-2", f"{name}-{vpc_id}-3"):
        try:
            group_id = str(ec2.create_security_group(GroupName=candidate, Description=description, VpcId=vpc_id,
                                                     TagSpecifications=tags)["GroupId"])
            break
        except ClientError as exc:
            if error_code(exc) != "InvalidGroup.Duplicate":
                raise
    if not group_id:
        raise RuntimeError(f"no free quarantine group name {name}-{vpc_id}[-2|-3] in {vpc_id}")
    revoke_all_egress(ec2, group_id)
    return group_id


def revoke_all_egress(ec2: Any, group_id: str) -> None:
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    egress = group.get("IpPermissionsEgress") or []
    if egress:
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=egress)


def replace_groups(ec2: Any, interface_id: str, groups: Sequence[str]) -> None:
    """Set exactly `groups` on the interface (EC2 replaces the interface's whole list)."""
    ec2.modify_network_interface_attribute(NetworkInterfaceId=interface_id, Groups=list(groups))


def interfaces_of(instance: Mapping[str, Any]) -> dict[str, list[str]]:
    """Network interface id -> its security group ids, as DescribeInstances reports them."""
    return {str(eni["NetworkInterfaceId"]): [str(g["GroupId"]) for g in eni.get("Groups", [])]
            for eni in instance.get("NetworkInterfaces", []) if eni.get("NetworkInterfaceId")}
