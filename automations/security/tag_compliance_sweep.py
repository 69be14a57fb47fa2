"""tag-compliance-sweep, phase two of tag-compliance: stop the announced instances whose deadline has passed.

A scheduled function of its own (hourly): a `FunctionSpec` has one trigger, and the event rule cannot
wait. It walks the pending records `tag-compliance` wrote (never the tags, which the instance's owner can
change) and re-checks each due instance in EC2 before acting:

- gone or terminated, already stopped, protected (`caretaker:protect=true`), or carrying every tag it was
  announced for: not stopped, the record removed (a fixed instance also loses its `caretaker:stop-after`);
- announced by an audit-mode run (nothing on the instance told its owner): not stopped, the record removed;
- otherwise `StopInstances`, written ahead. IAM lets the role stop only instances tagged
  `caretaker:stop-after`, so an announced instance whose tag was removed gets it back first.

The tags checked are the ones the instance was announced for (kept on the record), so changing
`required_tags` never stops an instance without an announcement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.core.iam_rules import only_tag_keys
from automations.core.notify import LIST_LIMIT
from automations.core.pending import PendingRecord, PendingStore
from automations.core.registry import register
from automations.core.runtime import Run, entrypoint
from automations.core.selection import NOT_PROTECTED, PROTECT_TAG, is_protected, tag_map
from automations.core.spec import FunctionSpec, Permission, Rate
from automations.security.tag_compliance import STOP_AFTER_TAG, deadline_text, describe, missing_tags, pending_store

NAME = "tag-compliance-sweep"
ACTION = "stop-instance"
_INSTANCES = "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*"
_STOPPED = ("stopping", "stopped")
_GONE_STATES = ("shutting-down", "terminated")

SPEC = register(FunctionSpec(
    name=NAME,
    description="Stops the instances tag-compliance announced once their deadline passed, if they still lack "
                "the required tags.",
    trigger=Rate(1, "hour"),
    default_mode="audit",  # stopping an instance takes a service away
    timeout=300,
    memory=256,
    permissions=(
        Permission(("ec2:DescribeInstances",), why="re-check state and tags; no resource-level scoping"),
        Permission(("ec2:StopInstances",), (_INSTANCES,),
                   condition={**NOT_PROTECTED, "Null": {f"aws:ResourceTag/{STOP_AFTER_TAG}": "false"}},
                   why=f"only announced instances (tagged {STOP_AFTER_TAG}), never a protected one"),
        Permission(("ec2:CreateTags", "ec2:DeleteTags"), (_INSTANCES,),
                   condition={**only_tag_keys(STOP_AFTER_TAG), **NOT_PROTECTED},
                   why=f"put back a removed {STOP_AFTER_TAG} before stopping; remove it from a fixed instance"),
    ),
))


class Sweep:
    """One pass over the due records; what happened, for the notification."""

    def __init__(self, run: Run, store: PendingStore) -> None:
        self.run = run
        self.store = store
        self.now = run.clock()
        self.stopped: list[dict[str, Any]] = []
        self.spared: dict[str, str] = {}

    def due(self, records: Mapping[str, PendingRecord]) -> dict[str, list[PendingRecord]]:
        by_region: dict[str, list[PendingRecord]] = {}
        for record in sorted(records.values(), key=lambda r: r.resource_id):
            if record.is_pending and record.is_due(self.now):
                by_region.setdefault(str(record.details.get("region") or ""), []).append(record)
        return by_region

    def region(self, region: str, records: list[PendingRecord]) -> None:
        ec2 = self.run.clients("ec2", region or None)
        found = describe(ec2, [r.resource_id for r in records])
        for record in records:
            try:
                self.one(ec2, record, found.get(record.resource_id))
            except Exception as exc:  # one failing instance never stops the run
                self.run.skip(record.resource_id, ACTION, f"not decided: {type(exc).__name__}: {exc}")

    def done(self, record: PendingRecord, reason: str) -> None:
        self.store.remove(record.resource_id)
        self.spared[record.resource_id] = reason
        self.run.skip(record.resource_id, ACTION, reason, {"announced": _announced(record)})

    def one(self, ec2: Any, record: PendingRecord, instance: Mapping[str, Any] | None) -> None:
        instance_id = record.resource_id
        state = str((instance or {}).get("State", {}).get("Name", ""))
        if instance is None or state in _GONE_STATES:
            return self.done(record, f"gone: {state or 'no longer exists'}")
        tags = tag_map(instance.get("Tags"))
        if is_protected(tags):
            return self.done(record, f"protected: tagged {PROTECT_TAG}=true")
        announced = [str(t) for t in record.details.get("missing") or record.details.get("required") or ()]
        if not missing_tags(tags, announced):
            self.done(record, "fixed: it has the required tags now")
            if STOP_AFTER_TAG in tags:
                self.run.act(instance_id, "untag-stop-after", "fixed before its deadline", lambda: ec2.delete_tags(
                    Resources=[instance_id], Tags=[{"Key": STOP_AFTER_TAG}]))
            return None
        if state in _STOPPED:
            return self.done(record, f"already {state}")
        if record.dry_run and not self.run.dry_run:
            return self.done(record, "announced by an audit-mode run (no deadline tag on the instance): not stopped")
        missing = missing_tags(tags, announced)
        reason = (f"still missing {', '.join(missing)} after its deadline {deadline_text(record.due or self.now)} "
                  f"(created by {record.details.get('created_by', 'unknown')})")
        if STOP_AFTER_TAG not in tags:
            deadline = deadline_text(record.due or self.now)
            self.run.act(instance_id, "tag-stop-after", f"{STOP_AFTER_TAG} was removed; put back before the stop",
                         lambda: ec2.create_tags(Resources=[instance_id],
                                                 Tags=[{"Key": STOP_AFTER_TAG, "Value": deadline}]))
        result = self.run.act(instance_id, ACTION, reason, lambda: ec2.stop_instances(InstanceIds=[instance_id]),
                              details={"announced": _announced(record), "missing": missing})
        if result is not None:
            self.store.remove(instance_id)
            self.stopped.append({"id": instance_id, "missing": missing,
                                 "created_by": record.details.get("created_by")})
        elif self.run.dry_run:
            self.stopped.append({"id": instance_id, "missing": missing, "created_by": record.details.get("created_by"),
                                 "dry_run": True})
        return None

    def notify(self) -> None:
        if not self.stopped and not self.spared:
            return
        verb = "would stop" if self.run.dry_run else "stopped"
        self.run.notify(f"Caretaker {NAME}: {len(self.stopped)} {verb}, {len(self.spared)} spared",
                        f"{NAME} ({self.run.mode}): {verb} {len(self.stopped)} instance(s) still missing required "
                        f"tags after their deadline; spared {len(self.spared)}. To keep an instance running, give "
                        f"it the tags (or tag it {PROTECT_TAG}=true).",
                        {"stopped" if not self.run.dry_run else "would_stop": self.stopped[:LIST_LIMIT],
                         "spared": dict(list(self.spared.items())[:LIST_LIMIT])})


def _announced(record: PendingRecord) -> dict[str, Any]:
    return {"due": deadline_text(record.due) if record.due else None, "run_id": record.run_id,
            "dry_run": record.dry_run, **{k: v for k, v in record.details.items() if k != "region"}}


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """Stop the announced instances whose deadline has passed, after re-checking each."""
    store = pending_store(run)
    sweep = Sweep(run, store)
    for region, records in sweep.due(store.load()).items():
        sweep.region(region, records)
    store.flush()
    sweep.notify()
    return {"stopped": len(sweep.stopped), "spared": len(sweep.spared)}
