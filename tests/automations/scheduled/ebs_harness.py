"""Helpers of the ebs-snapshots tests: volumes and instances on moto, Caretaker's snapshots, runs of the handler
and their state-log records."""

from __future__ import annotations

from typing import Any

import boto3

from automations.core.ledger import run_items
from automations.scheduled.ebs_snapshots import handler
from tests.automations.conftest import REGION, Clock, LambdaContext, scheduled_event
from tests.recording import RecordingClients

BACKUP = {"caretaker:backup": "true"}


def ec2(region: str = REGION) -> Any:
    return boto3.client("ec2", region_name=region)


def volume(tags: dict[str, str] | None = None, size: int = 8) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    return str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=size, TagSpecifications=spec)["VolumeId"])


def backup_volumes(n: int) -> list[str]:
    """`n` volumes tagged for backup (one client for all), sorted by id: the order work is chunked in."""
    client, spec = ec2(), [{"ResourceType": "volume", "Tags": [{"Key": "caretaker:backup", "Value": "true"}]}]
    return sorted(client.create_volume(AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=spec)["VolumeId"]
                  for _ in range(n))


def tag(resource_id: str, tags: dict[str, str]) -> None:
    ec2().create_tags(Resources=[resource_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def our_snapshots(region: str = REGION) -> list[dict[str, Any]]:
    return ec2(region).describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:caretaker:automation", "Values": ["ebs-snapshots"]}])["Snapshots"]


def tags_of(snapshot: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}


def run(clock: Clock, context: LambdaContext, clients: RecordingClients | None = None, **env: str) -> dict[str, Any]:
    import os

    environ = {**os.environ, **{f"CARETAKER_{k.upper()}": v for k, v in env.items()}}
    return handler.invoke(scheduled_event(), context, environ=environ, clients=clients or RecordingClients(),
                          clock=clock)


def items(table: str, run_id: str) -> list[dict[str, Any]]:
    return [i for i in run_items(boto3.client("dynamodb"), table, run_id) if i["type"] == "action"]


def summary(table: str, run_id: str) -> dict[str, Any]:
    return next(i for i in run_items(boto3.client("dynamodb"), table, run_id) if i["type"] == "run")


def instance_with_volumes(data_volumes: int) -> tuple[str, str, list[str]]:
    """An instance with its root volume and n attached data volumes: (instance, root, data)."""
    client = ec2()
    image_id = client.register_image(Name="base", RootDeviceName="/dev/sda1")["ImageId"]
    instance = client.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                    Placement={"AvailabilityZone": f"{REGION}a"})["Instances"][0]
    instance_id = instance["InstanceId"]
    root = client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    data = []
    for n in range(data_volumes):
        vol = volume()
        client.attach_volume(VolumeId=vol, InstanceId=instance_id, Device=f"/dev/sd{'fghij'[n]}")
        data.append(vol)
    return instance_id, root, data
