"""What `backup-coverage` reads: the resources that must be backed up, and the recovery points each has.

Per family, one listing of the resources (with their tags) and one of the recovery points the family's own API
shows, keyed by the resource AWS records on each (never by a tag a developer can write, so a snapshot of one
volume tagged as another's does not cover the other):

- `ebs` (DescribeVolumes): completed snapshots of the volume made by `ebs-snapshots` (its tag), by DLM
  (`aws:dlm:lifecycle-policy-id`) or by AWS Backup (`aws:backup:source-resource`);
- `rds` (DescribeDBInstances but cluster members, DescribeDBClusters): available snapshots of `rds-snapshots`
  (named caretaker-*, its tag) and of AWS Backup (type `awsbackup`);
- `dynamodb` (ListTables, DescribeTable, ListTagsOfResource): available backups of `dynamodb-backups` (type USER,
  named caretaker-*) and of AWS Backup (type AWS_BACKUP);
- `efs` (DescribeFileSystems): none of its own, AWS Backup only.

AWS Backup's recovery points (`ListRecoveryPointsByResource`, completed ones) are asked for per resource, and
only for a resource the family's listing leaves uncovered (one call per such resource, not per resource).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.selection import AUTOMATION_TAG, tag_map
from automations.scheduled import dynamodb_backups, ebs_snapshots, rds_snapshots

DLM_TAG = "aws:dlm:lifecycle-policy-id"
AWS_BACKUP_TAG = "aws:backup:source-resource"
FAMILIES = ("ebs", "rds", "dynamodb", "efs")


@dataclass(frozen=True)
class Resource:
    family: str
    resource_type: str  # "ebs-volume", "rds-instance", "rds-cluster", "dynamodb-table", "efs-file-system"
    resource_id: str  # the id the state log records: the volume id, else the ARN
    arn: str
    tags: dict[str, str]


@dataclass(frozen=True)
class RecoveryPoint:
    created: datetime
    source: str  # "caretaker", "dlm", "aws-backup"
    point_id: str


@dataclass
class Inventory:
    """One family's resources and the newest recovery point of each (by the resource id)."""

    resources: list[Resource]
    newest: dict[str, RecoveryPoint]
    #: why the family's own recovery points could not be read ("" when they could)
    points_error: str = ""


def _pages(client: Any, operation: str, listed: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(listed, [])


def _keep_newest(newest: dict[str, RecoveryPoint], key: str, point: RecoveryPoint) -> None:
    if key and (key not in newest or point.created > newest[key].created):
        newest[key] = point


def _read_points(inventory: Inventory, read: Callable[[], None]) -> Inventory:
    try:
        read()
    except (ClientError, BotoCoreError) as exc:
        inventory.points_error = str(exc)
    return inventory


# ---------------------------------------------------------------------- EBS


def ebs(ec2: Any, wanted: Callable[[dict[str, str]], bool], tag_keys: list[str], arn_prefix: str) -> Inventory:
    resources = [Resource("ebs", "ebs-volume", v["VolumeId"], f"{arn_prefix}:volume/{v['VolumeId']}",
                          tag_map(v.get("Tags")))
                 for v in _pages(ec2, "describe_volumes", "Volumes", Filters=[{"Name": "tag-key", "Values": tag_keys}])]
    inventory = Inventory([r for r in resources if wanted(r.tags)], {})

    def read() -> None:
        for snapshot in _pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"]):
            if snapshot.get("State") != "completed":
                continue
            tags = tag_map(snapshot.get("Tags"))
            source = ("caretaker" if tags.get(AUTOMATION_TAG) == ebs_snapshots.NAME else "dlm" if DLM_TAG in tags
                      else "aws-backup" if AWS_BACKUP_TAG in tags else "")
            if source:
                _keep_newest(inventory.newest, str(snapshot.get("VolumeId", "")),
                             RecoveryPoint(snapshot["StartTime"], source, snapshot["SnapshotId"]))

    return _read_points(inventory, read)


# ---------------------------------------------------------------------- RDS


def rds(client: Any, wanted: Callable[[dict[str, str]], bool]) -> Inventory:
    resources: list[Resource] = []
    for raw in _pages(client, "describe_db_instances", "DBInstances"):
        if not raw.get("DBClusterIdentifier"):
            resources.append(Resource("rds", "rds-instance", raw["DBInstanceArn"], raw["DBInstanceArn"],
                                      tag_map(raw.get("TagList"))))
    for raw in _pages(client, "describe_db_clusters", "DBClusters"):
        resources.append(Resource("rds", "rds-cluster", raw["DBClusterArn"], raw["DBClusterArn"],
                                  tag_map(raw.get("TagList"))))
    inventory = Inventory([r for r in resources if wanted(r.tags)], {})
    by_name = {(r.resource_type, r.arn.rsplit(":", 1)[1]): r.resource_id for r in inventory.resources}

    def read() -> None:
        for kind, resource_type in ((rds_snapshots.INSTANCE, "rds-instance"), (rds_snapshots.CLUSTER, "rds-cluster")):
            for raw in _pages(client, kind.describe, kind.listed):
                if raw.get("Status") != "available" or not raw.get("SnapshotCreateTime"):
                    continue
                snapshot_type, name = str(raw.get("SnapshotType", "")), str(raw[kind.snapshot_id])
                tags = tag_map(raw.get("TagList"))
                source = ("aws-backup" if snapshot_type == "awsbackup" else "caretaker"
                          if snapshot_type == "manual" and name.startswith(rds_snapshots.PREFIX)
                          and tags.get(AUTOMATION_TAG) == rds_snapshots.NAME else "")
                resource_id = by_name.get((resource_type, str(raw.get(kind.source_id, ""))))
                if source and resource_id:
                    _keep_newest(inventory.newest, resource_id,
                                 RecoveryPoint(raw["SnapshotCreateTime"], source, raw[kind.snapshot_arn]))

    return _read_points(inventory, read)


# ---------------------------------------------------------------------- DynamoDB


def dynamodb(client: Any, wanted: Callable[[dict[str, str]], bool], failed: Callable[[str, str], None]) -> Inventory:
    resources: list[Resource] = []
    for name in _pages(client, "list_tables", "TableNames"):
        try:
            table = dynamodb_backups.describe_tagged(client, name)
        except (ClientError, BotoCoreError) as exc:
            failed(name, f"the table's tags could not be read: {exc}")
            continue
        if table is not None:
            resources.append(Resource("dynamodb", "dynamodb-table", table.arn, table.arn, table.tags))
    inventory = Inventory([r for r in resources if wanted(r.tags)], {})

    def read() -> None:
        for raw in _pages(client, "list_backups", "BackupSummaries", BackupType="ALL"):
            if raw.get("BackupStatus") != "AVAILABLE":
                continue
            backup_type, name = str(raw.get("BackupType", "")), str(raw.get("BackupName", ""))
            source = ("aws-backup" if backup_type == "AWS_BACKUP" else "caretaker"
                      if backup_type == "USER" and name.startswith(dynamodb_backups.PREFIX) else "")
            if source:
                _keep_newest(inventory.newest, str(raw.get("TableArn", "")),
                             RecoveryPoint(raw["BackupCreationDateTime"], source, raw["BackupArn"]))

    return _read_points(inventory, read)


# ---------------------------------------------------------------------- EFS


def efs(client: Any, wanted: Callable[[dict[str, str]], bool]) -> Inventory:
    resources = [Resource("efs", "efs-file-system", raw["FileSystemArn"], raw["FileSystemArn"],
                          tag_map(raw.get("Tags")))
                 for raw in _pages(client, "describe_file_systems", "FileSystems")]
    return Inventory([r for r in resources if wanted(r.tags)], {})


# ---------------------------------------------------------------------- AWS Backup


def aws_backup_newest(backup: Any, arn: str) -> RecoveryPoint | None:
    """The newest completed AWS Backup recovery point of the resource, or None."""
    newest: dict[str, RecoveryPoint] = {}
    for raw in _pages(backup, "list_recovery_points_by_resource", "RecoveryPoints", ResourceArn=arn):
        if raw.get("Status") == "COMPLETED" and raw.get("CreationDate"):
            _keep_newest(newest, arn, RecoveryPoint(raw["CreationDate"], "aws-backup", str(raw["RecoveryPointArn"])))
    return newest.get(arn)
