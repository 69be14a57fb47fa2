"""`python -m automations restore-isolation INSTANCE_ID [--dry-run]`: undo instance-isolation's network change.

Reads the instance's latest isolation from the state log (the `isolate-instance` record that was not a
dry run: its `details.before` holds every interface's groups, written before they were replaced), puts
those groups back on each interface that still exists, and removes the isolation tags. The forensic
snapshots stay (they are evidence, tagged `caretaker:protect=true`); an instance detached from its Auto
Scaling group is not attached again (the group has launched a replacement): the output says how.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.core.errors import CaretakerError
from automations.core.ledger import resource_history
from automations.security import quarantine
from automations.security.instance_isolation import ACTION


def recorded_isolation(dynamodb: Any, table: str, instance_id: str) -> Mapping[str, Any]:
    """The details of the instance's latest isolation (not a dry run) that recorded the previous groups."""
    isolations = [item for item in resource_history(dynamodb, table, instance_id)
                  if item.get("type") == "action" and item.get("action") == ACTION and not item.get("dry_run")
                  and item.get("outcome") in ("planned", "succeeded", "failed")
                  and isinstance(item.get("details", {}).get("before", {}).get("interfaces"), Mapping)]
    if not isolations:
        raise CaretakerError(f"the state log records no isolation of {instance_id} (by instance-isolation in "
                             "enforce mode): nothing to restore")
    details: Mapping[str, Any] = isolations[-1]["details"]
    return details


def restore_isolation(ec2: Any, dynamodb: Any, table: str, instance_id: str, *, dry_run: bool) -> list[str]:
    """Put the recorded groups back on the instance's interfaces; returns what was (or would be) done."""
    details = recorded_isolation(dynamodb, table, instance_id)
    before: Mapping[str, list[str]] = details["before"]["interfaces"]
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances:
        raise CaretakerError(f"instance {instance_id} no longer exists")
    current = quarantine.interfaces_of(instances[0])
    verb = "would restore" if dry_run else "restored"
    done: list[str] = []
    for interface, groups in sorted(before.items()):
        if interface not in current:
            done.append(f"{interface}: no longer attached to {instance_id}, left alone")
            continue
        if not dry_run:
            quarantine.replace_groups(ec2, interface, groups)
        done.append(f"{interface}: {verb} {', '.join(groups)} (was {', '.join(current[interface]) or 'none'})")
    tags = [quarantine.ISOLATED_TAG, quarantine.ISOLATED_AT_TAG]
    if not dry_run:
        ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": key} for key in tags])
    done.append(f"{instance_id}: {'would remove' if dry_run else 'removed'} the tags {', '.join(tags)}")
    group = details["before"].get("auto_scaling_group")
    if group:
        done.append(f"{instance_id} was taken out of Auto Scaling group {group}: attach it again if it should "
                    f"serve (aws autoscaling exit-standby / attach-instances --auto-scaling-group-name {group} "
                    f"--instance-ids {instance_id}); its replacement is still there")
    done.append(f"forensic snapshots of finding {details.get('finding_id', '?')} are kept "
                f"(tag {quarantine.FORENSIC_FINDING_TAG})")
    return done
