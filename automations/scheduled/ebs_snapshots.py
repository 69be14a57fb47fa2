"""Scheduled EBS snapshots with retention (grandfather-father-son optional), and cross-region copies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

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
)
from automations.scheduled.cleanup.ec2 import snapshot_tag_spec, snapshots_used_by_images
from automations.scheduled.ebs_plan import Plan, Volume, instance_volumes, plan_snapshots, select_volumes
from automations.scheduled.retention import Retention

NAME = "ebs-snapshots"
_EC2 = "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}"
_SNAPSHOTS = "arn:${AWS::Partition}:ec2:*::snapshot/*"
_KEYS = "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"

SPEC = register(FunctionSpec(
    name=NAME,
    description="Snapshots tagged EBS volumes and prunes the snapshots it made past retention.",
    trigger=Rate(1, "day"),
    default_mode="enforce",  # taking snapshots only adds protection; pruning touches only its own
    timeout=900,
    memory=512,
    continues=True,  # a large account: checkpoint and continue in a new invocation (phases below)
    permissions=(
        Permission(("ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeImages",
                    "ec2:DescribeInstances"), why="selection; Describe* has no resource-level scoping"),
        Permission(("ec2:CreateSnapshot", "ec2:CreateSnapshots"),
                   (f"{_EC2}:volume/*", f"{_EC2}:instance/*", _SNAPSHOTS)),
        Permission(("ec2:CreateTags",), (_SNAPSHOTS,),
                   condition={"StringEquals": {"ec2:CreateAction": ["CreateSnapshot", "CreateSnapshots",
                                                                    "CopySnapshot"]}},
                   why="tag snapshots while creating them"),
        Permission(("ec2:CreateTags",), (_SNAPSHOTS,),
                   condition={"StringEquals": {"aws:ResourceTag/caretaker:automation": NAME}},
                   why="complete the copied volume tags on its own snapshots (CopyTagsFromSource gaps)"),
        Permission(("ec2:CopySnapshot",), (_SNAPSHOTS,)),
        Permission(("kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                    "kms:GenerateDataKeyWithoutPlaintext"), (_KEYS,),
                   condition={"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}},
                   why="copy encrypted snapshots under copy_kms_key_id (the key is a setting: any key of the "
                       "account, only through EC2)"),
        Permission(("ec2:DeleteSnapshot",), (_SNAPSHOTS,),
                   condition={"StringEquals": {"aws:ResourceTag/caretaker:automation": NAME}},
                   why="only snapshots this automation made"),
    ),
    settings=(
        *BACKUP_TAG_SETTINGS,
        *RETENTION_SETTINGS,
        *COPY_SETTINGS,
        MIN_BACKUP_INTERVAL,
        MAX_CONCURRENCY,
    ),
))

VOLUME_TAG = "caretaker:volume-id"
SOURCE_SNAPSHOT_TAG = "caretaker:source-snapshot"
_GONE = ("InvalidSnapshot.NotFound",)

#: The phases of a run, in order; a run that continues resumes inside one and skips those done.
PHASES = ("snapshot", "prune", "copy", "prune-copies")


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot the tagged volumes, then prune (and copy, then prune the copies) by retention."""
    settings = run.settings
    now = run.clock()
    ec2 = run.clients("ec2")
    policy = retention_policy(settings)

    selected = created = 0
    if not run.phase_done("snapshot"):
        skipped: list[tuple[str, str]] = []
        volumes = select_volumes(settings, ec2, skipped)
        selected = len(volumes)
        plan = plan_snapshots(volumes, instance_volumes(ec2, {v.instance_id for v in volumes if v.instance_id}))
        plan.skipped = skipped
        created = take_snapshots(run, ec2, plan, now)
    deleted = prune(run, ec2, policy, now, phase="prune")

    copied = copies_deleted = 0
    target = copy_target(settings, run.clients.region)
    if target:
        target_ec2 = run.clients("ec2", target)
        copied = copy_snapshots(run, ec2, target_ec2, target, now)
        copies_deleted = prune(run, target_ec2, policy, now, group_tag=VOLUME_TAG, phase="prune-copies")
    # per invocation; the run summary's counts cover every invocation of the run
    return {"volumes_selected": selected, "snapshots_created": created, "snapshots_deleted": deleted,
            "snapshots_copied": copied, "copies_deleted": copies_deleted}


# ---------------------------------------------------------------------- creation


def _caretaker_tags(run: Run, now: datetime, volume_id: str | None) -> dict[str, str]:
    tags = backup_phase.backup_tags(run, now, NAME)
    if volume_id:
        tags[VOLUME_TAG] = volume_id
    return tags


def take_snapshots(run: Run, ec2: Any, plan: Plan, now: datetime) -> int:
    """The snapshot phase: one work item per instance group, single volume or skipped volume, by id
    (`backup_phase.act_phase`: chunks of 25 planned at once, the CreateSnapshot(s) calls on the pool).

    A continued run first re-reads which volumes this run already snapshotted (tag `caretaker:run-id`):
    an item whose `planned` record lost its outcome (the invocation died) is not snapshotted twice.
    """
    done = snapshotted_in_run(ec2, run.run_id) if run.resuming("snapshot") else set()
    since = backup_phase.interval_start(run.settings, now)
    recent = recent_snapshots(ec2, since) if since is not None else {}
    work: list[tuple[str, str, Any]] = [(i, "instance", spec) for i, spec in plan.instances.items()]
    work += [(volume.volume_id, "volume", (volume, why)) for volume, why in plan.singles]
    work += [(volume_id, "skip", why) for volume_id, why in plan.skipped]

    def one(entry: tuple[str, str, Any]) -> Act[Any] | None:
        key, kind, item = entry
        if kind == "skip":
            run.skip(key, "create-snapshot", item)
            return None
        if kind == "instance":
            exclude_boot, volumes = item
            if done and all(v.volume_id in done for v in volumes):
                run.log.info("already snapshotted in this run", extra={"instance_id": key})
                return None
            if all(v.volume_id in recent for v in volumes):
                for v in volumes:
                    run.skip(v.volume_id, "create-snapshot", recent[v.volume_id], {"instance_id": key})
                return None
            return _instance_act(run, ec2, key, exclude_boot, volumes, now)
        volume, why = item
        if volume.volume_id in done:
            run.log.info("already snapshotted in this run", extra={"volume_id": volume.volume_id})
            return None
        if volume.volume_id in recent:
            run.skip(volume.volume_id, "create-snapshot", recent[volume.volume_id])
            return None
        return _volume_act(run, ec2, volume, why, now)

    results = backup_phase.act_phase(run, "snapshot", "create-snapshot", work, lambda w: w[0], one)
    # a CreateSnapshots result lists the instance's snapshots; a CreateSnapshot result is one snapshot
    return sum(len(r["Snapshots"]) if "Snapshots" in r else 1 for r in results)


def _volume_act(run: Run, ec2: Any, volume: Volume, why: str, now: datetime) -> Act[Any]:
    tags = {**copyable_tags(volume.tags), **_caretaker_tags(run, now, volume.volume_id)}
    return Act.one(
        volume.volume_id, f"tagged {run.settings['backup_tag_key']}; {why}",
        lambda: ec2.create_snapshot(VolumeId=volume.volume_id, Description=f"Caretaker {NAME} {run.run_id}",
                                    TagSpecifications=snapshot_tag_spec(tags)),
        result_details=lambda r: {"snapshot_id": r["SnapshotId"]})


def recent_snapshots(ec2: Any, since: datetime) -> dict[str, str]:
    """Volume id -> why it needs no snapshot now: this automation snapshotted it at or after `since`.

    Guards against a retried or repeated run (e.g. Lambda retrying a scheduled event after a crash,
    with a new run id) snapshotting the same volumes twice. One listing per run.
    """
    recent: dict[str, tuple[datetime, str]] = {}
    for snapshot in own_snapshots(ec2):
        started = snapshot["StartTime"]
        if started < since:
            continue
        tags = tag_map(snapshot.get("Tags"))
        volume_id = _source_volume(snapshot, tags) or ""
        if volume_id not in recent or started > recent[volume_id][0]:
            recent[volume_id] = (started, backup_phase.too_recent("snapshotted", started, f"{snapshot['SnapshotId']}, "
                                                                            f"run {tags.get(RUN_ID_TAG, '?')}"))
    return {volume_id: why for volume_id, (_, why) in recent.items()}


def snapshotted_in_run(ec2: Any, run_id: str) -> set[str]:
    """Volume ids with a snapshot made by this run (its run-id tag), whatever the snapshot's state."""
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{RUN_ID_TAG}", "Values": [run_id]}])
    return {_source_volume(s, tag_map(s.get("Tags"))) or "" for page in pages for s in page.get("Snapshots", [])}


def _instance_act(run: Run, ec2: Any, instance_id: str, exclude_boot: bool, volumes: list[Volume],
                  now: datetime) -> Act[Any]:
    """One crash-consistent CreateSnapshots for the instance's volumes (one planned record per volume)."""
    reason = (f"tagged {run.settings['backup_tag_key']}; all volumes of {instance_id}"
              f"{' but the boot volume' if exclude_boot else ''}, crash-consistent")

    def call() -> dict[str, Any]:
        result: dict[str, Any] = ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": exclude_boot},
            Description=f"Caretaker {NAME} {run.run_id}", CopyTagsFromSource="volume",
            TagSpecifications=snapshot_tag_spec(_caretaker_tags(run, now, None)))
        _complete_tags(run, ec2, result.get("Snapshots", []), {v.volume_id: v for v in volumes})
        return result

    return Act([(v.volume_id, reason, {"instance_id": instance_id}) for v in volumes], call,
               lambda r: {s["VolumeId"]: {"snapshot_id": s["SnapshotId"]} for s in r.get("Snapshots", [])})


def _complete_tags(run: Run, ec2: Any, snapshots: list[dict[str, Any]], by_id: Mapping[str, Volume]) -> None:
    """CopyTagsFromSource is not honoured everywhere (emulators, older partitions): complete the tags."""
    for snapshot in snapshots:
        volume = by_id.get(snapshot.get("VolumeId", ""))
        if volume is None:
            continue
        wanted = {**copyable_tags(volume.tags), VOLUME_TAG: volume.volume_id}
        have = tag_map(snapshot.get("Tags"))
        missing = {k: v for k, v in wanted.items() if have.get(k) != v}
        if missing:
            try:
                ec2.create_tags(Resources=[snapshot["SnapshotId"]],
                                Tags=[{"Key": k, "Value": v} for k, v in sorted(missing.items())])
            except (ClientError, BotoCoreError) as exc:  # the snapshots exist: their outcome stays succeeded
                run.log.warning("could not complete snapshot tags", extra={
                    "snapshot_id": snapshot["SnapshotId"], "error": str(exc)})


# ---------------------------------------------------------------------- pruning


def own_snapshots(ec2: Any) -> list[dict[str, Any]]:
    """Snapshots this automation made (by its tag), owned by this account."""
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{AUTOMATION_TAG}", "Values": [NAME]}])
    return [s for page in pages for s in page.get("Snapshots", [])]


def prune(run: Run, ec2: Any, policy: Retention, now: datetime, group_tag: str | None = None, *,
          phase: str = "prune") -> int:
    """Delete this automation's snapshots past retention, per source volume.

    Never one it did not make (tag filter + IAM condition), one an AMI uses, or a protected one.
    One work item per snapshot (deleted or skipped), by snapshot id. A continued run lists again:
    a snapshot deleted before the checkpoint is gone, the others are decided afresh.
    """
    if run.phase_done(phase):
        return 0  # nothing to prepare: the listings below are skipped too
    used_by_images = set(snapshots_used_by_images(ec2))
    candidates: list[backup_phase.Candidate] = []
    for snapshot in own_snapshots(ec2):
        tags = tag_map(snapshot.get("Tags"))
        if tags.get(AUTOMATION_TAG) != NAME:
            continue
        skip = ("protected: tagged caretaker:protect=true" if is_protected(tags)
                else "used by an AMI" if snapshot["SnapshotId"] in used_by_images else "")
        volume = tags.get(group_tag) if group_tag else _source_volume(snapshot, tags)
        candidates.append(backup_phase.Candidate(snapshot["SnapshotId"], volume or "unknown", snapshot["StartTime"],
                                                 skip, ready=snapshot.get("State") == "completed"))
    return backup_phase.prune_phase(run, phase, "delete-snapshot", candidates, policy, now,
                                    lambda snapshot_id: _delete_snapshot(ec2, snapshot_id), source_label="volume")


#: The VolumeId AWS gives snapshots that were copied (their source volume is in another region).
_COPIED_VOLUME = "vol-ffffffff"


def _source_volume(snapshot: Mapping[str, Any], tags: Mapping[str, str]) -> str | None:
    """The volume a snapshot of this region belongs to for retention: the one AWS records on it. The tag (which a
    developer can write) only for a snapshot without one: a snapshot of another volume tagged with this volume's
    id must not push this volume's snapshots out of retention."""
    recorded = str(snapshot.get("VolumeId", ""))
    return recorded if recorded and recorded != _COPIED_VOLUME else tags.get(VOLUME_TAG)


def _delete_snapshot(ec2: Any, snapshot_id: str) -> dict[str, Any]:
    return delete_or_gone(lambda: ec2.delete_snapshot(SnapshotId=snapshot_id), _GONE)


# ---------------------------------------------------------------------- cross-region copies


def copy_snapshots(run: Run, ec2: Any, target_ec2: Any, target_region: str, now: datetime) -> int:
    """Copy every completed, unprotected snapshot of ours that has no copy in the target region yet.

    Pending snapshots are copied by a later run, once complete.
    """
    if run.phase_done("copy"):
        return 0
    copied_already = {tag_map(s.get("Tags")).get(SOURCE_SNAPSHOT_TAG) for s in own_snapshots(target_ec2)}
    source_region = run.clients.region

    def one(snapshot: dict[str, Any]) -> Act[Any] | None:
        snapshot_id = snapshot["SnapshotId"]
        tags = tag_map(snapshot.get("Tags"))
        if snapshot_id in copied_already or is_protected(tags) or snapshot.get("State") != "completed":
            return None
        volume_id = _source_volume(snapshot, tags)
        copy_tags = {**copyable_tags(tags), **_caretaker_tags(run, now, volume_id),
                     SOURCE_SNAPSHOT_TAG: snapshot_id, SOURCE_REGION_TAG: source_region}
        encryption = _copy_encryption(run.settings, snapshot)
        return Act.one(
            snapshot_id, f"no copy in {target_region} yet",
            lambda: target_ec2.copy_snapshot(
                SourceRegion=source_region, SourceSnapshotId=snapshot_id,
                TagSpecifications=snapshot_tag_spec(copy_tags),
                Description=f"Caretaker {NAME} copy of {snapshot_id} from {source_region}", **encryption),
            details={"target_region": target_region, **({"kms_key_id": encryption["KmsKeyId"]} if encryption else {})},
            result_details=lambda r: {"copy_snapshot_id": r["SnapshotId"]})

    return len(backup_phase.act_phase(run, "copy", "copy-snapshot", own_snapshots(ec2),
                                      lambda s: str(s["SnapshotId"]), one))


def _copy_encryption(settings: Mapping[str, Any], snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """CopySnapshot's encryption arguments: an encrypted snapshot is copied under `copy_kms_key_id` (a key
    in the target region: a customer key of the source region is not usable there) when it is set, else
    under the target region's default EBS key (what CopySnapshot does without a key)."""
    key = str(settings["copy_kms_key_id"])
    return {"Encrypted": True, "KmsKeyId": key} if key and snapshot.get("Encrypted") else {}
