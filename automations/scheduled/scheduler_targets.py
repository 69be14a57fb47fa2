"""What `instance-scheduler` acts on: the opted-in resources of each kind, their actual state, the calls.

Every resource carrying `caretaker:schedule=<name>` is a `Target`: EC2 instances (not those an Auto
Scaling group manages: tag the group), RDS DB instances (not Aurora members: tag the cluster), Aurora
clusters and Auto Scaling groups. `actual` is `running`, `stopped`, or None while AWS is changing it
(pending, stopping, starting, backing-up...: the next run looks again).

An Auto Scaling group is stopped when its min, max and desired sizes are all 0. Scaling it in records
its sizes first in the state table (`pk = SCHEDULER#asg`, `sk = <group name>`, no TTL: a group may stay
scaled in for longer than the state log's TTL), then sets all three to 0; starting it puts the recorded
sizes back and removes the record. The record is the state table's, not a tag on the group, so nobody
who may only tag the group can make Caretaker scale it up to any size. Both calls re-read the group
first and do nothing when someone changed it since the survey.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from automations.core.errors import VersionConflict
from automations.core.resource_schedule import RUNNING, STOPPED, State
from automations.core.selection import tag_map
from automations.core.store import TableStore, key_of
from automations.scheduled.instance_prices import ec2_hourly, rds_hourly

SCHEDULE_TAG = "caretaker:schedule"
OVERRIDE_TAG = "caretaker:schedule-override"
AUTOSCALING_TAG = "aws:autoscaling:groupName"
GROUP_RECORDS = "SCHEDULER#asg"

EC2, RDS_INSTANCE, RDS_CLUSTER, ASG = "ec2-instance", "rds-instance", "rds-cluster", "autoscaling-group"
KINDS = (EC2, RDS_INSTANCE, RDS_CLUSTER, ASG)

_EC2_STATES: Mapping[str, State] = {"running": RUNNING, "stopped": STOPPED}
_RDS_STATES: Mapping[str, State] = {"available": RUNNING, "stopped": STOPPED}


@dataclass
class Target:
    kind: str
    resource_id: str
    tags: dict[str, str]
    actual: State | None
    #: what AWS says, for reasons ("stopping", "backing-up", ...)
    status: str
    #: USD an hour while running (None: not in the price table)
    hourly: float | None
    #: EC2: hibernation is configured on the instance
    hibernates: bool = False
    #: why this resource is left alone whatever its schedule says (None: it is not)
    excluded: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def schedule(self) -> str:
        return self.tags.get(SCHEDULE_TAG, "").strip()


def _tagged(tags: Mapping[str, str]) -> bool:
    return bool(tags.get(SCHEDULE_TAG, "").strip())


# ---------------------------------------------------------------------- listing


def ec2_targets(ec2: Any) -> Iterator[Target]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag-key", "Values": [SCHEDULE_TAG]},
                 {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}],
        PaginationConfig={"PageSize": 1000})
    for page in pages:
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                tags = tag_map(instance.get("Tags"))
                if not _tagged(tags):
                    continue
                status = str(instance.get("State", {}).get("Name", ""))
                target = Target(EC2, instance["InstanceId"], tags, _EC2_STATES.get(status), status,
                                ec2_hourly(str(instance.get("InstanceType", ""))),
                                hibernates=bool(instance.get("HibernationOptions", {}).get("Configured")))
                if AUTOSCALING_TAG in tags:
                    target.excluded = (f"managed by Auto Scaling group {tags[AUTOSCALING_TAG]}: tag the group with "
                                       f"{SCHEDULE_TAG} instead")
                elif instance.get("InstanceLifecycle") == "spot":
                    target.excluded = "a Spot instance: the scheduler stops and starts On-Demand instances only"
                yield target


def rds_targets(rds: Any) -> Iterator[Target]:
    """Tagged DB instances and Aurora clusters (a cluster priced by its members' classes)."""
    classes: dict[str, float | None] = {}
    instances: list[Target] = []
    for page in rds.get_paginator("describe_db_instances").paginate():
        for db in page.get("DBInstances", []):
            identifier = str(db["DBInstanceIdentifier"])
            hourly = rds_hourly(str(db.get("DBInstanceClass", "")), bool(db.get("MultiAZ")))
            classes[identifier] = hourly
            tags = tag_map(db.get("TagList"))
            if not _tagged(tags):
                continue
            status = str(db.get("DBInstanceStatus", ""))
            target = Target(RDS_INSTANCE, identifier, tags, _RDS_STATES.get(status), status, hourly)
            if db.get("DBClusterIdentifier"):
                target.excluded = (f"a member of cluster {db['DBClusterIdentifier']}: tag the cluster with "
                                   f"{SCHEDULE_TAG} instead")
            elif db.get("ReadReplicaSourceDBInstanceIdentifier") or db.get("ReadReplicaDBInstanceIdentifiers"):
                target.excluded = "a read replica or the source of one: RDS cannot stop either"
            instances.append(target)
    yield from instances
    for page in rds.get_paginator("describe_db_clusters").paginate():
        for cluster in page.get("DBClusters", []):
            tags = tag_map(cluster.get("TagList"))
            if not _tagged(tags):
                continue
            members = [str(m["DBInstanceIdentifier"]) for m in cluster.get("DBClusterMembers", [])]
            prices = [classes.get(m) for m in members]
            hourly = sum(p for p in prices if p is not None) if members and None not in prices else None
            status = str(cluster.get("Status", ""))
            yield Target(RDS_CLUSTER, str(cluster["DBClusterIdentifier"]), tags, _RDS_STATES.get(status), status,
                         hourly)


def asg_targets(autoscaling: Any) -> Iterator[Target]:
    pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": "tag-key", "Values": [SCHEDULE_TAG]}])
    for page in pages:
        for group in page.get("AutoScalingGroups", []):
            tags = {str(t["Key"]): str(t.get("Value", "")) for t in group.get("Tags", [])}
            if not _tagged(tags):
                continue
            sizes = group_sizes(group)
            stopped = not any(sizes.values())
            prices = [ec2_hourly(str(i.get("InstanceType", ""))) for i in group.get("Instances", [])]
            hourly = sum(p for p in prices if p is not None) if None not in prices else None
            yield Target(ASG, str(group["AutoScalingGroupName"]), tags, STOPPED if stopped else RUNNING,
                         "scaled in" if stopped else f"min {sizes['min']}, max {sizes['max']}, "
                                                     f"desired {sizes['desired']}",
                         hourly, extra={"sizes": sizes})


def group_sizes(group: Mapping[str, Any]) -> dict[str, int]:
    return {"min": int(group.get("MinSize", 0)), "max": int(group.get("MaxSize", 0)),
            "desired": int(group.get("DesiredCapacity", 0))}


# ---------------------------------------------------------------------- single-resource calls

Call = Callable[[], Any]


def rds_call(rds: Any, target: Target, state: State) -> Call:
    if target.kind == RDS_CLUSTER:
        if state == RUNNING:
            return lambda: rds.start_db_cluster(DBClusterIdentifier=target.resource_id)
        return lambda: rds.stop_db_cluster(DBClusterIdentifier=target.resource_id)
    if state == RUNNING:
        return lambda: rds.start_db_instance(DBInstanceIdentifier=target.resource_id)
    return lambda: rds.stop_db_instance(DBInstanceIdentifier=target.resource_id)


class GroupRecords(TableStore):
    """The recorded sizes of the Auto Scaling groups the scheduler scaled in (`GroupRecords.beside(state)`)."""

    what = "recorded group sizes"

    def get(self, name: str) -> tuple[dict[str, int] | None, int]:
        item, version = self.get_versioned(key_of(GROUP_RECORDS, name), what=f"sizes of group {name!r}")
        if item is None:
            return None, 0
        return {k: int(item[k]) for k in ("min", "max", "desired")}, version

    def keep(self, name: str, sizes: Mapping[str, int], at: str, run_id: str) -> None:
        """Record the sizes unless a record is already there (the sizes before the schedule first scaled it in
        win over sizes someone set by hand inside a stop period)."""
        with contextlib.suppress(VersionConflict):
            self.put_versioned(key_of(GROUP_RECORDS, name),
                               {"type": "group-sizes", **sizes, "at": at, "run_id": run_id}, 0,
                               what=f"sizes of group {name!r}")

    def forget(self, name: str, version: int) -> None:
        with contextlib.suppress(VersionConflict):
            self.delete_versioned(key_of(GROUP_RECORDS, name), version, what=f"sizes of group {name!r}")


def scale_in(autoscaling: Any, records: GroupRecords, name: str, at: str, run_id: str) -> dict[str, Any]:
    """Re-read the group; record its sizes, then set min, max and desired to 0."""
    group = _group(autoscaling, name)
    if group is None:
        return {"gone": True}
    sizes = group_sizes(group)
    if not any(sizes.values()):
        return {"already": "scaled in"}
    records.keep(name, sizes, at, run_id)  # a StateLogError propagates: the group is not touched
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0)
    return {"recorded": sizes}


def scale_out(autoscaling: Any, records: GroupRecords, name: str) -> dict[str, Any]:
    """Re-read the group; put back the recorded sizes (and forget them). No record: `LookupError` (the
    action is recorded as failed with its message)."""
    group = _group(autoscaling, name)
    if group is None:
        return {"gone": True}
    if any(group_sizes(group).values()):
        return {"already": "not scaled in"}
    sizes, version = records.get(name)
    if sizes is None:
        raise LookupError(f"no recorded sizes for group {name} (Caretaker did not scale it in): set its min, max "
                          f"and desired capacity yourself")
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=sizes["min"], MaxSize=sizes["max"],
                                          DesiredCapacity=sizes["desired"])
    records.forget(name, version)
    return {"restored": sizes}


def _group(autoscaling: Any, name: str) -> Mapping[str, Any] | None:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name]).get("AutoScalingGroups", [])
    return groups[0] if groups else None

