"""Cleanup: AMIs older than `min_age_days` that nothing launches from -> deregister, then delete their snapshots.

"Nothing" = no instance (any state but terminated), no version of any launch template (AMI ids and
`resolve:ssm:` parameters), no Auto Scaling launch configuration, no launch within `min_age_days`
(`LastLaunchedTime`). Public AMIs, AMIs shared with other accounts (launch permissions, read for the
remaining candidates only) and AMIs with deregistration protection are left alone. A snapshot that
another AMI also uses, or that is protected, is kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.concurrency import bounded_map
from automations.core.pending import PendingRecord
from automations.core.registry import register
from automations.core.runtime import describe_error, entrypoint
from automations.core.selection import NOT_PROTECTED, is_protected, tag_map
from automations.core.spec import Cron, FunctionSpec, Permission
from automations.core.steps import Next, Step, single_call_step
from automations.scheduled.cleanup.ec2 import Ec2Family, age_days, by_filter, parse_time
from automations.scheduled.cleanup.flow import family_handler
from automations.scheduled.cleanup.model import Candidate, Context, Survey
from automations.scheduled.cleanup.notice import monthly
from automations.scheduled.cleanup.references import (
    References,
    add_instances,
    add_launch_configurations,
    add_launch_templates,
    resolve_ssm_images,
)
from automations.scheduled.cleanup.settings import (
    COMMON,
    EC2_IMAGES,
    EC2_SNAPSHOTS,
    SNAPSHOT_PRICE,
    ec2_marking,
    grace_days,
    min_age_days,
)

NAME = "cleanup-amis"
PAGE_SIZE = 1000
_SNAPSHOT_GONE = ("InvalidSnapshot.NotFound",)

SPEC = register(FunctionSpec(
    name=NAME,
    description="Deregisters old AMIs nothing launches from and deletes their snapshots, after a grace period.",
    trigger=Cron("0 5 * * ? *"),
    default_mode="audit",  # deletes images and data
    timeout=900,
    continues=True,  # large accounts: checkpoint and continue (cleanup.flow phases)
    memory=512,
    permissions=(
        Permission(("ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeSnapshots"),
                   why="survey and the reference index; these Describe actions have no resource-level scoping"),
        Permission(("ec2:DescribeImageAttribute",), (EC2_IMAGES,),
                   why="an AMI's attributes (who it is shared with); the action takes the image resource type"),
        Permission(("autoscaling:DescribeLaunchConfigurations",), why="AMIs launch configurations use"),
        Permission(("ssm:GetParameters",), ("arn:${AWS::Partition}:ssm:${AWS::Region}:*:parameter/*",),
                   why="AMIs launch templates name through resolve:ssm: parameters"),
        ec2_marking((EC2_IMAGES,)),
        Permission(("ec2:DeregisterImage",), (EC2_IMAGES,), condition=NOT_PROTECTED,
                   why="the cleanup itself; never an AMI tagged caretaker:protect=true"),
        Permission(("ec2:DeleteSnapshot",), (EC2_SNAPSHOTS,), condition=NOT_PROTECTED,
                   why="the deregistered AMI's snapshots"),
    ),
    settings=(min_age_days(90, "AMIs"), grace_days(), SNAPSHOT_PRICE, *COMMON),
))


def _first(users: list[str], limit: int = 3) -> str:
    shown = ", ".join(users[:limit])
    return shown + (f" and {len(users) - limit} more" if len(users) > limit else "")


@dataclass(eq=False)
class Images(Ec2Family, action="deregister-image", noun="AMIs", verb="deregistered",
             gone=("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")):
    """Announce unused old AMIs, then (after the grace period) deregister them and delete their snapshots."""

    snapshots: dict[str, list[str]] = field(default_factory=dict)  # image -> its snapshots
    snapshot_users: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # snapshot -> its images
    protected_snapshots: set[str] = field(default_factory=set)
    references: References = field(default_factory=References)

    def survey(self, ctx: Context) -> Survey:
        run = ctx.run
        ec2 = self.client(ctx)
        concurrency = int(self.settings["max_concurrency"])
        survey = self.new_survey()
        price = float(self.settings["snapshot_price_per_gb_month"])
        refs = self.references
        add_instances(refs, ec2)
        add_launch_templates(refs, ec2, concurrency)
        add_launch_configurations(refs, run.clients("autoscaling"))
        resolve_ssm_images(refs, run.clients("ssm"))
        if refs.unresolved:
            run.notes.append("unreadable SSM parameters in launch templates: " + ", ".join(sorted(refs.unresolved)))

        remaining: list[tuple[Candidate, dict[str, str]]] = []
        pages = ec2.get_paginator("describe_images").paginate(
            Owners=["self"], IncludeDeprecated=True, IncludeDisabled=True, PaginationConfig={"PageSize": PAGE_SIZE})
        for page in pages:
            for image in page.get("Images", []):
                image_id = image["ImageId"]
                mappings = [m.get("Ebs", {}) for m in image.get("BlockDeviceMappings", []) if m.get("Ebs")]
                snapshots = [m["SnapshotId"] for m in mappings if m.get("SnapshotId")]
                self.snapshots[image_id] = snapshots
                for snapshot_id in snapshots:
                    self.snapshot_users[snapshot_id].add(image_id)
                reason = self._rejection(image, refs, ctx)
                if reason:
                    survey.reject(image_id, reason)
                    continue
                age = age_days(parse_time(image["CreationDate"]), ctx.now)
                size = sum(int(m.get("VolumeSize", 0)) for m in mappings)
                remaining.append((Candidate(
                    image_id, f"launched by nothing; created {age:.0f} days ago", monthly(size, price),
                    {"name": image.get("Name", ""), "snapshots": snapshots, "size_gb": size}),
                    tag_map(image.get("Tags"))))

        shared = bounded_map(lambda item: self._shared_with(ec2, item[0].resource_id), remaining, concurrency)
        for (candidate, tags), sharing in zip(remaining, shared, strict=True):
            if sharing:
                survey.reject(candidate.resource_id, sharing)
            else:
                survey.consider(candidate, tags)
        self._unfinished(ctx, ec2, survey)
        return survey

    def _unfinished(self, ctx: Context, ec2: Any, survey: Survey) -> None:
        """Pending AMIs an earlier run deregistered but stopped (killed, timed out) before deleting their
        snapshots: the AMI is no longer listed, its snapshots still exist. They stay candidates, so that this
        run deletes the snapshots (the deregistration is then `already_gone`)."""
        gone = {image_id: [str(s) for s in record.details.get("snapshots", [])]
                for image_id, record in ctx.records.items()
                if record.is_pending and not record.dry_run and image_id not in self.snapshots}
        left = {s["SnapshotId"] for s in by_filter(ec2, "describe_snapshots", "Snapshots", "snapshot-id",
                                                    [s for ids in gone.values() for s in ids], OwnerIds=["self"])}
        for image_id, snapshots in sorted(gone.items()):
            if not set(snapshots) & left:
                continue
            self.snapshots[image_id] = [s for s in snapshots if s in left]
            details = {**ctx.records[image_id].details, "snapshots": self.snapshots[image_id]}
            survey.consider(Candidate(image_id, "deregistered by an earlier run that stopped before deleting its "
                                                "snapshots", 0.0, details), {})

    def _rejection(self, image: Mapping[str, Any], refs: References, ctx: Context) -> str | None:
        users = refs.image_users(image["ImageId"])
        if image.get("State") != "available":
            return f"state is {image.get('State')}"
        if users:
            return "used by " + _first(users)
        if image.get("Public"):
            return "public AMI"
        if str(image.get("DeregistrationProtection", "")).startswith("enabled"):
            return "deregistration protection is enabled"
        age = age_days(parse_time(image["CreationDate"]), ctx.now)
        if young := self.too_young(age):
            return young
        if image.get("LastLaunchedTime"):
            launched = age_days(parse_time(image["LastLaunchedTime"]), ctx.now)
            if launched <= int(self.settings["min_age_days"]):
                return f"last launched {launched:.0f} days ago"
        if refs.unresolved:
            return "launch templates refer to SSM parameters that could not be read: " + _first(sorted(refs.unresolved))
        return None

    @staticmethod
    def _shared_with(ec2: Any, image_id: str) -> str | None:
        try:
            permissions = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission").get(
                "LaunchPermissions", [])
        except (ClientError, BotoCoreError) as exc:
            return "launch permissions unreadable: " + describe_error(exc)
        targets = sorted(str(p.get("UserId") or p.get("Group") or p.get("OrganizationArn")
                             or p.get("OrganizationalUnitArn")) for p in permissions)
        return "shared with " + _first(targets) if targets else None

    def still_there(self, ctx: Context, ids: list[str]) -> dict[str, tuple[str, bool]]:
        return {image["ImageId"]: (f"state is {image.get('State')}", True) for image in by_filter(
            self.client(ctx), "describe_images", "Images", "image-id", ids, Owners=["self"])}

    def prepare(self, ctx: Context, due: list[Candidate]) -> None:
        ids = [s for c in due for s in self.snapshots.get(c.resource_id, [])]
        if ids:
            found = by_filter(ctx.run.clients("ec2"), "describe_snapshots", "Snapshots", "snapshot-id", ids,
                              OwnerIds=["self"])
            self.protected_snapshots = {s["SnapshotId"] for s in found if is_protected(tag_map(s.get("Tags")))}

    def act_call(self, client: Any, candidate: Candidate) -> Any:
        return client.deregister_image(ImageId=candidate.resource_id)

    def act_details(self, candidate: Candidate) -> Mapping[str, Any]:
        return {"snapshots": self.snapshots.get(candidate.resource_id, [])}

    def steps(self, ctx: Context, candidate: Candidate, record: PendingRecord | None) -> list[Step] | str:
        image_id = candidate.resource_id
        return [self.act_step(ctx, candidate,
                              then=lambda _result: Next(steps=self._snapshot_steps(ctx, image_id), done=True))]

    def _snapshot_steps(self, ctx: Context, image_id: str) -> list[Step]:
        ec2 = self.client(ctx)
        steps: list[Step] = []
        for snapshot_id in self.snapshots.get(image_id, []):
            others = sorted(self.snapshot_users.get(snapshot_id, set()) - {image_id})
            if others:
                ctx.run.skip(snapshot_id, "delete-snapshot", f"also used by {_first(others)}")
            elif snapshot_id in self.protected_snapshots:
                ctx.run.skip(snapshot_id, "delete-snapshot", "protected: tagged caretaker:protect=true")
            else:
                steps.append(single_call_step(
                    snapshot_id, "delete-snapshot", f"snapshot of deregistered {image_id}",
                    partial(ec2.delete_snapshot, SnapshotId=snapshot_id), _SNAPSHOT_GONE,
                    details={"image_id": image_id}, subject=image_id))
        return steps


handler = entrypoint(SPEC)(family_handler(Images))
