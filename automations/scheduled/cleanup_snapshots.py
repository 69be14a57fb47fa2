"""Cleanup: EBS snapshots of this account, older than `min_age_days`, used by no AMI -> delete.

Left alone: snapshots another Caretaker automation made and keeps under its own retention (tag
`caretaker:automation` with another value, e.g. `ebs-snapshots`), except the automations listed in
`no_retention_automations` (the final snapshots of the cleanups, which have no retention of their
own); snapshots that Data Lifecycle Manager or AWS Backup manage; snapshots any of the account's
AMIs uses (one DescribeImages listing per run, disabled and deprecated AMIs included).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.core.registry import register
from automations.core.runtime import entrypoint
from automations.core.selection import AUTOMATION_TAG, NOT_PROTECTED, tag_map
from automations.core.spec import Cron, FunctionSpec, Permission, Setting
from automations.scheduled.cleanup.ec2 import PAGE_SIZE, Ec2Family, age_days, by_filter, snapshots_used_by_images
from automations.scheduled.cleanup.flow import family_handler
from automations.scheduled.cleanup.model import Candidate, Context, Survey
from automations.scheduled.cleanup.notice import monthly
from automations.scheduled.cleanup.settings import (
    COMMON,
    EC2_SNAPSHOTS,
    SNAPSHOT_PRICE,
    ec2_marking,
    grace_days,
    min_age_days,
)

NAME = "cleanup-ebs-snapshots"
#: Tags of snapshots that another AWS service manages, with its own retention.
MANAGED_BY = {"aws:dlm:lifecycle-policy-id": "Data Lifecycle Manager",
              "aws:backup:source-resource": "AWS Backup"}

SPEC = register(FunctionSpec(
    name=NAME,
    description="Deletes old EBS snapshots no AMI uses and no other automation manages, after a grace period.",
    trigger=Cron("30 4 * * ? *"),
    default_mode="audit",  # deletes data
    timeout=900,
    continues=True,  # large accounts: checkpoint and continue (cleanup.flow phases)
    memory=512,
    permissions=(
        Permission(("ec2:DescribeSnapshots", "ec2:DescribeImages"),
                   why="survey and the AMI index; Describe* has no resource-level scoping"),
        ec2_marking((EC2_SNAPSHOTS,)),
        Permission(("ec2:DeleteSnapshot",), (EC2_SNAPSHOTS,), condition=NOT_PROTECTED,
                   why="the cleanup itself; never a snapshot tagged caretaker:protect=true"),
    ),
    settings=(
        min_age_days(90, "snapshots"),
        grace_days(),
        Setting("no_retention_automations", "list", ("cleanup-ebs-volumes", "cleanup-stopped-instances"),
                "Caretaker automations whose snapshots have no retention of their own: their snapshots are "
                "cleaned up like untagged ones (other automations' snapshots are always left alone).",
                pattern=r"[a-z][a-z0-9-]{0,63}"),
        SNAPSHOT_PRICE,
        *COMMON,
    ),
))


class Snapshots(Ec2Family, action="delete-snapshot", noun="snapshots", verb="deleted",
                gone=("InvalidSnapshot.NotFound",)):
    """Announce unused old snapshots, then (after the grace period) delete them."""

    def survey(self, ctx: Context) -> Survey:
        ec2 = self.client(ctx)
        survey = self.new_survey()
        price = float(self.settings["snapshot_price_per_gb_month"])
        adoptable = set(self.settings["no_retention_automations"])
        used = snapshots_used_by_images(ec2)
        pages = ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["completed"]}],
            PaginationConfig={"PageSize": PAGE_SIZE})
        for page in pages:
            for snapshot in page.get("Snapshots", []):
                snapshot_id = snapshot["SnapshotId"]
                tags = tag_map(snapshot.get("Tags"))
                owner = tags.get(AUTOMATION_TAG)
                managed = next((service for key, service in MANAGED_BY.items() if key in tags), None)
                if owner and owner != NAME and owner not in adoptable:
                    survey.reject(snapshot_id, f"made by Caretaker {owner}, which keeps its own retention")
                elif managed:
                    survey.reject(snapshot_id, f"managed by {managed}")
                elif snapshot_id in used:
                    survey.reject(snapshot_id, f"used by {used[snapshot_id]}")
                elif young := self.too_young(age := age_days(snapshot["StartTime"], ctx.now)):
                    survey.reject(snapshot_id, young)
                else:
                    size = int(snapshot.get("VolumeSize", 0))
                    survey.consider(Candidate(
                        snapshot_id, f"used by no AMI; created {age:.0f} days ago", monthly(size, price),
                        {"size_gb": size, "volume_id": snapshot.get("VolumeId", "")}), tags)
        return survey

    def still_there(self, ctx: Context, ids: list[str]) -> dict[str, tuple[str, bool]]:
        return {snapshot["SnapshotId"]: (f"state is {snapshot.get('State')}", True) for snapshot in by_filter(
            self.client(ctx), "describe_snapshots", "Snapshots", "snapshot-id", ids, OwnerIds=["self"])}

    def act_call(self, client: Any, candidate: Candidate) -> Any:
        return client.delete_snapshot(SnapshotId=candidate.resource_id)

    def act_details(self, candidate: Candidate) -> Mapping[str, Any]:
        return {"size_gb": candidate.details.get("size_gb")}


handler = entrypoint(SPEC)(family_handler(Snapshots))
