"""Cleanup: EC2 instances stopped for more than `min_stopped_days` -> report, or snapshot and terminate.

The stop date comes from `StateTransitionReason` ("User initiated (2026-11-27 03:00:00 GMT)"); when
it carries none, the age counts from Caretaker's first sighting of the instance stopped. With
`stopped_instance_action=terminate`, all the instance's volumes are snapshotted at once
(CreateSnapshots, crash-consistent, volume tags copied) and the instance is terminated only once
every snapshot is `completed` (a later run when they are still pending). Instances an Auto Scaling
group manages (warm pools keep stopped instances on purpose) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from automations.core.pending import PendingRecord
from automations.core.registry import register
from automations.core.runtime import entrypoint
from automations.core.selection import AUTOMATION_TAG, NOT_PROTECTED, tag_map
from automations.core.spec import Cron, FunctionSpec, Permission, Setting
from automations.core.steps import Step
from automations.scheduled.cleanup.ec2 import Ec2Family, age_days, by_filter, snapshot_states
from automations.scheduled.cleanup.final_snapshot import FinalSnapshot
from automations.scheduled.cleanup.flow import family_handler
from automations.scheduled.cleanup.model import Candidate, Context, Survey
from automations.scheduled.cleanup.notice import monthly
from automations.scheduled.cleanup.settings import (
    COMMON,
    EC2_INSTANCES,
    EC2_SNAPSHOTS,
    EC2_VOLUMES,
    SNAPSHOT_PRICE,
    VOLUME_PRICE,
    ec2_marking,
    grace_days,
)

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import InstanceTypeDef

NAME = "cleanup-stopped-instances"
INSTANCE_TAG = "caretaker:instance-id"
AUTOSCALING_TAG = "aws:autoscaling:groupName"
PAGE_SIZE = 1000
_STOPPED_AT = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")

SPEC = register(FunctionSpec(
    name=NAME,
    description="Reports instances stopped for long, or snapshots and terminates them, after a grace period.",
    trigger=Cron("30 6 * * ? *"),
    default_mode="audit",  # terminating deletes the instance and its delete-on-termination volumes
    timeout=900,
    continues=True,  # large accounts: checkpoint and continue (cleanup.flow phases)
    memory=512,
    permissions=(
        Permission(("ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots"),
                   why="survey, volume sizes, final snapshot states; Describe* has no resource-level scoping"),
        ec2_marking((EC2_INSTANCES,)),
        Permission(("ec2:CreateSnapshots",), (EC2_INSTANCES, EC2_VOLUMES, EC2_SNAPSHOTS),
                   why="final snapshots of all the instance's volumes before terminating"),
        Permission(("ec2:CreateTags",), (EC2_SNAPSHOTS,),
                   condition={"StringEquals": {"ec2:CreateAction": "CreateSnapshots"}},
                   why="tag the final snapshots while creating them"),
        Permission(("ec2:TerminateInstances",), (EC2_INSTANCES,), condition=NOT_PROTECTED,
                   why="the cleanup itself; never an instance tagged caretaker:protect=true"),
    ),
    settings=(
        Setting("min_stopped_days", "int", 30, "Only instances stopped for longer than this qualify.",
                minimum=0, maximum=3650),
        Setting("stopped_instance_action", "str", "report",
                "report = list them in the notification only; terminate = snapshot every volume, then terminate.",
                allowed=("report", "terminate")),
        grace_days(),
        VOLUME_PRICE,
        SNAPSHOT_PRICE,
        *COMMON,
    ),
))


def stopped_at(reason: str) -> datetime | None:
    """The date in `User initiated (2026-11-27 03:00:00 GMT)`, if any."""
    match = _STOPPED_AT.search(reason or "")
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


FINAL = FinalSnapshot(NAME, INSTANCE_TAG, "final_snapshot_ids", "create-final-snapshots", "terminating", many=True)


@dataclass(eq=False)
class StoppedInstances(Ec2Family, action="terminate-instance", noun="instances", verb="terminated",
                       gone=("InvalidInstanceID.NotFound",)):
    """Report long-stopped instances, or announce them and (after the grace period) snapshot and terminate them."""

    snapshot_states: dict[str, str] = field(default_factory=dict)  # final snapshot -> its state
    stopped_since: dict[str, datetime] = field(default_factory=dict)
    #: final snapshots an earlier run took but could not record (it stopped right after): instance -> ids
    unrecorded: dict[str, list[str]] = field(default_factory=dict)

    def report_only(self, ctx: Context) -> str | None:
        if self.settings["stopped_instance_action"] == "report":
            return "reported only (stopped_instance_action is report)"
        return None

    def survey(self, ctx: Context) -> Survey:
        ec2 = self.client(ctx)
        survey = self.new_survey()
        min_days = int(self.settings["min_stopped_days"])
        found: list[tuple[InstanceTypeDef, dict[str, str], str, bool]] = []
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}], PaginationConfig={"PageSize": PAGE_SIZE})
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    instance_id = instance["InstanceId"]
                    tags = tag_map(instance.get("Tags"))
                    if AUTOSCALING_TAG in tags:
                        survey.reject(instance_id, f"managed by Auto Scaling group {tags[AUTOSCALING_TAG]}")
                        continue
                    since = stopped_at(str(instance.get("StateTransitionReason", "")))
                    sighted = since is None
                    since = since or ctx.first_seen(instance_id)
                    days = age_days(since, ctx.now)
                    text = (f"stopped, first seen {since.date().isoformat()}" if sighted
                            else f"stopped since {since.date().isoformat()}")
                    if days < min_days:
                        if sighted:
                            survey.watch(instance_id, tags, text)
                        else:
                            survey.reject(instance_id, f"stopped {days:.0f} days ago (min_stopped_days {min_days})")
                        continue
                    found.append((instance, tags, f"{text} ({days:.0f} days)", sighted))
                    self.stopped_since[instance_id] = since

        sizes = {v["VolumeId"]: int(v.get("Size", 0)) for v in by_filter(
            ec2, "describe_volumes", "Volumes", "attachment.instance-id", [i["InstanceId"] for i, _, _, _ in found])}
        volume_price = float(self.settings["volume_price_per_gb_month"])
        snapshot_price = float(self.settings["snapshot_price_per_gb_month"])
        for instance, tags, reason, sighted in found:
            volumes: list[dict[str, Any]] = [
                {"volume_id": m["Ebs"]["VolumeId"], "size_gb": sizes.get(m["Ebs"]["VolumeId"], 0),
                 "delete_on_termination": bool(m["Ebs"].get("DeleteOnTermination"))}
                for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("VolumeId")]
            deleted = sum(v["size_gb"] for v in volumes if v["delete_on_termination"])
            total = sum(v["size_gb"] for v in volumes)
            survey.consider(Candidate(
                instance["InstanceId"], reason,
                monthly(deleted, volume_price) - monthly(total, snapshot_price),
                {"instance_type": instance.get("InstanceType", ""), "volumes": volumes, "size_gb": total},
                sighted=sighted), tags)
        return survey

    def still_there(self, ctx: Context, ids: list[str]) -> dict[str, tuple[str, bool]]:
        reasons: dict[str, tuple[str, bool]] = {}
        for reservation in by_filter(self.client(ctx), "describe_instances", "Reservations", "instance-id", ids):
            for instance in reservation.get("Instances", []):
                state = instance.get("State", {}).get("Name", "?")
                reasons[instance["InstanceId"]] = (f"state is {state}", state != "terminated")
        return reasons

    def prepare(self, ctx: Context, due: list[Candidate]) -> None:
        ec2 = self.client(ctx)
        recorded = {c.resource_id: FINAL.recorded(ctx.records.get(c.resource_id)) for c in due}
        self.unrecorded = self._unrecorded(ec2, [c.resource_id for c in due if not recorded.get(c.resource_id)])
        ids = [s for found in (*recorded.values(), *self.unrecorded.values()) for s in found]
        self.snapshot_states = snapshot_states(ec2, ids)

    def _unrecorded(self, ec2: Any, instance_ids: list[str]) -> dict[str, list[str]]:
        """Final snapshots of these instances taken since they stopped, by a run that stopped (killed, timed
        out) before recording them: they are used instead of taking new ones."""
        found: dict[str, list[str]] = {}
        for snapshot in by_filter(ec2, "describe_snapshots", "Snapshots", f"tag:{INSTANCE_TAG}", instance_ids,
                                  OwnerIds=["self"]):
            tags = tag_map(snapshot.get("Tags"))
            instance_id = tags.get(INSTANCE_TAG, "")
            since = self.stopped_since.get(instance_id)
            if tags.get(AUTOMATION_TAG) == NAME and since is not None and snapshot.get("StartTime", since) >= since:
                found.setdefault(instance_id, []).append(str(snapshot["SnapshotId"]))
        return {k: sorted(v) for k, v in found.items()}

    def act_call(self, client: Any, candidate: Candidate) -> Any:
        return client.terminate_instances(InstanceIds=[candidate.resource_id])

    def act_details(self, candidate: Candidate) -> Mapping[str, Any]:
        return {"volumes": candidate.details.get("volumes", [])}

    def steps(self, ctx: Context, candidate: Candidate, record: PendingRecord | None) -> list[Step] | str:
        instance_id = candidate.resource_id
        terminate = self.act_step(ctx, candidate)
        earlier = FINAL.ready(FINAL.recorded(record) or self.unrecorded.get(instance_id, []), self.snapshot_states,
                              terminate)
        if earlier is not None:
            return earlier
        if not candidate.details.get("volumes"):
            return [terminate]
        ec2 = self.client(ctx)
        tags = FINAL.tags(ctx.run.run_id, instance_id)
        return [FINAL.step(instance_id, candidate.reason, lambda: ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": False},
            Description=FINAL.description(instance_id), CopyTagsFromSource="volume", TagSpecifications=tags),
            terminate)]


handler = entrypoint(SPEC)(family_handler(StoppedInstances))
