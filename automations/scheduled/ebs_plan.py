"""What `ebs-snapshots` snapshots in one run: the tagged volumes, grouped by instance where one
crash-consistent CreateSnapshots call can cover them (ebs_snapshots.py takes the snapshots)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from automations.core.selection import tag_map
from automations.scheduled.backup_settings import selection_reason


@dataclass
class Volume:
    volume_id: str
    tags: dict[str, str]
    state: str
    instance_id: str | None


@dataclass
class Plan:
    """What this run will snapshot: whole instances (crash-consistent) and single volumes."""

    instances: dict[str, tuple[bool, list[Volume]]] = field(default_factory=dict)  # id -> (exclude boot, vols)
    singles: list[tuple[Volume, str]] = field(default_factory=list)  # (volume, why single)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (volume id, why) recorded as skipped


def select_volumes(settings: Mapping[str, Any], ec2: Any, skipped: list[tuple[str, str]]) -> list[Volume]:
    """Volumes carrying the backup tag with an accepted value; protected ones go to `skipped`
    (recorded by the snapshot phase, so a continued run records them once)."""
    selected: list[Volume] = []
    pages = ec2.get_paginator("describe_volumes").paginate(
        Filters=[{"Name": "tag-key", "Values": [settings["backup_tag_key"]]}])
    for page in pages:
        for raw in page.get("Volumes", []):
            tags = tag_map(raw.get("Tags"))
            volume_id = raw["VolumeId"]
            why = selection_reason(settings, tags)
            if why is None:
                continue
            if why:
                skipped.append((volume_id, why))
                continue
            if raw.get("State") not in ("available", "in-use"):
                skipped.append((volume_id, f"volume state is {raw.get('State')!r}"))
                continue
            attached = [a for a in raw.get("Attachments", []) if a.get("State") in ("attached", "attaching")]
            instance_id = attached[0]["InstanceId"] if len(attached) == 1 else None
            selected.append(Volume(volume_id, tags, raw["State"], instance_id))
    return selected


def instance_volumes(ec2: Any, instance_ids: set[str | None]) -> dict[str, tuple[str | None, set[str]]]:
    """instance id -> (root volume id, every attached volume id), one paginated call for all."""
    ids = sorted(i for i in instance_ids if i)
    found: dict[str, tuple[str | None, set[str]]] = {}
    for start in range(0, len(ids), 1000):
        pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=ids[start:start + 1000])
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    root_name = instance.get("RootDeviceName")
                    root: str | None = None
                    attached: set[str] = set()
                    for mapping in instance.get("BlockDeviceMappings", []):
                        volume_id = mapping.get("Ebs", {}).get("VolumeId")
                        if volume_id:
                            attached.add(volume_id)
                            if mapping.get("DeviceName") == root_name:
                                root = volume_id
                    found[instance["InstanceId"]] = (root, attached)
    return found


def plan_snapshots(volumes: Iterable[Volume], instances: Mapping[str, tuple[str | None, set[str]]]) -> Plan:
    """Group an instance's volumes into one crash-consistent CreateSnapshots call when the
    selection covers all of them (or all but the boot volume); otherwise snapshot one by one."""
    plan = Plan()
    by_instance: dict[str, list[Volume]] = defaultdict(list)
    for volume in volumes:
        if volume.instance_id and volume.instance_id in instances:
            by_instance[volume.instance_id].append(volume)
        else:
            plan.singles.append((volume, "not attached"))
    for instance_id, selected in sorted(by_instance.items()):
        root, attached = instances[instance_id]
        chosen = {v.volume_id for v in selected}
        if chosen == attached:
            plan.instances[instance_id] = (False, selected)
        elif root is not None and chosen == attached - {root}:
            plan.instances[instance_id] = (True, selected)
        else:
            why = "only some of the instance's volumes are tagged: not crash-consistent with the others"
            plan.singles.extend((v, why) for v in selected)
    return plan
