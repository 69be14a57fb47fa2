"""Cleanup: EBS volumes left unattached, older than `min_age_days` -> final snapshot (optional), then delete.

The final snapshot carries the volume's tags. A volume is deleted only once its final snapshot is
`completed`: when the snapshot is still pending, the snapshot id is kept on the pending record and
a later run deletes the volume.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from automations.core.pending import PendingRecord
from automations.core.registry import register
from automations.core.runtime import Run, entrypoint
from automations.core.selection import AUTOMATION_TAG, NOT_PROTECTED, RUN_ID_TAG, copyable_tags, tag_map
from automations.core.spec import Cron, FunctionSpec, Permission, Setting
from automations.scheduled.cleanup.ec2 import Ec2Family, age_days, by_filter, snapshot_states
from automations.scheduled.cleanup.flow import run_cleanup
from automations.scheduled.cleanup.model import Candidate, Context, Exclusions, Survey
from automations.scheduled.cleanup.notice import monthly
from automations.scheduled.cleanup.settings import (
    COMMON,
    EC2_SNAPSHOTS,
    EC2_VOLUMES,
    SNAPSHOT_PRICE,
    VOLUME_PRICE,
    ec2_marking,
    grace_days,
    min_age_days,
)
from automations.scheduled.cleanup.steps import Next, Step, single_call_step

NAME = "cleanup-ebs-volumes"
VOLUME_TAG = "caretaker:volume-id"
PAGE_SIZE = 500  # DescribeVolumes' maximum
_GONE = ("InvalidVolume.NotFound",)

SPEC = register(FunctionSpec(
    name=NAME,
    description="Deletes EBS volumes left unattached (final snapshot first), after a grace period.",
    trigger=Cron("0 4 * * ? *"),
    default_mode="audit",  # deletes data
    timeout=900,
    continues=True,  # large accounts: checkpoint and continue (cleanup.flow phases)
    memory=512,
    permissions=(
        Permission(("ec2:DescribeVolumes", "ec2:DescribeSnapshots"),
                   why="survey, final snapshot state; Describe* has no resource-level scoping"),
        ec2_marking((EC2_VOLUMES,)),
        Permission(("ec2:CreateSnapshot",), (EC2_VOLUMES, EC2_SNAPSHOTS), why="final snapshot before deleting"),
        Permission(("ec2:CreateTags",), (EC2_SNAPSHOTS,),
                   condition={"StringEquals": {"ec2:CreateAction": "CreateSnapshot"}},
                   why="tag the final snapshot while creating it"),
        Permission(("ec2:DeleteVolume",), (EC2_VOLUMES,), condition=NOT_PROTECTED,
                   why="the cleanup itself; never a volume tagged caretaker:protect=true"),
    ),
    settings=(
        min_age_days(7, "volumes"),
        grace_days(),
        Setting("final_snapshot", "bool", True,
                "Snapshot each volume (with its tags) and delete it only once the snapshot is complete."),
        VOLUME_PRICE,
        SNAPSHOT_PRICE,
        *COMMON,
    ),
))


class Volumes(Ec2Family):
    action = "delete-volume"
    noun = "volumes"
    verb = "deleted"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = settings
        self.final_snapshot = bool(settings["final_snapshot"])
        self.tags: dict[str, dict[str, str]] = {}
        self.snapshot_states: dict[str, str] = {}

    def survey(self, ctx: Context) -> Survey:
        ec2 = ctx.run.clients("ec2")
        survey = Survey(Exclusions.parse(self.settings["exclude_tags"]))
        min_age = int(self.settings["min_age_days"])
        price = float(self.settings["volume_price_per_gb_month"])
        snapshot_price = float(self.settings["snapshot_price_per_gb_month"]) if self.final_snapshot else 0.0
        pages = ec2.get_paginator("describe_volumes").paginate(
            Filters=[{"Name": "status", "Values": ["available"]}], PaginationConfig={"PageSize": PAGE_SIZE})
        for page in pages:
            for volume in page.get("Volumes", []):
                volume_id = volume["VolumeId"]
                if volume.get("Attachments"):
                    survey.reject(volume_id, "attached")
                    continue
                age = age_days(volume["CreateTime"], ctx.now)
                if age <= min_age:
                    survey.reject(volume_id, f"created {age:.0f} days ago (min_age_days {min_age})")
                    continue
                tags = tag_map(volume.get("Tags"))
                self.tags[volume_id] = tags
                size = int(volume.get("Size", 0))
                survey.consider(Candidate(
                    volume_id, f"unattached; created {age:.0f} days ago",
                    monthly(size, price) - monthly(size, snapshot_price),
                    {"size_gb": size, "volume_type": volume.get("VolumeType", "")}), tags)
        return survey

    def explain(self, ctx: Context, ids: list[str]) -> dict[str, tuple[str, bool]]:
        found = by_filter(ctx.run.clients("ec2"), "describe_volumes", "Volumes", "volume-id", ids)
        reasons = {resource_id: ("no longer exists", False) for resource_id in ids}
        for volume in found:
            attached = [a.get("InstanceId", "?") for a in volume.get("Attachments", [])]
            why = f"attached to {', '.join(attached)}" if attached else f"state is {volume.get('State')}"
            reasons[volume["VolumeId"]] = (why, True)
        return reasons

    def prepare(self, ctx: Context, due: list[Candidate]) -> None:
        if self.final_snapshot:
            ids = [str(ctx.records[c.resource_id].details.get("final_snapshot_id", ""))
                   for c in due if c.resource_id in ctx.records]
            self.snapshot_states = snapshot_states(ctx.run.clients("ec2"), ids)

    def steps(self, ctx: Context, candidate: Candidate, record: PendingRecord | None) -> list[Step] | str:
        ec2 = ctx.run.clients("ec2")
        volume_id = candidate.resource_id
        delete = single_call_step(volume_id, self.action, candidate.reason,
                                  lambda: ec2.delete_volume(VolumeId=volume_id), _GONE,
                                  details={"size_gb": candidate.details.get("size_gb")})
        if not self.final_snapshot:
            return [delete]
        snapshot_id = str(record.details.get("final_snapshot_id", "")) if record else ""
        state = self.snapshot_states.get(snapshot_id) if snapshot_id else None
        if state == "completed":
            return [_with_snapshot(delete, snapshot_id)]
        if state == "pending":
            return f"final snapshot {snapshot_id} still pending"
        tags = {**copyable_tags(self.tags.get(volume_id, {})), AUTOMATION_TAG: NAME,
                RUN_ID_TAG: ctx.run.run_id, VOLUME_TAG: volume_id}
        return [Step(
            volume_id, volume_id, "create-final-snapshot", f"before deleting: {candidate.reason}",
            lambda: ec2.create_snapshot(
                VolumeId=volume_id, Description=f"Caretaker {NAME}: final snapshot of {volume_id}",
                TagSpecifications=[{"ResourceType": "snapshot",
                                    "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}]),
            details={"size_gb": candidate.details.get("size_gb")},
            result_details=lambda result: {"final_snapshot_id": result["SnapshotId"]},
            then=lambda result: _after_snapshot(result, delete))]


def _with_snapshot(delete: Step, snapshot_id: str) -> Step:
    return replace(delete, details={**(delete.details or {}), "final_snapshot_id": snapshot_id})


def _after_snapshot(result: Mapping[str, Any] | None, delete: Step) -> Next:
    if result is None:  # dry-run: show the delete that would follow
        return Next(steps=[delete])
    snapshot_id = str(result["SnapshotId"])
    if result.get("State") == "completed":
        return Next(steps=[_with_snapshot(delete, snapshot_id)])
    return Next(waiting={"final_snapshot_id": snapshot_id})


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """Announce unattached volumes, then (after the grace period) snapshot and delete them."""
    return run_cleanup(run, Volumes(run.settings))
