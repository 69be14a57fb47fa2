"""Scheduled EBS snapshots with retention (grandfather-father-son optional), and cross-region copies."""

from __future__ import annotations

from typing import Any

from automations.core.registry import register
from automations.core.spec import FunctionSpec, Permission, Rate, Setting

NAME = "ebs-snapshots"
_EC2 = "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}"
_SNAPSHOTS = "arn:${AWS::Partition}:ec2:*::snapshot/*"

SPEC = register(FunctionSpec(
    name=NAME,
    description="Snapshots tagged EBS volumes and prunes the snapshots it made past retention.",
    handler=__name__ + ".handler",
    trigger=Rate(1, "day"),
    default_mode="enforce",  # taking snapshots only adds protection; pruning touches only its own
    timeout=900,
    memory=512,
    permissions=(
        Permission(("ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeImages",
                    "ec2:DescribeInstances"), why="selection; Describe* has no resource-level scoping"),
        Permission(("ec2:CreateSnapshot", "ec2:CreateSnapshots"),
                   (f"{_EC2}:volume/*", f"{_EC2}:instance/*", _SNAPSHOTS)),
        Permission(("ec2:CreateTags",), (_SNAPSHOTS,),
                   condition={"StringEquals": {"ec2:CreateAction": ["CreateSnapshot", "CreateSnapshots",
                                                                    "CopySnapshot"]}}),
        Permission(("ec2:CopySnapshot",), (_SNAPSHOTS,)),
        Permission(("ec2:DeleteSnapshot",), (_SNAPSHOTS,),
                   condition={"StringEquals": {"aws:ResourceTag/caretaker:automation": NAME}},
                   why="only snapshots this automation made"),
    ),
    settings=(
        Setting("backup_tag_key", "str", "caretaker:backup", "Tag key that selects volumes to snapshot.",
                pattern=r"[\w.:/=+@ -]{1,128}"),
        Setting("backup_tag_values", "list", ("true", "daily"),
                "Accepted values of the backup tag (comma-separated)."),
        Setting("retention_count", "int", 7, "Newest snapshots kept per volume.", minimum=1, maximum=1000),
        Setting("max_age_days", "int", 35,
                "Snapshots older than this are deleted even among the newest (0 = no limit); "
                "daily/weekly/monthly generations have their own windows.", minimum=0, maximum=3650),
        Setting("keep_daily", "int", 0, "Days for which the newest snapshot of the day is kept.",
                minimum=0, maximum=366),
        Setting("keep_weekly", "int", 0, "Weeks for which the newest snapshot of the ISO week is kept.",
                minimum=0, maximum=520),
        Setting("keep_monthly", "int", 0, "Months for which the newest snapshot of the month is kept.",
                minimum=0, maximum=240),
        Setting("copy_region", "str", "", "Region to copy snapshots to and prune there too (empty = none).",
                pattern=r"([a-z]{2}(-gov)?-[a-z]+-\d)?"),
    ),
))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError
