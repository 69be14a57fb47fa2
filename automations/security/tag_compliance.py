"""tag-compliance, phase one: an instance that starts running without the required tags is announced.

On the EC2 state-change event (`running`) the instance is read from EC2. Missing one of `required_tags`
(absent or blank), not protected: a pending record (`PENDING#tag-compliance`, due after `grace_hours`)
is written to the state log, the instance is tagged `caretaker:stop-after=<deadline>`, and the
notification names the creator (its `caretaker:created-by` tag, see creator-tags) and what is missing.
The deadline is never pushed back: an instance stopped and started again keeps the record's due time.
Phase two, `tag-compliance-sweep` (tag_compliance_sweep.py), stops the instances whose deadline passed
after re-checking each one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from automations.core.codec import iso
from automations.core.iam_rules import only_tag_keys
from automations.core.pending import PendingRecord, PendingStore
from automations.core.runtime import Run
from automations.core.selection import CREATED_BY_TAG, NOT_PROTECTED, tag_map
from automations.core.spec import InstanceStateChange, Permission, Setting
from automations.security import service_events
from automations.security.errors import BadEventError, ResourceGoneError
from automations.security.event_kinds import EC2_INSTANCE_STATE
from automations.security.reactive import Decision, Remediate, Report, Skip, protected, rule_handler, rule_spec
from automations.security.resource_tags import describe_ec2

NAME = "tag-compliance"
ACTION = "tag-stop-after"
#: The tag that tells the instance's owner when Caretaker stops it (ISO 8601 UTC).
STOP_AFTER_TAG = "caretaker:stop-after"
#: The states in which an instance still counts as started (the event may arrive late).
STARTED = ("pending", "running")
_INSTANCES = "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*"

REQUIRED_TAGS = Setting(
    "required_tags", "list", ("owner", "cost-center"),
    "Tag keys every running instance must carry with a non-blank value (comma-separated).",
    pattern=r"[^,\s][^,]{0,127}")
GRACE_HOURS = Setting(
    "grace_hours", "int", 24,
    "Hours between the announcement and the stop (tag-compliance-sweep stops the instance after them unless "
    "it has the required tags by then).", minimum=1, maximum=24 * 90)

ANNOUNCE_PERMISSIONS = (
    Permission(("ec2:DescribeInstances",), why="the instance's state and tags; no resource-level scoping"),
    Permission(("ec2:CreateTags",), (_INSTANCES,), condition={**only_tag_keys(STOP_AFTER_TAG), **NOT_PROTECTED},
               why=f"announce the deadline with the {STOP_AFTER_TAG} tag only; never on a protected instance"),
)


def pending_store(run: Run) -> PendingStore:
    """The pending records of tag-compliance (the sweep reads the same ones)."""
    return PendingStore(run.state.table, run.clients("dynamodb"), automation=NAME, run_id=run.run_id,
                        ttl_days=int(run.settings["state_ttl_days"]), clock=run.clock)


def describe(ec2: Any, instance_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """The instances that still exist, by id."""
    return {str(i["InstanceId"]): i for i in describe_ec2(ec2, "instance", instance_ids)}


def missing_tags(tags: Mapping[str, str], required: Sequence[str]) -> list[str]:
    return [key for key in required if not tags.get(key, "").strip()]


def creator_of(tags: Mapping[str, str]) -> str:
    return tags.get(CREATED_BY_TAG) or f"unknown (no {CREATED_BY_TAG} tag)"


def deadline_text(due: datetime) -> str:
    return iso(due)


def decide_instance(run: Run, *, region: str, instance_id: str, details: Mapping[str, Any]) -> Decision:
    """Announce the instance's stop if it runs without the required tags (never pushing a deadline back)."""
    ec2 = run.clients("ec2", region)
    instance = describe(ec2, [instance_id]).get(instance_id)
    if instance is None:
        raise ResourceGoneError(instance_id, f"instance {instance_id} no longer exists")
    state = str(instance.get("State", {}).get("Name", ""))
    tags = tag_map(instance.get("Tags"))
    required = list(run.settings["required_tags"])
    missing = missing_tags(tags, required)
    creator = creator_of(tags)
    info: dict[str, Any] = {"instance_id": instance_id, "state": state, "required": required, "missing": missing,
                            "created_by": creator, "region": region, **details}
    if state not in STARTED:
        return Skip(instance_id, ACTION, f"no longer running: {state}", info)
    if not missing:
        return Skip(instance_id, ACTION, "has every required tag", info)
    headline = f"instance {instance_id} (created by {creator}) runs without the required tag(s) {', '.join(missing)}"
    guarded = protected(instance_id, ACTION, tags, headline, info)
    if guarded:
        return guarded
    store = pending_store(run)
    existing = store.load().get(instance_id)
    now = run.clock()
    grace = timedelta(hours=int(run.settings["grace_hours"]))
    due = existing.due if existing is not None and existing.is_pending and existing.due else now + grace
    store.put(PendingRecord(
        resource_id=instance_id, stage="pending", first_seen=existing.first_seen if existing else now,
        reason=f"missing required tag(s) {', '.join(missing)}",
        dry_run=run.dry_run and (existing.dry_run if existing else True), run_id=run.run_id, due=due,
        details={"region": region, "required": required, "missing": missing, "created_by": creator}))
    store.flush()
    deadline = deadline_text(due)
    info["stop_after"] = deadline
    if tags.get(STOP_AFTER_TAG) == deadline:
        return Report(instance_id, f"{headline}; announced already, stopped after {deadline} unless tagged", info)
    return Remediate(instance_id, ACTION, headline,
                     f"tag it {STOP_AFTER_TAG}={deadline}; tag-compliance-sweep stops it after that unless it has "
                     f"{', '.join(required)}",
                     lambda: ec2.create_tags(Resources=[instance_id],
                                             Tags=[{"Key": STOP_AFTER_TAG, "Value": deadline}]), info)


SPEC = rule_spec(
    name=NAME,
    description="Announces running instances without the required tags (caretaker:stop-after, a pending record); "
                "tag-compliance-sweep stops them after the grace period unless fixed.",
    trigger=InstanceStateChange(("running",)),
    default_mode="audit",  # it leads to stopping instances
    permissions=ANNOUNCE_PERMISSIONS,
    settings=(REQUIRED_TAGS, GRACE_HOURS),
)


def decide(run: Run, event: service_events.InstanceStateChange) -> Decision:
    """Announce the stop of an instance that started without the required tags."""
    if not event.instance_id.startswith("i-"):
        raise BadEventError(f"detail.instance-id is not an instance id: {event.instance_id[:64]!r}")
    return decide_instance(run, region=event.region, instance_id=event.instance_id,
                           details={"event_state": event.state})


handler = rule_handler(SPEC, decide, kind=EC2_INSTANCE_STATE)
