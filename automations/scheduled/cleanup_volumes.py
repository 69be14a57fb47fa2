"""Cleanup: EBS volumes left unattached, older than `min_age_days` -> final snapshot (optional), then delete.

The final snapshot carries the volume's tags. A volume is deleted only once its final snapshot is
`completed`: when the snapshot is still pending, the snapshot id is kept on the pending record and
a later run deletes the volume.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automations.core.pending import PendingRecord
from automations.core.registry import register
from automations.core.runtime import entrypoint
from automations.core.selection import NOT_PROTECTED, copyable_tags, tag_map
from automations.core.spec import Cron, FunctionSpec, Permission, Setting
from automations.core.steps import Step
from automations.scheduled.cleanup.ec2 import Ec2Family, age_days, by_filter, snapshot_states
from automations.scheduled.cleanup.final_snapshot import FinalSnapshot
from automations.scheduled.cleanup.flow import family_handler
from automations.scheduled.cleanup.model import Candidate, Context, Survey
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

NAME = "cleanup-ebs-volumes"
VOLUME_TAG = "caretaker:volume-id"
PAGE_SIZE = 500  # DescribeVolumes' maximum

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


FINAL = FinalSnapshot(NAME, VOLUME_TAG, "final_snapshot_id", "create-final-snapshot", "deleting")


@dataclass(eq=False)
class Volumes(Ec2Family, action="delete-volume", noun="volumes", verb="deleted",
              gone=("InvalidVolume.NotFound",)):
    """Announce unattached volumes, then (after the grace period) snapshot and delete them."""

    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # volume -> its tags (copied to the snapshot)
    snapshot_states: dict[str, str] = field(default_factory=dict)  # recorded final snapshot -> its state

    @property
    def final_snapshot(self) -> bool:
        return bool(self.settings["final_snapshot"])

    def survey(self, ctx: Context) -> Survey:
        survey = self.new_survey()
        price = float(self.settings["volume_price_per_gb_month"])
        snapshot_price = float(self.settings["snapshot_price_per_gb_month"]) if self.final_snapshot else 0.0
        pages = self.client(ctx).get_paginator("describe_volumes").paginate(
            Filters=[{"Name": "status", "Values": ["available"]}], PaginationConfig={"PageSize": PAGE_SIZE})
        for page in pages:
            for volume in page.get("Volumes", []):
                volume_id = volume["VolumeId"]
                if volume.get("Attachments"):
                    survey.reject(volume_id, "attached")
                    continue
                age = age_days(volume["CreateTime"], ctx.now)
                if young := self.too_young(age):
                    survey.reject(volume_id, young)
                    continue
                tags = tag_map(volume.get("Tags"))
                self.tags[volume_id] = tags
                size = int(volume.get("Size", 0))
                survey.consider(Candidate(
                    volume_id, f"unattached; created {age:.0f} days ago",
                    monthly(size, price) - monthly(size, snapshot_price),
                    {"size_gb": size, "volume_type": volume.get("VolumeType", "")}), tags)
        return survey

    def still_there(self, ctx: Context, ids: list[str]) -> dict[str, tuple[str, bool]]:
        reasons: dict[str, tuple[str, bool]] = {}
        for volume in by_filter(self.client(ctx), "describe_volumes", "Volumes", "volume-id", ids):
            attached = [a.get("InstanceId", "?") for a in volume.get("Attachments", [])]
            why = f"attached to {', '.join(attached)}" if attached else f"state is {volume.get('State')}"
            reasons[volume["VolumeId"]] = (why, True)
        return reasons

    def prepare(self, ctx: Context, due: list[Candidate]) -> None:
        if self.final_snapshot:
            ids = [s for c in due for s in FINAL.recorded(ctx.records.get(c.resource_id))]
            self.snapshot_states = snapshot_states(self.client(ctx), ids)

    def act_call(self, client: Any, candidate: Candidate) -> Any:
        return client.delete_volume(VolumeId=candidate.resource_id)

    def act_details(self, candidate: Candidate) -> Mapping[str, Any]:
        return {"size_gb": candidate.details.get("size_gb")}

    def steps(self, ctx: Context, candidate: Candidate, record: PendingRecord | None) -> list[Step] | str:
        delete = self.act_step(ctx, candidate)
        if not self.final_snapshot:
            return [delete]
        earlier = FINAL.ready(FINAL.recorded(record), self.snapshot_states, delete)
        if earlier is not None:
            return earlier
        ec2 = self.client(ctx)
        volume_id = candidate.resource_id
        tags = FINAL.tags(ctx.run.run_id, volume_id, copyable_tags(self.tags.get(volume_id, {})))
        return [FINAL.step(volume_id, candidate.reason, lambda: ec2.create_snapshot(
            VolumeId=volume_id, Description=FINAL.description(volume_id), TagSpecifications=tags), delete,
            details={"size_gb": candidate.details.get("size_gb")})]


handler = entrypoint(SPEC)(family_handler(Volumes))
