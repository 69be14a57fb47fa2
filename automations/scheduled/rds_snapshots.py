"""Scheduled manual snapshots of tagged RDS instances and Aurora clusters, with retention and cross-region copies.

The same backup tag, retention and copy settings as `ebs-snapshots` (`backup_settings`), the same retention
engine (`retention.decide` through `backup_phase.prune_phase`). A snapshot counts as this automation's when it is
a manual snapshot named `caretaker-...` that carries `caretaker:automation=rds-snapshots` (and the IAM policy
lets it delete only such snapshots); retention groups snapshots by the instance or cluster AWS records on them,
never by a tag, so a forged tag cannot make it delete another database's snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automations.core.errors import delete_or_gone
from automations.core.executor import Act
from automations.core.registry import register
from automations.core.runtime import Run, entrypoint
from automations.core.selection import AUTOMATION_TAG, RUN_ID_TAG, copyable_tags, is_protected, tag_map
from automations.core.spec import MAX_CONCURRENCY, FunctionSpec, Permission, Rate
from automations.scheduled import backup_phase
from automations.scheduled.backup_settings import (
    BACKUP_TAG_SETTINGS,
    COPY_SETTINGS,
    MIN_BACKUP_INTERVAL,
    RETENTION_SETTINGS,
    SOURCE_REGION_TAG,
    copy_target,
    retention_policy,
    selection_reason,
)

NAME = "rds-snapshots"
#: Every snapshot this automation makes (and copies) is named `caretaker-<db or cluster id>-<UTC time>`.
PREFIX = "caretaker-"
_RDS = "arn:${AWS::Partition}:rds:*:${AWS::AccountId}"
_OWN_SNAPSHOTS = (f"{_RDS}:snapshot:{PREFIX}*", f"{_RDS}:cluster-snapshot:{PREFIX}*")
_OURS = {"StringEquals": {f"aws:ResourceTag/{AUTOMATION_TAG}": NAME}}
_TAGGED_AS_OURS = {"StringEquals": {f"aws:RequestTag/{AUTOMATION_TAG}": NAME}}

SPEC = register(FunctionSpec(
    name=NAME,
    description="Snapshots tagged RDS instances and Aurora clusters and prunes the snapshots it made past retention.",
    trigger=Rate(1, "day"),
    default_mode="enforce",  # taking snapshots only adds protection; pruning touches only its own
    timeout=900,
    memory=512,
    continues=True,
    permissions=(
        Permission(("rds:DescribeDBInstances",), (f"{_RDS}:db:*",), why="selection (tags are in the response)"),
        Permission(("rds:DescribeDBClusters",), (f"{_RDS}:cluster:*",), why="selection"),
        Permission(("rds:DescribeDBSnapshots",), (f"{_RDS}:db:*", f"{_RDS}:snapshot:*"),
                   why="its own snapshots, in both regions"),
        Permission(("rds:DescribeDBClusterSnapshots",), (f"{_RDS}:cluster:*", f"{_RDS}:cluster-snapshot:*"),
                   why="its own cluster snapshots, in both regions"),
        Permission(("rds:CreateDBSnapshot", "rds:CreateDBClusterSnapshot"),
                   (f"{_RDS}:db:*", f"{_RDS}:cluster:*", *_OWN_SNAPSHOTS),
                   why="snapshots named caretaker-* only"),
        Permission(("rds:AddTagsToResource",), _OWN_SNAPSHOTS, condition=_TAGGED_AS_OURS,
                   why="tag its snapshots while creating or copying them, as its own"),
        Permission(("rds:CopyDBSnapshot", "rds:CopyDBClusterSnapshot"), _OWN_SNAPSHOTS,
                   why="copy its own snapshots to copy_region"),
        Permission(("rds:DeleteDBSnapshot", "rds:DeleteDBClusterSnapshot"), _OWN_SNAPSHOTS, condition=_OURS,
                   why="only snapshots this automation made"),
        Permission(("kms:DescribeKey", "kms:CreateGrant"), ("arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*",),
                   condition={"StringLike": {"kms:ViaService": "rds.*.amazonaws.com"}},
                   why="copy encrypted snapshots under copy_kms_key_id (a setting), only through RDS"),
    ),
    settings=(*BACKUP_TAG_SETTINGS, *RETENTION_SETTINGS, *COPY_SETTINGS, MIN_BACKUP_INTERVAL, MAX_CONCURRENCY),
))

SOURCE_SNAPSHOT_TAG = "caretaker:source-snapshot"
_GONE = ("DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault")
_READY = ("available",)
_SNAPSHOTTABLE = ("available", "stopped")

#: The phases of a run, in order; a run that continues resumes inside one and skips those done.
PHASES = ("snapshot", "prune", "copy", "prune-copies")


@dataclass(frozen=True)
class Kind:
    """An RDS instance or an Aurora cluster: the names its API calls and fields go by."""

    name: str  # "instance" | "cluster"
    snapshot_id: str  # the snapshot's identifier field
    source_id: str  # the snapshot's instance/cluster identifier field
    snapshot_arn: str
    describe: str  # paginator of the snapshots
    listed: str  # the response's list
    create: str
    copy: str
    delete: str
    result: str  # the snapshot in a create/copy response

    def arn_of(self, response: Mapping[str, Any]) -> str:
        return str(response.get(self.result, {}).get(self.snapshot_arn, ""))


INSTANCE = Kind("instance", "DBSnapshotIdentifier", "DBInstanceIdentifier", "DBSnapshotArn",
                "describe_db_snapshots", "DBSnapshots", "create_db_snapshot", "copy_db_snapshot", "delete_db_snapshot",
                "DBSnapshot")
CLUSTER = Kind("cluster", "DBClusterSnapshotIdentifier", "DBClusterIdentifier", "DBClusterSnapshotArn",
               "describe_db_cluster_snapshots", "DBClusterSnapshots", "create_db_cluster_snapshot",
               "copy_db_cluster_snapshot", "delete_db_cluster_snapshot", "DBClusterSnapshot")
KINDS = (INSTANCE, CLUSTER)


@dataclass(frozen=True)
class Database:
    kind: Kind
    identifier: str
    arn: str
    tags: dict[str, str]
    skip: str  # why it is not snapshotted ("" = snapshot it)


@dataclass(frozen=True)
class Snapshot:
    kind: Kind
    identifier: str
    arn: str
    source: str  # the instance/cluster identifier AWS records on it
    created: datetime | None
    status: str
    encrypted: bool
    tags: dict[str, str]
    snapshot_type: str

    @property
    def ours(self) -> bool:
        return self.tags.get(AUTOMATION_TAG) == NAME

    def not_ours(self) -> str:
        """Why a snapshot carrying this automation's tag is still not one it made ("" when it is)."""
        if self.snapshot_type != "manual" or self.identifier.startswith("awsbackup:"):
            return f"managed by {'AWS Backup' if 'backup' in self.snapshot_type + self.identifier else 'RDS'} " \
                   f"(snapshot type {self.snapshot_type!r}): never deleted by {NAME}"
        if not self.identifier.startswith(PREFIX):
            return f"tagged {AUTOMATION_TAG}={NAME} but not named {PREFIX}*: not made by {NAME}"
        return ""


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot the tagged databases, prune by retention, then copy and prune the copies."""
    now = run.clock()
    rds = run.clients("rds")
    created = 0
    if not run.phase_done("snapshot"):
        created = take_snapshots(run, rds, select_databases(run, rds), now)
    deleted = prune(run, rds, now, phase="prune")
    copied = copies_deleted = 0
    target = copy_target(run.settings, run.clients.region)
    if target:
        target_rds = run.clients("rds", target)
        copied = copy_snapshots(run, rds, target_rds, target, now)
        copies_deleted = prune(run, target_rds, now, phase="prune-copies")
    return {"snapshots_created": created, "snapshots_deleted": deleted, "snapshots_copied": copied,
            "copies_deleted": copies_deleted}


# ---------------------------------------------------------------------- selection


def select_databases(run: Run, rds: Any) -> list[Database]:
    """Instances (not members of a cluster: the cluster snapshot covers them) and clusters with the backup tag."""
    found: list[Database] = []
    for raw in _pages(rds, "describe_db_instances", "DBInstances"):
        if raw.get("DBClusterIdentifier"):
            continue
        found += _database(run, INSTANCE, raw["DBInstanceIdentifier"], raw["DBInstanceArn"], raw.get("TagList"),
                           str(raw.get("DBInstanceStatus", "")))
    for raw in _pages(rds, "describe_db_clusters", "DBClusters"):
        found += _database(run, CLUSTER, raw["DBClusterIdentifier"], raw["DBClusterArn"], raw.get("TagList"),
                           str(raw.get("Status", "")))
    return found


def _database(run: Run, kind: Kind, identifier: str, arn: str, raw_tags: Any, status: str) -> list[Database]:
    tags = tag_map(raw_tags)
    why = selection_reason(run.settings, tags)
    if why is None:
        return []
    if not why and status not in _SNAPSHOTTABLE:
        why = f"{kind.name} status is {status!r}"
    return [Database(kind, identifier, arn, tags, why)]


def _pages(rds: Any, operation: str, listed: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [item for page in rds.get_paginator(operation).paginate(**kwargs) for item in page.get(listed, [])]


def list_snapshots(rds: Any) -> list[Snapshot]:
    """Every manual snapshot of the region that carries this automation's tag (AWS Backup's included: they
    are refused later, with a reason)."""
    found: list[Snapshot] = []
    for kind in KINDS:
        for raw in _pages(rds, kind.describe, kind.listed):
            snapshot = Snapshot(kind, raw[kind.snapshot_id], raw[kind.snapshot_arn], str(raw.get(kind.source_id, "")),
                                raw.get("SnapshotCreateTime"), str(raw.get("Status", "")),
                                bool(raw.get("Encrypted", raw.get("StorageEncrypted", False))),
                                tag_map(raw.get("TagList")), str(raw.get("SnapshotType", "")))
            if snapshot.ours:
                found.append(snapshot)
    return found


# ---------------------------------------------------------------------- creation


def _tags(run: Run, now: datetime, source: Mapping[str, str], extra: Mapping[str, str] | None = None
          ) -> list[dict[str, str]]:
    tags = {**copyable_tags(source), **backup_phase.backup_tags(run, now, NAME), **(extra or {})}
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def snapshot_name(source: str, now: datetime) -> str:
    return f"{PREFIX}{source}-{now:%Y%m%d%H%M%S}"


def take_snapshots(run: Run, rds: Any, databases: list[Database], now: datetime) -> int:
    """One work item per database (its ARN): skipped with the reason, or one Create*Snapshot call."""
    since = backup_phase.interval_start(run.settings, now)
    mine = list_snapshots(rds) if since is not None or run.resuming("snapshot") else []
    recent = {(s.kind.name, s.source): s for s in mine
              if since is not None and not s.not_ours() and s.created and s.created >= since}
    done = {(s.kind.name, s.source) for s in mine if s.tags.get(RUN_ID_TAG) == run.run_id}

    def one(db: Database) -> Act[Any] | None:
        if db.skip:
            run.skip(db.arn, "create-snapshot", db.skip)
            return None
        if (db.kind.name, db.identifier) in done:
            run.log.info("already snapshotted in this run", extra={"resource_id": db.arn})
            return None
        last = recent.get((db.kind.name, db.identifier))
        if last is not None and last.created is not None:
            run.skip(db.arn, "create-snapshot", backup_phase.too_recent("snapshotted", last.created, last.identifier))
            return None
        return _create_act(run, rds, db, now)

    return len(backup_phase.act_phase(run, "snapshot", "create-snapshot", databases, lambda d: d.arn, one))


def _create_act(run: Run, rds: Any, db: Database, now: datetime) -> Act[Any]:
    name = snapshot_name(db.identifier, now)
    kind = db.kind
    source_arg = "DBInstanceIdentifier" if kind is INSTANCE else "DBClusterIdentifier"
    args = {source_arg: db.identifier, kind.snapshot_id: name, "Tags": _tags(run, now, db.tags)}
    return Act.one(db.arn, f"tagged {run.settings['backup_tag_key']}; {kind.name} snapshot",
                   lambda: getattr(rds, kind.create)(**args), details={"snapshot": name},
                   result_details=lambda r: {"snapshot_arn": kind.arn_of(r)})


# ---------------------------------------------------------------------- pruning


def prune(run: Run, rds: Any, now: datetime, *, phase: str) -> int:
    """Retention over this automation's snapshots, per instance or cluster (as AWS records it on them)."""
    if run.phase_done(phase):
        return 0
    by_arn: dict[str, Snapshot] = {}
    candidates: list[backup_phase.Candidate] = []
    for snapshot in list_snapshots(rds):
        by_arn[snapshot.arn] = snapshot
        skip = snapshot.not_ours() or ("protected: tagged caretaker:protect=true" if is_protected(snapshot.tags)
                                       else "")
        candidates.append(backup_phase.Candidate(snapshot.arn, f"{snapshot.kind.name} {snapshot.source}",
                                                 snapshot.created or now, skip, ready=snapshot.status in _READY))
    return backup_phase.prune_phase(run, phase, "delete-snapshot", candidates, retention_policy(run.settings), now,
                                    lambda arn: _delete(rds, by_arn[arn]), source_label="database")


def _delete(rds: Any, snapshot: Snapshot) -> dict[str, Any]:
    delete = getattr(rds, snapshot.kind.delete)
    return delete_or_gone(lambda: delete(**{snapshot.kind.snapshot_id: snapshot.identifier}), _GONE)


# ---------------------------------------------------------------------- cross-region copies


class MissingCopyKey(Exception):
    """An encrypted snapshot cannot be copied to another region without a key there (copy_kms_key_id)."""


def copy_snapshots(run: Run, rds: Any, target_rds: Any, target: str, now: datetime) -> int:
    """Copy every available, unprotected snapshot of ours that has no copy in the target region yet."""
    if run.phase_done("copy"):
        return 0
    copied = {s.tags.get(SOURCE_SNAPSHOT_TAG) for s in list_snapshots(target_rds)}
    region = run.clients.region
    key = str(run.settings["copy_kms_key_id"])
    todo = [s for s in list_snapshots(rds)
            if not s.not_ours() and not is_protected(s.tags) and s.status in _READY and s.arn not in copied]
    return len(backup_phase.act_phase(run, "copy", "copy-snapshot", todo, lambda s: s.arn,
                         lambda snapshot: _copy_act(run, target_rds, snapshot, target, region, key, now)))


def _copy_act(run: Run, target_rds: Any, snapshot: Snapshot, target: str, region: str, key: str,
              now: datetime) -> Act[Any]:
    kind = snapshot.kind
    args: dict[str, Any] = {
        f"Source{kind.snapshot_id}": snapshot.arn, f"Target{kind.snapshot_id}": snapshot.identifier,
        "SourceRegion": region,  # boto3 signs the PreSignedUrl from it
        "Tags": _tags(run, now, snapshot.tags, {SOURCE_SNAPSHOT_TAG: snapshot.arn, SOURCE_REGION_TAG: region}),
    }
    if snapshot.encrypted and key:
        args["KmsKeyId"] = key

    def call() -> Any:
        if snapshot.encrypted and not key:
            raise MissingCopyKey(f"{snapshot.identifier} is encrypted and RDS copies an encrypted snapshot to "
                                 f"another region only under a KMS key of that region: set copy_kms_key_id to a "
                                 f"key in {target}")
        return getattr(target_rds, kind.copy)(**args)

    return Act.one(snapshot.arn, f"no copy in {target} yet", call,
                   details={"target_region": target, **({"kms_key_id": key} if "KmsKeyId" in args else {})},
                   result_details=lambda r: {"copy_arn": kind.arn_of(r)})
